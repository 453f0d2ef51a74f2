"""What an example page shows in its first screen: its answer, then its picture.

Every example's docstring puts its answer first: the paragraph under the title (README.md,
"Adding an example"). On the page that paragraph becomes the answer box (``div.answer-box``),
the first thing under the title; the lifecycle picture (``session_sync/figure.py``) follows it,
then the rest of the introduction. Sphinx-Gallery's "Go to the end to download the full example
code" note, which stood above the title, is dropped: the download buttons end the page, where
the note sent the reader. (The note saying which database sent the page's SQL, and how to build
the site with the others, ends the page too: ``session_sync/rendering.py``.)
"""

from __future__ import annotations

from docutils import nodes
from sphinx import addnodes

ANSWER_CLASS = "answer-box"
ANSWER_CAPTION = "The answer"
DOWNLOAD_NOTE = "sphx-glr-download-link-note"


def _is_example(app, docname: str) -> bool:
    gallery_dirs = app.config.sphinx_gallery_conf.get("gallery_dirs", [])
    gallery_dirs = [gallery_dirs] if isinstance(gallery_dirs, str) else list(gallery_dirs)
    return any(docname.startswith(d.rstrip("/") + "/") for d in gallery_dirs) and not (
        docname.endswith("/index")
    )


def answer_box(paragraph: nodes.paragraph) -> nodes.container:
    box = nodes.container(classes=[ANSWER_CLASS])
    box += nodes.paragraph(text=ANSWER_CAPTION, classes=["answer-caption"])
    box += paragraph
    return box


def put_the_answer_first(app, doctree) -> None:
    """The docstring's first paragraph in an answer box, the picture right under it, and the
    download note (above the title) gone."""
    if not _is_example(app, app.env.docname):
        return
    for note in list(doctree.findall(nodes.Element)):
        if DOWNLOAD_NOTE in note.get("classes", ()) and note.parent is not None:
            holder = note.parent
            holder.remove(note)
            # Sphinx-Gallery wraps the note in an ``only`` node of its own: left empty, it goes.
            if not holder.children and holder.parent is not None and holder is not doctree:
                holder.parent.remove(holder)
    top = next(iter(doctree.findall(nodes.section)), None)
    if top is None:
        return
    # The first paragraph under the title; index entries (search_topics.py) and targets, which
    # show nothing, may come before it.
    first = None
    for child in top.children[1:]:
        if isinstance(child, nodes.paragraph):
            first = child
            break
        if not isinstance(child, (nodes.Invisible, addnodes.index)):
            return
    if first is None:
        return
    box = answer_box(first.deepcopy())
    top.replace(first, box)
    picture = next((child for child in top.children if "lc-box" in child.get("classes", ())), None)
    if picture is not None and top.index(picture) > top.index(box) + 1:
        top.remove(picture)
        top.insert(top.index(box) + 1, picture)


def setup(app):
    # After session_sync's figure (doctree-read, 500) has put the picture after the introduction.
    app.connect("doctree-read", put_the_answer_first, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
