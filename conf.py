"""Sphinx configuration of Session Sync, Verified (``sphinx-build -c . docs build/html``)."""

import os
import platform
import sqlite3
import sys
from pathlib import Path
from urllib.parse import urlsplit

import sphinx
import sphinx_gallery
import sqlalchemy

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "sphinxext"))
import verified_releases  # noqa: E402

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
    "sphinx.ext.intersphinx",
    "sphinx_gallery.gen_gallery",
    "matplotlib_on_demand",
    "sphinx_copybutton",
    "sphinx_design",
    "open_graph",
    "notfound.extension",
    "session_sync.build_hooks",
    "first_screen",
    "sqlalchemy_links",
    "measured_summaries",
    "verified_releases",
    "responsive_tables",
    "accessibility",
    "sphinx_llm.txt",
    "llms_text",
    "browser_run",
    "build_speed",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = [
    "auto_examples/*.ipynb",
    "auto_examples/**/*.ipynb",
    "**/*.py.md5",
    "auto_examples/**/*.codeobj.json",
]
nitpicky = True
myst_enable_extensions = ["colon_fence", "deflist", "substitution"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = project
html_static_path = ["docs/_static"]
html_css_files = ["session-sync.css", "site.css"]
html_favicon = "docs/_static/favicon.svg"
html_search_scorer = str(ROOT / "docs" / "_search" / "scorer.js")
# State tables and code show Python's own quotes: name='alice', never curly ones.
smartquotes = False
# Sources would carry the capture layer's raw SQL markers; downloads come from Sphinx-Gallery.
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None

# Copy buttons copy Python only: never the SQL boxes (.sql-box, highlighted as sql), the printed
# output (highlight-none) or the state tables. sphinx-copybutton writes this selector into its
# JavaScript between single quotes: a ' in it breaks every button on the site.
copybutton_selector = ", ".join(
    f"div.highlight-{language} > div.highlight > pre"
    for language in ("Python", "python", "python3", "py", "default", "pycon")
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
        "../examples/relationships",
        "../examples/asyncio",
        "../examples/untracked_changes",
        "../examples/concurrency_and_scope",
        "../examples/testing_and_concurrency",
        "../examples/transactions_and_pool",
        "../examples/events_and_unit_of_work",
        "../examples/recipes",
        "../examples/performance",
    ],
    "within_subsection_order": "reading_order.ReadingOrder",
    "image_scrapers": (
        "matplotlib_on_demand.scrape_figures",
        "session_sync.build_hooks.scrape_cell",
    ),
    "reset_modules": ("matplotlib_on_demand.reset_pyplot", "session_sync.build_hooks.reset"),
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

# `nox -s bench` measures what the capture layer costs by building once without it.
if os.environ.get("SESSION_SYNC_CAPTURE") == "off":
    sphinx_gallery_conf["image_scrapers"] = ("matplotlib_on_demand.scrape_figures",)
    sphinx_gallery_conf["reset_modules"] = ("matplotlib_on_demand.reset_pyplot",)


# Printed on the "How this site is verified" page, read from the environment that built it.
def commit_with_synchronize_session() -> str:
    """What the landing page quotes: the error this SQLAlchemy really raises."""
    from sqlalchemy.orm import Session

    try:
        Session().commit(synchronize_session=True)
    except TypeError as error:
        return f"{type(error).__name__}: {error}"
    raise RuntimeError("Session.commit(synchronize_session=True) no longer raises: see index.md")


myst_substitutions = {
    "commit_error": commit_with_synchronize_session(),
    "sqlalchemy_version": sqlalchemy.__version__,
    "sqlite_version": sqlite3.sqlite_version,
    "python_version": platform.python_version(),
    "sphinx_version": sphinx.__version__,
    "sphinx_gallery_version": sphinx_gallery.__version__,
    **verified_releases.substitutions(),
}

# Links to SQLAlchemy's own documentation, from prose ({py:class}`sqlalchemy.orm.Session`) and
# from every SQLAlchemy name in example code (Sphinx-Gallery resolves those through intersphinx).
# The inventory is a file in the repository (`nox -s inventory` rebuilds it from the pinned
# release's sdist), so the build downloads nothing; the URL is only where the links point.
intersphinx_mapping = {
    "sqlalchemy": (
        "https://docs.sqlalchemy.org/en/21/",
        str(ROOT / "docs" / "_inventories" / "sqlalchemy-objects.inv"),
    ),
}

# Where the site is published: Read the Docs and the Pages workflow (.github/workflows/docs.yml)
# say. A build without one (a local build, `nox -s serve`) has no address of its own: it writes
# no canonical link, no og:url and no sitemap.xml, rather than a local address a search engine
# would index.
html_baseurl = (
    os.environ.get("READTHEDOCS_CANONICAL_URL") or os.environ.get("SESSION_SYNC_BASE_URL") or ""
)
if html_baseurl and not html_baseurl.endswith("/"):
    html_baseurl += "/"

# Open Graph tags for link previews (og:url from html_baseurl, if any): sphinxext/open_graph.py.

# sitemap.xml of every page, at the site's root: only with a base URL (sphinx-sitemap needs one).
if html_baseurl:
    extensions.append("sphinx_sitemap")
sitemap_url_scheme = "{link}"
sitemap_excludes = ["search.html", "genindex.html", "404.html"]

# docs/404.md is the page shown for a missing address: the host serves it at any depth, so its
# links are absolute from the site's root, which is the base URL's path (a GitHub Pages project
# site lives under /<repository>/); without a base URL, the root of the server.
notfound_urls_prefix = urlsplit(html_baseurl).path or "/"

sphinx_gallery_conf["first_notebook_cell"] = (
    "# Run elsewhere? This installs the SQLAlchemy release this page was verified with.\n"
    f"%pip install sqlalchemy=={sqlalchemy.__version__}"
)

# llms.txt (an index of every page), llms-full.txt (every page in one file) and a Markdown copy
# of each page next to its HTML (page.html.md and page.md), for assistants: sphinx-llm builds
# them with a second, Markdown build of the same sources, which sphinxext/llms_text.py starts
# when the HTML build starts writing, once the examples have run (sphinx-llm's parallel mode
# would start it with the HTML build, and both would write Sphinx-Gallery's docs/auto_examples
# at once), and skips when no page changed. What that build keeps of a page, and the SQL of
# each cell as Markdown code: sphinxext/llms_text.py.
llms_txt_description = (
    "Every claim on this site about how a SQLAlchemy Session stays in sync with the database "
    "is an assert that ran while the site was built, on SQLAlchemy "
    f"{sqlalchemy.__version__}: each page shows the code, the SQL it really sent, and the "
    "error or state it produced."
)
llms_txt_full_build = True
llms_txt_build_parallel = False
# The page a host shows for a missing address is no page to read.
llms_txt_exclude = ["404"]
# Sphinx-Gallery's thumbnails and download links: nothing a reader of Markdown can use; and the
# toctree of a gallery section with no example (in the tests' trimmed copies of the site).
llms_txt_suppress_unknown_node_warnings = ["imgsgnode", "PassthroughTextElement", "toctree"]

# "Related pages" at the end of each example (docs/_related.toml, {row}`label` on table rows)
# and each page's main topics as index entries, so that the search puts the page about a name
# first (docs/_search/topics.toml): sphinxext/related_pages.py, sphinxext/search_topics.py;
# the links in the text of the 404 page absolute from the root: sphinxext/not_found_links.py.
extensions += ["related_pages", "search_topics", "not_found_links"]
