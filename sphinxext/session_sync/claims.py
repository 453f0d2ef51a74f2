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

Nor may any hidden block change what the page shows: what it prints would appear as the cell's
output, a statement it sends (but schema set-up, folded away) in the cell's SQL box, and an
object it changes (``session.close()`` detaching it) in the cell's state table, all under code
the reader cannot see. So each run of hidden statements also runs inside ``with
_session_sync_hidden_block(first, last):`` (a ``HiddenBlock``), which fails at the block when
it wrote to stdout, sent such SQL or changed a row of the state table.
"""

from __future__ import annotations

import ast
import re
import sys
import threading
from pathlib import Path

RECORDER_NAME = "_session_sync_claim"  # in the example's globals; "_" keeps it out of labels
STARTER_NAME = "_session_sync_assert_starts"  # called before each hidden assert
BLOCK_NAME = "_session_sync_hidden_block"  # a HiddenBlock around each run of hidden statements
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


STATEMENT_LISTS = ("body", "orelse", "finalbody")


def _guard_hidden_runs(node: ast.AST, hidden: frozenset[int]) -> None:
    """Put each run of consecutive hidden statements, in every statement list not itself
    hidden, inside ``with _session_sync_hidden_block(first line, last line):``."""
    children = [getattr(node, name, None) for name in STATEMENT_LISTS]
    children += [handler.body for handler in getattr(node, "handlers", ())]
    children += [case.body for case in getattr(node, "cases", ())]
    for statements in children:
        if not isinstance(statements, list) or not statements:
            continue
        guarded, run = [], []
        for statement in [*statements, None]:
            if statement is not None and statement.lineno in hidden:
                run.append(statement)
                continue
            if run:
                guarded.append(_hidden_block(run))
                run = []
            if statement is not None:
                _guard_hidden_runs(statement, hidden)
                guarded.append(statement)
        statements[:] = guarded


def _hidden_block(run: list[ast.stmt]) -> ast.With:
    first, last = run[0].lineno, max(s.end_lineno or s.lineno for s in run)
    call = ast.Call(
        func=ast.Name(id=BLOCK_NAME, ctx=ast.Load()),
        args=[ast.Constant(first), ast.Constant(last)],
        keywords=[],
    )
    statement = ast.With(items=[ast.withitem(context_expr=call)], body=run)
    ast.copy_location(call, run[0])
    ast.copy_location(statement, run[0])
    return ast.fix_missing_locations(statement)


def instrument(tree: ast.Module, hidden: frozenset[int]) -> ast.Module:
    """``tree`` with a call before each hidden assert and a recording call after it, and each
    run of hidden statements inside a ``HiddenBlock``."""
    tree = _RecordPassedAsserts(hidden).visit(tree)
    _guard_hidden_runs(tree, hidden)
    return tree


def install(namespace: dict, recorder, starter, report=None) -> None:
    """The names the instrumented code calls, in the example's globals."""
    namespace[RECORDER_NAME] = recorder
    namespace[STARTER_NAME] = starter
    if report is None:
        namespace[BLOCK_NAME] = HiddenBlock
    else:
        namespace[BLOCK_NAME] = lambda first, last: HiddenBlock(first, last, report)


# Statements a hidden block may send: schema set-up (``drop_all()`` before ``create_all()``),
# which the page folds away as such, with the transactions around it.
TRANSACTION_CONTROL = {"BEGIN (implicit)", "COMMIT", "ROLLBACK"}
SCHEMA_STATEMENT = re.compile(
    r"^\s*(CREATE|DROP|ALTER|PRAGMA|DESCRIBE|SHOW)\b|pg_catalog|information_schema", re.I
)


def schema_setup_only(records: list[dict]) -> bool:
    """No statement, or only schema set-up (and its BEGIN / COMMIT)."""
    work = [r.get("sql", "") for r in records if r.get("sql") not in TRANSACTION_CONTROL]
    return not records or (bool(work) and all(SCHEMA_STATEMENT.search(s) for s in work))


class _WatchedStream:
    """Stands in for ``sys.stdout`` during a hidden block: passes everything on, and keeps
    what was printed (not the SQL lines the recording writes there)."""

    def __init__(self, stream, sql_marker: str) -> None:
        self.stream, self.sql_marker, self.printed = stream, sql_marker, []

    def write(self, text: str) -> int:
        if text and not text.startswith(self.sql_marker):
            self.printed.append(text)
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _raise(message: str) -> None:
    raise AssertionError(message)


class HiddenBlock:
    """Around a run of hidden statements (lines ``first``-``last``): on leaving it without an
    error, fails (``report``) when it printed, sent SQL other than schema set-up, or changed
    the state table (an object's row changed, appeared or went away). Does nothing when no
    example is being recorded, or outside the main thread."""

    def __init__(self, first: int, last: int, report=_raise) -> None:
        self.first, self.last, self.report = first, last, report

    def __enter__(self):
        from . import recording  # recording imports this module

        # In the main thread only: stdout, the statements and the objects are shared by all
        # threads, and an example's own threads (session_per_request.py) run meanwhile.
        in_main_thread = threading.current_thread() is threading.main_thread()
        self.active = recording.active_recording() if in_main_thread else None
        if self.active is None:
            return self
        transcript, tracker = self.active
        self.sent_before = len(transcript.cell_records)
        self.rows_before = _state_rows(transcript, tracker)
        self.stdout = sys.stdout
        sys.stdout = self.watched = _WatchedStream(self.stdout, recording.SQL_MARKER)
        return self

    def __exit__(self, error_type, error, traceback) -> bool:
        if self.active is None:
            return False
        if sys.stdout is self.watched:
            sys.stdout = self.stdout
        if error_type is not None:
            return False  # the error is the news
        transcript, tracker = self.active
        problems = []
        printed = "".join(self.watched.printed)
        if printed:
            problems.append(f"printed {printed[:200]!r}")
        sent = transcript.cell_records[self.sent_before :]
        if not schema_setup_only(sent):
            statements = "; ".join(" ".join(r.get("sql", "?").split())[:80] for r in sent)
            problems.append(f"sent {len(sent)} statement(s): {statements[:300]}")
        changed = _row_changes(self.rows_before, _state_rows(transcript, tracker))
        if changed:
            problems.append("changed the state table: " + "; ".join(changed[:5]))
        if problems:
            self.report(
                f"the hidden block at lines {self.first}-{self.last} "
                + ", and ".join(problems)
                + ": the page would show that under code the reader cannot see. Hidden code "
                "may only check (assert, without loading); do the rest in visible code."
            )
        return False


def _state_rows(transcript, tracker) -> dict[int, dict]:
    """Each tracked object's state-table row, by its serial number (an ``id()`` can pass to a
    new object within the block); reading it must send no SQL."""
    reason, transcript.forbidden_reason = (
        transcript.forbidden_reason,
        "while reading object state around a hidden block",
    )
    try:
        return {serial: tracker.describe(obj) for serial, obj in tracker.live_by_serial().items()}
    finally:
        transcript.forbidden_reason = reason


def _row_changes(before: dict[int, dict], after: dict[int, dict]) -> list[str]:
    changes = []
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if old is None:
            changes.append(f"{new['object']} appeared ({new['state']})")
        elif new is None:
            changes.append(f"{old['object']} went away")
        else:
            fields = [f for f in old.keys() | new.keys() if old.get(f) != new.get(f)]
            fields = [f for f in fields if f != "loaded_items"] or fields
            shown = ", ".join(f"{f} {old.get(f)!r} -> {new.get(f)!r}" for f in sorted(fields))
            changes.append(f"{new['object']}: {shown}")
    return sorted(changes)


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
