# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0.22",
# ]
# ///
"""
What a session holds until it ends: a connection, a transaction, your objects
=============================================================================

A session's first query begins a transaction and checks a connection out of the pool; a
read-only request that never commits keeps both until the session ends (``close()``,
``reset()`` or ``scoped_session.remove()``), and PostgreSQL shows the connection as
"idle in transaction". With a pool of one, the next request waits, then fails with
``TimeoutError: QueuePool limit of size 1 overflow 0 reached``. A batch job's identity map
holds what the job itself keeps referring to, and every object changed or deleted until it
is flushed (an added one waits in ``session.new``). ``expunge_all()`` empties the map,
``expire_all()`` keeps what the job keeps, and both drop, without a word, the changes not
yet flushed: ``flush()`` first.
"""

# %%
# Setup: a pool of one connection
# -------------------------------
#
# ``pool_size=1, max_overflow=0`` allows one connection at a time, and ``pool_timeout=0.1``
# makes a request that finds none wait a tenth of a second instead of the default 30. An
# in-memory SQLite database exists inside one connection only, so SQLite gets a file here
# (which SQLAlchemy 2.x pools with ``QueuePool``, as it does PostgreSQL and MariaDB).
# ``SessionLocal`` is the session factory a web app shares between its requests.

import os
import platform
import re
import tempfile

from sqlalchemy import String, create_engine, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    scoped_session,
    sessionmaker,
)
from sqlalchemy.pool import NullPool, QueuePool


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmpdir = None
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    tmpdir = tempfile.TemporaryDirectory()
    url = url.set(database=os.path.join(tmpdir.name, "example.db"))
engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.1)
# sphinx_gallery_start_ignore
assert isinstance(engine.pool, QueuePool), (
    "the engine pools its connections in a QueuePool"
)
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
with engine.begin() as connection:
    connection.execute(
        insert(User), [{"id": i, "name": f"user {i}"} for i in range(1, 101)]
    )
SessionLocal = sessionmaker(engine)
is_postgresql = engine.dialect.name == "postgresql"


def error_text(caught: Exception) -> str:
    message = re.split(r"\s*\(Background on this error", str(caught))[0]
    return f"{type(caught).__name__}: {re.sub(r' at 0x[0-9a-f]+', '', message)}"


# %%
# A read-only request keeps its transaction open
# ----------------------------------------------
#
# The request only reads, so it never commits. Its ``SELECT`` began a transaction (the
# session's "autobegin"), and the connection it runs on stays checked out of the pool: the
# pool's status reads 0 connections in the pool, 1 checked out.

request = SessionLocal()
first_users = request.scalars(select(User).order_by(User.id).limit(2)).all()
print(first_users)
print("in a transaction:", request.in_transaction())
print(engine.pool.status())
# sphinx_gallery_start_ignore
assert request.in_transaction(), "the SELECT began a transaction"
assert request.connection().in_transaction(), "on the session's connection"
assert engine.pool.checkedout() == 1, "its connection stays checked out of the pool"
# sphinx_gallery_end_ignore

# %%
# What PostgreSQL sees: "idle in transaction"
# -------------------------------------------
#
# On PostgreSQL, ``pg_stat_activity`` shows the request's connection, found by its
# backend process id, as ``idle in transaction``: a transaction the server keeps open (with
# its snapshot, and the locks it took) until the client ends it. This page reads it
# through a second engine, without a pool, when it runs on PostgreSQL (``DATABASE_URL``);
# on SQLite and MariaDB the cell only says so.

monitor = create_engine(url, poolclass=NullPool)


def server_state(pid: int) -> str:
    with monitor.connect() as connection:
        state = "SELECT state FROM pg_stat_activity WHERE pid = :pid"
        return connection.execute(text(state), {"pid": pid}).scalar_one()


if is_postgresql:
    backend_pid = request.scalar(text("SELECT pg_backend_pid()"))
    state_while_open = server_state(backend_pid)
    print("pg_stat_activity:", state_while_open)
else:
    print("pg_stat_activity is PostgreSQL's: not read on", engine.dialect.name)
# sphinx_gallery_start_ignore
if is_postgresql:
    assert state_while_open == "idle in transaction", (
        "PostgreSQL shows the open session's connection as idle in transaction"
    )
# sphinx_gallery_end_ignore

# %%
# The next request finds the pool empty
# -------------------------------------
#
# A second request asks for a connection; the pool has none to give, waits
# ``pool_timeout`` seconds, and raises its ``TimeoutError`` (``sqlalchemy.exc.TimeoutError``,
# not Python's). The default pool (5 connections, 10 more in overflow, a 30-second wait)
# does the same to the sixteenth request, after half a minute.

other = SessionLocal()
error = None
try:
    other.scalars(select(User).limit(1)).all()
except PoolTimeoutError as caught:
    error = caught
    print(error_text(caught))
other.close()
# sphinx_gallery_start_ignore
default_pool = create_engine(url).pool
assert (default_pool.size(), default_pool._max_overflow, default_pool.timeout()) == (
    5,
    10,
    30,
), "the default pool: 5 connections, 10 in overflow, 30 seconds of waiting"
assert error is not None and "QueuePool limit of size 1 overflow 0 reached" in str(
    error
), "a second session cannot get a connection while the first holds the only one"
# sphinx_gallery_end_ignore

