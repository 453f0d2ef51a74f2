// A memory snapshot of Pyodide's Python with SQLAlchemy's ORM and SQLite dialect imported, and
// the capture layer with docs/_run/runner.py (what the worker runs an example with): the browser
// restores it instead of starting Python and importing SQLAlchemy and the capture layer (seconds
// of CPU) on every first Run. Made in Node by the same Pyodide the site serves; the bytes depend
// only on it, the compiled site-packages zip and those Python files: every source of randomness
// and time Pyodide reads while starting is pinned here (the reader's worker reseeds `random`
// after restoring).
//     node tools/make_snapshot.mjs <folder holding pyodide.mjs> <site-packages.zip> <output>
//          <capture layer folder (sphinxext/session_sync)> <runner.py>
import { readFileSync, writeFileSync } from "node:fs";
import nodeCrypto from "node:crypto";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [folder, sitePackagesZip, output, captureFolder, runnerFile] = process.argv.slice(2);

// A fixed byte stream for getentropy() (Python's hash secret, random's seed, SQLite's), fixed
// clocks, and a fixed program name (Node's argv[1] lands in the heap as sys.executable).
let state = 0x2545f491;
function pinnedRandomFill(view) {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  for (let i = 0; i < bytes.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return view;
}
globalThis.crypto.getRandomValues = pinnedRandomFill;
nodeCrypto.randomFillSync = pinnedRandomFill;
Math.random = () => 0.5;
Date.now = () => 1767225600000;
let ticks = 0;
performance.now = () => (ticks += 1);
process.argv[1] = "/snapshot";

const indexURL = path.resolve(folder) + path.sep;
const { loadPyodide } = await import(pathToFileURL(indexURL + "pyodide.mjs").href);
const pyodide = await loadPyodide({
  indexURL,
  _makeSnapshot: true,
  stdout: () => {},
  stderr: (line) => console.error(line),
});
const sitePackages = pyodide.runPython("import site\nsite.getsitepackages()[0]");
pyodide.unpackArchive(new Uint8Array(readFileSync(sitePackagesZip)), "zip", {
  extractDir: sitePackages,
});
// The capture layer's modules the worker uses (sphinxext/browser_run.py's CAPTURE_MODULES:
// those of its folder but the build's hooks and directives) and runner.py, where the worker
// would have written them: imported below, they are compiled and run here, not in the browser.
const modules = readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), "..",
  "sphinxext", "browser_run.py"), "utf8");
const names = [.../^CAPTURE_MODULES = \(([^)]*)\)/m.exec(modules)[1].matchAll(/"([^"]+)"/g)];
pyodide.FS.mkdirTree("/home/pyodide/session_sync");
for (const [, name] of names) {
  pyodide.FS.writeFile("/home/pyodide/session_sync/" + name, readFileSync(path.join(captureFolder, name), "utf8"));
}
pyodide.FS.writeFile("/home/pyodide/runner.py", readFileSync(runnerFile, "utf8"));
// What every example needs before its first statement: the ORM, and what create_engine() and
// the first connection import lazily (the SQLite dialect, its DBAPI, the pool), then the capture
// layer (runner.prepare(): what every run uses). The engine itself is not kept. What exists then
// lives as long as the worker: frozen out of the garbage collections the capture layer makes
// after every cell (the docs build does the same, session_sync.build_hooks).
pyodide.runPython(`
import gc, importlib, sys
importlib.invalidate_caches()
import sqlalchemy, sqlalchemy.orm
from sqlalchemy import create_engine, text

engine = create_engine("sqlite://")
with engine.connect() as connection:
    connection.execute(text("SELECT 1"))
engine.dispose()
del engine, connection
sys.path.insert(0, "/home/pyodide")
import runner
runner.prepare()
gc.collect()
gc.freeze()
`);
writeFileSync(output, pyodide.makeMemorySnapshot());
