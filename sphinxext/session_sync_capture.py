"""Show, under every example cell, the SQL it sent and the ORM object states after it.

Used only by the docs build; the example scripts never import it.

How it works:

* ``reset`` is a Sphinx-Gallery ``reset_modules`` hook.  Before each example it installs
  class-level SQLAlchemy listeners (every Engine, Session and mapper); after it, removes them.
* Each statement (and BEGIN / COMMIT / ROLLBACK) is written to ``sys.stdout`` as one marked
  line, so it lands in the cell's captured output exactly where it happened, between the
  example's own ``print()`` lines.
* ``scrape_cell`` is a Sphinx-Gallery image scraper, called after every cell.  It reads the
  state of the tracked objects with ``inspect()`` (which never loads anything) and, when
  something changed, returns an ``orm-state`` directive holding the table as JSON.  In the full
  build (``nox -s docs-full``) it also returns tabs with the SQL the same cell sent to
  PostgreSQL and MariaDB, recorded beforehand by ``dialect_capture.py``.
* At ``doctree-resolved`` the marked lines are split out of each output block into SQL boxes,
  and each cell's tabs and state table are moved below its output.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import os
import re
import sqlite3
import sys
import weakref
from pathlib import Path

import sqlalchemy
from docutils import nodes
from docutils.parsers.rst import Directive
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import ExecuteStyle
from sqlalchemy.orm import Mapper, Session, SessionTransaction

SQL_MARKER = "\u27e6sql\u27e7 "
MAX_TRACKED_OBJECTS = 200
MAX_TABLE_ROWS = 12
# A guard against a runaway loop, not a page-length rule: runs over 15 statements are folded.
MAX_STATEMENTS_PER_CELL = 200
FOLD_STATEMENTS_OVER = 15
MAX_PARAMETER_SETS = 3
MAX_VALUE_CHARS = 80

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


# ---------------------------------------------------------------------------
# Recording while an example runs
# ---------------------------------------------------------------------------


class SqlTranscript:
    """Records each statement the example sends; in the docs build, also writes it as one marked
    line to the current stdout, so that it lands among the cell's printed output."""

    def __init__(self, echo_to_stdout: bool = True) -> None:
        self.echo_to_stdout = echo_to_stdout
        # The session each connection works for, while it does (Session "after_begin").
        self.session_of: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.cell_records: list[dict] = []
        self.forbidden_reason: str | None = None

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

    def write(self, connection, sql: str, parameters=None, executemany=False) -> None:
        if self.forbidden_reason:
            raise AssertionError(f"SQL was emitted {self.forbidden_reason}: {sql}")
        if len(self.cell_records) >= MAX_STATEMENTS_PER_CELL:
            record = {"hidden": 1}
        else:
            record = {"sql": sql.strip(), "connection": self._connection_label(connection)}
            if parameters is not None and parameters != () and parameters != {}:
                record["parameters"] = format_parameters(parameters, executemany)
        self.cell_records.append(record)
        if self.echo_to_stdout:
            sys.stdout.write(SQL_MARKER + json.dumps(record) + "\n")

    # SQLAlchemy event handlers -------------------------------------------------------
    def before_cursor_execute(self, conn, cursor, statement, parameters, context, executemany):
        # An "insertmanyvalues" batch (a multi-row INSERT .. RETURNING) is flagged executemany
        # but carries one flat parameter set for the whole batch.
        if context is not None and context.execute_style is ExecuteStyle.INSERTMANYVALUES:
            executemany = False
        self.write(conn, statement, parameters, executemany)

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


SQLALCHEMY_DIR = str(Path(sqlalchemy.__file__).parent)


def _is_machinery(frame) -> bool:
    """SQLAlchemy, this module, or code SQLAlchemy generated (decorators, "<string>")."""
    filename = frame.f_code.co_filename
    return filename.startswith((SQLALCHEMY_DIR, "<")) or filename == __file__


def session_starting_a_transaction():
    """The session whose transaction is being started further up the stack, if any."""
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, SessionTransaction):
            return owner.session
        frame = frame.f_back
    return None


