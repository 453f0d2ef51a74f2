"""Show, under every example cell, the SQL it sent and the ORM object states after it.

Used only by the docs build; the example scripts never import it.

How it works:

* ``reset`` is a Sphinx-Gallery ``reset_modules`` hook.  Before each example it installs
  class-level SQLAlchemy listeners (every Engine, Session and mapper); after it, removes them.
* Each statement (and BEGIN / COMMIT / ROLLBACK) is written to ``sys.stdout`` as one marked
  line, so it lands in the cell's captured output exactly where it happened, between the
  example's own ``print()`` lines.
* ``scrape_orm_state`` is a Sphinx-Gallery image scraper, called after every cell.  It reads the
  state of the tracked objects with ``inspect()`` (which never loads anything) and, when
  something changed, returns an ``orm-state`` directive holding the table as JSON.
* At ``doctree-resolved`` the marked lines are split out of each output block into SQL boxes,
  and each state table is moved below its cell's output.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
import sys
import weakref
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapper, Session

SQL_MARKER = "\u27e6sql\u27e7 "
MAX_TRACKED_OBJECTS = 200
MAX_TABLE_ROWS = 12
MAX_STATEMENTS_PER_CELL = 40
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
    """Writes each statement the example sends, as one marked line, to the current stdout."""

    def __init__(self) -> None:
        self.connection_numbers: dict[int, int] = {}
        self.statements_in_cell = 0
        self.forbidden_reason: str | None = None

    def new_cell(self) -> None:
        self.statements_in_cell = 0

    def _connection_label(self, connection) -> int:
        try:
            key = id(connection.connection.dbapi_connection)
        except Exception:  # invalidated or closed: count it as a connection of its own
            key = id(connection)
        return self.connection_numbers.setdefault(key, len(self.connection_numbers) + 1)

    def write(self, connection, sql: str, parameters=None, executemany=False) -> None:
        if self.forbidden_reason:
            raise AssertionError(f"SQL was emitted {self.forbidden_reason}: {sql}")
        self.statements_in_cell += 1
        if self.statements_in_cell > MAX_STATEMENTS_PER_CELL:
            sys.stdout.write(SQL_MARKER + '{"hidden": 1}\n')
            return
        record = {"sql": sql.strip(), "connection": self._connection_label(connection)}
        if parameters is not None and parameters != () and parameters != {}:
            record["parameters"] = format_parameters(parameters, executemany)
        sys.stdout.write(SQL_MARKER + json.dumps(record) + "\n")

    # SQLAlchemy event handlers -------------------------------------------------------
    def before_cursor_execute(self, conn, cursor, statement, parameters, context, executemany):
        self.write(conn, statement, parameters, executemany)

    def on_begin(self, conn):
        self.write(conn, "BEGIN (implicit)")

    def on_commit(self, conn):
        self.write(conn, "COMMIT")

    def on_rollback(self, conn):
        self.write(conn, "ROLLBACK")


def format_value(value) -> str:
    text = repr(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 5] + " ...'"[-5 if isinstance(value, str) else -4 :]
    return text


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


class ObjectTracker:
    """Remembers the ORM objects an example touched, by weak reference, in first-seen order."""

    def __init__(self) -> None:
        self.objects: list[weakref.ref] = []
        self.seen: set[int] = set()
        self.untracked: set[int] = set()
        self.last_rows: dict[int, dict] = {}

    def track(self, obj) -> None:
        if id(obj) in self.seen and any(ref() is obj for ref in self.objects):
            return
        if len(self.objects) >= MAX_TRACKED_OBJECTS:
            self.untracked.add(id(obj))
            return
        self.seen.add(id(obj))
        self.objects.append(weakref.ref(obj))

    def live_objects(self) -> list:
        alive = [ref() for ref in self.objects]
        return [obj for obj in alive if obj is not None]

    def changed_table(self) -> dict | None:
        """The state table for the current cell, or None when no object changed."""
        rows = {id(obj): describe_object(obj) for obj in self.live_objects()}
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
    values = ", ".join(f"{k}={v!r}" for k, v in zip(keys, state.identity))
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
    attribute_order = [attr.key for attr in (*state.mapper.column_attrs, *state.mapper.relationships)]
    expired = [key for key in attribute_order if key in state.expired_attributes]
    changes, loaded = [], []
    for key in attribute_order:
        history = state.attrs[key].history
        if history.added or history.deleted:
            new = describe_value(list(history.added) if len(history.added) > 1 else
                                 history.added[0]) if history.added else "(removed)"
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
    yield Mapper, "init", track_init
    for name in SESSION_LIFECYCLE_EVENTS:
        yield Session, name, track_instance


def reset(gallery_conf, fname, when):
    """Before an example: fresh listeners and tracker.  After it: remove them."""
    for target, name, fn in _active.pop("listeners", ()):
        event.remove(target, name, fn)
    _active.clear()
    if when == "before":
        transcript, tracker = SqlTranscript(), ObjectTracker()
        listeners = list(_listeners(transcript, tracker))
        for target, name, fn in listeners:
            event.listen(target, name, fn)
        _active.update(listeners=listeners, transcript=transcript, tracker=tracker)


def scrape_orm_state(block, block_vars, gallery_conf) -> str:
    """Called after every cell: returns the state table (rST) when an object changed."""
    transcript, tracker = _active.get("transcript"), _active.get("tracker")
    if transcript is None:
        return ""
    transcript.forbidden_reason = "while reading object state for the docs"
    try:
        table = tracker.changed_table()
    finally:
        transcript.forbidden_reason = None
    transcript.new_cell()
    if table is None:
        return ""
    return "\n.. orm-state::\n\n   " + json.dumps(table, ensure_ascii=False) + "\n"


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
                row += nodes.entry("", nodes.paragraph(text=text, classes=[f"orm-{key}"]))
            body += row
        group += body
        container = nodes.container(classes=["orm-state-box"])
        container += nodes.paragraph(text="ORM object state after this cell",
                                     classes=["orm-state-caption"])
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
    chunks: list[list[dict]] = [[]]
    for record in records:
        if record.get("sql") == "BEGIN (implicit)" and chunks[-1]:
            chunks.append([])
        chunks[-1].append(record)
        if record.get("sql") in TRANSACTION_END:
            chunks.append([])
    return [chunk for chunk in chunks if chunk]


def sql_text(records: list[dict]) -> str:
    several_connections = len({r["connection"] for r in records if "connection" in r}) > 1
    lines, previous_connection = [], None
    for record in records:
        if "hidden" in record:
            continue
        if several_connections and record["connection"] != previous_connection:
            lines.append(f"-- on connection {record['connection']}")
            previous_connection = record["connection"]
        lines.append(record["sql"].expandtabs(4))
        if "parameters" in record:
            lines.append(f"-- parameters: {record['parameters']}")
    hidden = sum(r.get("hidden", 0) for r in records)
    if hidden:
        lines.append(f"-- ... and {hidden} more statements, not shown")
    return "\n".join(lines)


def sql_box_nodes(records: list[dict]) -> list[nodes.Node]:
    """SQL boxes; schema set-up and very long runs are folded, to be opened on demand."""
    result: list[nodes.Node] = []
    for chunk in _group_schema_chunks(records):
        text = sql_text(chunk["records"])
        block = nodes.literal_block(text, text, language="sql")
        box = nodes.container("", block, classes=["sql-box"])
        count = sum(1 for r in chunk["records"] if "sql" in r)
        count += sum(r.get("hidden", 0) for r in chunk["records"])
        if chunk["schema"]:
            summary = f"Schema setup SQL ({count} statements)"
        elif count > FOLD_STATEMENTS_OVER:
            summary = f"SQL sent: {count} statements"
        else:
            result.append(box)
            continue
        result.append(nodes.raw("", f'<details class="sql-folded"><summary>{summary}</summary>',
                                format="html"))
        result.append(box)
        result.append(nodes.raw("", "</details>", format="html"))
    return result


def _group_schema_chunks(records: list[dict]) -> list[dict]:
    groups: list[dict] = []
    for chunk in _transaction_chunks(records):
        schema = _is_schema_chunk(chunk)
        if groups and groups[-1]["schema"] == schema:
            groups[-1]["records"].extend(chunk)
        else:
            groups.append({"schema": schema, "records": list(chunk)})
    return groups


def split_output_block(block: nodes.literal_block) -> list[nodes.Node]:
    """Printed output and SQL records, in the order they happened, as separate nodes."""
    segments: list[tuple[bool, list[str]]] = []
    for line in block.astext().split("\n"):
        is_sql = line.startswith(SQL_MARKER)
        if not segments or segments[-1][0] != is_sql:
            segments.append((is_sql, []))
        segments[-1][1].append(line[len(SQL_MARKER):] if is_sql else line)
    result: list[nodes.Node] = []
    for is_sql, lines in segments:
        if is_sql:
            result.extend(sql_box_nodes([json.loads(line) for line in lines]))
        else:
            text = "\n".join(lines).strip("\n")
            if text.strip():
                new_block = nodes.literal_block(text, text, language="none")
                new_block["classes"] = list(block["classes"])
                result.append(new_block)
    return result


def is_cell_output(node: nodes.Node) -> bool:
    return isinstance(node, nodes.literal_block) and "sphx-glr-script-out" in node["classes"]


def render_captured_output(app, doctree, docname) -> None:
    """Split SQL out of every cell output, then put the cell's state table below both."""
    for block in list(doctree.findall(is_cell_output)):
        parent = block.parent
        index = parent.index(block)
        state_box = parent[index - 1] if index else None
        if not (isinstance(state_box, nodes.container) and "orm-state-box" in state_box["classes"]):
            state_box = None
        new_nodes = split_output_block(block) if SQL_MARKER in block.astext() else [block]
        if state_box is not None:
            parent.remove(state_box)
            new_nodes.append(state_box)
        parent.replace(block, new_nodes)


def module_fingerprint() -> str:
    """Changes whenever this file changes, so that examples are re-run and pages re-read."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def rerun_examples_if_capture_changed(app) -> None:
    """Sphinx-Gallery re-runs an example only when its own md5 changes; ours counts too."""
    gallery_conf = app.config.sphinx_gallery_conf
    src = Path(app.srcdir)
    for gallery_dir in _as_list(gallery_conf.get("gallery_dirs", [])):
        out = src / gallery_dir
        stamp = out / ".capture-fingerprint"
        fingerprint = module_fingerprint()
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
    app.add_directive("orm-state", OrmStateDirective)
    app.add_config_value("session_sync_capture_fingerprint", module_fingerprint(), "env")
    app.connect("builder-inited", rerun_examples_if_capture_changed, priority=100)
    app.connect("builder-inited", freeze_long_lived_objects, priority=101)
    app.connect("doctree-resolved", render_captured_output)
    return {"version": module_fingerprint(), "parallel_read_safe": True,
            "parallel_write_safe": True}
