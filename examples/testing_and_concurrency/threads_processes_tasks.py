# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "sqlalchemy[asyncio]>=2.0.17",
#     "aiosqlite",
# ]
# ///
"""
One session per thread, per process, per task
=============================================

A ``Session`` and its connection serve one thread, one process and one asyncio task at a time.
Shared across threads, an in-memory SQLite connection raises "SQLite objects created in a
thread can only be used in that same thread"; a file database's, used by one thread after
another, raises nothing (the threads share one transaction), and used by threads at the
same time fails unpredictably; a session another thread is still connecting raises "This
session is provisioning a new connection; concurrent operations are not permitted". After
``fork()`` the child's pool hands out the parent's connections: call
``engine.dispose(close=False)`` first in the child. One ``AsyncSession`` in
``asyncio.gather()`` raises the same provisioning error, or, with a connection already
open, nothing: the two tasks' statements run one after the other, in one transaction
(while one task streams a result, asyncpg refuses the other's statement: "another
operation is in progress"). A background task takes ids and opens its own session: the request's
objects are detached, and its closed session starts a transaction nobody commits.
"""

# %%
# Setup: a SQLite file that threads, processes and tasks can share
# ----------------------------------------------------------------
#
# One table of users in a temporary file. ``in_a_thread()`` runs a function in a new thread,
# waits for it, and returns what it returned or the error it raised; ``scrub()`` prints an
# error's first line without memory addresses and thread ids (they change from run to run).

import asyncio
import multiprocessing
import os
import re
import tempfile
import threading

import sqlalchemy
from sqlalchemy import String, create_engine, event, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.orm.exc import DetachedInstanceError
from sqlalchemy.pool import AsyncAdaptedQueuePool

RELEASE = tuple(int(p) for p in re.findall(r"\d+", sqlalchemy.__version__)[:3])


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


tmp = tempfile.TemporaryDirectory()
DATABASE = os.path.join(tmp.name, "app.db")
engine = create_engine(f"sqlite:///{DATABASE}")
Base.metadata.create_all(engine)
SessionLocal = sessionmaker(engine)
# sphinx_gallery_start_ignore
threads_before = set(threading.enumerate())
# sphinx_gallery_end_ignore


def in_a_thread(function):
    outcome = {}

    def run():
        try:
            outcome["result"] = function()
        except Exception as caught:
            outcome["error"] = caught

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    # sphinx_gallery_start_ignore
    assert not thread.is_alive(), "the thread finished"
    # sphinx_gallery_end_ignore
    return outcome.get("error", outcome.get("result"))


def scrub(error: Exception) -> str:
    message = re.split(r"\s*\(Background on this error", str(error))[0].splitlines()[0]
    message = re.sub(r" at 0x[0-9a-f]+", "", message)
    message = re.sub(r"thread id \d+", "thread id N", message)
    return f"{type(error).__name__}: {message}"


def names_in_database() -> list[str]:
    with SessionLocal() as check:
        return list(check.scalars(select(User.name).order_by(User.id)))


# %%
# One session, two threads, an in-memory database
# -----------------------------------------------
#
# The session below holds a connection (its ``flush()`` began a transaction on it) when a
# second thread runs a query through it. The query goes to that connection, and
# Python's ``sqlite3`` refuses: it checks that a connection is used in the thread that made
# it. SQLAlchemy leaves that check on for ``sqlite://``, whose pool keeps one connection
# per thread (:doc:`in tests, that means one database per thread
# <sessions_in_tests>`).

memory = create_engine("sqlite://")
Base.metadata.create_all(memory)
session = Session(memory)
session.add(User(id=1, name="alice"))
session.flush()
error = in_a_thread(lambda: session.scalars(select(User)).all())
print(scrub(error))
session.close()
memory.dispose()
# sphinx_gallery_start_ignore
assert type(memory.pool).__name__ == "SingletonThreadPool", "one connection per thread"
assert memory.dialect.create_connect_args(memory.url)[1]["check_same_thread"], (
    "SQLAlchemy leaves sqlite3's thread check on for sqlite://"
)
assert isinstance(error, SQLAlchemyError), "the query in the other thread raised"
assert "SQLite objects created in a thread can only be used in that same thread" in str(
    error
), "sqlite3 refused the connection in another thread"
# sphinx_gallery_end_ignore