# %%
# Ending the session gives the connection back
# --------------------------------------------
#
# ``close()`` rolls the transaction back and returns the connection to the pool, which
# keeps it for the next request. A read-only request loses nothing by the rollback. On
# PostgreSQL the same backend is now ``idle``.

request.close()
print("in a transaction:", request.in_transaction())
print(engine.pool.status())
# sphinx_gallery_start_ignore
assert not request.in_transaction(), "close() ended the transaction"
assert engine.pool.checkedout() == 0, "and returned the connection to the pool"
# sphinx_gallery_end_ignore
if is_postgresql:
    state_after_close = server_state(backend_pid)
    print("pg_stat_activity:", state_after_close)
# sphinx_gallery_start_ignore
if is_postgresql:
    assert state_after_close == "idle", "after close() the backend is idle"
# sphinx_gallery_end_ignore
with SessionLocal() as other:
    found = other.scalars(select(User).where(User.id == 1)).one()
print("the next request:", found)
# sphinx_gallery_start_ignore
assert found.name == "user 1", "the next request gets the connection back"
# sphinx_gallery_end_ignore

# %%
# ``close()``, ``reset()``, ``scoped_session.remove()``
# -----------------------------------------------------
#
# Three ways to end a session's work, run below on a session that loaded a user, changed
# it, and added another without flushing. Each rolls back (the unflushed changes are
# lost), returns the connection, empties the identity map and detaches the objects; the
# session can be used again, except after a final ``close()``. They differ in what comes
# next:
#
# - ``close()``: the session is reusable, unless it was made with
#   ``close_resets_only=False``, which makes ``close()`` final;
# - ``reset()`` (SQLAlchemy 2.0.22 and later): the same as ``close()``, but never final;
# - ``scoped_session.remove()`` closes the current thread's session and forgets it: the
#   next call of the registry gives a new session.
#
# ``SessionLocal(close_resets_only=False)`` below shows the final ``close()``. (Where a
# session begins and ends in a web app, a thread, a job: :doc:`a session per request
# <../concurrency_and_scope/session_per_request>`.)

Scoped = scoped_session(SessionLocal)
ends = {
    "close()": (SessionLocal, lambda session: session.close()),
    "reset()": (SessionLocal, lambda session: session.reset()),
    "scoped_session.remove()": (Scoped, lambda session: Scoped.remove()),
    "close(), close_resets_only=False": (
        lambda: SessionLocal(close_resets_only=False),
        lambda session: session.close(),
    ),
}
ended = {}
for name, (make, end) in ends.items():
    session = make()
    user = session.get(User, 1)
    user.name = "changed, never flushed"
    session.add(User(id=1000, name="added, never flushed"))
    end(session)
    outcome = {
        "checked out": engine.pool.checkedout(),
        "in map": len(session.identity_map),
        "detached": user not in session,
    }
    try:
        outcome["reused"] = session.scalar(select(User.name).where(User.id == 1))
    except Exception as caught:
        outcome["reused"] = error_text(caught)
    session.close()
    if make is Scoped:
        outcome["next Scoped() is new"] = Scoped() is not session
        Scoped.remove()
    ended[name] = outcome
    print(f"{name}: {outcome}")
with SessionLocal() as check:
    added_user = check.get(User, 1000)
print("the added user in the database:", added_user)
# sphinx_gallery_start_ignore
assert all(o["checked out"] == 0 for o in ended.values()), "each returned the connection"
assert all(o["in map"] == 0 and o["detached"] for o in ended.values()), (
    "each emptied the identity map and detached the objects"
)
reusable = ["close()", "reset()", "scoped_session.remove()"]
assert all(ended[name]["reused"] == "user 1" for name in reusable), (
    "after close(), reset() and remove() the session runs the next query; the change was lost"
)
assert ended["close(), close_resets_only=False"]["reused"].startswith(
    "InvalidRequestError: This Session has been permanently closed"
), "with close_resets_only=False, close() is final"
assert ended["scoped_session.remove()"]["next Scoped() is new"], (
    "after remove() the registry gives a new session"
)
assert added_user is None, "the unflushed new user was never written"
# sphinx_gallery_end_ignore

# %%
# A batch job: the identity map holds what the job holds
# ------------------------------------------------------
#
# A job reads 100 users in five batches of 20, in one session, and commits at the end. The
# :doc:`identity map <../session_lifecycle/identity_map>` refers to unchanged objects
# weakly: one that nothing else refers to leaves the map, at once on CPython, whose
# reference counting frees it as soon as the last reference goes (on other Pythons, when
# the garbage collector gets to it). A job that keeps nothing has an empty map after each
# batch; one that keeps every object (here in ``kept``, as a report or a cache would) has
# all of them in it. An object changed or deleted is held strongly until the flush that
# writes it: a job that changes every user and keeps none has its current batch in the
# map, until the next query's autoflush writes it. An object added is held too, but in
# ``session.new``, outside the map until its flush.


