"""Two fixes to the HTML Sphinx and furo write, for readers who use a keyboard or a screen reader.

- A toctree caption (the sidebar's section names, and a visible toctree's caption) is written
  ``<p class="caption" role="heading">``: a heading with no level, which axe-core reports as a
  serious violation (``aria-required-attr``). It gets ``aria-level="2"``.
- A code block, an SQL box or printed output that is wider than the page scrolls sideways; a
  reader without a mouse can scroll it only if it can take the keyboard focus (axe-core's
  ``scrollable-region-focusable``). Every ``<pre>`` of a page gets ``tabindex="0"``.

Both are rewritten in the page's HTML as furo hands it to the template, after every other
extension (the capture layer's SQL boxes are raw HTML, so a translator could not reach them).
"""

import re

CAPTION = re.compile(r'(<p class="caption" role="heading")(?![^>]*aria-level)')
PRE = re.compile(r"<pre(?=[\s>])(?![^>]*\btabindex=)")
# The parts of furo's page context that hold page HTML: the page itself, the sidebar, the
# page's table of contents.
HTML_PARTS = ("body", "furo_navigation_tree", "toc")


def accessible(markup: str) -> str:
    markup = CAPTION.sub(r'\1 aria-level="2"', markup)
    return PRE.sub('<pre tabindex="0"', markup)


def fix_page(app, pagename, templatename, context, doctree) -> None:
    for part in HTML_PARTS:
        if isinstance(context.get(part), str):
            context[part] = accessible(context[part])


def setup(app):
    # After furo's own handler (priority 500), which computes furo_navigation_tree.
    app.connect("html-page-context", fix_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