# %%
# The same on a file database: no error, one transaction
# ------------------------------------------------------
#
# For a database file SQLAlchemy turns that check off (``check_same_thread=False``) and
# pools connections across threads. The shared session now works from the second thread,
# on the same connection and in the same transaction: the second thread's ``commit()``
# commits what the first thread only flushed. Nothing warns; a session shared by threads
# (a global one, or one kept on an object every request uses) fails this way. Here the
# threads take turns; threads using the session at the same time fail unpredictably
# (``IllegalStateChangeError``, errors about an inactive or prepared transaction, varying
# from run to run: not run here).

session = Session(engine)
session.add(User(id=1, name="alice"))
session.flush()  # the first thread's work, not committed
seen = in_a_thread(lambda: session.scalars(select(User.name)).all())
in_a_thread(session.commit)  # the second thread's "own" commit
committed = names_in_database()
print("the second thread saw:", seen, "- committed:", committed)
session.close()
# sphinx_gallery_start_ignore
assert not engine.dialect.create_connect_args(engine.url)[1]["check_same_thread"], (
    "SQLAlchemy turns sqlite3's thread check off for a database file"
)
assert type(engine.pool).__name__ == "QueuePool", "and pools its connections"
assert seen == ["alice"], "the second thread saw the first thread's flushed row"
assert committed == ["alice"], "and its commit committed it"
# sphinx_gallery_end_ignore

# %%
# The session's own guard: a connection being opened
# --------------------------------------------------
#
# While one thread is inside a session's first connection (here held there by a pool
# ``connect`` listener until the main thread has tried), the session refuses a second
# statement, ``commit()``, and ``close()``: the first two with "This session is
# provisioning a new connection", ``close()`` with ``IllegalStateChangeError``. That
# ``close()`` error, not the provisioning message, is the one reported in sqlalchemy issue
# #10092, where ``asyncio.gather()`` closed a session that another task was connecting.
# The guard (SQLAlchemy 2.0.17 and later, which this page needs) only guards that moment:
# on a connection already open, nothing stops a second thread (the cell above).

slow = create_engine(f"sqlite:///{DATABASE}")
connecting, go_on = threading.Event(), threading.Event()


@event.listens_for(slow, "connect")
def wait_inside_connect(dbapi_connection, connection_record):
    connecting.set()
    go_on.wait(timeout=10)


session = Session(slow)
first = threading.Thread(target=lambda: session.scalars(select(User)).all())
first.start()
connecting.wait(timeout=10)
errors = []
for attempt in (lambda: session.execute(select(User)), session.commit, session.close):
    try:
        attempt()
    except SQLAlchemyError as caught:
        errors.append(caught)
        print(scrub(caught))
go_on.set()
first.join(timeout=10)
session.close()
slow.dispose()
# sphinx_gallery_start_ignore
assert not first.is_alive(), "the first thread finished"
assert [type(e).__name__ for e in errors] == [
    "InvalidRequestError",
    "InvalidRequestError",
    "IllegalStateChangeError",
], "execute() and commit() were refused, then close()"
assert all("concurrent operations are not permitted" in str(e) for e in errors[:2]), (
    "the session is provisioning a new connection"
)
assert "'_connection_for_bind()' is already in progress" in str(errors[2]), (
    "close() cannot run while the connection is being opened"
)
# sphinx_gallery_end_ignore

# %%
# After ``fork()``: the child's pool holds the parent's connections
# -----------------------------------------------------------------
#
# A pool is copied into a forked process with everything in it, so the child's first
# checkout returns the connection the parent opened (the same object, copied: no new
# connection is made, the pool's ``connect`` event does not fire). Two processes then use
# one database connection: on PostgreSQL or MariaDB one socket (SQLAlchemy's pooling
# documentation warns that pooled connections must not be shared with a child process; no
# such damage is run here). ``engine.dispose(close=False)``, first thing in the
# child, empties the child's pool without closing the parent's connections, and the child
# opens its own. Each child sends its findings back through a pipe (``fork`` is a start
# method of Linux and macOS; Windows has none).

