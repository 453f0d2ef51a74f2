# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Everyday operations, measured: what each one does to the objects you loaded
============================================================================

The session writes into your objects only what it did itself (flush, commit's expiry, a
synchronized bulk statement, a reload you asked for); anything else, another connection, Core,
the legacy bulk methods, leaves the objects you loaded as they were until you expire or refresh
them.

The companion of the behaviour matrix for everything that is not a bulk UPDATE: adding,
flushing, committing, re-reading, locking, bulk DELETE, bulk UPDATE by primary key, the
legacy bulk methods, events and closed sessions. Each cell runs one operation from a fresh
state, records a short verdict (``pending``, ``stale``, ``synced``, ``no SQL`` ...) and
asserts it. The cheat sheet and the decision guide quote these verdicts, checked against this
run while the site is built. The site is built on SQLite; where a verdict differs by database
or by SQLAlchemy release, the cell says so and asserts it on each.
"""

# %%
# Setup
# -----
#
# alice and bob, ``counter = 5``. A second connection changes rows behind the session's back,
# so the in-memory SQLite default becomes a file. ``record()`` stores a verdict under a key and
# asserts the expected one; ``statements()`` lists the verbs of the SQL a step sent.

import os
import tempfile

import sqlalchemy
from sqlalchemy import (
    ForeignKey,
    create_engine,
    delete,
    event,
    func,
    inspect,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.exc import DetachedInstanceError, ObjectDeletedError
from sqlalchemy.types import String


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    counter: Mapped[int]
    addresses: Mapped[list["Address"]] = relationship()

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r}, counter={self.counter!r})"


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmp = tempfile.TemporaryDirectory()
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmp.name, "operations.db"))
mariadb = url.get_backend_name() in ("mysql", "mariadb")
engine = create_engine(url, **({"isolation_level": "READ COMMITTED"} if mariadb else {}))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
users = User.__table__

sent = []
event.listen(
    engine, "before_cursor_execute", lambda conn, cur, sql, *rest: sent.append(sql)
)
SQLALCHEMY_2_1 = tuple(int(part) for part in sqlalchemy.__version__.split(".")[:2]) >= (
    2,
    1,
)

MEASURED = {}  # "commit/attributes" -> {"verdict": ...}; the docs build reads it
LABELS = {}  # the same key -> the label of the section that measures it


def record(section, key, verdict, expected):
    MEASURED[key], LABELS[key] = {"verdict": verdict}, f"operations_measured_{section}"
    print(f"{key:45} {verdict}")
    # sphinx_gallery_start_ignore
    assert verdict == expected, f"{key} is measured as {expected!r}"
    # sphinx_gallery_end_ignore


def statements():
    verbs = [
        sql.split()[0] + (" RETURNING" if "RETURNING" in sql else "") for sql in sent
    ]
    sent.clear()
    return ", ".join(verbs) or "no SQL"


def reset():
    with engine.begin() as other:
        other.execute(delete(users))
        other.execute(users.insert(), [{"id": 1, "name": "alice", "counter": 5}])
        other.execute(users.insert(), [{"id": 2, "name": "bob", "counter": 5}])


def other_connection_sets(**values):
    with engine.begin() as other:
        other.execute(update(users).where(users.c.id == 1).values(values))


def other_connection_reads(key):
    with engine.connect() as other:
        return other.scalar(select(users.c.counter).where(users.c.id == key))


def state(obj):
    i = inspect(obj)
    names = ("transient", "pending", "persistent", "deleted", "detached")
    return next(name for name in names if getattr(i, name))


def counter(session, obj, before=5):
    """alice's counter in memory against her row, read on the session's own connection."""
    if "counter" in inspect(obj).expired_attributes:
        return "expired"
    memory = inspect(obj).dict["counter"]
    in_db = session.connection().scalar(
        select(users.c.counter).where(users.c.id == obj.id)
    )
    return "synced" if memory == in_db else "stale" if memory == before else "wrong"


# %%
# .. _operations_measured_flush:
#
# Add, flush, autoflush
# ---------------------
#
# ``session.add()`` sends nothing: the object is pending. ``flush()`` sends the INSERT inside the
# session's transaction: the object gets its key, another connection does not see the row
# until the commit. An ORM query with pending changes flushes them first, and sees them.
# ``text()`` and a ``select()`` of the Core table through ``session.execute()`` autoflush on
# SQLAlchemy 2.1 only (2.0 sends them as they are, and they miss the pending row);
# ``session.connection().execute()`` never autoflushes.

reset()
with Session(engine) as session:
    session.get(User, 1)
    sent.clear()
    carol = User(id=3, name="carol", counter=1)
    session.add(carol)
    record("flush", "add/sql", statements(), "no SQL")
    record("flush", "add/state", state(carol), "pending")
    session.flush()
    record("flush", "flush/sql", statements(), "INSERT")
    record("flush", "flush/key", "assigned" if inspect(carol).key else "none", "assigned")
    seen = other_connection_reads(3) is not None
    record(
        "flush", "flush/other-connection", "sees it" if seen else "not seen", "not seen"
    )
    dave = User(id=4, name="dave", counter=1)
    session.add(dave)
    sent.clear()
    found = session.scalars(select(User).where(User.name == "dave")).first()
    record("flush", "autoflush/sql", statements(), "INSERT, SELECT")
    record(
        "flush", "autoflush/query", "sees it" if found is dave else "not seen", "sees it"
    )
CORE_READS = {
    "text": lambda s: s.execute(text("SELECT id FROM users WHERE id = 5")).first(),
    "core-table": lambda s: s.execute(select(users.c.id).where(users.c.id == 5)).first(),
    "connection": lambda s: (
        s.connection().execute(select(users.c.id).where(users.c.id == 5)).first()
    ),
}
for name, read in CORE_READS.items():
    reset()
    with Session(engine) as session:
        session.add(User(id=5, name="erin", counter=1))
        seen = "sees it" if read(session) is not None else "not seen"
        expected = "sees it" if SQLALCHEMY_2_1 and name != "connection" else "not seen"
        record("flush", f"autoflush/{name}", seen, expected)

# %%
# .. _operations_measured_commit:
#
# Commit and rollback
# -------------------
#
# ``commit()`` expires every attribute; alice stays persistent and her next access sends a
# SELECT. ``rollback()`` expires them too, and an object flushed in the rolled-back
# transaction becomes transient again. An expired object whose row another connection deleted
# is still persistent, but its next access raises ``ObjectDeletedError`` (and once the session
# is closed, ``DetachedInstanceError``: see :ref:`operations_measured_closed`).

del carol, dave, found  # done with the last cell's objects: each table shows its own
reset()
with Session(engine) as session:
    alice = session.get(User, 1)
    session.commit()
    expired = {"id", "name", "counter"} <= inspect(alice).expired_attributes
    record("commit", "commit/attributes", "expired" if expired else "kept", "expired")
    record("commit", "commit/state", state(alice), "persistent")
    sent.clear()
    alice.counter  # noqa: B018 - reading reloads her
    record("commit", "commit/next-access", statements(), "SELECT")
    carol = User(id=3, name="carol", counter=1)
    session.add(carol)
    session.flush()
    session.rollback()
    expired = {"id", "name", "counter"} <= inspect(alice).expired_attributes
    record("commit", "rollback/attributes", "expired" if expired else "kept", "expired")
    record("commit", "rollback/new-object", state(carol), "transient")
reset()
with Session(engine) as session:
    alice = session.get(User, 1)
    session.commit()
    with engine.begin() as other:
        other.execute(delete(users).where(users.c.id == 1))
    try:
        alice.counter  # noqa: B018 - reading tries to reload her
        outcome = "reloaded"
    except ObjectDeletedError:
        outcome = "ObjectDeletedError"
    record("commit", "commit/row-gone", outcome, "ObjectDeletedError")

# %%
# .. _operations_measured_identity:
#
# The identity map: get, query again, reload
# ------------------------------------------
#
# ``session.get()`` of a loaded key sends nothing and returns the same object. After another
# connection commits ``counter = 10``, selecting alice again returns her with the old 5;
# :doc:`populate_existing <../myths/requery_refreshes>`, ``refresh()`` and ``expire()`` (which
# sends nothing until the next
# access) bring in the 10.

del alice, carol  # done with the last cell's objects: each table shows its own
RELOADS = {
    "requery": lambda s, a: s.scalars(select(User)).all(),
    "populate-existing": lambda s, a: s.scalars(
        select(User).execution_options(populate_existing=True)
    ).all(),
    "refresh": lambda s, a: s.refresh(a),
    "expire": lambda s, a: s.expire(a),
}
reset()
with Session(engine) as session:
    alice = session.get(User, 1)
    sent.clear()
    same = session.get(User, 1) is alice
    record("identity", "get/sql", statements(), "no SQL")
    record(
        "identity", "get/identity", "same object" if same else "new object", "same object"
    )
for name, reload in RELOADS.items():
    reset()
    with Session(engine) as session:
        alice = session.get(User, 1)
        other_connection_sets(counter=10)
        sent.clear()
        result = reload(session, alice)
        if name == "requery":
            same = any(user is alice for user in result)
            record(
                "identity",
                "requery/identity",
                "same object" if same else "other",
                "same object",
            )
        if name == "expire":
            record("identity", "expire/sql", statements(), "no SQL")
        alice.counter  # noqa: B018 - an expired attribute reloads here
        expected = "stale" if name == "requery" else "synced"
        record("identity", f"{name}/changed", counter(session, alice), expected)
        del result

# %%
# .. _operations_measured_snapshot:
#
# MariaDB's default isolation: a snapshot
# ---------------------------------------
#
# This example runs MariaDB at ``READ COMMITTED``. At MariaDB's default, ``REPEATABLE READ``, a
# transaction reads the snapshot taken by its first read: after another connection commits
# ``counter = 10``, ``populate_existing``, ``refresh()`` and ``expire()`` reload alice's *old*
# value inside the same transaction. Only a locking read (``with_for_update()`` with
# ``populate_existing``) reads the latest committed row, as does a new transaction. PostgreSQL
# (``READ COMMITTED`` by default) shows the new value to all four, and so does SQLite: its
# driver, pysqlite, sends no ``BEGIN`` before a read, so each SELECT sees the latest commit.

del alice  # done with the last cell's objects: each table shows its own
SNAPSHOT_RELOADS = {
    "populate-existing": RELOADS["populate-existing"],
    "refresh": RELOADS["refresh"],
    "expire": lambda s, a: (s.expire(a), a.counter),
    "for-update-populate": lambda s, a: s.scalars(
        select(User).with_for_update().execution_options(populate_existing=True)
    ).all(),
}
default_isolation = create_engine(url)
for name, reload in SNAPSHOT_RELOADS.items():
    reset()
    with Session(default_isolation) as session:
        alice = session.get(User, 1)
        other_connection_sets(counter=10)
        reload(session, alice)
        seen = "new value" if alice.counter == 10 else "old value"
        snapshot = mariadb and name != "for-update-populate"
        record(
            "snapshot", f"snapshot/{name}", seen, "old value" if snapshot else "new value"
        )
        session.commit()  # the transaction ends: the next read is a new one
        after_commit = alice.counter  # expired by the commit: this SELECT reloads it
        # sphinx_gallery_start_ignore
        assert after_commit == 10, "a new transaction reads the committed 10"
        # sphinx_gallery_end_ignore

# %%
# .. _operations_measured_snapshot_fetch:
#
# ``'fetch'`` under MariaDB's default isolation
# ---------------------------------------------
#
# MariaDB has no ``UPDATE ... RETURNING``: ``'fetch'`` SELECTs the keys of the matching rows,
# then sends the UPDATE. At ``REPEATABLE READ``, in a session that has already read, the SELECT
# reads the transaction's snapshot while the UPDATE changes the latest committed rows. Here
# another connection renames alice to ``'ally'`` after she was loaded; then ``WHERE name =
# 'alice'``, ``SET counter = 9``. The UPDATE matches no row, but the SELECT, reading the
# snapshot, still finds alice, and the session writes 9 into her: wrong, while her row keeps
# 5. SQLite and PostgreSQL return the keys from the UPDATE itself: alice is left alone, synced.
# (The behaviour matrix runs MariaDB at ``READ COMMITTED``, where the SELECT sees the rename.)

del alice  # done with the last cell's objects: each table shows its own
reset()
with Session(default_isolation) as session:
    alice = session.get(User, 1)
    other_connection_sets(name="ally")
    result = session.execute(
        update(User).where(User.name == "alice").values(counter=9),
        execution_options={"synchronize_session": "fetch"},
    )
    # sphinx_gallery_start_ignore
    assert result.rowcount == 0, "the UPDATE matched no row: alice is 'ally' now"
    # sphinx_gallery_end_ignore
    expected = "wrong" if mariadb else "synced"
    record("snapshot_fetch", "snapshot-fetch/renamed", counter(session, alice), expected)
    session.rollback()
default_isolation.dispose()

# %%
# .. _operations_measured_returning:
#
# ``update(...).returning(User)``
# -------------------------------
#
# The other connection sets alice's counter to 10; she still says 5. ``SET counter = counter +
# 1`` with ``RETURNING``: the statement returns alice herself, the object already loaded,
# holding the 6 computed in Python, while the row says 11. With ``populate_existing=True``
# the returned row overwrites her: 11, from SQLAlchemy 2.0.36 (up to 2.0.35 she kept the 6,
# wrong). With ``SET counter = abs(counter) + 1``, which Python
# cannot compute, nothing is computed in memory: alice gets the returned row's 11 without
# ``populate_existing``.
#
# ``populate_existing`` reaches only the rows returned. When the other connection renamed alice
# to ``'ally'`` instead, ``WHERE name = 'alice'`` matches no row and returns nothing; but the
# default ``'auto'`` matched alice in Python, by her in-memory name, and wrote ``counter + 1``,
# 6, into her, while her row keeps 5: wrong, ``populate_existing`` or not. With
# ``synchronize_session='fetch'`` the session touches only the rows the database matched:
# alice keeps 5, synced, and the relative case still gets the row's 11.
#
# MariaDB has no ``UPDATE ... RETURNING``: the server refuses every one of these statements
# (there, UPDATE with ``'fetch'``, then ``populate_existing`` or ``refresh()``).

del alice, result  # done with the last cell's objects: each table shows its own
POPULATE = {"populate_existing": True}
RELEASE = tuple(int(part) for part in sqlalchemy.__version__.split(".")[:3])
FETCH = {"synchronize_session": "fetch"}
# key -> (execution options, the SET value, what the other connection changes)
RETURNING = {
    "returning/relative": ({}, User.counter + 1, {"counter": 10}),
    "returning-populate/relative": (POPULATE, User.counter + 1, {"counter": 10}),
    "returning-function/relative": ({}, func.abs(User.counter) + 1, {"counter": 10}),
    "returning-populate/renamed": (POPULATE, User.counter + 1, {"name": "ally"}),
    "returning-populate-fetch/renamed": (
        POPULATE | FETCH,
        User.counter + 1,
        {"name": "ally"},
    ),
    "returning-populate-fetch/relative": (
        POPULATE | FETCH,
        User.counter + 1,
        {"counter": 10},
    ),
}
for key, (options, new_value, change) in RETURNING.items():
    name, situation = key.split("/")
    reset()
    with Session(engine) as session:
        alice = session.get(User, 1)
        other_connection_sets(**change)
        statement = update(User).where(User.name == "alice").values(counter=new_value)
        try:
            back = session.scalars(
                statement.returning(User), execution_options=options
            ).all()
        except DBAPIError as exc:  # MariaDB: a syntax error from the server
            # sphinx_gallery_start_ignore
            assert not engine.dialect.update_returning, (
                "only where there is no UPDATE RETURNING"
            )
            # sphinx_gallery_end_ignore
            record("returning", key, type(exc).__name__, "ProgrammingError")
            continue
        if situation == "relative":
            same = "same object" if back == [alice] else "another object"
            record("returning", f"{name}/identity", same, "same object")
        # sphinx_gallery_start_ignore
        else:
            assert back == [], "the renamed row does not match: nothing is returned"
        # sphinx_gallery_end_ignore
        wrong = key in ("returning/relative", "returning-populate/renamed")
        if RELEASE < (2, 0, 36) and "populate" in key and situation == "relative":
            wrong = True  # the returned row did not overwrite the 6 yet
        record("returning", key, counter(session, alice), "wrong" if wrong else "synced")
    del back

# %%
# .. _operations_measured_delete:
#
# Bulk DELETE
# -----------
#
# ``delete(User).where(User.name == 'alice')`` with each strategy, on a freshly loaded alice and
# on a fully expired one. ``'auto'`` and ``'evaluate'`` mark the fresh one deleted and skip the
# expired one (it stays persistent); ``'fetch'`` learns the deleted keys from the database and
# marks both; ``False`` marks neither. Whatever its state, the expired alice cannot reload: her
# next access raises ``ObjectDeletedError``.

del alice  # done with the last cell's objects: each table shows its own
for strategy in ("auto", "evaluate", "fetch", False):
    for situation in ("fresh", "expired"):
        reset()
        with Session(engine) as session:
            alice = session.get(User, 1)
            if situation == "expired":
                session.expire(alice)
            options = {"synchronize_session": strategy}
            session.execute(
                delete(User).where(User.name == "alice"), execution_options=options
            )
            skipped = strategy is False or (
                situation == "expired" and strategy != "fetch"
            )
            expected = "persistent" if skipped else "deleted"
            key = f"delete-{str(strategy).lower()}/{situation}"
            record("delete", key, state(alice), expected)
            if situation == "expired":
                try:
                    alice.counter  # noqa: B018 - reading tries to reload her
                    outcome = "reloaded"
                except ObjectDeletedError:
                    outcome = "ObjectDeletedError"
                record("delete", f"{key}-access", outcome, "ObjectDeletedError")

# %%
# .. _operations_measured_by_primary_key:
#
# Bulk UPDATE by primary key
# --------------------------
#
# ``session.execute(update(User), [...])`` with a list of dicts, each with the key: dicts with
# the same keys go out as one executemany ``UPDATE``; dicts with different keys as one statement
# each. Either way the loaded objects are updated in place.

del alice  # done with the last cell's objects: each table shows its own
many = []  # one flag per statement sent: True for an executemany


def note_executemany(conn, cursor, statement, parameters, context, executemany):
    many.append(executemany)


event.listen(engine, "before_cursor_execute", note_executemany)
SHAPES = {
    "same-keys": [{"id": 1, "counter": 6}, {"id": 2, "counter": 7}],
    "different-keys": [{"id": 1, "counter": 6}, {"id": 2, "name": "bo"}],
}
for name, rows in SHAPES.items():
    reset()
    with Session(engine) as session:
        alice = session.get(User, 1)
        many.clear()
        session.execute(update(User), rows)
        sent_as = "one executemany" if many == [True] else f"{len(many)} statements"
        expected = "one executemany" if name == "same-keys" else "2 statements"
        record("by_primary_key", f"by-pk/{name}-sql", sent_as, expected)
        record("by_primary_key", f"by-pk/{name}", counter(session, alice), "synced")
event.remove(engine, "before_cursor_execute", note_executemany)

# %%
# .. _operations_measured_bulk_methods:
#
# The legacy bulk methods
# -----------------------
#
# ``bulk_update_mappings()`` writes the row and leaves the loaded alice as she was: stale.
# ``bulk_save_objects([alice])`` with a change of hers sends the UPDATE but never marks it
# flushed: she is still dirty, and the next flush sends it again.

del alice  # done with the last cell's objects: each table shows its own
reset()
with Session(engine) as session:
    alice = session.get(User, 1)
    session.bulk_update_mappings(User, [{"id": 1, "counter": 9}])
    record("bulk_methods", "bulk-update-mappings/fresh", counter(session, alice), "stale")
    alice.counter = 9
    sent.clear()
    session.bulk_save_objects([alice])
    record("bulk_methods", "bulk-save-objects/sql", statements(), "UPDATE")
    dirty = "still dirty" if alice in session.dirty else "clean"
    record("bulk_methods", "bulk-save-objects/change", dirty, "still dirty")

# %%
# .. _operations_measured_commit_call:
#
# ``commit(synchronize_session=True)``
# ------------------------------------
#
# ``commit()`` takes no such parameter: Python raises before any SQL.

del alice  # done with the last cell's objects: each table shows its own
with Session(engine) as session:
    sent.clear()
    try:
        session.commit(synchronize_session=True)
        outcome = "accepted"
    except TypeError:
        outcome = "TypeError"
    record("commit_call", "commit-synchronize-session/call", outcome, "TypeError")
    record("commit_call", "commit-synchronize-session/sql", statements(), "no SQL")

# %%
# .. _operations_measured_locking:
#
# Locking with ``with_for_update()``
# ----------------------------------
#
# The other connection commits ``counter = 10`` after alice was loaded. On PostgreSQL and
# MariaDB ``SELECT ... FOR UPDATE`` locks the row and reads 10; SQLite has no row locks and
# SQLAlchemy leaves ``FOR UPDATE`` out, so there it is a plain SELECT, which reads 10 too.
# Either way the identity map keeps her 5, through ``session.get(..., with_for_update=True)``
# too; ``populate_existing`` or ``session.refresh(alice, with_for_update=True)`` bring in the 10.

LOCKS = {
    "select-for-update": lambda s, a: s.scalars(select(User).with_for_update()).all(),
    "get-for-update": lambda s, a: s.get(User, 1, with_for_update=True),
    "select-for-update-populate": lambda s, a: s.scalars(
        select(User).with_for_update().execution_options(populate_existing=True)
    ).all(),
    "refresh-for-update": lambda s, a: s.refresh(a, with_for_update=True),
}
for name, lock in LOCKS.items():
    reset()
    with Session(engine) as session:
        alice = session.get(User, 1)
        other_connection_sets(counter=10)
        sent.clear()
        lock(session, alice)
        locking = any(sql.rstrip().endswith("FOR UPDATE") for sql in sent)
        # sphinx_gallery_start_ignore
        assert locking == (engine.dialect.name != "sqlite"), (
            "FOR UPDATE everywhere but SQLite"
        )
        # sphinx_gallery_end_ignore
        expected = (
            "stale" if name in ("select-for-update", "get-for-update") else "synced"
        )
        record("locking", f"{name}/changed", counter(session, alice), expected)

# %%
# .. _operations_measured_sessions:
#
# Two sessions, and ``expire_on_commit=False``
# --------------------------------------------
#
# Session B loaded alice; session A commits ``counter = 10``. B's commit ends its transaction
# and expires alice: her next read is 10. With
# :doc:`expire_on_commit=False <../myths/expire_on_commit_false_fixes_detached>` B keeps the 5, and
# after B is closed a relationship it never loaded still cannot load:
# ``DetachedInstanceError``.

del alice  # done with the last cell's objects: each table shows its own
for name, expire_on_commit in (("two-sessions", True), ("expire-on-commit-false", False)):
    reset()
    with Session(engine, expire_on_commit=expire_on_commit) as b:
        alice = b.get(User, 1)
        with Session(engine) as a:
            a.get(User, 1).counter = 10
            a.commit()
        b.commit()
        b.scalars(select(User)).all()  # B's next query, in a new transaction
        expected = "synced" if expire_on_commit else "stale"
        record("sessions", f"{name}/after-commit", counter(b, alice), expected)
try:
    alice.addresses  # noqa: B018 - never loaded, and the session is closed
    outcome = "loaded"
except DetachedInstanceError:
    outcome = "DetachedInstanceError"
record(
    "sessions",
    "expire-on-commit-false/unloaded-relationship",
    outcome,
    "DetachedInstanceError",
)

# %%
# .. _operations_measured_closed:
#
# After ``close()``
# -----------------
#
# Values loaded before the session closed stay readable; an expired attribute cannot load
# any more: ``DetachedInstanceError``.

del alice  # done with the last cell's objects: each table shows its own
reset()
with Session(engine) as session:
    alice, bob = session.scalars(select(User).order_by(User.id)).all()
    session.expire(bob)
record(
    "closed", "closed/loaded-read", "readable" if alice.counter == 5 else "?", "readable"
)
try:
    bob.counter  # noqa: B018
    outcome = "readable"
except DetachedInstanceError:
    outcome = "DetachedInstanceError"
record("closed", "closed/expired-read", outcome, "DetachedInstanceError")

# %%
# .. _operations_measured_events:
#
# Events, criteria Python cannot run, ``Query.update()``
# ------------------------------------------------------
#
# A bulk UPDATE fires the session's ``do_orm_execute``, not the mapper's ``before_update``. With
# criteria the evaluator cannot run in Python (a SQL function, ``like()``, ``contains()``,
# ``between()``, a subquery), ``'evaluate'`` raises and ``'auto'`` falls back to ``'fetch'``.
# ``startswith()`` and ``endswith()`` also send ``LIKE``, but Python runs them: one ``UPDATE``.
# ``session.query(User).filter(...).update(...)`` sends the same SQL as
# ``session.execute(update(User)...)``.

del alice, bob  # done with the last cell's objects: each table shows its own
fired = []


def before_update(mapper, connection, target):
    fired.append("before_update")


def do_orm_execute(orm_execute_state):
    fired.append("do_orm_execute")


event.listen(User, "before_update", before_update)
event.listen(Session, "do_orm_execute", do_orm_execute)
reset()
with Session(engine) as session:
    session.execute(update(User).where(User.name == "alice").values(counter=9))
event.remove(User, "before_update", before_update)
event.remove(Session, "do_orm_execute", do_orm_execute)
for hook in ("before_update", "do_orm_execute"):
    expected = "fired" if hook == "do_orm_execute" else "not fired"
    record(
        "events",
        f"bulk-update/{hook}",
        "fired" if hook in fired else "not fired",
        expected,
    )

CRITERIA = {
    "unsupported-function": func.lower(User.name) == "alice",
    "unsupported-like": User.name.like("al%"),
    "unsupported-contains": User.name.contains("lic"),
    "unsupported-between": User.counter.between(1, 6),
    "unsupported-subquery": User.id.in_(
        select(users.c.id).where(users.c.name == "alice").scalar_subquery()
    ),
    "evaluable-startswith": User.name.startswith("al"),
    "evaluable-endswith": User.name.endswith("ice"),
}
for name, where in CRITERIA.items():
    for strategy in ("evaluate", "auto"):
        reset()
        with Session(engine) as session:
            alice = session.get(User, 1)
            sent.clear()
            options = {"synchronize_session": strategy}
            try:
                session.execute(
                    update(User).where(where).values(counter=9), execution_options=options
                )
                verdict = "synced" if alice.counter == 9 else "stale"
            except InvalidRequestError:
                verdict = "refused"
            unsupported = name.startswith("unsupported")
            expected = "refused" if strategy == "evaluate" and unsupported else "synced"
            record("events", f"{strategy}/{name}", verdict, expected)
            del alice
            if strategy == "auto":  # 'fetch': RETURNING, or a SELECT of the keys first
                fetch = (
                    "UPDATE RETURNING"
                    if engine.dialect.update_returning
                    else "SELECT, UPDATE"
                )
                record(
                    "events",
                    f"auto/{name}-sql",
                    statements(),
                    fetch if unsupported else "UPDATE",
                )

SQL = {}
for name in ("query-update", "execute-update"):
    reset()
    with Session(engine) as session:
        session.get(User, 1)
        sent.clear()
        if name == "query-update":
            session.query(User).filter(User.name == "alice").update({"counter": 9})
        else:
            session.execute(update(User).where(User.name == "alice").values(counter=9))
        SQL[name] = list(sent)
same = SQL["query-update"] == SQL["execute-update"]
record("events", "query-update/sql", "same SQL" if same else "different SQL", "same SQL")
