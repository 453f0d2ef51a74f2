"""Which ORM objects an example touched, and their state after each cell, as plain dicts.

Everything is read from ``inspect(obj)`` (identity, the lifecycle flags, expired attributes,
attribute history, the instance dict), none of which loads or flushes anything; the build
checks that no SQL is sent while this runs.  Pure SQLAlchemy and the standard library: this
module must run without Sphinx (issue 12 runs it in the reader's browser).
"""

from __future__ import annotations

import weakref

from sqlalchemy import inspect
from sqlalchemy.orm import InstanceState

MAX_TRACKED_OBJECTS = 200
MAX_TABLE_ROWS = 12
MAX_VALUE_CHARS = 80
LIFECYCLE_STATES = ("transient", "pending", "persistent", "deleted", "detached")
NEVER_COMMITTED_NOTE = "values flushed, then rolled back: never committed"
DELETED_NOTE = "deleted: its row is gone, its changes can never be flushed"


def format_value(value) -> str:
    """A value as the page shows it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 4] + " ..."


class ObjectTracker:
    """Remembers the ORM objects an example touched, by weak reference, in first-seen order.

    Each object is known by a serial number, given when it is first seen, never by its
    ``id()``: once an object is gone, Python gives its address to the next object allocated
    there, and which object that is depends on the process (the directory the site is built
    in, the examples run before, the worker of a parallel build), not on the example.  Keyed by
    ``id()``, a new object took over the last row of a dead one: values in its first table
    were marked as changed since a table that showed another object, or the row was not
    marked as changed at all.
    """

    def __init__(self) -> None:
        # Every object seen, by its InstanceState (which lives as long as the object, and is
        # hashed by identity whatever the mapped class defines): its serial number.
        self.serials: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.seen = 0  # objects seen so far: the last serial number given
        self.objects: dict[int, weakref.ref] = {}  # the tracked ones, by serial number
        # Objects each session flushed in the transaction it has not committed yet, by their
        # InstanceState (an object itself may be unhashable: a dataclass mapping's ``eq``).
        self.flushed_uncommitted: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        # Detached objects whose loaded values were flushed but not committed, with the session
        # they left (weakly): its COMMIT, should it still come, makes them committed.
        self.never_committed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.untracked = 0  # objects seen once MAX_TRACKED_OBJECTS were tracked
        # Each tracked object's row after the last cell, by serial number.
        self.last_rows: dict[int, dict] = {}
        # Each object's row as its last state table on the page showed it, by serial number.
        self.last_shown: dict[int, dict] = {}
        # The object each label last named in a table: a new object under a shown label (the
        # same row loaded again by a new session) is another object than the one above.
        self.label_shown: dict[str, int] = {}

    def track(self, obj) -> None:
        state = inspect(obj)
        if state in self.serials:
            return
        self.seen += 1
        self.serials[state] = self.seen
        if len(self.objects) >= MAX_TRACKED_OBJECTS:
            self.untracked += 1
            return
        self.objects[self.seen] = weakref.ref(obj)

    def live_objects(self) -> list:
        return list(self.live_by_serial().values())

    def live_by_serial(self) -> dict:
        """The tracked objects still alive, by serial number, in first-seen order."""
        alive = {serial: ref() for serial, ref in self.objects.items()}
        return {serial: obj for serial, obj in alive.items() if obj is not None}

    # Session event handlers: a session that closes (or lets go of an object) before it commits
    # leaves the object holding values the database rolled back.
    def session_flushed(self, session, flush_context) -> None:
        """Remember the objects whose rows this flush wrote: its INSERTs and DELETEs, and the
        dirty objects with a changed column.  ``session.dirty`` alone names more: an object
        whose change was expired away (its flush sends nothing), or one whose only change is
        a collection (a parent whose child changed parent: only the child's row is written)."""
        pending = self.flushed_uncommitted.setdefault(session, weakref.WeakSet())
        # Still pre-flush here: new/dirty/deleted and attribute history are not reset yet, and
        # the foreign keys the flush copied from related objects are already in the history.
        pending.update(inspect(obj) for obj in (*session.new, *session.deleted))
        pending.update(inspect(obj) for obj in session.dirty if columns_changed(obj))

    def session_committed(self, session) -> None:
        self.flushed_uncommitted.pop(session, None)
        for state, left in list(self.never_committed.items()):
            if left() is session:
                del self.never_committed[state]

    def session_rolled_back(self, session) -> None:
        self.flushed_uncommitted.pop(session, None)

    def object_detached(self, session, instance) -> None:
        state = inspect(instance)
        if state in self.flushed_uncommitted.get(session, ()):
            self.never_committed[state] = weakref.ref(session)

    def object_attached(self, session, instance) -> None:
        self.never_committed.pop(inspect(instance), None)

    def describe(self, obj) -> dict:
        row = describe_object(obj)
        if inspect(obj) in self.never_committed:
            row["note"] = NEVER_COMMITTED_NOTE
        elif row["state"] == "detached" and inspect(obj).was_deleted:
            row["note"] = DELETED_NOTE  # plain "detached" would read as reusable
        return row

    def changed_table(self) -> dict | None:
        """The state table for the current cell, or None when no object changed."""
        rows = {serial: self.describe(obj) for serial, obj in self.live_by_serial().items()}
        changed = [key for key, row in rows.items() if self.last_rows.get(key) != row]
        self.last_rows = rows
        if not changed:
            return None
        keys = list(rows)
        shown = keys if len(keys) <= MAX_TABLE_ROWS else changed[:MAX_TABLE_ROWS]
        table_rows = []
        for key in shown:
            row = dict(rows[key], changed=key in changed)
            new = new_values(self.last_shown.get(key), rows[key])
            if new:
                row["new"] = new
            label = rows[key].get("object")
            if key not in self.last_shown and self.label_shown.get(label, key) != key:
                row["other_object"] = True
            self.label_shown[label] = key
            self.last_shown[key] = rows[key]
            table_rows.append(row)
        return {
            "rows": table_rows,
            "not_shown": len(keys) - len(shown) + self.untracked,
        }


# How each column's text is made of values (describe_object joins them with these).
VALUE_SEPARATORS = {"state": None, "expired": ", ", "changes": "; ", "loaded": ", "}
VALUE_SEPARATORS["relationships"] = "\n"


def column_values(row: dict, column: str) -> list[str]:
    """The values a column shows: ``loaded`` as ``name=value`` items, and so on."""
    if column == "loaded":
        return list(row.get("loaded_items", ()))
    text = row.get(column) or ""
    separator = VALUE_SEPARATORS[column]
    if not text:
        return []
    return [text] if separator is None else text.split(separator)


def new_values(before: dict | None, after: dict) -> dict[str, list[int]]:
    """Per column, the positions of the values that differ from the same object's previous
    table on the page (none for a first appearance); ``[-1]`` when a column became empty."""
    if before is None:
        return {}
    new = {}
    for column in VALUE_SEPARATORS:
        old, now = column_values(before, column), column_values(after, column)
        if column == "state":
            positions = [0] if now != old else []
        else:
            positions = [i for i, value in enumerate(now) if value not in old]
        if not now and old:
            positions = [-1]
        if positions:
            new[column] = positions
    return new


# ---------------------------------------------------------------------------
# One object's state: only from inspect(), which never loads or flushes
# ---------------------------------------------------------------------------


def columns_changed(obj) -> bool:
    """Whether a column attribute of the object has a change in memory (history, which loads
    nothing): what makes a flush write its row."""
    state = inspect(obj)
    return any(state.attrs[attr.key].history.has_changes() for attr in state.mapper.column_attrs)


def identity_label(obj) -> str:
    state = inspect(obj)
    name = state.mapper.class_.__name__
    if state.identity is None:
        return f"{name} (no key yet)"
    keys = [state.mapper.get_property_by_column(col).key for col in state.mapper.primary_key]
    values = ", ".join(f"{k}={v!r}" for k, v in zip(keys, state.identity, strict=True))
    return f"{name}({values})"


def describe_value(value) -> str:
    """A column attribute's value (or a changed one) as the page shows it."""
    if isinstance(value, (list, tuple, set)):
        return "[" + ", ".join(describe_value(v) for v in value) + "]"
    if isinstance(inspect(value, raiseerr=False), InstanceState):
        return related_label(value)  # an ORM object: never call its __repr__, it may load
    return format_value(value)


def lifecycle_state(state) -> str:
    return next(name for name in LIFECYCLE_STATES if getattr(state, name))


def related_label(obj) -> str:
    """A related object by identity, never by its ``__repr__`` (which may load): ``User(id=1)``;
    its lifecycle state follows unless it is persistent, and stands in for the key it does not
    have yet: ``Address (pending)``, ``Address(id=2) (deleted)``."""
    state = inspect(obj)
    lifecycle = lifecycle_state(state)
    if state.identity is None:
        return f"{state.mapper.class_.__name__} ({lifecycle})"
    label = identity_label(obj)
    return label if lifecycle == "persistent" else f"{label} ({lifecycle})"


def collection_members(collection) -> list:
    """A loaded collection's members in the order the reader sees them; a set's in label order,
    so that two builds agree; a dictionary collection's values."""
    if isinstance(collection, dict):
        return list(collection.values())
    if isinstance(collection, (set, frozenset)):
        return sorted(collection, key=related_label)
    return list(collection)


NEVER_LOADED_STRATEGIES = ("write_only", "dynamic")


def describe_relationship(state, relationship) -> str:
    """Whether a relationship is loaded and, if it is, what it holds, read from the instance
    dict alone: ``getattr`` would load it (or, under asyncio, raise MissingGreenlet)."""
    key = relationship.key
    if relationship.lazy in NEVER_LOADED_STRATEGIES:
        return f"{key}: never loaded ({relationship.lazy})"
    if key not in state.dict:
        return f"{key}: " + (
            "not loaded (expired)" if key in state.expired_attributes else "not loaded"
        )
    value = state.dict[key]
    if not relationship.uselist:
        return f"{key}: " + ("None" if value is None else related_label(value))
    members = ", ".join(related_label(member) for member in collection_members(value))
    return f"{key}: [{members}]"


def describe_changes(state, key, history, is_collection: bool) -> str:
    if is_collection:
        # A collection's history is what was appended and removed, not an old and a new value.
        added = [f"+{related_label(member)}" for member in history.added]
        removed = [f"-{related_label(member)}" for member in history.deleted]
        return f"{key}: " + ", ".join(added + removed)
    new = (
        describe_value(list(history.added) if len(history.added) > 1 else history.added[0])
        if history.added
        else "(removed)"
    )
    if history.deleted:
        return f"{key}: {describe_value(history.deleted[0])} \u2192 {new}"
    if state.transient or state.pending:
        return f"{key} = {new}"
    # changed while expired: the old value was never loaded
    return f"{key}: (not loaded) \u2192 {new}"


def describe_object(obj) -> dict:
    state = inspect(obj)
    relationships = list(state.mapper.relationships)
    relationship_keys = {r.key for r in relationships}
    collections = {r.key for r in relationships if r.uselist}
    attribute_order = [attr.key for attr in (*state.mapper.column_attrs, *relationships)]
    expired = [key for key in attribute_order if key in state.expired_attributes]
    changes, loaded = [], []
    for key in attribute_order:
        # History with PASSIVE_NO_INITIALIZE: what changed in memory, nothing loaded for it.
        history = state.attrs[key].history
        if history.added or history.deleted:
            changes.append(describe_changes(state, key, history, key in collections))
        if key in state.dict and key not in relationship_keys:
            loaded.append(f"{key}={describe_value(state.dict[key])}")
    row = {
        "object": identity_label(obj),
        "state": lifecycle_state(state),
        "expired": ", ".join(expired),
        "changes": "; ".join(changes),
        "loaded": ", ".join(loaded),
        # The same values one by one (a value's text may hold ", "): which changed is per item.
        "loaded_items": loaded,
    }
    if relationships:
        row["relationships"] = "\n".join(describe_relationship(state, r) for r in relationships)
    return row