def batch_job(keep: bool, change: bool = False, between_batches=None):
    """Return the map's size after each batch, and how many users the job changed."""
    kept, sizes = [], []
    with SessionLocal() as session:
        for start in range(1, 101, 20):
            batch = session.scalars(
                select(User).where(User.id.between(start, start + 19))
            ).all()
            if change:
                for user in batch:
                    user.name = f"{user.name} (done)"
                del user  # the loop's last object: the job keeps none
            if keep:
                kept.extend(batch)
            del batch
            if between_batches is not None:
                between_batches(session)
            sizes.append(len(session.identity_map))
        session.commit()
    with engine.begin() as connection:
        done = User.name.endswith(" (done)")
        changed = connection.scalar(select(func.count()).where(done))
        undone = func.replace(User.name, " (done)", "")
        connection.execute(update(User).where(done).values(name=undone))
    return sizes, changed


keeps_nothing, _ = batch_job(keep=False)
keeps_all, _ = batch_job(keep=True)
changes_all, changed = batch_job(keep=False, change=True)
print("keeps nothing, objects in the map:", keeps_nothing)
print("keeps them all, objects in the map:", keeps_all)
print("changes them all, keeps none:", changes_all, "- users changed:", changed)
with SessionLocal() as session:
    for user in session.scalars(select(User).where(User.id <= 20)).all():
        session.delete(user)
    session.add_all([User(id=1000 + i, name="added") for i in range(1, 21)])
    del user
    held = {"in the map": len(session.identity_map), "in session.new": len(session.new)}
print("deletes 20, adds 20, keeps none, before the flush:", held)
# sphinx_gallery_start_ignore
if platform.python_implementation() == "CPython":
    assert keeps_nothing == [0, 0, 0, 0, 0], (
        "CPython: the map forgets at once the unchanged objects nobody refers to"
    )
assert keeps_all == [20, 40, 60, 80, 100], "and grows with the objects the job keeps"
assert changes_all == [20, 20, 20, 20, 20] and changed == 100, (
    "changed objects stay in the map until a flush writes them"
)
assert held == {"in the map": 20, "in session.new": 20}, (
    "deleted objects stay in the map until the flush; added ones wait in session.new"
)
# sphinx_gallery_end_ignore

# %%
# ``expire_all()`` and ``expunge_all()`` both drop unflushed changes
# ------------------------------------------------------------------
#
# ``expire_all()`` after each batch marks the objects' attributes to be loaded again: the
# objects the job keeps stay in the map. ``expunge_all()`` removes them all from the
# session: the map is empty after each batch (the objects the job kept live on, detached).
# Both also drop, without a word, every change not yet flushed: a job that changes its
# users and calls either after each batch commits none of its changes (and after
# ``expire_all()`` the changed objects, no longer held, leave the map too). ``flush()``
# first, and all of them are committed.

with_expire_all, _ = batch_job(keep=True, between_batches=lambda s: s.expire_all())
with_expunge_all, _ = batch_job(keep=True, between_batches=lambda s: s.expunge_all())
print("expire_all() after each batch:", with_expire_all)
print("expunge_all() after each batch:", with_expunge_all)
changing = {
    "expire_all()": lambda s: s.expire_all(),
    "expunge_all()": lambda s: s.expunge_all(),
    "flush(), then expire_all()": lambda s: (s.flush(), s.expire_all()),
    "flush(), then expunge_all()": lambda s: (s.flush(), s.expunge_all()),
}
committed, sizes = {}, {}
for name, between in changing.items():
    sizes[name], committed[name] = batch_job(
        keep=False, change=True, between_batches=between
    )
    print(f"changes them all, {name} after each batch:", sizes[name], end=" ")
    print("- users changed:", committed[name])
# sphinx_gallery_start_ignore
assert with_expire_all == [20, 40, 60, 80, 100], (
    "expire_all() kept in the map every object the job kept"
)
assert with_expunge_all == [0, 0, 0, 0, 0], (
    "expunge_all() emptied the map after each batch"
)
assert committed == {
    "expire_all()": 0,
    "expunge_all()": 0,
    "flush(), then expire_all()": 100,
    "flush(), then expunge_all()": 100,
}, (
    "expire_all() and expunge_all() dropped the unflushed changes; flush() first kept all 100"
)
if platform.python_implementation() == "CPython":
    assert sizes["expire_all()"] == [0, 0, 0, 0, 0], (
        "CPython: after expire_all() the changed objects the job did not keep left the map"
    )
# sphinx_gallery_end_ignore

# %%
# In one sentence
# ---------------
#
# End every session (``with SessionLocal() as session:``, or ``close()`` in a ``finally``)
# as soon as its unit of work is done, reads included, so its connection goes back to the
# pool; in a long job, keep only what the job needs, and ``flush()`` (or ``commit()``) before
# each ``expire_all()`` or ``expunge_all()`` between batches.
#
# Clean up: the page closes its engine's connections.

monitor.dispose()
engine.dispose()
if tmpdir is not None:
    tmpdir.cleanup()
