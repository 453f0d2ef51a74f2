"""The picture of an example (``diagram``) in the docs build: drawn while it runs, shown on its
page and on its gallery card.

* While an example runs (``record_cell``, after each cell; drawn after the last one): its
  lifecycle data and its card's picture go next to Sphinx-Gallery's images
  (``images/sphx_glr_<name>_lifecycle.json`` and ``.svg``); the card takes that picture
  (``sphinx_gallery_thumbnail_path``) unless the example drew a plot, which stays its picture.
* When its page is read (``add_figure``, ``doctree-read``): the picture, inline so that it takes
  the page's colours in light and dark mode, with one line per transition naming the objects and
  the section where it happened, after the page's introduction. The Markdown copy keeps the
  lines only (``text_only_for_markdown``, when the page is written).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from docutils import nodes

from . import diagram

MARKDOWN_TAG = "sphinx_llm_markdown"  # sphinx-llm's Markdown build: text only
SOURCE_LINES = re.compile(r"GENERATED FROM PYTHON SOURCE LINES (\d+)-(\d+)")
CAPTION = "What the objects on this page went through, as it ran"
# A page whose objects went through no transition (it loads none): its picture counts statements.
STATEMENTS_CAPTION = "The statements this page sent, cell by cell, as it ran"
STEPS_SUMMARY = "Each arrow, object by object"


def _image_paths(src_file: str, target_file: str) -> tuple[Path, Path]:
    images = Path(target_file).parent / "images"
    stem = Path(src_file).stem
    return images / f"sphx_glr_{stem}_lifecycle.json", images / f"sphx_glr_{stem}_lifecycle.svg"


def start() -> None:
    diagram.start(diagram.LifecycleRecorder())


def record_cell(block, block_vars, gallery_conf, records) -> None:
    """After a cell: the example's data and picture so far (the last cell's are the last)."""
    recorder = diagram.active()
    if recorder is None or "target_file" not in block_vars:
        return
    recorder.end_cell(block.lineno, records, block_vars.get("example_globals", {}))
    if len(recorder.cell_lines) < _code_cells(block_vars["src_file"]):
        return  # drawn once, after the last cell (the card's picture is chosen after it)
    data = recorder.data()
    data_path, picture_path = _image_paths(block_vars["src_file"], block_vars["target_file"])
    data_path.parent.mkdir(parents=True, exist_ok=True)
    data_path.write_text(diagram.dumps(data), encoding="utf-8")
    picture_path.write_text(
        diagram.draw(data, standalone=True, label=card_label(block_vars["src_file"])),
        encoding="utf-8",
    )
    file_conf = block_vars.get("file_conf")
    if file_conf is None or len(block_vars["image_path_iterator"]):
        if file_conf is not None and file_conf.get("thumbnail_path") == _relative(
            picture_path, gallery_conf
        ):
            del file_conf["thumbnail_path"]  # a plot came: it is the card's picture
        return
    if "thumbnail_number" not in file_conf:
        file_conf.setdefault("thumbnail_path", _relative(picture_path, gallery_conf))
        # Sphinx-Gallery looks for a card's picture as .png first: an earlier build's stays.
        stale = (
            picture_path.parent
            / "thumb"
            / f"sphx_glr_{Path(block_vars['src_file']).stem}_thumb.png"
        )
        stale.unlink(missing_ok=True)


def card_label(src_file: str) -> str:
    """What a gallery card's picture names, so that the cards of a section tell their pages
    apart: the page title's subject (before its colon; after it for a myth), code marks off."""
    import ast

    docstring = ast.get_docstring(ast.parse(Path(src_file).read_text(encoding="utf-8"))) or ""
    title = docstring.strip().splitlines()[0] if docstring.strip() else Path(src_file).stem
    title = title.replace("``", "")
    if title.startswith("Myth: "):
        return "Myth: " + title.removeprefix("Myth: ").strip('"')
    head, colon, _ = title.partition(": ")
    return head if colon and len(head) >= 8 else title


@functools.lru_cache(maxsize=4)
def _code_cells(src_file: str) -> int:
    """How many code cells Sphinx-Gallery runs in the example (each is scraped once)."""
    from sphinx_gallery.py_source_parser import split_code_and_text_blocks

    _, blocks = split_code_and_text_blocks(src_file)
    return sum(1 for block in blocks if block.type == "code")


def _relative(path: Path, gallery_conf) -> str:
    return Path(path).relative_to(Path(gallery_conf["src_dir"])).as_posix()


def stop() -> None:
    diagram.stop()


# ---------------------------------------------------------------------------
# On the page
# ---------------------------------------------------------------------------


