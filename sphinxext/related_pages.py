"""A "Related pages" section at the end of every example page, from one mapping.

docs/_related.toml has a table per example (``["myths/flush_commits"]``) whose keys are the
pages a reader goes to next, in order, and whose values say in a few words why::

    ["myths/flush_commits"]
    "session_lifecycle/autoflush" = "the flush a query sends before it reads"
    "cheat-sheet" = "every operation in one table"
    "cheat-sheet-flush" = "what flush() sends, in one row"

A key is an example (``section/name``), a narrative page of docs/ (``cheat-sheet``) or a label
(any Sphinx label; ``{row}`cheat-sheet-flush``` at the start of a table row's first cell makes
the row one, titled "Page › first cell"). Each link is a cross-reference Sphinx resolves
(a missing target fails the strict build) and shows the target's own title. The section comes
before Sphinx-Gallery's download buttons and is left out of the search index: the titles of
other pages in it would make every example match their words.

tests/test_related_pages.py checks the mapping: every example has two links or more, every
target exists, every key is an example.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.util.docutils import SphinxRole

MAPPING = "_related.toml"  # in the source folder, docs/
ROW_TARGET = "table-row-target"
SECTION_ID = "related-pages"


def load_mapping(srcdir: Path) -> dict[str, dict[str, str]]:
    path = Path(srcdir) / MAPPING
    if not path.exists():
        return {}
    return tomllib.loads(path.read_text(encoding="utf-8"))


def example_label(example: str) -> str:
    """Sphinx-Gallery's label of an example page: sphx_glr_auto_examples_<section>_<name>.py."""
    return "sphx_glr_auto_examples_" + example.replace("/", "_") + ".py"


class RowRole(SphinxRole):
    """``{row}`label```: the table row this cell starts becomes a target named ``label``."""

    def run(self):
        label = self.text.strip()
        target = nodes.target("", "", ids=[label], names=[label], classes=[ROW_TARGET])
        self.inliner.document.note_explicit_target(target)
        return [target], []


def page_title(doctree: nodes.document) -> str:
    section = next(iter(doctree.findall(nodes.section)), None)
    return section[0].astext() if section is not None else ""


def label_table_rows(app, doctree: nodes.document) -> None:
    """Each row target: its id on the row itself, and a title: "Page: first cell"."""
    labels = app.env.domains.standard_domain.labels
    title = page_title(doctree)
    for target in list(doctree.findall(nodes.target)):
        if ROW_TARGET not in target["classes"]:
            continue
        row = target.parent
        while row is not None and not isinstance(row, nodes.row):
            row = row.parent
        label = target["ids"][0]
        target.parent.remove(target)
        if row is None:
            continue
        row["ids"].insert(0, label)
        first_cell = row.children[0].astext().strip()
        labels[label] = (app.env.docname, label, f"{title} › {first_cell}")


def reference(docname: str, target: str, srcdir: Path) -> addnodes.pending_xref:
    if "/" in target:
        kind, name = "ref", example_label(target)
    elif (srcdir / f"{target}.md").exists() or (srcdir / f"{target}.rst").exists():
        kind, name = "doc", "/" + target
    else:
        kind, name = "ref", target
    return addnodes.pending_xref(
        "",
        nodes.inline("", name),
        refdomain="std",
        reftype=kind,
        reftarget=name,
        refexplicit=False,
        refwarn=True,
        refdoc=docname,
    )


def related_section(docname: str, targets: dict[str, str], srcdir: Path) -> nodes.section:
    section = nodes.section("", ids=[SECTION_ID], names=["related pages"])
    section["classes"] += ["related-links", "no-search"]
    section += nodes.title("", "Related pages")
    items = nodes.bullet_list()
    for target, why in targets.items():
        paragraph = nodes.paragraph()
        paragraph += reference(docname, target, srcdir)
        paragraph += nodes.Text(f": {why}")
        items += nodes.list_item("", paragraph)
    section += items
    return section


def add_related_pages(app, doctree: nodes.document) -> None:
    docname = app.env.docname
    if not docname.startswith("auto_examples/") or docname.endswith("/index"):
        return
    example = docname.removeprefix("auto_examples/")
    targets = app.env.related_pages_mapping.get(example)
    app.env.note_dependency(str(Path(app.srcdir) / MAPPING))
    top = next(iter(doctree.findall(nodes.section)), None)
    if not targets or top is None:
        return
    # Sphinx-Gallery's download buttons and signature, at the end of the page's last section:
    # they move after the related pages.
    footer = next(
        (c for c in doctree.findall(nodes.container) if "sphx-glr-footer" in c["classes"]), None
    )
    tail: list[nodes.Node] = []
    if footer is not None:
        while not isinstance(footer.parent, nodes.section):  # out of its `.. only:: html`
            footer = footer.parent
        parent = footer.parent
        start = parent.index(footer)
        if start and isinstance(parent[start - 1], nodes.target):
            start -= 1
        tail = list(parent.children[start:])
        for node in tail:
            parent.remove(node)
    top += related_section(docname, targets, Path(app.srcdir))
    for node in tail:
        top += node


def read_mapping(app) -> None:
    app.env.related_pages_mapping = load_mapping(Path(app.srcdir))


def setup(app):
    app.add_role("row", RowRole())
    app.connect("builder-inited", read_mapping)
    # Before the table of contents is collected (priority 500), so that the page's contents
    # list the section; the row labels once the standard domain has noted them.
    app.connect("doctree-read", add_related_pages, priority=400)
    app.connect("doctree-read", label_table_rows)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