def example_variable_name(target) -> str | None:
    """The name the example's code has for ``target`` where it sent the statement: its global
    names first (the same on the whole page), then the local names of the example's frames from
    the outermost in, so that a helper's parameter (``lambda s: ...``) does not rename it."""
    frame = sys._getframe(1)
    while frame is not None and _is_machinery(frame):
        frame = frame.f_back
    if frame is None:
        return None
    example_file, example_frames = frame.f_code.co_filename, []
    while frame is not None:
        if frame.f_code.co_filename == example_file:
            example_frames.append(frame)
        frame = frame.f_back
    namespaces = [example_frames[0].f_globals, *(f.f_locals for f in reversed(example_frames))]
    for namespace in namespaces:
        for name, value in namespace.items():
            if value is target and not name.startswith("_"):
                return name
    return None


def format_value(value) -> str:
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 4] + " ..."


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


NEVER_COMMITTED_NOTE = "values flushed, then rolled back: never committed"


class ObjectTracker:
    """Remembers the ORM objects an example touched, by weak reference, in first-seen order."""

    def __init__(self) -> None:
        self.objects: dict[int, weakref.ref] = {}  # by id(), in first-seen order
        # Objects each session flushed in the transaction it has not committed yet.
        self.flushed_uncommitted: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        # Detached objects whose loaded values were flushed but not committed, with the session
        # they left (weakly): its COMMIT, should it still come, makes them committed.
        self.never_committed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.untracked: set[int] = set()
        self.last_rows: dict[int, dict] = {}

    def track(self, obj) -> None:
        known = self.objects.get(id(obj))
        if known is not None and known() is obj:
            return
        if known is None and len(self.objects) >= MAX_TRACKED_OBJECTS:
            self.untracked.add(id(obj))
            return
        self.objects.pop(id(obj), None)  # an id the collector gave to a new object
        self.objects[id(obj)] = weakref.ref(obj)

    def live_objects(self) -> list:
        alive = [ref() for ref in self.objects.values()]
        return [obj for obj in alive if obj is not None]

    # Session event handlers: a session that closes (or lets go of an object) before it commits
    # leaves the object holding values the database rolled back.
    def session_flushed(self, session, flush_context) -> None:
        pending = self.flushed_uncommitted.setdefault(session, weakref.WeakSet())
        pending.update((*session.new, *session.dirty, *session.deleted))  # still pre-flush here

    def session_committed(self, session) -> None:
        self.flushed_uncommitted.pop(session, None)
        for obj, left in list(self.never_committed.items()):
            if left() is session:
                del self.never_committed[obj]

    def session_rolled_back(self, session) -> None:
        self.flushed_uncommitted.pop(session, None)

    def object_detached(self, session, instance) -> None:
        if instance in self.flushed_uncommitted.get(session, ()):
            self.never_committed[instance] = weakref.ref(session)

    def object_attached(self, session, instance) -> None:
        self.never_committed.pop(instance, None)

    def describe(self, obj) -> dict:
        row = describe_object(obj)
        if obj in self.never_committed:
            row["note"] = NEVER_COMMITTED_NOTE
        return row

    def changed_table(self) -> dict | None:
        """The state table for the current cell, or None when no object changed."""
        rows = {id(obj): self.describe(obj) for obj in self.live_objects()}
        changed = [key for key, row in rows.items() if self.last_rows.get(key) != row]
        self.last_rows = rows
        if not changed:
            return None
        keys = list(rows)
        shown = keys if len(keys) <= MAX_TABLE_ROWS else changed[:MAX_TABLE_ROWS]
        return {
            "rows": [dict(rows[key], changed=key in changed) for key in shown],
            "not_shown": len(keys) - len(shown) + len(self.untracked),
        }


# ---------------------------------------------------------------------------
# Reading object state: only from inspect(), which never loads or flushes
# ---------------------------------------------------------------------------

LIFECYCLE_STATES = ("transient", "pending", "persistent", "deleted", "detached")


def identity_label(obj) -> str:
    state = inspect(obj)
    name = state.mapper.class_.__name__
    if state.identity is None:
        return f"{name} (no key yet)"
    keys = [state.mapper.get_property_by_column(col).key for col in state.mapper.primary_key]
    values = ", ".join(f"{k}={v!r}" for k, v in zip(keys, state.identity, strict=True))
    return f"{name}({values})"


def describe_value(value) -> str:
    if isinstance(value, (list, tuple, set)):
        return "[" + ", ".join(describe_value(v) for v in value) + "]"
    try:
        inspect(value).mapper  # an ORM object: never call its __repr__, it may load
    except Exception:
        return format_value(value)
    return identity_label(value)


