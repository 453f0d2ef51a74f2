"""Run one example the way Sphinx-Gallery runs it, cell by cell, and record what it did.

An independent witness for tests/test_page_models.py: it shares no code with the capture layer
(sphinxext/session_sync/) and imports nothing of this project, only SQLAlchemy and
the standard library.

    python record_example.py EXAMPLE.py OUTPUT.json [EXAMPLE.py OUTPUT.json ...]

* The source is split into cells as Sphinx-Gallery splits it: the module docstring is the
  title text; after it, every line that starts with ``# %%`` (or 20 or more ``#``) opens a
  block whose leading comment lines are prose and whose remaining lines are the code of one
  cell; code before the first such line is a cell too; a cell without code is no cell.
* The cells run one after the other in one ``__main__`` namespace, as Sphinx-Gallery runs
  them: ``__doc__`` is empty, there is no ``__file__``, and a cell whose last statement is an
  expression keeps its value in ``___`` (Sphinx-Gallery assigns it there, which keeps an object
  alive until the next such cell).
* In true order, per cell: what was written to stdout or stderr (Sphinx-Gallery shows both),
  and every statement, transaction and savepoint event, from class-level Engine listeners.
* Per cell, the claims proved: the message of each assert inside a
  ``sphinx_gallery_start_ignore`` / ``end_ignore`` block (hidden from the page) that ran and
  passed, once per line and message, in the order first proved, whitespace collapsed.
* After each cell: the state of every ORM object seen so far that is still alive (Mapper
  ``init`` and Session lifecycle events, weak references, first-seen order), read only through
  ``sqlalchemy.inspect()``, which loads nothing; for each relationship, whether it is loaded
  and what it holds (related objects by label and lifecycle state), from the instance dict.
* Per cell, in order, every lifecycle transition of an ORM object, as SQLAlchemy reports it:
  Mapper ``init`` is ``new -> transient``, each Session lifecycle event ``<from>_to_<to>``
  (``loaded_as_persistent``: ``loaded -> persistent``), with the object's serial number.
* Every comparison in a hidden assert that holds or fails whatever the example did, as it ran:
  a word tested for membership in a collection of strings that it equals no element of but
  occurs inside one (``"UPDATE" not in statements``, a list of whole SQL strings), and the
  other cheap cases of ``comparison_problem``; each with its line and its operands' shapes.
"""

from __future__ import annotations

import ast
import codeop
import gc
import json
import os
import subprocess
import sys
import traceback
import types
import weakref
from pathlib import Path

SEPARATOR_PREFIXES = ("# %%", "#%%")

# The page shows the state of the first objects an example touches, up to this many; the
# others are only counted ("N more objects in the example are not shown").
TRACKED_OBJECTS_LIMIT = 200


# ---------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------


def _is_separator(line: str) -> bool:
    return line.startswith(SEPARATOR_PREFIXES) or (len(line) >= 20 and line[:20] == "#" * 20)


