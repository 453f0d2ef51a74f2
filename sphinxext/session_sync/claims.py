"""The claims a cell proved: each hidden ``assert`` that passed, with its line and message.

Pure standard library (like ``recording``). The docs build parses each cell, and before running
it adds after every assert that sits in a ``# sphinx_gallery_start_ignore`` block (hidden from
the page) a call that records the assert's line and its message, evaluated once the assert has
passed. An assert that did not run (in a branch for another database) records nothing; one that
fails raises as before, at its own line. A visible assert needs no list entry: the reader sees it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

RECORDER_NAME = "_session_sync_claim"  # in the example's globals; "_" keeps it out of labels
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
        if node.msg is None or node.lineno not in self.hidden:
            return node
        call = ast.Call(
            func=ast.Name(id=RECORDER_NAME, ctx=ast.Load()),
            args=[ast.Constant(node.lineno), node.msg],
            keywords=[],
        )
        # An ``if`` rather than an expression statement: the cell's last statement stays what
        # it was (Sphinx-Gallery treats a final expression specially).
        record = ast.If(test=call, body=[ast.Pass()], orelse=[])
        for new in (call, record, record.body[0]):
            ast.copy_location(new, node)
        return [node, ast.fix_missing_locations(record)]


def instrument(tree: ast.Module, hidden: frozenset[int]) -> ast.Module:
    """``tree`` with a recording call after each hidden assert that has a message."""
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
