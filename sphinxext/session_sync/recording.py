"""Recording while an example runs: every statement it sends, in order, per cell.

Pure SQLAlchemy and the standard library: this module must run without Sphinx (issue 12 runs
it in the reader's browser).  Listeners are class-level (every Engine, Session and mapper), so
the example needs no change; an ``AsyncEngine`` / ``AsyncSession`` works through the ``Engine``
and ``Session`` it wraps, so their events are caught too.

Use: ``start_recording(SqlTranscript(), ObjectTracker())`` before an example, ``end_cell()``
after each of its cells (a ``CellCapture``: plain dicts), ``stop_recording()`` after it.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import re
import sys
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import ExecuteStyle
from sqlalchemy.orm import Mapper, Session, SessionTransaction

from .claims import ClaimLog
from .state import ObjectTracker, format_value

# Starts each statement's line among the cell's printed output; the rest of the line is JSON.
SQL_MARKER = "\u27e6sql\u27e7 "
# A guard against a runaway loop, not a page-length rule (long runs are folded on the page).
MAX_STATEMENTS_PER_CELL = 200
MAX_PARAMETER_SETS = 3

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


class SqlTranscript:
    """Records each statement the example sends; in the docs build, also writes it as one marked
    line to the current stdout, so that it lands among the cell's printed output."""

    def __init__(self, echo_to_stdout: bool = True) -> None:
        self.echo_to_stdout = echo_to_stdout
        # The session each connection works for, while it does (Session "after_begin").
        self.session_of: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.cell_records: list[dict] = []
        self.forbidden_reason: str | None = None
        # The hidden asserts that passed in the current cell (the docs build adds the calls).
        self.claims = ClaimLog()
        # The number of statements sent in the cell when each hidden assert (by line) began.
        self.assert_started_at: dict[int, int] = {}

    def new_cell(self) -> list[dict]:
        """The records of the cell that just ended; a fresh list for the next one."""
        records, self.cell_records = self.cell_records, []
        return records

    def session_began(self, session, transaction, connection) -> None:
        self.session_of[connection] = session

    def _connection_label(self, connection) -> str:
        """Who sent the statement: a session, named as the example names it (``session``,
        ``session "setup"``), or some other connection; a name holds for the whole page."""
        session = self.session_of.get(connection)
        if session is None:
            return "other connection"
        name = example_variable_name(session)
        return "session" if name in (None, "session") else f'session "{name}"'

    def write(self, connection, sql: str, parameters=None, executemany=False, origin=None) -> None:
        if self.forbidden_reason:
            raise AssertionError(f"SQL was emitted {self.forbidden_reason}: {sql}")
        if len(self.cell_records) >= MAX_STATEMENTS_PER_CELL:
            record = {"hidden": 1}
        else:
            record = {"sql": sql.strip(), "connection": self._connection_label(connection)}
            if parameters is not None and parameters != () and parameters != {}:
                record["parameters"] = format_parameters(parameters, executemany)
            if origin:
                record["origin"] = origin
            helper = setup_helper_sending()
            if helper:
                record["setup"] = helper
        self.cell_records.append(record)
        if self.echo_to_stdout:
            sys.stdout.write(SQL_MARKER + json.dumps(record) + "\n")

    # SQLAlchemy event handlers -------------------------------------------------------
    def before_cursor_execute(self, conn, cursor, statement, parameters, context, executemany):
        # An "insertmanyvalues" batch (a multi-row INSERT .. RETURNING) is flagged executemany
        # but carries one flat parameter set for the whole batch.
        if context is not None and context.execute_style is ExecuteStyle.INSERTMANYVALUES:
            executemany = False
        self.write(conn, statement, parameters, executemany, orm_load_origin(context))

    def on_begin(self, conn):
        # SQLAlchemy sends BEGIN before it tells listeners (Session "after_begin") which
        # session the connection is for: the stack says it already.
        session = session_starting_a_transaction()
        if session is not None:
            self.session_of[conn] = session
        self.write(conn, "BEGIN (implicit)")

    def on_commit(self, conn):
        self.write(conn, "COMMIT")

    def on_rollback(self, conn):
        self.write(conn, "ROLLBACK")


def orm_load_origin(context) -> str | None:
    """Why the ORM sent the statement, when its execution options say: ``"refresh"`` (a SELECT
    loading attributes not in memory: a read after expiry, of a column never loaded (a joined
    subclass's after a load of its base class, a deferred one), or ``refresh()``), ``"lazy"`` (a
    relationship's rows, by its lazy loader: read before it was loaded, or refreshed), or
    ``"fetch"`` / ``"evaluate"`` (a bulk UPDATE or DELETE and the ``synchronize_session`` it ran
    with, after ``"auto"`` chose)."""
    options = context.execution_options if context is not None else {}
    load = options.get("_sa_orm_load_options")
    if load is not None and getattr(load, "_refresh_state", None) is not None:
        return "refresh"
    if load is not None and getattr(load, "_lazy_loaded_from", None) is not None:
        return "lazy"
    bulk = options.get("_sa_orm_update_options")
    strategy = getattr(bulk, "_synchronize_session", None) if bulk is not None else None
    if strategy in ("fetch", "evaluate"):
        return strategy
    return None