def split_cells(source: str) -> list[dict]:
    """The code cells of an example: [{"lineno": first line (1-based), "code": text}]."""
    module = ast.parse(source)
    first = module.body[0] if module.body else None
    if not (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        raise ValueError("an example starts with its docstring")
    lines = source.split("\n")
    cells: list[dict] = []
    code: list[str] = []
    code_start = first.end_lineno + 1  # 1-based number of the first line of `code`
    index = first.end_lineno  # 0-based index of the line after the docstring

    def close_cell() -> None:
        text = "\n".join(code)
        if text.strip():
            cells.append({"lineno": code_start, "code": text})

    while index < len(lines):
        line = lines[index]
        if not _is_separator(line):
            code.append(line)
            index += 1
            continue
        close_cell()
        index += 1
        while index < len(lines) and lines[index].startswith("#"):
            index += 1  # the block's prose
        code, code_start = [], index + 1
    close_cell()
    return cells


# ---------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []  # of the current cell
        self.seen: dict[int, list] = {}  # id(obj) -> [serial, weakref]
        self.order: list[tuple[int, weakref.ref]] = []  # tracked objects, first seen first
        self.beyond_limit = 0
        self.total_seen = 0
        self.transitions: list[list] = []  # of the current cell: [serial, from, to]

    # output ---------------------------------------------------------------------------
    def write(self, text: str) -> int:
        if text:
            if self.events and self.events[-1]["kind"] == "output":
                self.events[-1]["text"] += text
            else:
                self.events.append({"kind": "output", "text": text})
        return len(text)

    def flush(self) -> None:
        pass

    # statements -----------------------------------------------------------------------
    def before_cursor_execute(self, conn, cursor, statement, parameters, context, many):
        from sqlalchemy.engine.interfaces import ExecuteStyle

        # An "insertmanyvalues" batch is flagged executemany but has one flat parameter set.
        if context is not None and context.execute_style is ExecuteStyle.INSERTMANYVALUES:
            many = False
        self.events.append(
            {
                "kind": "statement",
                "sql": statement,
                "executemany": bool(many),
                "parameters": parameter_sets(parameters, many),
            }
        )

    def on_begin(self, conn):
        self.events.append({"kind": "begin"})

    def on_commit(self, conn):
        self.events.append({"kind": "commit"})

    def on_rollback(self, conn):
        self.events.append({"kind": "rollback"})

    def on_savepoint(self, conn, name):
        self.events.append({"kind": "savepoint", "name": name})

    def on_rollback_savepoint(self, conn, name, context):
        self.events.append({"kind": "rollback_savepoint", "name": name})

    def on_release_savepoint(self, conn, name, context):
        self.events.append({"kind": "release_savepoint", "name": name})

    # objects --------------------------------------------------------------------------
    def see(self, obj) -> None:
        entry = self.seen.get(id(obj))
        if entry is not None and entry[1]() is obj:
            return
        self.total_seen += 1
        ref = weakref.ref(obj)
        self.seen[id(obj)] = [self.total_seen, ref]
        if len(self.order) < TRACKED_OBJECTS_LIMIT:
            self.order.append((self.total_seen, ref))
        else:
            self.beyond_limit += 1

    def moved(self, obj, old: str, new: str) -> None:
        self.see(obj)
        self.transitions.append([self.seen[id(obj)][0], old, new])

    def snapshot(self) -> list[dict]:
        # The pages read state after a collection, so that objects the example dropped inside
        # reference cycles do not linger until the collector happens to run.
        gc.collect()
        rows = []
        for serial, ref in self.order:
            obj = ref()
            if obj is not None:
                rows.append({"serial": serial, **describe(obj)})
        return rows


def parameter_sets(parameters, many: bool) -> list:
    """Each parameter set as a list of [key or None, repr of value]."""
    if parameters is None:
        return []
    sets = list(parameters) if many else [parameters]
    result = []
    for one in sets:
        if isinstance(one, dict):
            result.append([[repr(key), repr(value)] for key, value in one.items()])
        else:
            result.append([[None, repr(value)] for value in one])
    return [one for one in result if one]


def _instance_state(value):
    from sqlalchemy import inspect
    from sqlalchemy.orm import InstanceState

    state = inspect(value, raiseerr=False)
    return state if isinstance(state, InstanceState) else None


def label(obj) -> str:
    """``User(id=1)``; ``User (no key yet)`` before the object has an identity."""
    state = _instance_state(obj)
    name = type(obj).__name__
    if state.identity is None:
        return f"{name} (no key yet)"
    mapper = state.mapper
    names = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
    pairs = zip(names, state.identity, strict=True)
    return name + "(" + ", ".join(f"{key}={value!r}" for key, value in pairs) + ")"


def value_text(value) -> str:
    """A loaded or changed value, for telling whether it changed: never an object's repr."""
    if isinstance(value, (list, tuple, set)):
        return "[" + ", ".join(value_text(item) for item in value) + "]"
    if _instance_state(value) is not None:
        return label(value)
    return repr(value)


NEVER_LOADED = ("write_only", "dynamic")  # loader strategies that keep nothing in memory


def member(obj) -> list:
    """A related object: [its label, its lifecycle state]."""
    state = _instance_state(obj)
    names = ("transient", "pending", "persistent", "deleted", "detached")
    return [label(obj), next(name for name in names if getattr(state, name))]


def relationships(state) -> dict:
    """Per relationship: {"loaded": "yes" | "no" | "expired" | "never"} and, when loaded, what
    it holds, from the instance's __dict__ only (reading the attribute could load it)."""
    view = {}
    for relationship in state.mapper.relationships:
        key = relationship.key
        if relationship.lazy in NEVER_LOADED:
            view[key] = {"loaded": "never", "strategy": relationship.lazy}
        elif key not in state.dict:
            view[key] = {"loaded": "expired" if key in state.expired_attributes else "no"}
        elif relationship.uselist:
            value = state.dict[key]
            items = [member(one) for one in (value.values() if isinstance(value, dict) else value)]
            if isinstance(value, (set, frozenset)):
                items.sort()
            view[key] = {"loaded": "yes", "members": items}
        else:
            value = state.dict[key]
            view[key] = {"loaded": "yes", "value": None if value is None else member(value)}
    return view


def describe(obj) -> dict:
    state = _instance_state(obj)
    lifecycle = [
        name
        for name in ("transient", "pending", "persistent", "deleted", "detached")
        if getattr(state, name)
    ]
    changes, loaded = {}, {}
    for key, attribute in state.attrs.items():
        history = attribute.history
        if history.has_changes():
            changes[key] = [
                [value_text(v) for v in history.deleted],
                [value_text(v) for v in history.added],
            ]
        if key in state.dict:
            loaded[key] = value_text(state.dict[key])
    return {
        "object": label(obj),
        "states": lifecycle,
        "expired": sorted(state.expired_attributes),
        "changes": changes,
        "loaded": loaded,
        "relationships": relationships(state),
    }


SESSION_LIFECYCLE_EVENTS = (
    "transient_to_pending",
    "pending_to_transient",
    "persistent_to_transient",
    "pending_to_persistent",
    "detached_to_persistent",
    "loaded_as_persistent",
    "persistent_to_deleted",
    "deleted_to_persistent",
    "persistent_to_detached",
    "deleted_to_detached",
)


def listen(recorder: Recorder) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Mapper, Session

    event.listen(Engine, "before_cursor_execute", recorder.before_cursor_execute)
    event.listen(Engine, "begin", recorder.on_begin)
    event.listen(Engine, "commit", recorder.on_commit)
    event.listen(Engine, "rollback", recorder.on_rollback)
    event.listen(Engine, "savepoint", recorder.on_savepoint)
    event.listen(Engine, "rollback_savepoint", recorder.on_rollback_savepoint)
    event.listen(Engine, "release_savepoint", recorder.on_release_savepoint)
    event.listen(
        Mapper, "init", lambda target, args, kwargs: recorder.moved(target, "new", "transient")
    )
    for name in SESSION_LIFECYCLE_EVENTS:
        old, new = name.split("_as_" if name.startswith("loaded_as_") else "_to_")

        def moved(session, instance, old=old, new=new):
            recorder.moved(instance, old, new)

        event.listen(Session, name, moved)


CLAIMS = "__recorded_claims__"


def lines_in_ignore_blocks(source: str) -> set[int]:
    inside, found = False, set()
    for number, line in enumerate(source.split("\n"), 1):
        stripped = line.strip()
        if stripped.startswith("#") and stripped[1:].strip() == "sphinx_gallery_start_ignore":
            inside = True
        elif stripped.startswith("#") and stripped[1:].strip() == "sphinx_gallery_end_ignore":
            inside = False
        elif inside:
            found.add(number)
    return found


def note_passed_asserts(tree: ast.Module, hidden: set[int]) -> None:
    """After each hidden assert with a message: append (line, message) to the claims list."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(node, field, None)
            if not isinstance(statements, list):
                continue
            for at in range(len(statements) - 1, -1, -1):
                stmt = statements[at]
                if isinstance(stmt, ast.Assert) and stmt.msg and stmt.lineno in hidden:
                    note = ast.parse(f"{CLAIMS}.append(({stmt.lineno}, None))").body[0]
                    note.value.args[0].elts[1] = stmt.msg
                    # Not an expression statement: a cell's last expression is kept in ___.
                    guard = ast.If(test=ast.Constant(True), body=[note], orelse=[])
                    for new in ast.walk(guard):
                        ast.copy_location(new, stmt)
                    statements.insert(at + 1, guard)


# ---------------------------------------------------------------------------
# Comparisons in hidden asserts that cannot tell one run from another
# ---------------------------------------------------------------------------

COMPARED = "__recorded_comparison__"
WATCHED_OPS = {ast.In: "in", ast.NotIn: "not in", ast.Eq: "==", ast.NotEq: "!="}
COLLECTIONS = (list, tuple, set, frozenset, dict, type({}.keys()), type({}.values()))
NUMBERS = (int, float)
DISPLAYS = (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp, ast.SetComp, ast.DictComp)


def shape(value) -> str:
    """``str 'UPDATE'``, ``list of 3 str, e.g. 'UPDATE users SET ...'``: what an operand was."""

    def short(item) -> str:
        text = repr(item)
        return text if len(text) <= 60 else text[:57] + "..."

    if isinstance(value, COLLECTIONS):
        items = list(value)
        kinds = sorted({type(item).__name__ for item in items})
        described = f"{type(value).__name__} of {len(items)} {'/'.join(kinds) or 'items'}"
        return described + (f", e.g. {short(items[0])}" if items else "")
    return f"{type(value).__name__} {short(value)}"


def comparison_problem(op: str, left, right, written: tuple[str, str] = ("", "")) -> str | None:
    """Why ``left <op> right`` holds (or fails) whatever the example did, or None.

    * a str in a collection of strings that it equals none of, but occurs inside one: a word
      looked for in whole strings (``"UPDATE" not in statements``), always "not in";
    * a single word in a collection of strings that each hold several words (whole SQL
      statements): it can equal none (``"RETURNING" not in statements``);
    * a number in a collection of strings only, or a str in one of numbers only: never in;
    * the empty string in a str: always in;
    * a str in a parenthesised str literal, ``("persistent")``: a tuple was meant, and the
      test is for a substring;
    * ``==`` / ``!=`` between a str and a list, tuple, set or dict written out in the source
      (``state != ["detached"]``): never equal.

    ``written`` says how each operand is written in the source: ``"display"`` (a list, tuple,
    set or dict display or comprehension), ``"parenthesised str"``, or ``""``. A value compared
    with a str literal is not judged by its type: a helper that returns a value or a sentinel
    string (``held(ann) == "expired"``, 0 or "expired") compares an int with a str honestly.
    """
    if op in ("in", "not in"):
        if isinstance(right, str):
            if isinstance(left, str) and left == "":
                return "the empty string is in every string"
            if written[1] == "parenthesised str":
                return "the container is a parenthesised string, not a tuple: a substring test"
            return None
        if not isinstance(right, COLLECTIONS):
            return None
        items = list(right)
        words = [item for item in items if isinstance(item, str)]
        if isinstance(left, str):
            if words and left not in words and any(left in word for word in words):
                return "equals no element of the collection of strings, but occurs inside one"
            spaced = len(words) == len(items) and all(len(word.split()) > 1 for word in words)
            if items and spaced and left.strip() and len(left.split()) == 1:
                return "a single word among strings that all hold several: it equals none"
            if items and all(isinstance(i, NUMBERS) and not isinstance(i, bool) for i in items):
                return "a str is never equal to any element of a collection of numbers"
        elif isinstance(left, NUMBERS) and items and len(words) == len(items):
            return "a number is never equal to any element of a collection of strings"
        return None
    for value, other_written in ((left, written[1]), (right, written[0])):
        if isinstance(value, str) and other_written == "display":
            return "a str and a list, tuple, set or dict are never equal"
    return None


class ComparisonWatch:
    """Called in place of each watched comparison of a hidden assert: the same result, and a
    note of a comparison that holds (or fails) whatever the example did."""

    def __init__(self, filename: str, found: list) -> None:
        self.filename, self.found = filename, found

    def __call__(self, line: int, op: str, left, right, written=("", "")):
        try:
            problem = comparison_problem(op, left, right, written)
        except Exception:  # a check of the check: never change what the example does
            problem = None
        if problem is not None:
            note = {
                "file": self.filename,
                "line": line,
                "comparison": f"{shape(left)} {op} {shape(right)}",
                "problem": problem,
            }
            if note not in self.found:
                self.found.append(note)
        if op == "in":
            return left in right
        if op == "not in":
            return left not in right
        return left == right if op == "==" else left != right


class _WatchComparisons(ast.NodeTransformer):
    def __init__(self, source: str) -> None:
        self.lines = source.split("\n")

    def _in_parentheses(self, node: ast.expr) -> bool:
        """``("persistent")``: the parentheses are not part of the node's span."""
        before = self.lines[node.lineno - 1][: node.col_offset].rstrip()
        after = self.lines[node.end_lineno - 1][node.end_col_offset :].lstrip()
        return before.endswith("(") and after.startswith(")")

    def _written(self, node: ast.expr) -> str:
        if isinstance(node, DISPLAYS):
            return "display"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return "parenthesised str" if self._in_parentheses(node) else ""
        return ""

    def visit_Compare(self, node: ast.Compare):
        self.generic_visit(node)
        if len(node.ops) != 1 or type(node.ops[0]) not in WATCHED_OPS:
            return node
        right = node.comparators[0]
        written = ast.Tuple(
            [ast.Constant(self._written(node.left)), ast.Constant(self._written(right))], ast.Load()
        )
        call = ast.Call(
            func=ast.Name(COMPARED, ast.Load()),
            args=[
                ast.Constant(node.lineno),
                ast.Constant(WATCHED_OPS[type(node.ops[0])]),
                node.left,
                right,
                written,
            ],
            keywords=[],
        )
        for new in ast.walk(call):
            if not hasattr(new, "lineno"):
                ast.copy_location(new, node)
        return call


def watch_hidden_comparisons(tree: ast.Module, hidden: set[int], source: str) -> None:
    """Each single ``in`` / ``not in`` / ``==`` / ``!=`` in the condition of a hidden assert
    becomes a call of the ComparisonWatch (line numbers kept)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert) and node.lineno in hidden:
            node.test = _WatchComparisons(source).visit(node.test)


def run_cell(
    compiler: codeop.Compile, cell: dict, filename: str, namespace: dict, hidden=frozenset()
) -> None:
    padded = "\n" * (cell["lineno"] - 1) + cell["code"]
    tree = compile(padded, filename, "exec", ast.PyCF_ONLY_AST | compiler.flags, True)
    note_passed_asserts(tree, set(hidden))
    watch_hidden_comparisons(tree, set(hidden), padded)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compiler(tree, filename, "exec"), namespace)
    if last is not None:
        assign = ast.Module(
            body=[ast.Assign(targets=[ast.Name("___", ast.Store())], value=last.value)],
            type_ignores=[],
        )
        ast.fix_missing_locations(assign)
        exec(compiler(assign, filename, "exec"), namespace)


def record(example: Path) -> dict:
    source = example.read_text(encoding="utf-8")
    cells = split_cells(source)
    recorder = Recorder()
    listen(recorder)
    main = types.ModuleType("__main__")
    main.__dict__["__doc__"] = ""
    namespace = main.__dict__
    compiler = codeop.Compile()
    hidden = lines_in_ignore_blocks(source)
    claims: list = []
    namespace[CLAIMS] = claims
    vacuous: list = []
    namespace[COMPARED] = ComparisonWatch(str(example), vacuous)
    real_main, real_streams = sys.modules["__main__"], (sys.stdout, sys.stderr)
    sys.modules["__main__"] = main
    sys.argv[:] = [str(example)]
    result: dict = {"example": str(example), "cells": [], "vacuous_comparisons": vacuous}
    try:
        for cell in cells:
            recorder.events, recorder.transitions = [], []
            sys.stdout = sys.stderr = recorder
            try:
                run_cell(compiler, cell, str(example), namespace, hidden)
            except BaseException:
                sys.stdout, sys.stderr = real_streams
                result["error"] = traceback.format_exc()
                break
            sys.stdout, sys.stderr = real_streams
            result["cells"].append(
                {
                    **cell,
                    "events": recorder.events,
                    "transitions": recorder.transitions,
                    "objects": recorder.snapshot(),
                }
            )
            result["cells"][-1]["not_tracked"] = recorder.beyond_limit
            proved = []
            for line, message in claims:
                text = " ".join(str(message).split())
                if (line, text) not in proved:
                    proved.append((line, text))
            result["cells"][-1]["claims"] = [text for _, text in proved]
            claims.clear()
    finally:
        sys.stdout, sys.stderr = real_streams
        sys.modules["__main__"] = real_main
    return result


def record_to(example: Path, output: Path) -> int:
    result = record(example.resolve())
    output.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 1 if "error" in result else 0


def main(argv: list[str]) -> int:
    """``EXAMPLE OUTPUT [EXAMPLE OUTPUT ...]``: each example in a process of its own.

    Where the system can fork, SQLAlchemy is imported once and each example runs in a forked
    child: a fresh copy of this process, isolated from the other examples, without paying for
    the import again.
    """
    pairs = list(zip(argv[1::2], argv[2::2], strict=True))
    if not hasattr(os, "fork"):
        return max(
            subprocess.run([sys.executable, "-I", __file__, example, output]).returncode
            for example, output in pairs
        )
    import sqlalchemy.orm  # noqa: F401  (imported once, before the children fork)

    failures = 0
    for example, output in pairs:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = record_to(Path(example), Path(output))
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        failures += os.waitstatus_to_exitcode(status) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
