"""Open Graph tags (link previews) and a meta description on every page.

sphinxext-opengraph did this, but importing it imports matplotlib for social-card images this
site does not make: over a second added to every build, unchanged rebuilds included.
"""

import html
import re

from docutils import nodes
from sphinx.addnodes import compact_paragraph

DESCRIPTION_CHARS = 200
MARKUP = re.compile(r"<[^>]+>")


def _is_page_text(paragraph: nodes.paragraph) -> bool:
    """Prose of the page itself: not a note, a caption, a table cell or a table of contents
    (an example's answer box is its own prose)."""
    if "sql-dialects-note" in paragraph["classes"] or isinstance(paragraph, compact_paragraph):
        return False
    if "answer-caption" in paragraph["classes"]:
        return False
    parent = paragraph.parent
    while parent is not None:
        if "answer-box" in parent.get("classes", ()):
            return True  # an example's answer (first_screen.py): the page's first words
        if isinstance(parent, (nodes.Admonition, nodes.table, nodes.container)):
            return False
        parent = parent.parent
    return True


def page_description(doctree: nodes.document) -> str:
    words = " ".join(
        paragraph.astext()
        for paragraph in doctree.findall(nodes.paragraph)
        if _is_page_text(paragraph)
    ).split()
    text = " ".join(words)
    if len(text) > DESCRIPTION_CHARS:
        text = text[: DESCRIPTION_CHARS - 3] + "..."
    return text


def add_open_graph_tags(app, pagename, templatename, context, doctree) -> None:
    if doctree is None:  # generated pages: search, index
        return
    description = page_description(doctree)
    tags = {
        "og:title": html.unescape(MARKUP.sub("", context.get("title", ""))),
        "og:type": "website",
        "og:site_name": app.config.project,
        "og:description": description,
    }
    # A page's address is known only where the site is hosted (conf.py's html_baseurl).
    if app.config.html_baseurl:
        tags["og:url"] = app.config.html_baseurl + app.builder.get_target_uri(pagename)
    lines = [
        f'<meta property="{key}" content="{html.escape(value)}" />' for key, value in tags.items()
    ]
    lines.append(f'<meta name="description" content="{html.escape(description)}" />')
    context["metatags"] = context.get("metatags", "") + "\n".join(lines) + "\n"


def setup(app):
    app.connect("html-page-context", add_open_graph_tags)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
