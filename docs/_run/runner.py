"""Runs an example in the reader's browser (Pyodide, in a Web Worker) the way the docs build runs
it, and returns what each cell showed, as plain data for the page's JavaScript.

The same code as the build: cells split as Sphinx-Gallery splits them (the module docstring,
then ``# %%`` or a line of 20 ``#``), each compiled with the example's own line numbers and run
in one namespace (``__name__ == "__main__"``); the capture layer's ``recording`` and ``state``
(shipped next to this file as the package ``session_sync``) record the SQL and the state tables;
``rendering`` (imported with a stand-in for docutils, which the browser does not have) groups
the SQL into the same boxes, so the page's JavaScript only turns its tree into HTML.
Hidden asserts (between ``sphinx_gallery_start_ignore`` and ``_end_ignore``) are instrumented
by ``claims`` as in the build: each one that passes is listed under its cell as a verified
claim, and one that sends SQL fails its cell.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import sys
import tokenize
import traceback
import types

FILENAME = "/home/pyodide/example.py"
HEADER = re.compile(r"(?P<header_line>^#{20,}.*|^# ?%%.*)\s(?P<text_content>(?:^#.*\s?)*)", re.M)


def code_cells(source: str) -> list[tuple[int, str]]:
    """(first line, code) of each code block, as Sphinx-Gallery's split_code_and_text_blocks."""
    node = ast.parse(source)
    lineno = 0
    if (
        node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    ):
        for token in tokenize.tokenize(io.BytesIO(source.encode()).readline):
            if token.exact_type == tokenize.STRING:
                lineno = token.end[0]
                break
    rest = "\n".join(source.split("\n")[lineno:])
    lineno += 1
    cells, position = [], 0
    for match in HEADER.finditer(rest):
        code = rest[position : match.start()]
        if code.strip():
            cells.append((lineno, code))
        lineno += code.count("\n") + 1 + match.group("text_content").count("\n")
        position = match.end()
    if rest[position:].strip():
        cells.append((lineno, rest[position:]))
    return cells


class _Element:
    """A stand-in for a docutils node: its kind, classes, text and children, nothing else."""

    text_element = False

    def __init__(self, rawsource="", *children, **attributes):
        self.text = ""
        if self.text_element:
            self.text = attributes.pop("text", "")
            if children and isinstance(children[0], str):
                self.text, children = children[0], children[1:]
        self.children = list(children)
        self.attributes = {"classes": [], **attributes}

    def __getitem__(self, key):
        return self.attributes[key]

    def __setitem__(self, key, value):
        self.attributes[key] = value

    def __iadd__(self, child):
        self.children.extend(child if isinstance(child, list) else [child])
        return self

    def append(self, child) -> None:
        self.children.append(child)

    def extend(self, children) -> None:
        self.children.extend(children)

    def insert(self, index, child) -> None:
        self.children.insert(index, child)

    def astext(self) -> str:
        return self.text + "".join(child.astext() for child in self.children)

    def tree(self) -> dict:
        tree = {"node": type(self).__name__, "classes": list(self.attributes.get("classes", []))}
        if self.text:
            tree["text"] = self.text
        for key in ("language", "format"):
            if key in self.attributes:
                tree[key] = self.attributes[key]
        # The SQL box's lines to highlight (1-based), as Sphinx passes them to Pygments.
        hl_lines = self.attributes.get("highlight_args", {}).get("hl_lines")
        if hl_lines:
            tree["hl_lines"] = list(hl_lines)
        if self.children:
            tree["children"] = [child.tree() for child in self.children]
        return tree


TEXT_ELEMENTS = {
    "Text",
    "paragraph",
    "literal_block",
    "raw",
    "literal",
    "strong",
    "emphasis",
    "inline",
}


