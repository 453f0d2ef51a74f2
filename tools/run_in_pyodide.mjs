// Runs examples in Pyodide under Node, through the same runner.py and capture layer the browser
// uses, offline: which examples can run in the browser, and the SQL each cell sends.
//     node tools/run_in_pyodide.mjs <browser assets folder> <example.py>...
// Prints one JSON line per example: {example, cells, count, error, broken, statements, claims,
// notes} (broken: the hidden checks that failed, which do not stop the run)
// (per cell: the SQL it sent, the claims its hidden asserts proved, its SQL boxes' notes).
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const run = path.resolve(process.argv[2], "run") + path.sep;
const { loadPyodide } = await import(pathToFileURL(run + "pyodide/pyodide.mjs").href);
const pyodide = await loadPyodide({ indexURL: run + "pyodide/", stdout: () => {}, stderr: () => {} });
const manifest = JSON.parse(readFileSync(path.join(process.argv[2], "manifest.json"), "utf8"));
const sitePackages = pyodide.runPython("import site\nsite.getsitepackages()[0]");
// A Uint8Array, not Node's Buffer (a subclass Pyodide refuses: "Unknown typed array type").
const archive = new Uint8Array(readFileSync(path.join(process.argv[2], manifest.site_packages_zip)));
pyodide.unpackArchive(archive, "zip", { extractDir: sitePackages });
pyodide.FS.mkdirTree("/home/pyodide/session_sync");
// The modules the site ships to the browser: sphinxext/browser_run.py's CAPTURE_MODULES.
const extension = readFileSync(path.join(root, "sphinxext", "browser_run.py"), "utf8");
const modules = [.../^CAPTURE_MODULES = \(([^)]*)\)/m.exec(extension)[1].matchAll(/"([^"]+)"/g)];
for (const [, name] of modules) {
  const text = readFileSync(path.join(root, "sphinxext", "session_sync", name), "utf8");
  pyodide.FS.writeFile("/home/pyodide/session_sync/" + name, text);
}
pyodide.FS.writeFile("/home/pyodide/runner.py", readFileSync(path.join(root, "docs", "_run", "runner.py"), "utf8"));
pyodide.runPython(
  "import gc, sys\nsys.path.insert(0, '/home/pyodide')\n" +
    "import sqlalchemy.orm, runner\nrunner.prepare()\ngc.collect()\ngc.freeze()",
);
const runAndRender = pyodide.globals.get("runner").run_and_render;
// The text of each node with this class in a tree runner.py made (a claim, an SQL box's note).
const texts = (tree, name) =>
  !tree
    ? []
    : tree.classes && tree.classes.includes(name)
      ? [flat(tree)]
      : (tree.children || []).flatMap((child) => texts(child, name));
const flat = (tree) => (tree.text || "") + (tree.children || []).map(flat).join("");
for (const example of process.argv.slice(3)) {
  let line;
  try {
    const result = JSON.parse(runAndRender(readFileSync(example, "utf8")));
    const failed = result.cells.find((cell) => cell.error);
    line = {
      example,
      cells: result.cells.length,
      count: result.count,
      error: (failed && failed.error) || result.error || null,
      broken: result.cells.flatMap((cell) => cell.broken_claims || []),
      statements: result.cells.map((cell) => cell.statements),
      claims: result.cells.map((cell) => texts(cell.claims, "verified-claim")),
      notes: result.cells.map((cell) => cell.trees.flatMap((tree) => texts(tree, "sql-note"))),
    };
  } catch (error) {
    line = { example, error: String(error) };
  }
  console.log(JSON.stringify(line));
}
