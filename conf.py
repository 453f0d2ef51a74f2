"""Sphinx configuration of Session Sync, Verified (``sphinx-build -c . docs build/html``)."""

import os
import platform
import sqlite3
import sys
from pathlib import Path

import sphinx
import sphinx_gallery
import sqlalchemy

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "sphinxext"))
# Parallel example runs happen in fresh worker processes: they find the capture layer this way.
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(ROOT / "sphinxext"), os.environ.get("PYTHONPATH")])
)

project = "Session Sync, Verified"
author = "The Session Sync, Verified authors"
copyright = "2026, " + author
release = version = "1.0"

extensions = [
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
    "session_sync_capture",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["auto_examples/*.ipynb", "auto_examples/**/*.ipynb", "**/*.py.md5",
                    "auto_examples/**/*.codeobj.json"]
nitpicky = True
myst_enable_extensions = ["colon_fence", "deflist", "substitution"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = project
html_static_path = ["docs/_static"]
html_css_files = ["session-sync.css"]
# Sources would carry the capture layer's raw SQL markers; downloads come from Sphinx-Gallery.
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None

# Copy buttons copy code only: never the SQL boxes, the printed output or the state tables.
copybutton_selector = (
    "div[class*='highlight-']:not(.highlight-sql):not(.highlight-none):not(.sphx-glr-script-out)"
    " > div.highlight > pre"
)
copybutton_exclude = ".linenos, .gp, .go"

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Every example runs, whatever its name; files starting with "_" are not examples.
    "filename_pattern": r"\.py$",
    "ignore_pattern": r"(__init__|[\\/]_[^\\/]*)\.py$",
    "subsection_order": [
        "../examples/myths",
        "../examples/session_lifecycle",
        "../examples/synchronize_session",
        "../examples/performance",
    ],
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib", "session_sync_capture.scrape_cell"),
    "reset_modules": ("matplotlib", "session_sync_capture.reset"),
    "reset_modules_order": "both",
    # Execution-time pages load assets from CDNs, and times would make pages differ per build.
    "write_computation_times": False,
    "min_reported_time": float("inf"),
    "show_memory": False,
    "remove_config_comments": True,
    "download_all_examples": True,
    "capture_repr": (),
    "parallel": int(os.environ.get("SESSION_SYNC_PARALLEL", "0")) or False,
}

# Printed on the "How this site is verified" page, read from the environment that built it.
myst_substitutions = {
    "sqlalchemy_version": sqlalchemy.__version__,
    "sqlite_version": sqlite3.sqlite_version,
    "python_version": platform.python_version(),
    "sphinx_version": sphinx.__version__,
    "sphinx_gallery_version": sphinx_gallery.__version__,
}
