"""The claims a cell proved: each hidden ``assert`` that passed, with its line and message.

Pure standard library (like ``recording``). The docs build parses each cell, and before running
it adds after every assert that sits in a ``# sphinx_gallery_start_ignore`` block (hidden from
the page) a call that records the assert's line and its message, evaluated once the assert has
passed. An assert that did not run (in a branch for another database) records nothing; one that
fails raises as before, at its own line. A visible assert needs no list entry: the reader sees it.

A hidden assert must send no SQL: the page would show its statements under code that does not
send them, and the visible code could depend on what it loaded. So a call before every hidden
assert notes how many statements the cell sent so far, and the call after it fails at the
assert's line when that number grew (two calls per assert run, no tracing).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

RECORDER_NAME = "_session_sync_claim"  # in the example's globals; "_" keeps it out of labels
STARTER_NAME = "_session_sync_assert_starts"  # called before each hidden assert
START = re.compile(r"^[ \t]*#\s*sphinx_gallery_start_ignore\b")
END = re.compile(r"^[ \t]*#\s*sphinx_gallery_end_ignore\b")


def hidden_lines(source: str) -> frozenset[int]:
    """The line numbers (from 1) inside ignore blocks, marker lines included."""
    hidden, inside = set(), False
    for number, line in enumerate(source.split("\n"), 1):
        if START.match(line):
            inside = True
        if inside:
            hidden.add(number)
        if END.match(line):
            inside = False
    return frozenset(hidden)


def hidden_lines_of_file(path: str) -> frozenset[int]:
    return hidden_lines(Path(path).read_text(encoding="utf-8"))


class _RecordPassedAsserts(ast.NodeTransformer):
    def __init__(self, hidden: frozenset[int]) -> None:
        self.hidden = hidden

    def visit_Assert(self, node: ast.Assert):
        if node.lineno not in self.hidden:
            return node
        message = node.msg if node.msg is not None else ast.Constant(None)
        return [
            _call_statement(STARTER_NAME, [ast.Constant(node.lineno)], node),
            node,
            _call_statement(RECORDER_NAME, [ast.Constant(node.lineno), message], node),
        ]


def _call_statement(name: str, args: list, node: ast.AST) -> ast.If:
    call = ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=args, keywords=[])
    # An ``if`` rather than an expression statement: the cell's last statement stays what
    # it was (Sphinx-Gallery treats a final expression specially).
    statement = ast.If(test=call, body=[ast.Pass()], orelse=[])
    for new in (call, statement, statement.body[0]):
        ast.copy_location(new, node)
    return ast.fix_missing_locations(statement)


def instrument(tree: ast.Module, hidden: frozenset[int]) -> ast.Module:
    """``tree`` with a call before each hidden assert and a recording call after it."""
    return _RecordPassedAsserts(hidden).visit(tree)


class ClaimLog:
    """The claims proved in the current cell, in the order first proved, each once."""

    def __init__(self) -> None:
        self.claims: list[dict] = []
        self._seen: set[tuple[int, str]] = set()

    def record(self, line: int, message) -> None:
        text = " ".join(str(message).split())
        if (line, text) not in self._seen:
            self._seen.add((line, text))
            self.claims.append({"line": line, "claim": text})

    def new_cell(self) -> list[dict]:
        claims, self.claims, self._seen = self.claims, [], set()
        return claims
