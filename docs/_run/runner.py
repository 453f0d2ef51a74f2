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
claim. Unlike the build, a hidden check that fails does not stop the run: the reader edited the
code to see what happens, and the page's claim no longer holding is the news, not the end of
the run. The cell goes on after it (its output, SQL and state table still show, and the later
cells run), and the claim is listed under the cell as broken, with its message. Only an
exception in the code itself (visible, or a hidden line that raises something other than a
failed check) stops the run there.
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


BROKEN_NAME = "_session_sync_claim_broken"  # in the example's globals, as claims' names


class _BrokenClaims:
    """The page's hidden checks that failed in this cell (the reader's change broke them):
    each as ``{"line", "claim", "detail"}``, in the order they failed, each once."""

    def __init__(self) -> None:
        self.broken: list[dict] = []
        self.just_failed: set[int] = set()

    def fail(self, line: int, check: str, error: AssertionError) -> bool:
        self.just_failed.add(line)
        message = " ".join(str(error).split()) or f"assert {check}"
        entry = {"line": line, "claim": message}
        if entry not in self.broken:
            self.broken.append(entry)
        return False

    def problem(self, line: int, message: str) -> None:
        """A hidden check that passed but now sends SQL, or a hidden block that now prints or
        changes the state table: said under the cell; the run goes on."""
        entry = {"line": line, "claim": " ".join(message.split()), "kind": "hidden-code"}
        if entry not in self.broken:
            self.broken.append(entry)

    def recorder(self, line: int, message) -> bool:
        """claims' recorder, after a hidden assert: nothing for one that failed (fail() said
        it), else recording's record_claim, whose complaint is said rather than raised."""
        from session_sync import recording

        if line in self.just_failed:
            self.just_failed.discard(line)
            active = recording.active_recording()
            if active is not None:
                active[0].assert_started_at.pop(line, None)
            return False
        try:
            return recording.record_claim(line, message)
        except AssertionError as error:
            self.problem(line, str(error))
            return False

    def block_report(self, message: str) -> None:
        line = int(re.search(r"lines (\d+)", message).group(1))
        self.problem(line, message)

    def new_cell(self) -> list[dict]:
        broken, self.broken, self.just_failed = self.broken, [], set()
        return broken


class _KeepGoingAfterHiddenAsserts(ast.NodeTransformer):
    """Each hidden ``assert`` (already instrumented by claims) inside ``try: ... except
    AssertionError as e: _session_sync_claim_broken(line, source, e)``: a failed check is
    noted and the cell goes on."""

    def __init__(self, hidden: frozenset[int]) -> None:
        self.hidden = hidden

    def visit_Assert(self, node: ast.Assert):
        if node.lineno not in self.hidden:
            return node
        name = "_session_sync_broken_error"
        call = ast.Call(
            func=ast.Name(id=BROKEN_NAME, ctx=ast.Load()),
            args=[
                ast.Constant(node.lineno),
                ast.Constant(ast.unparse(node.test)),
                ast.Name(id=name, ctx=ast.Load()),
            ],
            keywords=[],
        )
        handler = ast.ExceptHandler(
            type=ast.Name(id="AssertionError", ctx=ast.Load()),
            name=name,
            body=[ast.Expr(call)],
        )
        statement = ast.Try(body=[node], handlers=[handler], orelse=[], finalbody=[])
        for new in ast.walk(statement):
            if new is not node and not isinstance(new, ast.expr_context):
                ast.copy_location(new, node)
        return statement


def error_lineno(error: BaseException) -> int | None:
    """The example's line where the exception was raised (its innermost frame there)."""
    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if f.filename == FILENAME]
    if not lines and isinstance(error, SyntaxError) and error.filename == FILENAME:
        return error.lineno
    return lines[-1] if lines else None


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
            tree = _KeepGoingAfterHiddenAsserts(hidden).visit(claims.instrument(tree, hidden))
            ast.fix_missing_locations(tree)
        compiled = compile(tree, FILENAME, "exec")
        if stderr.getvalue():
            return compiled
    kept[key] = compiled
    return compiled


def run(source: str) -> dict:
    """Every code cell of ``source``, in order, until one raises: what each showed (a hidden
    check that fails is listed under its cell, and the run goes on)."""
    from session_sync import claims, recording, state

    results = []
    try:
        cells = code_cells(source)
    except SyntaxError as error:
        return {
            "cells": [],
            "count": 0,
            "spans": [],
            "error": error_text(error),
            "error_line": error.lineno,
        }
    # As in Sphinx-Gallery: the example is module __main__ (SQLAlchemy resolves Mapped[...]
    # annotations in the module of the class).
    module = types.ModuleType("__main__")
    module.__file__ = FILENAME
    namespace = module.__dict__
    # As the build does (session_sync.build_hooks.run_cell_recording_claims).
    hidden = claims.hidden_lines(source)
    broken = _BrokenClaims()
    claims.install(namespace, broken.recorder, recording.assert_starts, broken.block_report)
    namespace[BROKEN_NAME] = broken.fail
    main, sys.modules["__main__"] = sys.modules.get("__main__"), module
    recording.start_recording(recording.SqlTranscript(), state.ObjectTracker())
    global _compiled
    kept: dict[tuple, types.CodeType] = {}
    try:
        for lineno, code in cells:
            stdout, stderr = io.StringIO(), io.StringIO()
            error = error_line = None
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                try:
                    exec(compiled_cell(lineno, code, hidden, kept, stderr), namespace)
                except BaseException as raised:  # the reader's code: show whatever it raised
                    error = error_text(raised)
                    error_line = error_lineno(raised)
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
                    "broken_claims": broken.new_cell(),
                    "error": error,
                    "error_line": error_line,
                }
            )
            if error:
                break
    finally:
        recording.stop_recording()
        sys.modules["__main__"] = main
        _compiled = kept
    return {"cells": results, "count": len(cells), "spans": cell_spans(cells)}


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


def cell_spans(cells: list[tuple[int, str]]) -> list[list[int]]:
    """The first and last line of each code cell."""
    return [[lineno, lineno + code.rstrip("\n").count("\n")] for lineno, code in cells]


def run_and_render(source: str, original: str | None = None) -> str:
    """The run's result as JSON; with ``original`` (the page's own code), also its cells'
    lines (``page_spans``), which the page's script matches with the run's cells."""
    import json

    result = render(run(source))
    if original is not None:
        result["page_spans"] = cell_spans(code_cells(original))
    return json.dumps(result)
