"""Each page's main topics, as main entries of the site's index: docs/_search/topics.toml.

Sphinx's search scores a page found through an index entry by how much of the entry the query
covers (100 for the whole entry), far above a word in a title (15) or in the text (5). A page
that declares a name its topic therefore comes first for that name, ahead of the pages that
only use it; the entries also make genindex.html a real index of the site's topics.

The entries point at the page itself (no anchor), so that a search result links to the top of
the page, shows a summary of the page and is not listed twice.

Sphinx writes a page's index entries into the search index only while it writes that page, and
does not keep them for the pages an incremental build leaves alone (it pickles the environment
before writing, and reloads the rest of the index from searchindex.js, which it does not read
entries from): the entries of every page are therefore given to the search index again before
it is written.

The site's search (docs/_search/scorer.js) replaces Sphinx's query and summary functions but
displays its results with searchtools.js's own private helpers: `check_search_scripts` fails
the build when a Sphinx release no longer has them, as private_internals does for Python.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import sphinx
import sphinx.search
from docutils import nodes
from private_internals import checked
from sphinx import addnodes
from sphinx.errors import ExtensionError

TOPICS = Path("_search") / "topics.toml"  # in the source folder, docs/


def load_topics(srcdir: Path) -> dict[str, list[str]]:
    path = Path(srcdir) / TOPICS
    if not path.exists():
        return {}
    return tomllib.loads(path.read_text(encoding="utf-8"))


def page_key(docname: str) -> str:
    return docname.removeprefix("auto_examples/")


def add_topics(app, doctree: nodes.document) -> None:
    topics = load_topics(Path(app.srcdir)).get(page_key(app.env.docname))
    app.env.note_dependency(str(Path(app.srcdir) / TOPICS))
    section = next(iter(doctree.findall(nodes.section)), None)
    if not topics or section is None:
        return
    entries = [("single", topic, "", "main", None) for topic in topics]
    index = addnodes.index(entries=entries, inline=False)
    section.insert(1, index)  # after the title


def search_entries(topics: list[str]) -> list[tuple[str, str, str]]:
    """What Sphinx's IndexBuilder.feed() records for these entries (type "single")."""
    return sorted({(topic, "", "main") for topic in topics})


def keep_search_entries(app):
    indexer = getattr(app.builder, "indexer", None)
    if indexer is None:
        return []
    for key, topics in load_topics(Path(app.srcdir)).items():
        docname = key if key in app.env.found_docs else "auto_examples/" + key
        if docname in app.env.found_docs:
            indexer._index_entries[docname] = search_entries(topics)
    return []


# What scorer.js uses of Sphinx's search scripts (themes/basic/static/), by file.
SEARCH_SCRIPT_NAMES = {
    "searchtools.js": (
        "const _displayNextItem = (",
        "results,\n  resultCount,\n  searchTerms,\n  highlightTerms,",
        "const _removeChildren = ",
        "query: (query) =>",
        "makeSearchSummary: (htmlText, keywords, anchor) =>",
        "Search._index = index",
        "const [docName, title, anchor, descr, score, _filename, kind] = item;",
    ),
    "sphinx_highlight.js": ("const SPHINX_HIGHLIGHT_ENABLED", '"sphinx_highlight_terms"'),
}


def check_search_scripts(static: Path | None = None) -> None:
    static = static or Path(sphinx.__file__).parent / "themes" / "basic" / "static"
    for script, names in SEARCH_SCRIPT_NAMES.items():
        text = (static / script).read_text(encoding="utf-8")
        missing = [name for name in names if name not in text]
        if missing:
            raise ExtensionError(
                f"sphinx {sphinx.__version__}: {script} no longer has what "
                f"docs/_search/scorer.js uses: {missing}. Adapt scorer.js to the new script, "
                "then update SEARCH_SCRIPT_NAMES in sphinxext/search_topics.py."
            )


def setup(app):
    check_search_scripts()
    # keep_search_entries writes the search index's private record of each page's entries.
    checked("sphinx", sphinx.search, "IndexBuilder", mentions=("_index_entries",), by=__name__)
    app.connect("doctree-read", add_topics)
    # Called once every page is written, before the search index is.
    app.connect("html-collect-pages", keep_search_entries)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