def _stand_in_docutils() -> None:
    """Modules named like docutils' that rendering.py imports, building _Element trees."""
    made: dict[str, type] = {}

    def node_class(name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in made:
            made[name] = type(name, (_Element,), {"text_element": name in TEXT_ELEMENTS})
        return made[name]

    def text(data, rawsource=""):
        return node_class("Text")("", data)

    nodes = types.ModuleType("docutils.nodes")
    nodes.__getattr__ = node_class
    nodes.Text = text
    rst = types.ModuleType("docutils.parsers.rst")
    rst.Directive = type("Directive", (), {})
    rst.directives = types.SimpleNamespace()
    docutils = types.ModuleType("docutils")
    docutils.nodes = nodes
    parsers = types.ModuleType("docutils.parsers")
    parsers.rst = rst
    docutils.parsers = parsers
    sys.modules.update(
        {
            "docutils": docutils,
            "docutils.nodes": nodes,
            "docutils.parsers": parsers,
            "docutils.parsers.rst": rst,
        }
    )


def _rendering():
    if "docutils" not in sys.modules:
        _stand_in_docutils()
    from session_sync import rendering

    return rendering


def state_table_tree(table: dict) -> dict:
    boxes = _rendering().OrmStateDirective.nodes_of(table)
    return {"node": "fragment", "children": [n.tree() for n in boxes]}


CLAIMS_CAPTION = "Verified by this run, in your browser"


def claims_tree(claims: list[dict]) -> dict:
    """The cell's verified claims, as the build's ``verified-claims`` directive lists them, under
    a caption that says where this run proved them."""
    trees = [n.tree() for n in _rendering().VerifiedClaimsDirective.nodes_of(claims)]
    for tree in trees:
        for child in tree.get("children", []):
            if "verified-claims-caption" in child["classes"]:
                child["text"] = CLAIMS_CAPTION
    return {"node": "fragment", "children": trees}


def output_trees(text: str, label_connections: bool) -> list[dict]:
    """The cell's printed output and SQL boxes in true order, built by rendering.py."""
    rendering = _rendering()
    block = sys.modules["docutils.nodes"].literal_block(text, text)
    block["classes"] = ["sphx-glr-script-out"]
    return [n.tree() for n in rendering.split_output_block(block, label_connections)]


def error_text(error: BaseException) -> str:
    """The exception as Python prints it, without the frames of this runner."""
    frames = traceback.extract_tb(error.__traceback__)
    shown = [frame for frame in frames if frame.filename == FILENAME]
    lines = traceback.format_list(shown) if shown else []
    lines += traceback.format_exception_only(type(error), error)
    return "".join(lines).replace(FILENAME, "example.py").rstrip()


# The previous run's compiled cells: a re-run after an edit compiles only the cells that changed
# (parsing, instrumenting and compiling an example's cells took a quarter of a re-run).
_compiled: dict[tuple, types.CodeType] = {}


def compiled_cell(lineno: int, code: str, hidden: frozenset[int], kept: dict, stderr) -> object:
    """The cell compiled as the build compiles it (its hidden asserts instrumented), taken from
    the previous run when its text, place and hidden lines are the same, and kept in ``kept``
    unless compiling it warned (the warning then shows again, as on the first run)."""
    from session_sync import claims

    last = lineno + code.count("\n")
    key = (lineno, code, frozenset(n for n in hidden if lineno <= n <= last))
    compiled = _compiled.get(key)
    if compiled is None:
        tree = ast.parse("\n" * (lineno - 1) + code, FILENAME)
        if hidden:
            tree = claims.instrument(tree, hidden)
        compiled = compile(tree, FILENAME, "exec")
        if stderr.getvalue():
            return compiled
    kept[key] = compiled
    return compiled


def run(source: str) -> dict:
    """Every code cell of ``source``, in order, until one raises: what each showed."""
    from session_sync import claims, recording, state

    results = []
    try:
        cells = code_cells(source)
    except SyntaxError as error:
        return {"cells": [], "error": error_text(error)}
    # As in Sphinx-Gallery: the example is module __main__ (SQLAlchemy resolves Mapped[...]
    # annotations in the module of the class).
    module = types.ModuleType("__main__")
    module.__file__ = FILENAME
    namespace = module.__dict__
    # As the build does (session_sync.build_hooks.run_cell_recording_claims).
    hidden = claims.hidden_lines(source)
    claims.install(namespace, recording.record_claim, recording.assert_starts)
    main, sys.modules["__main__"] = sys.modules.get("__main__"), module
    recording.start_recording(recording.SqlTranscript(), state.ObjectTracker())
    global _compiled
    kept: dict[tuple, types.CodeType] = {}
    try:
        for lineno, code in cells:
            stdout, stderr = io.StringIO(), io.StringIO()
            error = None
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                try:
                    exec(compiled_cell(lineno, code, hidden, kept, stderr), namespace)
                except BaseException as raised:  # the reader's code: show whatever it raised
                    error = error_text(raised)
                capture = recording.end_cell()
            last = lineno + code.rstrip("\n").count("\n")
            results.append(
                {
                    "first_line": lineno,
                    "last_line": last,
                    "output": stdout.getvalue(),
                    "stderr": stderr.getvalue(),
                    "state_table": capture.state_table if capture else None,
                    "claims": capture.claims if capture else [],
                    "error": error,
                }
            )
            if error:
                break
    finally:
        recording.stop_recording()
        sys.modules["__main__"] = main
        _compiled = kept
    return {"cells": results, "count": len(cells)}


def render(result: dict) -> dict:
    """Trees for the page: each cell's output and SQL boxes, and its state table."""
    rendering = _rendering()
    labels = {
        label
        for cell in result["cells"]
        for is_sql, records in rendering.split_marked_output(cell["output"])
        if is_sql
        for label in rendering.connection_labels(records)
    }
    for cell in result["cells"]:
        output = cell.pop("output")
        cell["statements"] = [
            record["sql"]
            for is_sql, records in rendering.split_marked_output(output)
            if is_sql
            for record in records
            if "sql" in record
        ]
        cell["trees"] = output_trees(output, len(labels) > 1) if output.strip() else []
        table = cell.pop("state_table")
        cell["state"] = state_table_tree(table) if table is not None else None
        proved = cell.pop("claims")
        cell["claims"] = claims_tree(proved) if proved else None
    return result


def prepare() -> None:
    """What every run uses, imported once when the worker starts rather than by the first run."""
    from session_sync import claims, recording, state  # noqa: F401

    _rendering()


def run_and_render(source: str) -> str:
    import json

    return json.dumps(render(run(source)))