with engine.connect() as connection:
    parents_connection = id(connection.connection.dbapi_connection)  # back in the pool
new_connections: list[int] = []


@event.listens_for(engine, "connect")
def count_new_connections(dbapi_connection, connection_record):
    new_connections.append(os.getpid())


def child(pipe, dispose_first: bool) -> None:
    if dispose_first:
        engine.dispose(close=False)
    with engine.connect() as connection:
        same = id(connection.connection.dbapi_connection) == parents_connection
        users = connection.scalar(select(func.count()).select_from(User))
    pipe.send({"parent's connection": same, "new": len(new_connections), "users": users})
    pipe.close()


fork = multiprocessing.get_context("fork")
found = {}
for dispose_first in (False, True):
    receiving, sending = fork.Pipe(duplex=False)
    process = fork.Process(target=child, args=(sending, dispose_first))
    process.start()
    found[dispose_first] = receiving.recv() if receiving.poll(10) else None
    process.join(timeout=10)
    print(
        f"dispose(close=False) first: {dispose_first!s:5}  child got",
        found[dispose_first],
    )
with engine.connect() as connection:
    still_the_same = id(connection.connection.dbapi_connection) == parents_connection
print("the parent's connection is still pooled and open:", still_the_same)
# sphinx_gallery_start_ignore
assert not multiprocessing.active_children(), "both child processes ended"
assert process.exitcode == 0, "the child process exited cleanly"
assert found[False] == {"parent's connection": True, "new": 0, "users": 1}, (
    "without dispose(), the child's checkout returned the parent's pooled connection"
)
assert found[True] == {"parent's connection": False, "new": 1, "users": 1}, (
    "after dispose(close=False), the child opened a connection of its own"
)
assert still_the_same and new_connections == [], "the parent kept its own connection"
# sphinx_gallery_end_ignore

# %%
# One ``AsyncSession`` in ``asyncio.gather()``
# --------------------------------------------
#
# Two tasks share a fresh ``AsyncSession``: the first starts to connect, and while it waits
# the second one asks for the same connection and gets the provisioning error
# (``return_exceptions=True`` keeps ``gather()`` from leaving before the first task ends,
# then closing the session under it, as in issue #10092). Once the session holds a
# connection, the same ``gather()`` raises nothing: the statements run one after the
# other (aiosqlite here; on PostgreSQL 15 asyncpg and psycopg raised nothing either, run
# with SQLAlchemy 2.0.59 and 2.1.9, not in this page's build), but both tasks are in one
# transaction, on one connection. Give each task its own session: its own connection,
# its own transaction. The engine is given a pool that keeps connections
# (``AsyncAdaptedQueuePool``, the default for an aiosqlite file from SQLAlchemy 2.0.38;
# earlier releases default to ``NullPool``, which keeps none), so that the cells below
# can count the connections checked out.

runner = asyncio.Runner()
async_engine = create_async_engine(
    f"sqlite+aiosqlite:///{DATABASE}", poolclass=AsyncAdaptedQueuePool
)
# sphinx_gallery_start_ignore
default_pool = type(create_async_engine(f"sqlite+aiosqlite:///{DATABASE}").pool).__name__
if RELEASE >= (2, 0, 38):
    assert default_pool == "AsyncAdaptedQueuePool", (
        "2.0.38 and later: an aiosqlite file's default pool keeps connections"
    )
else:
    assert default_pool == "NullPool", (
        "before 2.0.38: an aiosqlite file's default pool is NullPool"
    )
# sphinx_gallery_end_ignore
AsyncSessionLocal = async_sessionmaker(async_engine)


async def count_users(session) -> int:
    return await session.scalar(select(func.count()).select_from(User))


def shown(results: list) -> list:
    return [scrub(r) if isinstance(r, Exception) else r for r in results]