def describe_object(obj) -> dict:
    state = inspect(obj)
    lifecycle = next(name for name in LIFECYCLE_STATES if getattr(state, name))
    attribute_order = [
        attr.key for attr in (*state.mapper.column_attrs, *state.mapper.relationships)
    ]
    expired = [key for key in attribute_order if key in state.expired_attributes]
    changes, loaded = [], []
    for key in attribute_order:
        history = state.attrs[key].history
        if history.added or history.deleted:
            new = (
                describe_value(list(history.added) if len(history.added) > 1 else history.added[0])
                if history.added
                else "(removed)"
            )
            if history.deleted:
                changes.append(f"{key}: {describe_value(history.deleted[0])} \u2192 {new}")
            elif state.transient or state.pending:
                changes.append(f"{key} = {new}")
            else:  # changed while expired: the old value was never loaded
                changes.append(f"{key}: (not loaded) \u2192 {new}")
        if key in state.dict:
            loaded.append(f"{key}={describe_value(state.dict[key])}")
    return {
        "object": identity_label(obj),
        "state": lifecycle,
        "expired": ", ".join(expired),
        "changes": "; ".join(changes),
        "loaded": ", ".join(loaded),
    }


# ---------------------------------------------------------------------------
# Sphinx-Gallery hooks (named by dotted path in conf.py)
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


def reset(gallery_conf, fname, when):
    """Before an example: fresh listeners and tracker.  After it: remove them."""
    if when == "before":
        start_recording(SqlTranscript(), ObjectTracker())
    else:
        stop_recording()


def scrape_cell(block, block_vars, gallery_conf) -> str:
    """Called after every cell: the state table when an object changed, and in the full build
    the SQL the same cell sent to the other databases."""
    transcript, tracker = _active.get("transcript"), _active.get("tracker")
    if transcript is None:
        return ""
    # Objects the example dropped but that sit in reference cycles (an exception's traceback,
    # say) would otherwise stay in the table until the collector happens to run.
    gc.collect()
    transcript.forbidden_reason = "while reading object state for the docs"
    try:
        table = tracker.changed_table()
    finally:
        transcript.forbidden_reason = None
    rst = dialect_tabs_rst(block_vars.get("src_file", ""), block.lineno, transcript.new_cell())
    if table is not None:
        rst += "\n.. orm-state::\n\n   " + json.dumps(table, ensure_ascii=False) + "\n"
    return rst


# ---------------------------------------------------------------------------
# The full build: the SQL of each cell on PostgreSQL and MariaDB too
# ---------------------------------------------------------------------------

# A folder with one folder per database, read in name order, each holding what
# dialect_capture.py recorded for every example: <database>/<section>/<name>.json.
DIALECT_SQL_ENV = "SESSION_SYNC_DIALECT_SQL"
PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|\?|(?<!:):\w+")
CAST = re.compile(r"::\w+(\[\])?")
QUALIFIED = re.compile(r"\b\w+\.(\w+)\b")


def _dialect_files() -> list[Path]:
    folder = os.environ.get(DIALECT_SQL_ENV)
    return sorted(Path(folder).glob("*/**/*.json")) if folder else []


@functools.cache
def other_databases() -> tuple[dict, ...]:
    databases: dict[str, dict] = {}
    for path in _dialect_files():
        recorded = json.loads(path.read_text())
        database = databases.setdefault(
            path.relative_to(os.environ[DIALECT_SQL_ENV]).parts[0],
            {"database": recorded["database"], "examples": {}},
        )
        database["examples"][example_key(path)] = recorded["cells"]
    return tuple(databases.values())


def example_key(path) -> str:
    """``section/name.py``: the example's path below the examples folder (or below its
    database's folder, for what dialect_capture.py recorded)."""
    parts = Path(path).with_suffix(".py").parts
    return "/".join(parts[-2:])


def comparable_statements(records: list[dict]) -> tuple[list[str], bool]:
    """The work a cell sent, with each driver's placeholders, casts, quoting and column
    qualification made alike; and whether schema set-up was left out of it."""
    statements, left_out_schema = [], False
    for group in _group_chunks(records):
        if group["kind"] == "schema":
            left_out_schema = True
            continue
        for record in group["records"]:
            if "sql" in record:
                sql = CAST.sub("", PLACEHOLDER.sub("?", record["sql"]))
                sql = QUALIFIED.sub(r"\1", sql.replace('"', "").replace("`", ""))
                statements.append(" ".join(sql.split()))
    return statements, left_out_schema