def split_marked_output(text: str) -> list[tuple[bool, list]]:
    """A cell's captured output as runs of one kind, in true order: ``(False, printed lines)``
    and ``(True, SQL records)``."""
    segments: list[tuple[bool, list]] = []

    def add(is_sql: bool, item) -> None:
        if not segments or segments[-1][0] != is_sql:
            segments.append((is_sql, []))
        segments[-1][1].append(item)

    # A statement sent while print() was writing a line (an argument whose str() loads) cuts
    # that line: the SQL comes first, then the whole printed line.
    started = ""
    for line in text.split("\n"):
        at = line.find(SQL_MARKER)
        if at == -1:
            add(False, started + line)
            started = ""
            continue
        started += line[:at]
        add(True, json.loads(line[at + len(SQL_MARKER) :]))
    if started:
        add(False, started)
    return segments


SQLALCHEMY_DIR = str(Path(sqlalchemy.__file__).parent)
PACKAGE_DIR = str(Path(__file__).parent) + os.sep


def _is_machinery(frame) -> bool:
    """SQLAlchemy, this package, code SQLAlchemy generated (decorators, "<string>"), or the
    event loop running an example's coroutine (``runner.run(session.close())``)."""
    filename = frame.f_code.co_filename
    return filename.startswith((SQLALCHEMY_DIR, "<", PACKAGE_DIR, _asyncio_dir()))


@functools.cache
def _asyncio_dir_of(asyncio_file: str) -> str:
    return str(Path(asyncio_file).parent) + os.sep


def _asyncio_dir() -> str:
    """asyncio's folder once an example imported it (a path made once, not once per frame
    looked at: tens of thousands of times in a build)."""
    asyncio = sys.modules.get("asyncio")
    return _asyncio_dir_of(asyncio.__file__) if asyncio else "<"


def calling_frames(frame):
    """``frame`` and its callers, outwards.  Under asyncio SQLAlchemy runs the sync Session in a
    greenlet whose stack stops at the greenlet: the callers go on in the greenlet that is
    waiting for it (the example's coroutine, the event loop, the cell's code)."""
    greenlet = sys.modules.get("greenlet")
    current = greenlet.getcurrent() if greenlet is not None else None
    while frame is not None:
        yield frame
        frame = frame.f_back
        while frame is None and current is not None and current.parent is not None:
            current = current.parent
            frame = current.gr_frame


def session_starting_a_transaction():
    """The session whose transaction is being started further up the stack, if any."""
    for frame in calling_frames(sys._getframe(1)):
        owner = frame.f_locals.get("self")
        if isinstance(owner, SessionTransaction):
            return owner.session
    return None


# A function of the example that puts the stage back before a cell's lesson (``start()``,
# ``reset()``, ``reset_with_bob_partly_loaded()``): the page folds the SQL it sends.
SETUP_HELPER = re.compile(r"^(start|reset|setup|set_up|seed)(_\w+)?$")


def setup_helper_sending() -> str | None:
    """The name of the example's set-up function the statement being sent comes from, if any:
    the outermost one among the example's own frames (those of its ``__main__`` module; a
    ``with engine.begin()`` sends its BEGIN and COMMIT from contextlib, called by it)."""
    names = [
        frame.f_code.co_name
        for frame in calling_frames(sys._getframe(2))
        if frame.f_globals.get("__name__") == "__main__"
        and SETUP_HELPER.match(frame.f_code.co_name)
    ]
    return names[-1] if names else None


def example_variable_name(target) -> str | None:
    """The name the example's code has for ``target`` where it sent the statement: its global
    names first (the same on the whole page), then the local names of the example's frames from
    the outermost in, so that a helper's parameter (``lambda s: ...``) does not rename it.  An
    ``AsyncSession`` whose ``sync_session`` is ``target`` counts as ``target``."""
    frames = (f for f in calling_frames(sys._getframe(1)) if not _is_machinery(f))
    frame = next(frames, None)
    if frame is None:
        return None
    example_file = frame.f_code.co_filename
    example_frames = [f for f in calling_frames(frame) if f.f_code.co_filename == example_file]
    namespaces = [example_frames[0].f_globals, *(f.f_locals for f in reversed(example_frames))]
    # Only an example that imported asyncio support can hold an AsyncSession.
    async_session = getattr(sys.modules.get("sqlalchemy.ext.asyncio"), "AsyncSession", None)
    for namespace in namespaces:
        for name, value in namespace.items():
            if name.startswith("_"):
                continue
            if value is target or (
                async_session is not None
                and isinstance(value, async_session)
                and value.sync_session is target
            ):
                return name
    return None