async def one_session_for_two_tasks():
    async with AsyncSessionLocal() as session:
        fresh = await asyncio.gather(
            count_users(session), count_users(session), return_exceptions=True
        )
    async with AsyncSessionLocal() as session:
        await count_users(session)  # the session now holds a connection
        connected = await asyncio.gather(
            count_users(session), count_users(session), return_exceptions=True
        )
        connections = await asyncio.gather(session.connection(), session.connection())
        shared = connections[0].sync_connection is connections[1].sync_connection
        shared = shared and session.in_transaction()
    return fresh, connected, shared


async def a_session_per_task():
    turn = asyncio.Event()

    async def task(first: bool):
        if not first:
            await turn.wait()  # turns: so that the SQL below comes in one order
        async with AsyncSessionLocal() as session:
            count = await count_users(session)
        turn.set()
        return count

    return await asyncio.gather(task(True), task(False))


fresh, connected, shared = runner.run(one_session_for_two_tasks())
print("a fresh session:", *shown(fresh), sep="\n  ")
print("a session holding a connection:", shown(connected))
print("both tasks on one connection, in one transaction:", shared)
own = runner.run(a_session_per_task())
print("a session per task:", own)
# sphinx_gallery_start_ignore
assert fresh[0] == 1 and isinstance(fresh[1], SQLAlchemyError), "the second task failed"
assert "concurrent operations are not permitted" in str(fresh[1]), (
    "with the provisioning error"
)
assert connected == [1, 1], "a session holding a connection raised nothing"
assert shared, "both tasks ran on the session's one connection, in its one transaction"
assert own == [1, 1], "a session per task works"
# sphinx_gallery_end_ignore

# %%
# A streamed result, and another task's statement meanwhile
# ---------------------------------------------------------
#
# That holds for results that ``execute()`` fetches whole. A result streamed with
# ``AsyncSession.stream()`` keeps its cursor open on the session's connection between
# fetches, and a statement another task runs meanwhile goes to that connection too.
# aiosqlite runs both (below), and so does psycopg; asyncpg refuses the other task's
# statement with ``InterfaceError: (sqlalchemy.dialects.postgresql.asyncpg.InterfaceError)
# cannot perform operation: another operation is in progress`` (this cell's code, run on
# PostgreSQL 15 with SQLAlchemy 2.0.59 and 2.1.9, asyncpg 0.32 and psycopg 3.3, not in
# this page's build; 2.0 writes the driver's class before the message).

NUMBERS = text(
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)"
    " SELECT i FROM n"
)


async def stream_while_another_task_queries():
    streamed = 0

    async def stream_numbers(session) -> int:
        nonlocal streamed
        result = await session.stream(NUMBERS, execution_options={"yield_per": 100})
        async for _ in result:
            streamed += 1
            if streamed % 100 == 0:
                await asyncio.sleep(0)  # lets the other task run
        return streamed

    async def query_meanwhile(session) -> list[int]:
        seen = []
        for _ in range(3):
            seen.append(streamed)  # rows streamed so far
            await count_users(session)
            await asyncio.sleep(0)
        return seen

    async with AsyncSessionLocal() as session:
        await count_users(session)  # the session holds a connection
        return await asyncio.gather(
            stream_numbers(session), query_meanwhile(session), return_exceptions=True
        )


rows, seen = runner.run(stream_while_another_task_queries())
print("rows streamed:", rows)
print("the other task's statements ran while the stream was open:", 0 < seen[-1] < rows)
# sphinx_gallery_start_ignore
assert rows == 1000 and isinstance(seen, list), (
    "aiosqlite: the streamed result and the other task's statements raised nothing"
)
assert 0 < seen[-1] < rows, "the other task's statement ran while the stream was open"
# sphinx_gallery_end_ignore

