# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0.2",
# ]
# ///
"""
``StaleDataError`` and ``ObjectDeletedError``: the row changed under the session
================================================================================

``StaleDataError`` means a write matched fewer rows than the ORM expected: a flush's UPDATE
or versioned DELETE found no row with the key and version it loaded, or a many-to-many link
row it deleted was gone; outside a flush, ``bulk_update_mappings()`` or a bulk UPDATE by
primary key named a missing row (the bulk UPDATE only where the driver can count the rows of
an executemany: asyncpg cannot, and there the other rows are updated without an error), or
``merge()`` got an old version.
``ObjectDeletedError`` means an expired object's row is gone. Roll back, load the row again,
and either give up or re-apply your change to what is there.

A flush raises ``StaleDataError`` when its UPDATE (or, with a ``version_id_col``, its
DELETE) matches no row: another connection deleted the row, changed its primary key, or
bumped its version. The DELETE of a many-to-many link row raises it too, with no version,
when another connection removed that link first. Three calls can raise it with nothing to
flush. Reading an expired attribute of an object whose row is gone raises
``ObjectDeletedError``. Either way: catch it, roll back, and load the row again (it may be
gone for good).
"""

# %%
# Setup: our session, and another connection that commits behind its back
# -----------------------------------------------------------------------
#
# SQLite needs a file, so that two connections see one database; lock waits are capped as
# on :ref:`sphx_glr_auto_examples_concurrency_and_scope_lost_update.py`. ``behind_our_back()``
# runs one statement on :doc:`another connection <../session_lifecycle/two_sessions>` and commits
# it. ``start()`` closes the session
# and puts back one committed ``User`` and one ``VersionedUser``, both with id 1. ``Group``
# and its ``membership`` link table serve the many-to-many cell.

import os
import re
import tempfile
import warnings