def format_parameters(parameters, executemany: bool) -> str:
    def one_set(params) -> str:
        if isinstance(params, dict):
            inner = ", ".join(f"{k!r}: {format_value(v)}" for k, v in params.items())
            return "{" + inner + "}"
        items = [format_value(v) for v in params]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"

    if not executemany:
        return one_set(parameters)
    sets = list(parameters)
    shown = ", ".join(one_set(p) for p in sets[:MAX_PARAMETER_SETS])
    if len(sets) > MAX_PARAMETER_SETS:
        return f"[{shown}, ... {len(sets)} parameter sets in all]"
    return f"[{shown}]"


# ---------------------------------------------------------------------------
# Listeners, installed for one example at a time
# ---------------------------------------------------------------------------

_active: dict = {}


def _listeners(transcript: SqlTranscript, tracker: ObjectTracker):
    def track_instance(session, instance):
        tracker.track(instance)

    def track_init(target, args, kwargs):
        tracker.track(target)

    yield Engine, "before_cursor_execute", transcript.before_cursor_execute
    yield Engine, "begin", transcript.on_begin
    yield Engine, "commit", transcript.on_commit
    yield Engine, "rollback", transcript.on_rollback
    yield Session, "after_begin", transcript.session_began
    yield Mapper, "init", track_init
    for name in SESSION_LIFECYCLE_EVENTS:
        yield Session, name, track_instance
    yield Session, "after_flush", tracker.session_flushed
    yield Session, "after_commit", tracker.session_committed
    yield Session, "after_rollback", tracker.session_rolled_back
    yield Session, "persistent_to_detached", tracker.object_detached
    yield Session, "deleted_to_detached", tracker.object_detached
    yield Session, "detached_to_persistent", tracker.object_attached


def start_recording(transcript: SqlTranscript, tracker: ObjectTracker) -> None:
    stop_recording()
    listeners = list(_listeners(transcript, tracker))
    for target, name, fn in listeners:
        event.listen(target, name, fn)
    _active.update(listeners=listeners, transcript=transcript, tracker=tracker)


def stop_recording() -> None:
    for target, name, fn in _active.pop("listeners", ()):
        event.remove(target, name, fn)
    _active.clear()


def active_recording() -> tuple[SqlTranscript, ObjectTracker] | None:
    """The transcript and tracker of the example being recorded, if one is."""
    if "transcript" not in _active:
        return None
    return _active["transcript"], _active["tracker"]


@dataclass
class CellCapture:
    """What one cell did, as plain data: its SQL records in the order sent (the same records
    were written among its printed output), the state table (None when no object changed) and
    the claims its hidden asserts proved (``{"line", "claim"}``, in the order proved)."""

    records: list[dict]
    state_table: dict | None
    claims: list[dict] = field(default_factory=list)


def assert_starts(line: int) -> bool:
    """Called before a hidden assert runs (the docs build adds the call): notes how many
    statements the cell has sent so far."""
    active = active_recording()
    if active is not None:
        active[0].assert_started_at[line] = len(active[0].cell_records)
    return False


def record_claim(line: int, message) -> bool:
    """Called after a hidden assert passed (the call the docs build adds after each one): fails
    when the assert sent SQL (hidden code must not make the statements the page shows), else
    records its claim when it has a message."""
    active = active_recording()
    if active is None:
        return False
    transcript = active[0]
    started = transcript.assert_started_at.pop(line, len(transcript.cell_records))
    sent = transcript.cell_records[started:]
    if sent:
        statements = "; ".join(
            " ".join(record.get("sql", "(over the per-cell limit)").split()) for record in sent
        )
        raise AssertionError(
            f"the hidden assert at line {line} sent {len(sent)} SQL statement(s), shown on the "
            f"page under code that does not send them; check without loading (inspect(obj)"
            f".dict, .unloaded) or make the read visible. Statements: {statements[:400]}"
        )
    if message is not None:
        transcript.claims.record(line, message)
    return False


def end_cell() -> CellCapture | None:
    """Called after every cell (by the docs build's scraper): the cell's records and state
    table; None when no example is being recorded."""
    active = active_recording()
    if active is None:
        return None
    transcript, tracker = active
    # Objects the example dropped but that sit in reference cycles (an exception's traceback,
    # say) would otherwise stay in the table until the collector happens to run. Collecting
    # the coroutine of an async read that raised MissingGreenlet warns that it was never
    # awaited: the example's error, already shown, not a new one.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
        gc.collect()
    # Reading state must never load: a statement sent now fails the cell instead.
    transcript.forbidden_reason = "while reading object state for the docs"
    try:
        table = tracker.changed_table()
    finally:
        transcript.forbidden_reason = None
    return CellCapture(transcript.new_cell(), table, transcript.claims.new_cell())