def add_figure(app, doctree) -> None:
    docname = app.env.docname
    gallery_dirs = app.config.sphinx_gallery_conf.get("gallery_dirs", [])
    gallery_dirs = [gallery_dirs] if isinstance(gallery_dirs, str) else list(gallery_dirs)
    if not any(docname.startswith(d.rstrip("/") + "/") for d in gallery_dirs):
        return
    page = Path(app.srcdir) / docname
    data_path = page.parent / "images" / f"sphx_glr_{page.name}_lifecycle.json"
    if not data_path.is_file():
        return
    app.env.note_dependency(str(data_path))
    data = json.loads(data_path.read_text(encoding="utf-8"))
    comments = [
        (node, int(m.group(1)), int(m.group(2)))
        for node in doctree.findall(nodes.comment)
        if (m := SOURCE_LINES.search(node.astext()))
    ]
    if len(comments) < 2:
        return
    box = figure_nodes(data, _cell_titles(data, comments))
    after_intro = comments[1][0]
    top = next(iter(doctree.findall(nodes.section)), None)
    anchor = after_intro
    while anchor.parent is not None and anchor.parent is not top:
        anchor = anchor.parent
    if anchor.parent is None:
        return
    top.insert(top.index(anchor), box)


def text_only_for_markdown(app, doctree, docname) -> None:
    """In sphinx-llm's Markdown build the box keeps its text, not the picture. Dropped when the
    page is written, not when it is read: both builds then read the same doctree, and the
    Markdown build reuses the HTML build's instead of reading every page again."""
    if not app.tags.has(MARKDOWN_TAG):
        return
    for box in list(doctree.findall(nodes.container)):
        if "lc-box" in box["classes"]:
            for picture in [child for child in box.children if isinstance(child, nodes.raw)]:
                box.remove(picture)


def _cell_titles(data: dict, comments) -> dict[int, str]:
    """Cell number -> the title of the section its code is in (none for the page's own)."""
    titles = {}
    for number, lineno in enumerate(data["cells"], start=1):
        # A block's range ends on the line the next one starts on: the code's is the later.
        holding = [node for node, first, last in comments if first <= lineno <= last]
        if not holding:
            continue
        section = holding[-1].parent
        if isinstance(section, nodes.section) and isinstance(section.parent, nodes.section):
            titles[number] = section[0].astext()
    return titles


def figure_nodes(data: dict, cell_titles: dict[int, str], text_only: bool = False):
    box = nodes.container(classes=["lc-box"])
    caption = CAPTION if diagram.transitions(data) else STATEMENTS_CAPTION
    box += nodes.paragraph(text=caption, classes=["lc-caption"])
    if not text_only:
        box += nodes.raw("", diagram.draw(data), format="html")
    lines = diagram.sentences(data, cell_titles)
    if any("\u00d7" in line for line in lines):
        box[0] += nodes.Text(
            " (\u00d72: two objects of that name, such as one row loaded by two sessions)"
        )
    if lines:
        items = nodes.bullet_list(classes=["lc-transitions"])
        for line in lines:
            items += nodes.list_item("", nodes.paragraph(text=line))
        if text_only:
            box += items
        else:
            # The picture says it at a glance; the lines, object by object, open on demand.
            box += nodes.raw(
                "", f'<details class="lc-steps"><summary>{STEPS_SUMMARY}</summary>', format="html"
            )
            box += items
            box += nodes.raw("", "</details>", format="html")
    else:
        box += nodes.paragraph(text=diagram.summary(data), classes=["lc-transitions"])
    return box


# ---------------------------------------------------------------------------
# Gallery cards: a long name in a title breaks at its dots, underscores and words
# ---------------------------------------------------------------------------

CARD_TITLE = re.compile(r'(<div class="sphx-glr-thumbnail-title">)(.*?)(</div>)', re.S)
# After a dot, a bracket, an underscore, "=" or "/": never inside a name (DetachedInstanceError).
BREAK_AFTER = re.compile(r"(?<=[._(=/])(?=[\w\"'])")
LONG_WORD = 12


def _breakable(title: str) -> str:
    return " ".join(
        BREAK_AFTER.sub("<wbr>", word) if len(word) > LONG_WORD else word
        for word in title.split(" ")
    )


def break_card_titles(app, doctree) -> None:
    """A card title whose long word (``session.commit(synchronize_session=True)``) is wider
    than the card would spill out of it: ``<wbr>`` lets it break where a reader expects."""
    for node in list(doctree.findall(nodes.raw)):
        text = node.astext()
        if "sphx-glr-thumbnail-title" not in text:
            continue
        new = CARD_TITLE.sub(lambda m: m.group(1) + _breakable(m.group(2)) + m.group(3), text)
        if new != text:
            node.replace_self(nodes.raw("", new, format=node.get("format", "html")))
