// SQLAlchemy and typing-extensions as Pyodide installs them, compiled by Pyodide's own Python
// into sourceless bytecode (module.pyc in place of module.py, unchecked-hash: no timestamps), in
// one zip: the browser unpacks it into site-packages and imports without compiling 2 MB of
// source first (seconds on a slow machine). The example's own frames keep their source.
//     node tools/compile_wheels.mjs <folder holding pyodide.mjs> <output.zip> <wheel>...
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [folder, output, ...wheels] = process.argv.slice(2);
const indexURL = path.resolve(folder) + path.sep;
const { loadPyodide } = await import(pathToFileURL(indexURL + "pyodide.mjs").href);
const pyodide = await loadPyodide({ indexURL, stdout: () => {}, stderr: () => {} });
const before = pyodide.runPython("import os, site\nsorted(os.listdir(site.getsitepackages()[0]))").toJs();
for (const wheel of wheels) {
  pyodide.FS.writeFile("/tmp/" + path.basename(wheel), readFileSync(wheel));
}
pyodide.runPython(`
import compileall, os, py_compile, site, zipfile
from pathlib import Path

packages = Path(site.getsitepackages()[0])
for wheel in sorted(Path("/tmp").glob("*.whl")):
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(packages)
before = set(${JSON.stringify(before)})
added = sorted(p for p in packages.iterdir() if p.name not in before)
mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
for path in added:
    if path.is_dir():
        compileall.compile_dir(path, quiet=2, legacy=True, invalidation_mode=mode)
    elif path.suffix == ".py":
        py_compile.compile(path, cfile=str(path) + "c", invalidation_mode=mode)
        added.append(Path(str(path) + "c"))
files = sorted({f for p in added for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()})
files = [f for f in files if f.suffix != ".py" and "__pycache__" not in f.parts]
with zipfile.ZipFile("/tmp/compiled.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
    for file in files:
        info = zipfile.ZipInfo(str(file.relative_to(packages)), date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        out.writestr(info, file.read_bytes(), compresslevel=9)
`);
writeFileSync(output, pyodide.FS.readFile("/tmp/compiled.zip"));