def dialect_tabs_rst(src_file, lineno: int, sqlite_records: list[dict]) -> str:
    databases = other_databases()
    if not databases or not src_file:
        return ""
    tabs = [(f"SQLite {sqlite3.sqlite_version}", sqlite_records)]
    key = example_key(src_file)
    for database in databases:
        cells = database["examples"].get(key, {})
        if cells and str(lineno) not in cells:
            raise RuntimeError(
                f"The {database['database']} recording of {key} has no cell at "
                f"line {lineno}: the example changed since. Record it again "
                "(nox -s docs-full)."
            )
        tabs.append((database["database"], cells.get(str(lineno), [])))
    if not any(records for _, records in tabs):
        return ""
    reference, left_out_schema = comparable_statements(sqlite_records)
    differs = [comparable_statements(records)[0] != reference for _, records in tabs]
    if any(differs):
        caption = "The databases sent different statements for this cell: compare the tabs."
    else:
        caption = ("Apart from the schema set-up, this" if left_out_schema else "This") + (
            " cell sent the same statements to every database (each driver writes its own"
            " placeholders)."
        )
    lines = [
        "",
        ".. container:: sql-dialects" + (" sql-dialects-differ" if any(differs) else ""),
        "",
        "   .. rst-class:: sql-dialects-caption",
        "",
        f"   {caption}",
        "",
        "   .. tab-set::",
        "",
    ]
    for (label, records), different in zip(tabs, differs, strict=True):
        text = sql_text(records) or "-- no SQL sent"
        lines += [
            f"      .. tab-item:: {label}" + (" (differs)" if different else ""),
            "",
            "         .. code-block:: sql",
            "",
        ]
        lines += [f"            {line}" if line else "" for line in text.splitlines()]
        lines.append("")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Rendering in Sphinx
# ---------------------------------------------------------------------------

STATE_COLUMNS = (
    ("object", "Object"),
    ("state", "State"),
    ("expired", "Expired attributes"),
    ("changes", "Unflushed changes"),
    ("loaded", "Loaded values"),
)


class OrmStateDirective(Directive):
    has_content = True

    def run(self):
        table_data = json.loads("\n".join(self.content))
        table = nodes.table(classes=["orm-state"])
        group = nodes.tgroup(cols=len(STATE_COLUMNS))
        table += group
        group.extend(nodes.colspec(colwidth=1) for _ in STATE_COLUMNS)
        head_row = nodes.row()
        for _, title in STATE_COLUMNS:
            head_row += nodes.entry("", nodes.paragraph(text=title))
        group += nodes.thead("", head_row)
        body = nodes.tbody()
        for data in table_data["rows"]:
            row = nodes.row(classes=["changed"] if data["changed"] else [])
            for key, _ in STATE_COLUMNS:
                text = data[key] or "\u2014"
                entry = nodes.entry("", nodes.paragraph(text=text, classes=[f"orm-{key}"]))
                if key == "state" and data.get("note"):
                    entry += nodes.paragraph(text=data["note"], classes=["orm-never-committed"])
                row += entry
            body += row
        group += body
        container = nodes.container(classes=["orm-state-box"])
        container += nodes.paragraph(
            text="ORM object state after this cell", classes=["orm-state-caption"]
        )
        container += table
        if table_data["not_shown"]:
            container += nodes.paragraph(
                text=f"{table_data['not_shown']} more objects in the example are not shown.",
                classes=["orm-state-note"],
            )
        return [container]


TRANSACTION_END = {"COMMIT", "ROLLBACK"}
TRANSACTION_CONTROL = TRANSACTION_END | {"BEGIN (implicit)"}
SCHEMA_STATEMENT = re.compile(r"^\s*(CREATE|DROP|ALTER|PRAGMA)\b", re.IGNORECASE)
CATALOG_QUERY = re.compile(r"pg_catalog|information_schema|^\s*(DESCRIBE|SHOW)\b", re.I)


def _is_schema_chunk(records: list[dict]) -> bool:
    """A transaction that only inspects or changes the schema (``create_all()`` and friends)."""
    work = [r["sql"] for r in records if "sql" in r and r["sql"] not in TRANSACTION_CONTROL]
    return bool(work) and all(SCHEMA_STATEMENT.match(s) or CATALOG_QUERY.search(s) for s in work)