from sqlalchemy import (
    Column,
    ForeignKey,
    String,
    Table,
    create_engine,
    delete,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import PendingRollbackError, SAWarning
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


class VersionedUser(Base):
    __tablename__ = "versioned_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"VersionedUser(id={self.id!r}, name={self.name!r})"


membership = Table(
    "membership",
    Base.metadata,
    Column("group_id", ForeignKey("user_group.id"), primary_key=True),
    Column("user_id", ForeignKey("user_account.id"), primary_key=True),
)


class Group(Base):
    __tablename__ = "user_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    members: Mapped[list[User]] = relationship(secondary=membership)


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmpdir = None
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    tmpdir = tempfile.TemporaryDirectory()
    url = url.set(database=os.path.join(tmpdir.name, "example.db"))
WAIT_LIMITS = {
    "sqlite": {"timeout": 2},
    "postgresql": {"options": "-c lock_timeout=1000"},
    "mysql": {"init_command": "SET SESSION innodb_lock_wait_timeout = 1"},
}
engine = create_engine(url, connect_args=WAIT_LIMITS.get(url.get_backend_name(), {}))
dialect = engine.dialect.name
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
session = Session(engine)


def behind_our_back(statement) -> None:
    with engine.begin() as other:
        other.execute(statement)


def start() -> None:
    session.close()
    with engine.begin() as setup:
        for table in (User.__table__, VersionedUser.__table__):
            setup.execute(table.delete())
        setup.execute(insert(User), {"id": 1, "name": "alice"})
        setup.execute(insert(VersionedUser), {"id": 1, "name": "alice", "version": 1})


def state_of(obj) -> str:
    states = ("transient", "pending", "persistent", "deleted", "detached")
    return next(name for name in states if getattr(inspect(obj), name))


def message_of(error: Exception) -> str:
    message = re.sub(r" at 0x[0-9a-f]+", "", str(error).splitlines()[0])
    message = re.split(r"\s*\(Background on this error", message)[0]
    return f"{type(error).__name__}: {message}"


# %%
# The row was deleted before our UPDATE
# -------------------------------------
#
# Our session loads alice; another connection deletes her row and commits; we rename her.
# The flush sends ``UPDATE user_account SET name=? WHERE user_account.id = ?``, which
# matches no row, and the ORM, which expected one, raises. No :doc:`version_id_col <lost_update>`
# is needed
# for this: ``User`` has none, and the flush still checked the UPDATE's row count.

start()
alice = session.get(User, 1)
behind_our_back(delete(User).where(User.id == 1))
alice.name = "alicia"
error = None
try:
    session.flush()
except StaleDataError as caught:
    error = caught
    print(message_of(caught))
# sphinx_gallery_start_ignore
assert error is not None, "the UPDATE of a deleted row raises StaleDataError"
# sphinx_gallery_end_ignore
expected = "UPDATE statement on table 'user_account' expected to update 1 row(s)"
# sphinx_gallery_start_ignore
assert expected in str(error), "the message says the UPDATE matched no row"
# sphinx_gallery_end_ignore

# %%
# The session refuses to go on until you roll back
# ------------------------------------------------
#
# A failed flush leaves the session's transaction inactive: the next query raises
# ``PendingRollbackError``, asking for ``rollback()``. After the rollback, loading the row
# again says what happened: ``get()`` returns ``None``, the row is gone.

try:
    session.scalars(select(User)).all()
except PendingRollbackError as caught:
    error = caught
    print(message_of(caught))
# sphinx_gallery_start_ignore
assert isinstance(error, PendingRollbackError), "the session waits for a rollback"
# sphinx_gallery_end_ignore
session.rollback()
found = session.get(User, 1)
print("after the rollback, get() finds:", found)
# sphinx_gallery_start_ignore
assert found is None, "the row is gone: nothing to rename"
# sphinx_gallery_end_ignore

# %%
# The primary key changed elsewhere: the same error
# -------------------------------------------------
#
# The ORM finds the row by the primary key it loaded. Another connection changes alice's id
# from 1 to 10: our UPDATE ``WHERE user_account.id = 1`` matches nothing. After the rollback
# the row is there under its new key.

start()
alice = session.get(User, 1)
behind_our_back(update(User).where(User.id == 1).values(id=10))
alice.name = "alicia"
error = None
try:
    session.flush()
except StaleDataError as caught:
    error = caught
    print(message_of(caught))
# sphinx_gallery_start_ignore
assert error is not None and "0 were matched" in str(error), "the UPDATE missed"
# sphinx_gallery_end_ignore
session.rollback()
found = session.get(User, 1), session.get(User, 10)
print("id 1:", found[0], "- id 10:", found[1])
# sphinx_gallery_start_ignore
assert found[0] is None and found[1] is not None, "the row moved from key 1 to key 10"
# sphinx_gallery_end_ignore

# %%
# The row was deleted before our DELETE: a warning, or an error with a version
# ----------------------------------------------------------------------------
#
# We delete both alices, and another connection deletes both rows first. The plain
# ``User``'s DELETE matches no row and only warns (``SAWarning``): the row is gone, as we
# wanted. The ``VersionedUser``'s DELETE (``WHERE id = ? AND version = ?``) raises
# ``StaleDataError``, with a message that still speaks of a warning.

start()
alice, versioned_alice = session.get(User, 1), session.get(VersionedUser, 1)
print("loaded:", alice, versioned_alice)
session.delete(alice)
session.delete(versioned_alice)
behind_our_back(delete(User))
behind_our_back(delete(VersionedUser))
error = None
with warnings.catch_warnings(record=True) as caught_warnings:
    warnings.simplefilter("always")
    try:
        session.flush()
    except StaleDataError as caught:
        error = caught
for warning in caught_warnings:
    print(f"{warning.category.__name__}: {warning.message}")
print(message_of(error))
# sphinx_gallery_start_ignore
assert [w.category for w in caught_warnings] == [SAWarning], "the plain DELETE warned"
# sphinx_gallery_end_ignore
warned = str(caught_warnings[0].message)
# sphinx_gallery_start_ignore
assert "expected to delete 1 row(s); 0 were matched" in warned, "it says no row matched"
assert "DELETE statement on table 'versioned_user'" in str(error), "versioned: an error"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# A many-to-many link row deleted first: an error, with no version
# ----------------------------------------------------------------
#
# Group 1 has alice as a member. Our session loads the group and its members; another
# connection deletes the ``membership`` row; we remove alice from ``group.members``. The
# flush's DELETE of the link row matches no row, and unlike the plain ``User`` DELETE above,
# this raises ``StaleDataError``, though neither table has a version.

start()
behind_our_back(insert(Group).values(id=1))
behind_our_back(insert(membership).values(group_id=1, user_id=1))
group = session.get(Group, 1)
alice = group.members[0]
behind_our_back(delete(membership))
group.members.remove(alice)
error = None
try:
    session.flush()
except StaleDataError as caught:
    error = caught
    print(message_of(caught))
# sphinx_gallery_start_ignore
expected = (
    "DELETE statement on table 'membership' expected to delete 1 row(s); Only 0 were"
)
assert error is not None and expected in str(error), (
    "the link row's DELETE matched no row and raised StaleDataError"
)
# sphinx_gallery_end_ignore
session.rollback()

# %%
# ``ObjectDeletedError``: an expired object whose row is gone
# -----------------------------------------------------------
#
# ``commit()`` expires alice; another connection deletes her row. Reading ``alice.name``
# sends the SELECT by primary key, gets no row, and raises ``ObjectDeletedError``. Nothing
# was flushed, so the session goes on working, and alice stays persistent (expired) in it.
# ``get()`` asks the database again, finds no row, returns ``None`` and marks alice
# deleted.

start()
alice = session.get(User, 1)
session.commit()
behind_our_back(delete(User).where(User.id == 1))
error = None
try:
    print(alice.name)
except ObjectDeletedError as caught:
    error = caught
    print(message_of(caught))
# sphinx_gallery_start_ignore
assert error is not None, "reading an expired attribute of a deleted row raises"
assert "has been deleted, or its row is otherwise" in str(error), "it says: row gone"
# sphinx_gallery_end_ignore
found = session.scalars(select(User)).all()
print("alice is still", state_of(alice), "- a query finds:", found)
# sphinx_gallery_start_ignore
assert found == [], "the session goes on working"
assert state_of(alice) == "persistent", "the error alone does not remove alice"
# sphinx_gallery_end_ignore
print("get() finds:", session.get(User, 1), "- alice is now", state_of(alice))
# sphinx_gallery_start_ignore
assert state_of(alice) == "deleted", "get() found no row and marked alice deleted"
# sphinx_gallery_end_ignore

# %%
# Inside one transaction, MariaDB still shows the deleted row
# -----------------------------------------------------------
#
# ``expire()`` without a commit keeps our transaction. PostgreSQL (READ COMMITTED) and
# SQLite see the delete on the reload, and raise. On SQLite the box's ``BEGIN (implicit)``
# is SQLAlchemy's own, logical begin: pysqlite sends no BEGIN before a SELECT, so our
# connection holds no transaction, whatever isolation level it reports. MariaDB's REPEATABLE
# READ reads from the snapshot our first SELECT took: the row is still there, and alice
# reloads the old values, until our transaction ends.

start()
alice = session.get(User, 1)
level = session.connection().get_isolation_level()
print("our isolation level:", level)
if dialect == "sqlite":
    reading = session.connection().connection.driver_connection
    # sphinx_gallery_start_ignore
    assert level == "SERIALIZABLE", "SQLite reports SERIALIZABLE"
    assert not reading.in_transaction, "pysqlite sent no BEGIN for our read"
    # sphinx_gallery_end_ignore
else:
    expected = {"mysql": "REPEATABLE READ", "postgresql": "READ COMMITTED"}[dialect]
    # sphinx_gallery_start_ignore
    assert level == expected, f"{dialect} defaults to {expected}"
    # sphinx_gallery_end_ignore
behind_our_back(delete(User).where(User.id == 1))
session.expire(alice)
error = None
try:
    name = alice.name
    print("reloaded:", alice)
except ObjectDeletedError as caught:
    error = caught
    print(message_of(caught))
# sphinx_gallery_start_ignore
if dialect == "mysql":
    assert error is None and alice.name == "alice", "MariaDB: the snapshot still has it"
else:
    assert isinstance(error, ObjectDeletedError), f"{dialect}: the reload finds no row"
# sphinx_gallery_end_ignore
session.rollback()
found = session.get(User, 1)
print("after the rollback:", found)
# sphinx_gallery_start_ignore
assert found is None, "a new transaction does not find the row"
# sphinx_gallery_end_ignore

# %%
# .. _stale_data_error_without_flush:
#
# Without a flush: bulk UPDATE by primary key, ``bulk_update_mappings()``, ``merge()``
# ------------------------------------------------------------------------------------
#
# Nothing is pending in the session, and three calls raise ``StaleDataError`` themselves. An
# ORM bulk UPDATE by primary key (``session.execute(update(User), [dicts])``, :doc:`its page
# <../synchronize_session/bulk_update_by_primary_key>`) and ``bulk_update_mappings()``
# expect every dict to match one row: a dict naming a missing id raises once the UPDATE has
# run. The bulk UPDATE sends its two dicts as one executemany, whose rows the ORM counts only
# where the dialect can (``dialect.supports_sane_multi_rowcount``): SQLite's can; asyncpg's
# cannot, and there the same call raises nothing, with the row that exists updated (which
# writes are counted where, and what a driver with no usable count does to a version check:
# :ref:`sphx_glr_auto_examples_concurrency_and_scope_stale_data_rowcount.py`).
# They leave the session in different states. After the bulk UPDATE the transaction is
# still active, with the row that exists updated (alice reads "alicia"): a ``commit()`` now
# would keep that. ``bulk_update_mappings()`` fails as a flush does: the session refuses
# to go on until ``rollback()``. ``merge()`` of a ``VersionedUser`` sent back with version
# 1, after another writer moved the row to version 2, raises before writing anything. Roll
# back after each.

start()
counts_executemany = engine.dialect.supports_sane_multi_rowcount
print(f"{engine.dialect.driver} counts an executemany's rows:", counts_executemany)
print("asyncpg does:", pg_asyncpg.dialect.supports_sane_multi_rowcount)
behind_our_back(update(VersionedUser).values(name="ally", version=2))
calls = {
    "update(User), [dicts]": lambda: session.execute(
        update(User), [{"id": 1, "name": "alicia"}, {"id": 2, "name": "bob"}]
    ),
    "bulk_update_mappings()": lambda: session.bulk_update_mappings(
        User, [{"id": 2, "name": "bob"}]
    ),
    "merge()": lambda: session.merge(VersionedUser(id=1, name="alice!", version=1)),
}
errors, in_transaction = {}, {}
for name, call in calls.items():
    # sphinx_gallery_start_ignore
    assert not (session.new or session.dirty or session.deleted), "nothing to flush"
    # sphinx_gallery_end_ignore
    try:
        call()
    except StaleDataError as caught:
        errors[name] = caught
        print(f"{name}: {message_of(caught)}")
    try:
        in_transaction[name] = session.scalar(select(User.name).where(User.id == 1))
    except PendingRollbackError:
        in_transaction[name] = "PendingRollbackError"
    print("    then, in the same transaction, user 1 reads:", in_transaction[name])
    session.rollback()
alice, versioned_alice = session.get(User, 1), session.get(VersionedUser, 1)
print("after the rollbacks:", alice, versioned_alice)
# sphinx_gallery_start_ignore
assert pg_asyncpg.dialect.supports_sane_multi_rowcount is False, (
    "asyncpg's dialect cannot count the rows of an executemany"
)
if dialect == "sqlite":
    assert counts_executemany, "SQLite's dialect counts the rows of an executemany"
if counts_executemany:
    assert sorted(errors) == sorted(calls), (
        "each of the three calls raised StaleDataError"
    )
    assert "expected to update 2 row(s); 1 were matched" in str(
        errors["update(User), [dicts]"]
    ), "the bulk UPDATE by primary key says one of its two rows was missing"
else:
    assert sorted(errors) == ["bulk_update_mappings()", "merge()"], (
        "the dialect cannot count an executemany's rows: the bulk UPDATE raised nothing"
    )
assert "expected to update 1 row(s); 0 were matched" in str(
    errors["bulk_update_mappings()"]
), "bulk_update_mappings() says its row was missing"
assert "does not match existing version '2'" in str(errors["merge()"]), (
    "merge() says the version sent back is not the row's"
)
assert in_transaction == {
    "update(User), [dicts]": "alicia",
    "bulk_update_mappings()": "PendingRollbackError",
    "merge()": "alice",
}, (
    "the bulk UPDATE left its UPDATE of id 1 in an active transaction, "
    "bulk_update_mappings() left the session waiting for rollback(), merge() wrote nothing"
)
assert inspect(alice).dict["name"] == "alice", "the rollback undid the UPDATE of id 1"
assert inspect(versioned_alice).dict["name"] == "ally", "merge() wrote nothing"
# sphinx_gallery_end_ignore

# %%
# What to do: catch, roll back, load again, decide
# ------------------------------------------------
#
# A unit of work that may lose a race catches ``StaleDataError``, rolls back, loads the row
# again and decides: give up if it is gone, or apply its change to the fresh row. Here
# another connection renames the versioned alice (and bumps her version) between our read
# and our commit, once; the retry sees the new name and succeeds.

start()
rename = update(VersionedUser).values(name="ally", version=VersionedUser.version + 1)
meanwhile = [rename]


def add_suffix(user_id: int, suffix: str) -> str:
    with Session(engine) as work:
        for attempt in (1, 2, 3):
            user = work.get(VersionedUser, user_id)
            if user is None:
                return "gone"
            user.name += suffix
            while meanwhile:
                behind_our_back(meanwhile.pop())
            try:
                work.commit()
                return f"attempt {attempt}: {user.name}"
            except StaleDataError as caught:
                print(f"attempt {attempt}:", message_of(caught))
                work.rollback()
    return "gave up"


outcome = add_suffix(1, " (admin)")
print(outcome)
# sphinx_gallery_start_ignore
assert outcome == "attempt 2: ally (admin)", "the retry changed the fresh row"
# sphinx_gallery_end_ignore
behind_our_back(delete(VersionedUser))
outcome = add_suffix(1, " (admin)")
print("when the row is gone:", outcome)
# sphinx_gallery_start_ignore
assert outcome == "gone", "a missing row ends the retries"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session and the engine's connections, and remove the temporary
# database file where there is one.

session.close()
engine.dispose()
if tmpdir is not None:
    tmpdir.cleanup()
