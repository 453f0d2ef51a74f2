"""Codemod (run once, kept for new examples): wrap the asserts of every example, and its
clean-up, in ``# sphinx_gallery_start_ignore`` / ``# sphinx_gallery_end_ignore`` lines.

Sphinx-Gallery leaves those lines out of the rendered code; the script still runs them, and the
downloaded script keeps them. Consecutive asserts form one block; an ``if``/``for``/``with``
whose bodies hold only asserts is hidden whole (so no empty ``else:`` is left on the page); the
``else`` branch of an ``if`` that holds only asserts is hidden from its ``else:`` line. Clean-up
is ``drop_all()`` at module level and the trailing ``dispose()``/``close()``/``cleanup()`` calls
of the file, unless they are its last cell, all of it (a visible clean-up cell). Usage:
``python tools/hide_asserts.py examples/**/*.py`` (idempotent).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

START = "# sphinx_gallery_start_ignore"
END = "# sphinx_gallery_end_ignore"
CLEANUP_CALLS = {"dispose", "close", "cleanup"}
COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)


def bodies(node: ast.stmt) -> list[list[ast.stmt]]:
    return [b for b in (getattr(node, f, None) for f in ("body", "orelse")) if b]


def hideable(node: ast.stmt) -> bool:
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, COMPOUND) and not getattr(node, "orelse", None) or isinstance(node, ast.If):
        return all(hideable(s) for b in bodies(node) for s in b)
    return False


def call_name(node: ast.stmt) -> str | None:
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        if isinstance(func, ast.Attribute):
            if func.attr == "run" and node.value.args:  # runner.run(engine.dispose())
                inner = node.value.args[0]
                if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute):
                    return inner.func.attr
            return func.attr
    return None


def is_cleanup(node: ast.stmt) -> bool:
    if call_name(node) in CLEANUP_CALLS:
        return True
    return isinstance(node, ast.If) and not node.orelse and all(is_cleanup(s) for s in node.body)


CELL_LINES: set[int] = set()  # the "# %%" lines of the file being changed


def runs(body: list[ast.stmt], hide) -> list[tuple[int, int, int]]:
    """(first line, last line, column) of each run of consecutive hidden statements; a run
    never crosses a cell's "# %%" line."""
    found, current = [], None
    for stmt in body:
        if current is not None and any(current[1] < n < stmt.lineno for n in CELL_LINES):
            found.append(tuple(current))
            current = None
        if hide(stmt):
            if current is None:
                current = [stmt.lineno, stmt.end_lineno, stmt.col_offset]
            else:
                current[1] = stmt.end_lineno
            continue
        if current is not None:
            found.append(tuple(current))
            current = None
        found.extend(nested(stmt))
    if current is not None:
        found.append(tuple(current))
    return found


def nested(stmt: ast.stmt) -> list[tuple[int, int, int]]:
    found = []
    if isinstance(stmt, ast.If) and stmt.orelse and all(hideable(s) for s in stmt.orelse):
        found.extend(runs(stmt.body, hideable))
        # From the "else:" line (the line before the branch's first statement) or the "elif".
        first = stmt.orelse[0]
        is_elif = (
            isinstance(first, ast.If)
            and len(stmt.orelse) == 1
            and first.col_offset == (stmt.col_offset)
        )
        start = first.lineno if is_elif else first.lineno - 1
        found.append((start, stmt.orelse[-1].end_lineno, stmt.col_offset))
        return found
    for field in ("body", "orelse", "finalbody"):
        found.extend(runs(getattr(stmt, field, None) or [], hideable))
    for handler in getattr(stmt, "handlers", []):
        found.extend(runs(handler.body, hideable))
    return found


def already_hidden(lines: list[str]) -> set[int]:
    hidden, inside = set(), False
    for number, line in enumerate(lines, 1):
        if line.strip() == START:
            inside = True
        if inside:
            hidden.add(number)
        if line.strip() == END:
            inside = False
    return hidden


def transform(source: str) -> str:
    tree = ast.parse(source)
    lines = source.split("\n")
    CELL_LINES.clear()
    CELL_LINES.update(n for n, line in enumerate(lines, 1) if line.startswith("# %%"))
    body = tree.body
    trailing = len(body)
    while trailing and (is_cleanup(body[trailing - 1]) or hideable(body[trailing - 1])):
        trailing -= 1
    # Clean-up that is the last cell, all of it, stays on the page: closing a session changes
    # what the page shows (its objects detach; a ROLLBACK), so the reader sees the code do it.
    last_cell = max((n for n in CELL_LINES if body and n < body[-1].lineno), default=0)
    in_last_cell = [stmt for stmt in body if stmt.lineno > last_cell]
    if last_cell and in_last_cell and all(is_cleanup(stmt) for stmt in in_last_cell):
        trailing = len(body)

    def top_level(stmt: ast.stmt) -> bool:
        return (
            hideable(stmt)
            or call_name(stmt) == "drop_all"
            or (body.index(stmt) >= trailing and is_cleanup(stmt))
        )

    hidden = already_hidden(lines)
    blocks = [b for b in runs(body, top_level) if b[0] not in hidden]
    for first, last, column in sorted(blocks, reverse=True):
        indent = " " * column
        lines.insert(last, indent + END)
        lines.insert(first - 1, indent + START)
    return "\n".join(lines)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        path = Path(name)
        old = path.read_text(encoding="utf-8")
        new = transform(old)
        if new != old:
            path.write_text(new, encoding="utf-8")
            print("changed", path)