def _transaction_chunks(records: list[dict]) -> list[list[dict]]:
    """Runs of statements of one transaction on one connection."""
    chunks: list[list[dict]] = [[]]
    for record in records:
        starts = record.get("sql") == "BEGIN (implicit)" or (
            chunks[-1]
            and "connection" in record
            and record["connection"] != chunks[-1][-1].get("connection", record["connection"])
        )
        if starts and chunks[-1]:
            chunks.append([])
        chunks[-1].append(record)
        if record.get("sql") in TRANSACTION_END:
            chunks.append([])
    return [chunk for chunk in chunks if chunk]


READ_QUERY = re.compile(r"^\s*SELECT\b", re.IGNORECASE)


def _is_outside_read(records: list[dict]) -> bool:
    """Only SELECTs, on a connection no session uses: the example looking at the database from
    outside (a check of what the lesson did), not a step of the lesson itself."""
    labels = {r.get("connection", "") for r in records if "sql" in r}
    work = [r["sql"] for r in records if "sql" in r and r["sql"] not in TRANSACTION_CONTROL]
    return (
        len(labels) == 1
        and not next(iter(labels)).startswith("session")
        and bool(work)
        and all(READ_QUERY.match(sql) for sql in work)
    )


def _chunk_kind(records: list[dict]) -> str:
    if _is_schema_chunk(records):
        return "schema"
    return "outside-read" if _is_outside_read(records) else "work"


def sql_text(records: list[dict], label_connections: bool | None = None) -> str:
    """The statements as the reader sees them; who sent them is said where it changes, when
    ``label_connections`` (by default: when more than one sent these)."""
    if label_connections is None:
        label_connections = len(connection_labels(records)) > 1
    lines, previous_connection = [], None
    for record in records:
        if "hidden" in record:
            continue
        if label_connections and record["connection"] != previous_connection:
            lines.append(f"-- on {record['connection']}")
            previous_connection = record["connection"]
        lines.append(record["sql"].expandtabs(4))
        if "parameters" in record:
            lines.append(f"-- parameters: {record['parameters']}")
    hidden = sum(r.get("hidden", 0) for r in records)
    if hidden:
        lines.append(f"-- ... and {hidden} more statements, not shown")
    return "\n".join(lines)


def connection_labels(records: list[dict]) -> set[str]:
    return {r["connection"] for r in records if "connection" in r}


def sql_box_nodes(records: list[dict], label_connections: bool | None = None) -> list[nodes.Node]:
    """SQL boxes; schema set-up, reads from outside the session and very long runs are folded,
    to be opened on demand."""
    result: list[nodes.Node] = []
    for chunk in _group_chunks(records):
        text = sql_text(chunk["records"], label_connections)
        block = nodes.literal_block(text, text, language="sql")
        box = nodes.container("", block, classes=["sql-box"])
        count = sum(1 for r in chunk["records"] if "sql" in r)
        count += sum(r.get("hidden", 0) for r in chunk["records"])
        if chunk["kind"] == "schema":
            summary = f"Schema setup SQL ({count} statements)"
        elif chunk["kind"] == "outside-read":
            summary = f"Checked on another connection, outside the session ({count} statements)"
        elif count > FOLD_STATEMENTS_OVER:
            summary = f"SQL sent: {count} statements"
        else:
            result.append(box)
            continue
        result.append(
            nodes.raw(
                "", f'<details class="sql-folded"><summary>{summary}</summary>', format="html"
            )
        )
        result.append(box)
        result.append(nodes.raw("", "</details>", format="html"))
    return result


def _group_chunks(records: list[dict]) -> list[dict]:
    """Neighbouring transactions of the same kind (schema set-up, reads from outside the
    session on one connection, the lesson's work), each kind boxed on its own."""
    groups: list[dict] = []
    for chunk in _transaction_chunks(records):
        kind = _chunk_kind(chunk)
        label = chunk[0].get("connection")
        if (
            groups
            and groups[-1]["kind"] == kind
            and (kind != "outside-read" or groups[-1]["label"] == label)
        ):
            groups[-1]["records"].extend(chunk)
        else:
            groups.append({"kind": kind, "label": label, "records": list(chunk)})
    return groups


