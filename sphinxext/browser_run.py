"""'Run in your browser' on every example page: the control, and the files it loads on a click.

The files come from build/browser-assets/ (``nox -s browser_assets``: npm's Pyodide and the
bundled editor, hashed wheels, and a snapshot of Python's heap with SQLAlchemy, the capture
layer's ``claims``, ``recording``, ``state`` and ``rendering`` modules and docs/_run/runner.py
imported, so the browser runs the build's own code), prepared before the build: this extension
only copies them into ``_static/run/``, and refuses them if they were prepared from other
sources than this checkout's.
Without prepared assets the build fails and says which command prepares them, unless
``SESSION_SYNC_BROWSER_RUN=off`` turns the feature off.

Each example page gets, before its first code cell, a control that names what runs in the
browser and what built the page (versions read from the assets and from this interpreter), and
the deferred control.js (a few hundred bytes); an example that cannot run in the browser
(docs/_run/cannot_run.json, checked by tests/test_browser_run.py by running every example in
Pyodide) says why instead.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import platform
import shutil
import sqlite3
from pathlib import Path

import sqlalchemy
from docutils import nodes
from sphinx.errors import ExtensionError

ROOT = Path(__file__).resolve().parents[1]
RUN_SOURCES = ROOT / "docs" / "_run"
CANNOT_RUN = RUN_SOURCES / "cannot_run.json"
# What the worker imports (recording imports claims), in the snapshot; tools/run_in_pyodide.mjs
# reads this list, tools/browser_assets.py has the same.
CAPTURE_MODULES = ("__init__.py", "claims.py", "recording.py", "state.py", "rendering.py")
PREPARE = "nox -s browser_assets (or `npm ci` then `python tools/browser_assets.py`)"
SWITCH = "SESSION_SYNC_BROWSER_RUN"


def enabled() -> bool:
    return os.environ.get(SWITCH, "on").lower() not in ("off", "0", "no")


def assets_folder() -> Path:
    return Path(os.environ.get("SESSION_SYNC_BROWSER_ASSETS") or ROOT / "build" / "browser-assets")


def cannot_run() -> dict[str, str]:
    """Example path under examples/ -> why it cannot run in the browser."""
    return json.loads(CANNOT_RUN.read_text())["examples"]


def read_manifest() -> dict:
    folder = assets_folder()
    manifest_file = folder / "manifest.json"
    if not manifest_file.exists():
        raise ExtensionError(
            f"'Run in your browser' needs its assets in {folder}: run {PREPARE}; "
            f"or build without the feature: {SWITCH}=off"
        )
    manifest = json.loads(manifest_file.read_text())
    if manifest["sources"] != sources_digest():
        raise ExtensionError(
            f"The browser assets in {folder} were prepared from other sources than docs/_run's: "
            f"run {PREPARE} again (or set {SWITCH}=off)"
        )
    return manifest


BUNDLED = ("editor.js", "worker.js", "control.js", "run.css")


def sources_digest(sources: Path = RUN_SOURCES) -> str:
    """Of the docs/_run files tools/browser_assets.py bundles and of the Python its snapshot
    holds (it records the same digest)."""
    digest = hashlib.sha256()
    capture = ROOT / "sphinxext" / "session_sync"
    files = [(name, sources / name) for name in BUNDLED]
    files += [(f"session_sync/{name}", capture / name) for name in CAPTURE_MODULES]
    for name, path in [*files, ("runner.py", sources / "runner.py")]:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _copy(source: Path, target: Path) -> None:
    """Write only what differs, so that an unchanged rebuild rewrites nothing."""
    same_size = target.exists() and target.stat().st_size == source.stat().st_size
    if same_size and target.read_bytes() == source.read_bytes():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def copy_assets(app) -> None:
    """Into _static/run/ before any page is written (script links then carry their checksum)."""
    if not app.config.session_sync_browser_run or app.builder.format != "html":
        return
    manifest = app.config.session_sync_browser_manifest
    run = Path(app.outdir) / "_static" / "run"
    prepared = assets_folder() / "run"
    for name in manifest["bytes"]:
        _copy(prepared / name, run / name)
    sizes = first_run_sizes(manifest)
    assets = {
        # What the first Run downloads, file by file: the worker reports its progress in them,
        # and keeps them in the Cache Storage under their content hash (another build's files
        # have other hashes: fetched anew, the old ones deleted).
        "sizes": sizes,
        "hashes": {name: manifest["hashes"][name] for name in sizes},
        "site_packages": manifest["site_packages"],
        "snapshot": manifest["snapshot"],
    }
    text = json.dumps(assets, indent=1, sort_keys=True) + "\n"
    target = run / "assets.json"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def first_run_sizes(manifest: dict) -> dict[str, int]:
    """The files the worker fetches on the first Run (Pyodide, the snapshot, SQLAlchemy's zip):
    their sizes, by path under _static/run/."""
    return {
        name: size
        for name, size in manifest["bytes"].items()
        if name.startswith(("pyodide/", "wheels/"))
    }


def example_of(docname: str) -> str | None:
    """examples/<section>/<name>.py for an example page's docname, else None."""
    parts = docname.split("/")
    if len(parts) != 3 or parts[0] != "auto_examples" or parts[2] == "index":
        return None
    path = f"{parts[1]}/{parts[2]}.py"
    return path if (ROOT / "examples" / path).exists() else None


def control_html(app, example: str) -> str:
    versions = app.config.session_sync_browser_manifest["versions"]
    here = (
        f"Python {versions['python']} / SQLite {versions['sqlite']} / SQLAlchemy "
        f"{versions['sqlalchemy']} in your browser; this page was built with Python "
        f"{platform.python_version()} / SQLite {sqlite3.sqlite_version} / SQLAlchemy "
        f"{sqlalchemy.__version__}."
    )
    reason = cannot_run().get(example)
    if reason:
        return (
            '<div class="run-here run-here-unavailable">'
            '<p class="run-here-reason"><strong>Run in your browser:</strong> not for this '
            f"example: {html.escape(reason)}</p></div>"
        )
    # What the worker fetches on the first Run (Pyodide, the snapshot, SQLAlchemy's zip): said
    # beside the button before the click, and by the progress while it loads.
    fetched = round(sum(first_run_sizes(app.config.session_sync_browser_manifest).values()) / 1e6)
    return (
        '<div class="run-here" role="region" aria-label="Run this example" '
        f'data-download-mb="{fetched}">'
        '<button type="button" class="run-here-button" aria-describedby="run-here-size">'
        "Run in your browser</button> "
        f'<span class="run-here-size" id="run-here-size">downloads {fetched} MB on the first '
        "Run, once</span>"
        f'<p class="run-here-versions">{html.escape(here)}</p></div>'
    )


PYTHON = ("python", "Python", "python3", "default")


def _is_python_code(node) -> bool:
    """A code cell: a Python literal block, or Sphinx-Gallery's code_links_block made of one
    (its code with links to the documentation of each name)."""
    if isinstance(node, nodes.literal_block):
        return node.get("language") in PYTHON
    return type(node).__name__ == "code_links_block" and node.get("lang") in PYTHON


def add_control(app, doctree, docname) -> None:
    if not app.config.session_sync_browser_run or app.builder.format != "html":
        return
    example = example_of(docname)
    if example is None:
        return
    # After the page's introduction: before the first section or code cell of its title section.
    top = next(iter(doctree.findall(nodes.section)), None)
    if top is None:
        return
    for index, child in enumerate(top.children):
        if isinstance(child, nodes.section) or next(iter(child.findall(_is_python_code)), None):
            top.insert(index, nodes.raw("", control_html(app, example), format="html"))
            return


def add_script(app, pagename, templatename, context, doctree) -> None:
    if not app.config.session_sync_browser_run or doctree is None:
        return
    example = example_of(pagename)
    if example is not None and example not in cannot_run():
        app.add_js_file("run/control.js", loading_method="defer")


def check_manifest(app, config) -> None:
    if config.session_sync_browser_run:
        config.session_sync_browser_manifest = read_manifest()
        # What the controls say: when it changes, every page is read and written again.
        control = {"runs": config.session_sync_browser_manifest["versions"], **cannot_run()}
        config.session_sync_browser_control = json.dumps(control, sort_keys=True)


def setup(app):
    app.add_config_value("session_sync_browser_run", enabled(), "env")
    app.add_config_value("session_sync_browser_manifest", {}, "")
    app.add_config_value("session_sync_browser_control", "", "env")
    app.connect("config-inited", check_manifest)
    app.connect("builder-inited", copy_assets)
    app.connect("doctree-resolved", add_control)
    app.connect("html-page-context", add_script)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
