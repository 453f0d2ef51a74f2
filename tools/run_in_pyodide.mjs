// Runs examples in Pyodide under Node, through the same runner.py and capture layer the browser
// uses, offline: which examples can run in the browser, and the SQL each cell sends.
//     node tools/run_in_pyodide.mjs <browser assets folder> <example.py>...
// Prints one JSON line per example: {example, cells, count, error, statements}.
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const run = path.resolve(process.argv[2], "run") + path.sep;
const { loadPyodide } = await import(pathToFileURL(run + "pyodide/pyodide.mjs").href);
const pyodide = await loadPyodide({ indexURL: run + "pyodide/", stdout: () => {}, stderr: () => {} });
const manifest = JSON.parse(readFileSync(path.join(process.argv[2], "manifest.json"), "utf8"));
const sitePackages = pyodide.runPython("import site\nsite.getsitepackages()[0]");
pyodide.unpackArchive(readFileSync(run + manifest.site_packages), "zip", { extractDir: sitePackages });
pyodide.FS.mkdirTree("/home/pyodide/session_sync");
for (const name of ["__init__.py", "recording.py", "state.py", "rendering.py"]) {
  const text = readFileSync(path.join(root, "sphinxext", "session_sync", name), "utf8");
  pyodide.FS.writeFile("/home/pyodide/session_sync/" + name, text);
}
pyodide.FS.writeFile("/home/pyodide/runner.py", readFileSync(path.join(root, "docs", "_run", "runner.py"), "utf8"));
pyodide.runPython(
  "import gc, sys\nsys.path.insert(0, '/home/pyodide')\nimport sqlalchemy.orm, runner\n" +
    "gc.collect()\ngc.freeze()",
);
const runAndRender = pyodide.globals.get("runner").run_and_render;
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
      statements: result.cells.map((cell) => cell.statements),
    };
  } catch (error) {
    line = { example, error: String(error) };
  }
  console.log(JSON.stringify(line));
}