def output_segments(block: nodes.literal_block) -> list[tuple[bool, list]]:
    """The block's printed lines and SQL records, in runs of one kind, in true order."""
    segments: list[tuple[bool, list]] = []
    for line in block.astext().split("\n"):
        is_sql = line.startswith(SQL_MARKER)
        if not segments or segments[-1][0] != is_sql:
            segments.append((is_sql, []))
        segments[-1][1].append(json.loads(line[len(SQL_MARKER) :]) if is_sql else line)
    return segments


def split_output_block(
    block: nodes.literal_block, label_connections: bool | None = None
) -> list[nodes.Node]:
    """Printed output and SQL records, in the order they happened, as separate nodes."""
    result: list[nodes.Node] = []
    for is_sql, lines in output_segments(block):
        if is_sql:
            result.extend(sql_box_nodes(lines, label_connections))
        else:
            text = "\n".join(lines).strip("\n")
            if text.strip():
                new_block = nodes.literal_block(text, text, language="none")
                new_block["classes"] = list(block["classes"])
                result.append(new_block)
    return result


def is_cell_output(node: nodes.Node) -> bool:
    return isinstance(node, nodes.literal_block) and "sphx-glr-script-out" in node["classes"]


CELL_EXTRAS = ("orm-state-box", "sql-dialects")


def _is_cell_extra(node) -> bool:
    return isinstance(node, nodes.container) and any(c in node["classes"] for c in CELL_EXTRAS)


def render_captured_output(app, doctree, docname) -> None:
    """Split SQL out of every cell output, then put the cell's SQL tabs and state table (which
    Sphinx-Gallery places above the output) below both.  When the page's SQL came from more
    than one session or connection, every box says who sent it."""
    blocks = list(doctree.findall(is_cell_output))
    page_labels = {
        label
        for block in blocks
        if SQL_MARKER in block.astext()
        for is_sql, records in output_segments(block)
        if is_sql
        for label in connection_labels(records)
    }
    for block in blocks:
        parent = block.parent
        index = parent.index(block)
        extras = []
        while index - len(extras) > 0 and _is_cell_extra(parent[index - len(extras) - 1]):
            extras.insert(0, parent[index - len(extras) - 1])
        new_nodes = (
            split_output_block(block, label_connections=len(page_labels) > 1)
            if SQL_MARKER in block.astext()
            else [block]
        )
        for extra in extras:
            parent.remove(extra)
        parent.replace(block, new_nodes + extras)
    _say_where_the_other_databases_are(doctree)


def _say_where_the_other_databases_are(doctree) -> None:
    has_sql = any("sql-box" in node["classes"] for node in doctree.findall(nodes.container))
    has_tabs = any("sql-dialects" in node["classes"] for node in doctree.findall(nodes.container))
    section = next(iter(doctree.findall(nodes.section)), None)
    if not has_sql or has_tabs or section is None:
        return
    note = nodes.paragraph(classes=["sql-dialects-note"])
    note += nodes.Text(
        f"The SQL on this page was sent to SQLite {sqlite3.sqlite_version}. "
        "The full build of this site ("
    )
    note += nodes.literal(text="nox -s docs-full")
    note += nodes.Text(
        ") adds, under every cell, tabs with the SQL the same code sends to PostgreSQL and MariaDB."
    )
    section.insert(1, note)


def capture_fingerprint() -> str:
    """Changes whenever this file or the other databases' SQL changes: the examples must then
    run again, and the pages be read again."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in _dialect_files():
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


def freeze_long_lived_objects(app) -> None:
    """Sphinx-Gallery runs ``gc.collect()`` before every example; with Sphinx, its extensions and
    their modules in memory each collection took a tenth of a second.  What exists before the
    examples run lives until the build ends, so the collector can leave it out."""
    gc.collect()
    gc.freeze()


def _as_list(value) -> list:
    return [value] if isinstance(value, str) else list(value)


def setup(app):
    fingerprint = capture_fingerprint()
    app.add_directive("orm-state", OrmStateDirective)
    # An "env" config value: when it changes, Sphinx reads every page again as well.
    app.add_config_value("session_sync_capture_fingerprint", fingerprint, "env")
    app.connect("builder-inited", rerun_examples_if_capture_changed, priority=100)
    app.connect("builder-inited", freeze_long_lived_objects, priority=101)
    app.connect("doctree-resolved", render_captured_output)
    return {
        "version": fingerprint,
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
