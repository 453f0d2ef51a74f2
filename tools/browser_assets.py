"""Prepare what "Run in your browser" serves, into build/browser-assets/ (`nox -s browser_assets`).

Needs `npm ci` first (Pyodide, CodeMirror and esbuild, pinned by package-lock.json). Writes:

* ``run/editor.js`` (CodeMirror and the page side, bundled and minified by esbuild),
  ``run/worker.js``, ``run/control.js`` (minified), ``run/run.css``: from docs/_run/;
* ``run/pyodide/``: the runtime from the npm package, its unused default package URL on another
  host replaced by the folder itself (the worker sets the package base to the site anyway);
* ``site-packages.zip``: SQLAlchemy and typing-extensions, `pip download --require-hashes` of
  requirements/browser.txt (pure-Python wheels, kept in build/browser-assets/downloads/; not
  downloaded again while the hashed files are there), installed and compiled to bytecode by
  Pyodide's Python in Node (tools/compile_wheels.mjs), for the Node tools;
* ``run/wheels/site-packages.bin.gz``: the same files for the browser, one after the other
  behind a JSON list of their paths and sizes, gzip-compressed (`pack_files`): the worker
  writes them into site-packages from JavaScript, instead of Python unzipping them (0.4 s);
* ``run/pyodide/snapshot.bin.gz``: a memory snapshot of that Python with SQLAlchemy's ORM and
  the capture layer (with docs/_run/runner.py) imported, after one warm-up run of a small
  example through runner.py (tools/make_snapshot.mjs, gzip-compressed here): the browser
  restores it instead of starting Python and importing SQLAlchemy and the capture layer on
  every first run;
* ``manifest.json``: the versions the browser runs (Python and SQLite read by running Pyodide in
  Node), the wheels, a digest of the sources, which sphinxext/browser_run.py checks, and each
  served file's size and content hash (the worker keeps the large ones in the Cache Storage
  under that hash: a second page does not download them again, another build does).

Sphinx never runs this: the build only copies the result (sphinxext/browser_run.py), offline.
Every output byte depends only on the sources and the pinned packages.

    python tools/browser_assets.py [--if-needed] [output folder]
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "docs" / "_run"
NODE_MODULES = ROOT / "node_modules"
PYODIDE = NODE_MODULES / "pyodide"
REQUIREMENTS = ROOT / "requirements" / "browser.txt"
DEFAULT_OUTPUT = ROOT / "build" / "browser-assets"
PYODIDE_FILES = (
    "pyodide.mjs",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
    "pyodide-lock.json",
)
# pyodide.mjs's fallback package base: a template literal naming another host.
DEFAULT_PACKAGE_URL = re.compile(r"`https://[^`]*/full/`")
SOURCE_MAP = re.compile(rb"\n//# sourceMappingURL=\S+\s*$")
BUNDLED = ("editor.js", "worker.js", "control.js", "run.css")
# The capture layer's modules the worker runs (sphinxext/browser_run.py's CAPTURE_MODULES), and
# runner.py: imported into the snapshot.
CAPTURE = ROOT / "sphinxext" / "session_sync"
CAPTURE_MODULES = ("__init__.py", "claims.py", "recording.py", "state.py", "rendering.py")
RUNNER = SOURCES / "runner.py"


def sources_digest() -> str:
    """Of the docs/_run files bundled here and the Python the snapshot holds:
    sphinxext/browser_run.py computes the same one and refuses assets prepared from other
    sources."""
    digest = hashlib.sha256()
    files = [(name, SOURCES / name) for name in BUNDLED]
    files += [(f"session_sync/{name}", CAPTURE / name) for name in CAPTURE_MODULES]
    for name, path in [*files, ("runner.py", RUNNER)]:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def inputs_digest() -> str:
    """Of everything the output depends on: when it is unchanged, --if-needed does nothing."""
    digest = hashlib.sha256(sources_digest().encode())
    tools = ROOT / "tools"
    for path in (
        REQUIREMENTS,
        ROOT / "package-lock.json",
        tools / "compile_wheels.mjs",
        tools / "make_snapshot.mjs",
        Path(__file__),
    ):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def up_to_date(output: Path = DEFAULT_OUTPUT) -> bool:
    manifest = output / "manifest.json"
    return manifest.exists() and json.loads(manifest.read_text()).get("inputs") == inputs_digest()


def esbuild(source: Path, output: Path, *options: str) -> None:
    binary = NODE_MODULES / ".bin" / "esbuild"
    command = [str(binary), str(source), "--minify", "--legal-comments=none", "--log-level=warning"]
    subprocess.run([*command, *options, f"--outfile={output}"], check=True, cwd=ROOT)


def copy_pyodide(destination: Path) -> None:
    destination.mkdir(parents=True)
    for name in PYODIDE_FILES:
        data = (PYODIDE / name).read_bytes()
        if name.endswith(".mjs"):
            data = SOURCE_MAP.sub(b"\n", data)
        if name == "pyodide.mjs":
            text, count = DEFAULT_PACKAGE_URL.subn("`./`", data.decode())
            if count != 1:
                raise SystemExit(f"pyodide.mjs: expected one default package URL, found {count}")
            data = text.encode()
        (destination / name).write_bytes(data)


def required_wheels() -> dict[str, str]:
    """name==version -> sha256, from requirements/browser.txt."""
    text = REQUIREMENTS.read_text().replace("\\\n", " ")
    wanted = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement, digest = re.match(r"(\S+)\s+--hash=sha256:(\w+)", line).groups()
            wanted[requirement] = digest
    return wanted


def download_wheels(cache: Path) -> list[Path]:
    wanted = set(required_wheels().values())
    cache.mkdir(parents=True, exist_ok=True)

    def hashed() -> dict[str, Path]:
        return {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in cache.glob("*.whl")}

    if not wanted <= set(hashed()):
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        platform = ["--only-binary=:all:", "--platform", "any", "--python-version", "3.14"]
        options = ["--implementation", "py", "--require-hashes", "-r", str(REQUIREMENTS)]
        subprocess.run([*pip, *platform, *options, "-d", str(cache)], check=True)
    found = hashed()
    return sorted(found[digest] for digest in wanted)


COMPILED = "site-packages.zip"
PACKED = "site-packages.bin.gz"
SNAPSHOT = "snapshot.bin.gz"


def run_node(script: str, *arguments: Path, **options) -> subprocess.CompletedProcess:
    """One of tools/*.mjs, run by Node with Pyodide's folder and files as its arguments."""
    node = shutil.which("node") or "node"
    command = [node, str(ROOT / "tools" / script), *map(str, arguments)]
    return subprocess.run(command, check=True, **options)


def compile_wheels(pyodide: Path, output: Path, wheels: list[Path]) -> None:
    """The wheels installed and compiled to bytecode by Pyodide's Python (in Node), one zip."""
    run_node("compile_wheels.mjs", pyodide, output, *wheels)


def make_snapshot(pyodide: Path, site_packages: Path, output: Path) -> None:
    """Pyodide's heap with SQLAlchemy and the capture layer imported (in Node), gzip-compressed:
    the worker inflates it (DecompressionStream) whatever the host does with a .gz file."""
    raw = output.with_suffix("")
    run_node("make_snapshot.mjs", pyodide, site_packages, raw, CAPTURE, RUNNER)
    output.write_bytes(gzip.compress(raw.read_bytes(), compresslevel=9, mtime=0))
    raw.unlink()


def pack_files(zip_file: Path, output: Path) -> None:
    """The zip's files as the worker writes them: a 4-byte little-endian length, a JSON list of
    [path, size], then the files' bytes in that order; gzip-compressed."""
    with zipfile.ZipFile(zip_file) as archive:
        names = sorted(name for name in archive.namelist() if not name.endswith("/"))
        data = [archive.read(name) for name in names]
    index = json.dumps(
        [[n, len(d)] for n, d in zip(names, data, strict=True)], separators=(",", ":")
    ).encode()
    packed = len(index).to_bytes(4, "little") + index + b"".join(data)
    output.write_bytes(gzip.compress(packed, compresslevel=9, mtime=0))


def content_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def pyodide_versions(folder: Path) -> dict:
    result = run_node("pyodide_versions.mjs", folder, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def prepare(output: Path) -> dict:
    if not (PYODIDE / "package.json").exists() or not (NODE_MODULES / ".bin" / "esbuild").exists():
        raise SystemExit("node_modules/ lacks pyodide or esbuild: run `npm ci` first")
    previous = output / "manifest.json"
    previous_text = previous.read_text() if previous.exists() else "{}"
    # Written again last: a run stopped half-way leaves no manifest, so nothing up to date.
    previous.unlink(missing_ok=True)
    previous = json.loads(previous_text)
    run = output / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    esbuild(SOURCES / "editor.js", run / "editor.js", "--bundle", "--format=esm")
    esbuild(SOURCES / "worker.js", run / "worker.js", "--format=esm")
    esbuild(SOURCES / "control.js", run / "control.js")
    esbuild(SOURCES / "run.css", run / "run.css")
    copy_pyodide(run / "pyodide")
    downloaded = download_wheels(output / "downloads")
    wheels = run / "wheels"
    wheels.mkdir()
    # Compiling takes Node half a minute: kept per wheels and Pyodide, like the downloads.
    key = hashlib.sha256(b"".join(w.read_bytes() for w in downloaded))
    key.update((run / "pyodide" / "pyodide.asm.wasm").read_bytes())
    key.update((ROOT / "tools" / "compile_wheels.mjs").read_bytes())
    compiled = output / "downloads" / f"site-packages-{key.hexdigest()[:16]}.zip"
    if not compiled.exists():
        compile_wheels(run / "pyodide", compiled, downloaded)
    shutil.copyfile(compiled, output / COMPILED)
    pack_files(compiled, wheels / PACKED)
    # Made from the compiled zip by the same Pyodide: kept per both, like the compiled zip.
    key.update(compiled.read_bytes())
    key.update((ROOT / "tools" / "make_snapshot.mjs").read_bytes())
    for name in CAPTURE_MODULES:
        key.update((CAPTURE / name).read_bytes())
    key.update(RUNNER.read_bytes())
    snapshot = output / "downloads" / f"snapshot-{key.hexdigest()[:16]}.bin.gz"
    if not snapshot.exists():
        make_snapshot(run / "pyodide", compiled, snapshot)
    shutil.copyfile(snapshot, run / "pyodide" / SNAPSHOT)
    lock = json.loads((PYODIDE / "pyodide-lock.json").read_text())
    pyodide_version = json.loads((PYODIDE / "package.json").read_text())["version"]
    versions = previous.get("versions")
    if not versions or previous.get("pyodide") != pyodide_version:
        versions = pyodide_versions(run / "pyodide")
    if not versions["python"].startswith(lock["info"]["python"].rsplit(".", 1)[0]):
        raise SystemExit(f"Pyodide runs Python {versions['python']}, its lock says otherwise")
    sqlalchemy = next(w.name.split("-")[1] for w in downloaded if w.name.startswith("sql"))
    manifest = {
        "pyodide": pyodide_version,
        "versions": {**versions, "sqlalchemy": sqlalchemy},
        "wheels": sorted(path.name for path in downloaded),
        # Served (under run/), and the zip for the Node tools (in this folder).
        "site_packages": f"wheels/{PACKED}",
        "site_packages_zip": COMPILED,
        "snapshot": f"pyodide/{SNAPSHOT}",
        "sources": sources_digest(),
        "inputs": inputs_digest(),
        "bytes": {
            str(path.relative_to(run)): path.stat().st_size
            for path in sorted(run.rglob("*"))
            if path.is_file()
        },
        "hashes": {
            str(path.relative_to(run)): content_hash(path)
            for path in sorted(run.rglob("*"))
            if path.is_file()
        },
    }
    (output / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main() -> None:
    arguments = [a for a in sys.argv[1:] if a != "--if-needed"]
    output = Path(arguments[0]).resolve() if arguments else DEFAULT_OUTPUT
    if "--if-needed" in sys.argv and up_to_date(output):
        print(f"Browser assets in {output}: up to date")
        return
    manifest = prepare(output)
    total = sum(manifest["bytes"].values())
    print(f"Browser assets in {output}: {total / 1e6:.1f} MB, runs {manifest['versions']}")


if __name__ == "__main__":
    main()
