"""The docs build's side: the Sphinx extension and the Sphinx-Gallery hooks (named in conf.py).

* ``reset`` (``reset_modules``): before each example, fresh class-level listeners and object
  tracker (``recording``), and the objects alive so far frozen out of garbage collections;
  after it, no listeners.
* ``scrape_cell`` (``image_scrapers``), after every cell: the state table when an object
  changed (``state``, checked to send no SQL), as an ``orm-state`` directive holding it as JSON;
  in the full build, also the SQL tabs of the other databases (``dialects``).
* ``run_cell_recording_claims`` (in place of Sphinx-Gallery's ``_exec_and_get_memory``):
  every hidden assert that passes records its claim (``claims``), listed under the cell; one
  that sent SQL fails the build.
* ``setup``: the directives (whose boxes are made when a page is written: ``captured_box``),
  the ``doctree-resolved`` hook that turns marked output lines into
  SQL boxes (``rendering``), and re-running every example when this package or the other
  databases' recordings change.
"""

from __future__ import annotations

import gc
import hashlib
import json
from pathlib import Path

import sphinx_gallery.gen_rst
from docutils import nodes
from private_internals import replace
from sphinx.transforms.post_transforms import SphinxPostTransform

from . import claims, dialects, figure, recording, rendering, state

PACKAGE_DIR = Path(__file__).parent


def reset(gallery_conf, fname, when):
    """Before an example: fresh listeners and tracker, and what lives already set aside by the
    garbage collector.  After it: remove the listeners."""
    if when == "before":
        leave_alive_objects_out_of_collections()
        recording.start_recording(recording.SqlTranscript(), state.ObjectTracker())
        figure.start()
    else:
        recording.stop_recording()
        figure.stop()


def scrape_cell(block, block_vars, gallery_conf) -> str:
    """Called after every cell: the state table when an object changed, and in the full build
    the SQL the same cell sent to the other databases."""
    cell = recording.end_cell()
    if cell is None:
        return ""
    figure.record_cell(block, block_vars, gallery_conf, cell.records)
    rst = dialects.dialect_tabs_rst(block_vars.get("src_file", ""), block.lineno, cell.records)
    if cell.state_table is not None:
        rst += "\n.. orm-state::\n\n   " + json.dumps(cell.state_table, ensure_ascii=False) + "\n"
    if cell.claims:
        rst += "\n.. verified-claims::\n\n   " + json.dumps(cell.claims, ensure_ascii=False) + "\n"
    return rst


def run_cell_recording_claims(compiler, *, code_ast, gallery_conf, script_vars):
    """Sphinx-Gallery's cell runner, on the cell with a claim recorded after each hidden assert
    and a check that it sent no SQL (no tracing: the added calls run only around asserts)."""
    src_file = str(script_vars["src_file"])
    hidden = claims.hidden_lines_of_file(src_file)
    if hidden:
        code_ast = claims.instrument(code_ast, hidden)
        namespace = script_vars["fake_main"].__dict__
        claims.install(namespace, recording.record_claim, recording.assert_starts)
    return _run_cell(
        compiler, code_ast=code_ast, gallery_conf=gallery_conf, script_vars=script_vars
    )


def install_cell_runner() -> None:
    """Sphinx-Gallery's private cell runner replaced, once checked: called by keyword with these
    parameters, reading the example's file and namespace from these keys of ``script_vars``,
    called by ``execute_code_block`` by this name (``private_internals``)."""
    global _run_cell
    _run_cell = replace(
        "sphinx-gallery",
        sphinx_gallery.gen_rst,
        "_exec_and_get_memory",
        run_cell_recording_claims,
        signature="(compiler, *, code_ast, gallery_conf, script_vars)",
        mentions=("src_file", "fake_main"),
        called_by=("execute_code_block",),
    )


# At import, so that parallel workers (which import this module for its hooks) do it too; in
# the build's own process, that is when Sphinx loads the extension, just before setup().
install_cell_runner()


