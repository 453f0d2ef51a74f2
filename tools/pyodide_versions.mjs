// The versions Pyodide runs, read by running it (Node, offline): Python's and SQLite's.
//     node tools/pyodide_versions.mjs <folder holding pyodide.mjs>
import { pathToFileURL } from "node:url";
import path from "node:path";

const folder = path.resolve(process.argv[2]) + path.sep;
const { loadPyodide } = await import(pathToFileURL(folder + "pyodide.mjs").href);
const pyodide = await loadPyodide({ indexURL: folder, stdout: () => {}, stderr: () => {} });
console.log(
  pyodide.runPython(
    "import json, platform, sqlite3\n" +
      "json.dumps({'python': platform.python_version(), 'sqlite': sqlite3.sqlite_version})",
  ),
);
