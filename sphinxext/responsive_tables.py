"""Tables and headings that fit the page column and a phone: the cheat sheet, the decision guide,
the measured-difference tables, and the page titles that quote a call.

Two changes to every table with a header row, made on the resolved doctree:

- a long word in a cell (code, or a page title quoting code) may break after ``.``, ``(``,
  ``,``, ``[`` and ``/`` and before ``=`` (a ``<wbr>``): Sphinx keeps each word of inline code on
  one line, so one long call such as ``...execution_options(populate_existing=True)`` widened a
  whole column. Every break point is a character the search index splits words at, so the index
  does not change;
- each body cell starts with its column's name, hidden in a table and shown when a narrow
  screen lays each row out as a card (docs/_static/site.css, ``table.fits-phone``).

And in each heading of a page's HTML, inline code may break after ``.``, ``(``, ``,``, ``[``,
``/`` and ``_`` and before ``=``: a title such as "Myth: ``session.commit(synchronize_session=
True)`` makes ..." otherwise breaks on a phone wherever the line ends, mid-name. Only the
written HTML changes (at html-page-context): the titles the toctrees, the search index and the
Markdown copies read are the doctree's, untouched.
"""

import re

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

BREAK_AFTER = re.compile(r"(?<=[.(,\[/])(?=\S)|(?<=\S)(?==)")
LONG_WORD = 16  # characters; shorter words fit any column


def breakable(text: str) -> list[nodes.Node]:
    """The text, with a break opportunity at each break point inside its long words."""
    parts = [""]
    for word in re.split(r"(\s+)", text):
        if len(word) < LONG_WORD:
            parts[-1] += word
            continue
        first, *rest = BREAK_AFTER.split(word)
        parts[-1] += first
        parts.extend(rest)
    pieces: list[nodes.Node] = []
    for index, piece in enumerate(parts):
        if index:
            pieces.append(nodes.raw("", "<wbr>", format="html"))
        pieces.append(nodes.Text(piece))
    return pieces


HEADING = re.compile(r"<h([1-6])>.*?</h\1>", re.S)
HEADING_CODE = re.compile(rf'(?<=<span class="pre">)[^<]{{{LONG_WORD},}}(?=</span>)')
HEADING_BREAK = re.compile(r"(?<=[.(,\[/_])(?=[^\s=])|(?<=\S)(?==)")


def break_heading_code(app, pagename, templatename, context, doctree) -> None:
    if "body" not in context:
        return

    def heading(match: re.Match) -> str:
        return HEADING_CODE.sub(lambda code: HEADING_BREAK.sub("<wbr>", code[0]), match[0])

    context["body"] = HEADING.sub(heading, context["body"])


def header_names(table: nodes.table) -> list[str] | None:
    thead = next(iter(table.findall(nodes.thead)), None)
    if thead is None:
        return None
    row = next(iter(thead.findall(nodes.row)))
    return [entry.astext().strip() for entry in row.children]


class ResponsiveTables(SphinxPostTransform):
    default_priority = 900  # after references are resolved and code links added
    formats = ("html",)

    def run(self, **kwargs) -> None:
        for table in list(self.document.findall(nodes.table)):
            names = header_names(table)
            if not names:
                continue
            table["classes"].append("fits-phone")
            for tbody in table.findall(nodes.tbody):
                for row in tbody.findall(nodes.row):
                    for name, entry in zip(names, row.children, strict=True):
                        if not name:  # a row-name column: its cells name themselves
                            continue
                        # A paragraph of its own: the cell's content stays as it was.
                        entry.insert(0, nodes.paragraph(name, name, classes=["cell-label"]))
            for text in list(table.findall(nodes.Text)):
                pieces = breakable(str(text))
                if len(pieces) > 1 and not isinstance(text.parent, nodes.raw):
                    parent = text.parent
                    at = parent.index(text)
                    parent.remove(text)
                    for offset, piece in enumerate(pieces):
                        parent.insert(at + offset, piece)


def setup(app):
    app.add_post_transform(ResponsiveTables)
    app.connect("html-page-context", break_heading_code)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