def capture_fingerprint() -> str:
    """Changes whenever a module of this package or the other databases' SQL changes: the
    examples must then run again, and the pages be read again."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for path in dialects.dialect_files():
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def rerun_examples_if_capture_changed(app) -> None:
    """Sphinx-Gallery re-runs an example only when its own md5 changes; ours counts too."""
    gallery_conf = app.config.sphinx_gallery_conf
    src = Path(app.srcdir)
    for gallery_dir in _as_list(gallery_conf.get("gallery_dirs", [])):
        out = src / gallery_dir
        stamp = out / ".capture-fingerprint"
        fingerprint = app.config.session_sync_capture_fingerprint
        if stamp.exists() and stamp.read_text() == fingerprint:
            continue
        for md5_file in out.rglob("*.md5"):
            md5_file.unlink()
        out.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint)


def leave_alive_objects_out_of_collections() -> None:
    """``recording.end_cell`` collects garbage after every cell, and Sphinx-Gallery before every
    example. With Sphinx, its environment, the intersphinx inventories, SQLAlchemy and what
    earlier examples left in memory, each collection scanned up to 200,000 objects: most of what
    the capture layer added to a clean build.  An example cannot make garbage of what existed
    before it started: what is alive then is moved where collections do not look."""
    gc.collect()
    gc.freeze()


class captured_box(nodes.Element):
    """An ``orm-state`` or ``verified-claims`` directive as it was read (its name and its one
    line of JSON), until the page is written: ``ExpandCapturedBoxes`` runs the directive's own
    ``run`` then, before any other post-transform, so that every later step sees the nodes as
    when the directive made them while the page was read.  Made then, the boxes' nodes (some
    25,000 on the site, two thirds of the examples' doctrees: five paragraphs a table row) were
    walked by every transform of the reading, pickled, unpickled again by the HTML and the
    Markdown build, and scanned by every garbage collection of the reading."""


CAPTURED_DIRECTIVES = {
    "orm-state": rendering.OrmStateDirective,
    "verified-claims": rendering.VerifiedClaimsDirective,
}


def _deferred(name: str):
    class Deferred(CAPTURED_DIRECTIVES[name]):
        def run(self):
            return [captured_box(directive=name, content="\n".join(self.content))]

    return Deferred


def expanded(node: captured_box) -> list[nodes.Node]:
    """The nodes the directive itself makes of what it read (as runner.py makes them)."""
    return CAPTURED_DIRECTIVES[node["directive"]].nodes_of(json.loads(node["content"]))


class ExpandCapturedBoxes(SphinxPostTransform):
    default_priority = 1  # before code links (5), references (10) and the tables' transforms

    def run(self, **kwargs) -> None:
        boxes = list(self.document.findall(captured_box))
        tables = {
            id(node): json.loads(node["content"])
            for node in boxes
            if node["directive"] == "orm-state"
        }
        rendering.mark_repeated_tables(list(tables.values()))
        for node in boxes:
            if id(node) in tables:
                node.replace_self(rendering.OrmStateDirective.nodes_of(tables[id(node)]))
            else:
                node.replace_self(expanded(node))


def _as_list(value) -> list:
    return [value] if isinstance(value, str) else list(value)


def setup(app):
    fingerprint = capture_fingerprint()
    for name in CAPTURED_DIRECTIVES:
        app.add_directive(name, _deferred(name))
    app.add_post_transform(ExpandCapturedBoxes)
    # An "env" config value: when it changes, Sphinx reads every page again as well.
    app.add_config_value("session_sync_capture_fingerprint", fingerprint, "env")
    app.connect("builder-inited", rerun_examples_if_capture_changed, priority=100)
    app.connect("doctree-resolved", rendering.render_captured_output)
    app.connect("doctree-read", figure.add_figure)
    # Before llms_text's doctree-resolved handler (priority 900) reads the page as text.
    app.connect("doctree-resolved", figure.text_only_for_markdown)
    app.connect("doctree-read", figure.break_card_titles)
    return {
        "version": fingerprint,
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