# %%
# A background task given the request's object, or its session
# -------------------------------------------------------------
#
# A request creates two background tasks and returns; its ``async with`` block closes the
# session, and the tasks start once the response is sent (``response_sent``, as FastAPI's
# ``BackgroundTasks`` do; a task that ran while ``close()`` was still under way would meet
# other errors, depending on timing). Given the request's ``User``, the task finds it
# detached and expired by the commit: ``DetachedInstanceError``. Given the request's session,
# it finds a closed session, which starts again as if new: its read and ``flush()`` work,
# but nobody commits them, and its connection stays checked out of the pool until someone
# closes that session (when FastAPI runs the code after a dependency's ``yield``: :ref:`on
# the session-per-request page
# <sphx_glr_auto_examples_concurrency_and_scope_session_per_request.py>`).


response_sent = asyncio.Event()


async def send_welcome(user: User) -> str:
    await response_sent.wait()  # a background task runs after the response
    return f"welcome, {user.name}"


async def log_visit(session, user_id: int) -> None:
    await response_sent.wait()
    user = await session.get(User, user_id)
    user.name = f"{user.name} (visited)"
    await session.flush()


async def request():
    async with AsyncSessionLocal() as session:
        user = User(id=2, name="bob")
        session.add(user)
        await session.commit()
        tasks = [
            asyncio.create_task(send_welcome(user)),
            asyncio.create_task(log_visit(session, 2)),
        ]
    return session, tasks


async def serve(request):
    response_sent.clear()
    session, tasks = await request()
    response_sent.set()
    return session, await asyncio.gather(*tasks, return_exceptions=True)


request_session, (welcome, visit) = runner.run(serve(request))
print(scrub(welcome))
print("log_visit() raised nothing:", visit is None)
checked_out = async_engine.pool.checkedout()
print("connections checked out after the request:", checked_out)
in_database = names_in_database()
print("in the database:", in_database)
runner.run(request_session.close())
# sphinx_gallery_start_ignore
assert isinstance(welcome, DetachedInstanceError), "the request's object is detached"
assert "is not bound to a Session" in str(welcome), "it is not bound to a Session"
assert visit is None, "the closed session ran the task's read and flush"
assert checked_out == 1, "the closed session that started again still holds a connection"
assert in_database == ["alice", "bob"], "nobody committed the task's change"
# sphinx_gallery_end_ignore

# %%
# The fix: pass ids, and open a session in the task
# -------------------------------------------------
#
# Take the id before ``commit()`` expires it (reading an expired attribute under asyncio
# raises ``MissingGreenlet``: :doc:`../asyncio/missing_greenlet`), hand the task the id,
# and let the task open, commit and close a session of its own (one task does both jobs
# here, so that its SQL comes in one order).


async def welcome_and_log_visit(user_id: int) -> str:
    await response_sent.wait()
    async with AsyncSessionLocal.begin() as session:
        user = await session.get(User, user_id)
        welcome = f"welcome, {user.name}"
        user.name = f"{user.name} (visited)"
    return welcome


async def request_fixed():
    async with AsyncSessionLocal() as session:
        user = User(id=3, name="carol")
        session.add(user)
        await session.flush()
        user_id = user.id
        await session.commit()
        tasks = [asyncio.create_task(welcome_and_log_visit(user_id))]
    return session, tasks


_, (welcome,) = runner.run(serve(request_fixed))
checked_out = async_engine.pool.checkedout()
in_database = names_in_database()
print(welcome)
print("connections checked out after the request:", checked_out)
print("in the database:", in_database)
# sphinx_gallery_start_ignore
assert welcome == "welcome, carol", "the task read the user in its own session"
assert checked_out == 0, "the task's session gave its connection back"
assert in_database == ["alice", "bob", "carol (visited)"], (
    "the task's own session committed its change"
)
# sphinx_gallery_end_ignore

# %%
# In one sentence: a session, and the connection it holds, belong to one unit of work in
# one thread, process or task; hand others ids and a session factory, never the session.
#
# Clean up: the engines, the event loop, the temporary folder.

runner.run(async_engine.dispose())
runner.close()
engine.dispose()
tmp.cleanup()
# sphinx_gallery_start_ignore
others = [t for t in threading.enumerate() if t not in threads_before]
for thread in others:
    thread.join(timeout=5)
assert not any(t.is_alive() for t in others), "no thread is left behind"
# sphinx_gallery_end_ignore
