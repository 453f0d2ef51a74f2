# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
A session per request, per thread, per job
==========================================

A session lives as long as one unit of work: a request (a generator that commits or rolls
back, then closes), a thread's task (``scoped_session`` and ``scoped_session.remove()``),
a job (a new ``SessionLocal.begin()`` block per job, given ids, not objects); return plain
data, not the session's objects, from a unit of work that has ended. Commit in the endpoint
when a failed commit must fail the request: FastAPI 0.118.0 and later run the code after a
dependency's ``yield`` after the response is sent, by default.
"""

# %%
# Setup: a database file, because threads need connections of their own
# ---------------------------------------------------------------------
#
# A plain in-memory SQLite database (``sqlite://``) exists only inside one connection.
# Sharing it across threads with ``poolclass=StaticPool`` and ``check_same_thread=False``
# makes every session use that one connection: one session's ``commit()`` would commit the
# other's work. So SQLite gets a file here, and each session its own connection (checked
# below), as on PostgreSQL and MariaDB. ``SessionLocal`` is the session factory the whole
# app shares.

import contextlib
import os
import queue
import re
import tempfile
import threading

from sqlalchemy import String, create_engine, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    scoped_session,
    sessionmaker,
)
from sqlalchemy.orm.exc import DetachedInstanceError
from sqlalchemy.pool import StaticPool


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
is_sqlite = url.get_backend_name() == "sqlite"
engine = create_engine(url, connect_args={"timeout": 2} if is_sqlite else {})
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
SessionLocal = sessionmaker(engine)


def names_in_database() -> list[str]:
    with SessionLocal() as check:
        return list(check.scalars(select(User.name).order_by(User.id)))


with SessionLocal() as one, SessionLocal() as two:
    dbapi_one = one.connection().connection.dbapi_connection
    own_connections = dbapi_one is not two.connection().connection.dbapi_connection
# sphinx_gallery_start_ignore
assert own_connections, "two open sessions use two connections"
# sphinx_gallery_end_ignore

# %%
# Why not ``StaticPool``: two sessions, one connection, one transaction
# ---------------------------------------------------------------------
#
# The in-memory set-up runs, but session ``two`` commits what session ``one`` only
# flushed: ``one``'s rollback then finds nothing to undo.

not_for_threads = {"check_same_thread": False}
shared = create_engine("sqlite://", poolclass=StaticPool, connect_args=not_for_threads)
Base.metadata.create_all(shared)
with Session(shared) as one, Session(shared) as two:
    connections = [s.connection().connection.dbapi_connection for s in (one, two)]
    print("the sessions share one connection:", connections[0] is connections[1])
    # sphinx_gallery_start_ignore
    assert connections[0] is connections[1], (
        "StaticPool: both sessions got the one connection"
    )
    # sphinx_gallery_end_ignore
    one.add(User(id=1, name="never committed by one"))
    one.flush()
    two.scalars(select(User)).all()
    two.commit()
    one.rollback()
with Session(shared) as check:
    survivors = check.scalars(select(User.name)).all()
print("after one's rollback, the table holds:", survivors)
# sphinx_gallery_start_ignore
assert survivors == ["never committed by one"], "two's commit committed one's INSERT"
# sphinx_gallery_end_ignore
shared.dispose()

# %%
# The request's session: a generator that commits or rolls back
# -------------------------------------------------------------
#
# The generator has the shape of a FastAPI dependency "with yield"; this page does not run
# FastAPI (when FastAPI runs the code after ``yield``: :ref:`below
# <session_per_request_failed_commit>`; FastAPI itself, run through its test client:
# :ref:`sphx_glr_auto_examples_concurrency_and_scope_fastapi_session_scope.py`).
# ``handle()`` drives the generator with ``contextlib.contextmanager``: the code before
# ``yield`` runs before the endpoint, an exception the endpoint raises comes out of the
# ``yield``, and the code after it runs once the endpoint has returned. If the endpoint
# returns, the generator commits; if it raises, the generator rolls back and re-raises.
# Either way ``finally`` closes the session.


def get_session():
    session = SessionLocal()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def handle(endpoint, *args):
    with contextlib.contextmanager(get_session)() as session:
        return endpoint(session, *args)


def create_user(session: Session, name: str) -> User:
    user = User(name=name)
    session.add(user)
    session.flush()  # the INSERT, so that user.id is known
    return user


alice = handle(create_user, "alice")
names = names_in_database()
print("database:", names, "- alice detached:", inspect(alice).detached)
# sphinx_gallery_start_ignore
assert names == ["alice"], "the generator committed after the endpoint"
assert inspect(alice).detached, "and closed the session: alice is detached"
# sphinx_gallery_end_ignore

# %%
# Return data, not the session's objects
# --------------------------------------
#
# The commit expired alice, and the close detached her: whatever reads the returned object
# after ``handle()`` (a serializer, a template) finds no session to reload from. Build the
# response inside the endpoint, while the session is open (or see
# :ref:`sphx_glr_auto_examples_myths_expire_on_commit_false_fixes_detached.py` for what
# :doc:`expire_on_commit=False <../myths/expire_on_commit_false_fixes_detached>` does and does not
# fix).

error = None
try:
    print(alice.name)
except DetachedInstanceError as caught:
    error = caught
    message = re.sub(r" at 0x[0-9a-f]+", "", str(caught))
    message = re.split(r"\s*\(Background on this error", message)[0]
    print(f"{type(caught).__name__}: {message}")
# sphinx_gallery_start_ignore
assert error is not None, "an expired, detached object cannot load its attributes"
# sphinx_gallery_end_ignore


def create_user_response(session: Session, name: str) -> dict:
    user = create_user(session, name)
    return {"id": user.id, "name": user.name}


response = handle(create_user_response, "amy")
print("response:", response)
# sphinx_gallery_start_ignore
assert response == {"id": 2, "name": "amy"}, "plain data outlives the session"
# sphinx_gallery_end_ignore

# %%
# An endpoint that raises: nothing of its work is committed
# ---------------------------------------------------------
#
# The endpoint flushes its INSERT and then fails. The exception reaches the generator at
# ``yield``; it rolls back, closes, and re-raises, so the caller still gets the exception.


def create_then_fail(session: Session, name: str) -> None:
    create_user(session, name)
    raise ValueError(f"could not notify {name}")


error = None
try:
    handle(create_then_fail, "bob")
except ValueError as caught:
    error = caught
    print(f"{type(caught).__name__}: {caught}")
names = names_in_database()
print("in the database:", names)
# sphinx_gallery_start_ignore
assert isinstance(error, ValueError), "the endpoint's exception reached the caller"
assert names == ["alice", "amy"], "bob's flushed INSERT was rolled back"
# sphinx_gallery_end_ignore

# %%
# .. _session_per_request_failed_commit:
#
# A commit that fails after the endpoint returned
# -----------------------------------------------
#
# The generator commits after the endpoint has returned, so a commit that fails (here the
# INSERT of an id that exists, which the commit's flush sends) fails after the response was
# built. ``handle()`` passes the error on to its caller, but a web framework may have sent
# the response by then. FastAPI does, by default: it runs the code after ``yield`` after
# the response is sent in 0.118.0 and later (and before 0.106.0), and before it only in
# 0.106.0 to 0.117.1; from 0.121.0, ``Depends(get_session, scope="function")`` runs it
# before. So on a current FastAPI the client gets its 200 and the body while nothing was
# committed. (Read from FastAPI's source, not run here: in 0.165.0, ``fastapi/routing.py``
# closes the exit stack of "request"-scoped dependencies after ``await response(scope,
# receive, send)``, and its bundled docs say the default scope "request" runs the exit code
# "after the response is sent back"; the releases come from its release notes, and from
# runs of FastAPI's ``TestClient`` with this generator outside this page, on FastAPI
# 0.105.0, 0.106.0, 0.117.1, 0.118.0, 0.120.4, 0.121.0 and 0.165.0.)
# Commit in the endpoint, before building the response: a failing commit then fails the
# request, and no response exists to send.

responses = []


def create_user_with_id(session: Session, user_id: int, name: str) -> dict:
    session.add(User(id=user_id, name=name))  # no flush: the commit sends the INSERT
    responses.append({"id": user_id, "name": name})
    return responses[-1]


def create_user_and_commit(session: Session, user_id: int, name: str) -> dict:
    session.add(User(id=user_id, name=name))
    session.commit()  # fails here, before the response exists
    responses.append({"id": user_id, "name": name})
    return responses[-1]


built, failures = {}, {}
for endpoint in (create_user_with_id, create_user_and_commit):
    responses.clear()
    try:
        handle(endpoint, 1, "alice again")
    except IntegrityError as caught:
        failures[endpoint.__name__] = type(caught).__name__
    built[endpoint.__name__] = list(responses)
    outcome = failures.get(endpoint.__name__, "committed")
    print(f"{endpoint.__name__}: response built {responses}, then {outcome}")
names = names_in_database()
print("in the database:", names)
# sphinx_gallery_start_ignore
assert sorted(failures) == ["create_user_and_commit", "create_user_with_id"], (
    "both requests failed with an IntegrityError"
)
assert built["create_user_with_id"] == [{"id": 1, "name": "alice again"}], (
    "committing after the endpoint failed once the response was built"
)
assert built["create_user_and_commit"] == [], (
    "committing in the endpoint failed before the response was built"
)
assert names == ["alice", "amy"], "neither request committed anything"
# sphinx_gallery_end_ignore

# %%
# Each request its own session
# ----------------------------
#
# Two requests never share a session, its :doc:`identity map <../session_lifecycle/identity_map>`
# or its transaction: the second one
# loads alice again from the database, as a new object.

seen_sessions = []


def load_alice(session: Session) -> User:
    seen_sessions.append(session)
    return session.scalars(select(User).where(User.name == "alice")).one()


first, second = handle(load_alice), handle(load_alice)
same_session = seen_sessions[0] is seen_sessions[1]
print("same session:", same_session, "- same object:", first is second)
# sphinx_gallery_start_ignore
assert not same_session, "each request got a new session"
# sphinx_gallery_end_ignore
same_row = inspect(first).identity == inspect(second).identity
# sphinx_gallery_start_ignore
assert first is not second and same_row, "the same row, two objects"
# sphinx_gallery_end_ignore

# %%
# ``scoped_session``: one session per thread
# ------------------------------------------
#
# ``scoped_session`` keeps a registry of sessions, one per thread: calling ``Scoped()`` in
# a thread returns that thread's session, the same one each time; ``Scoped.remove()``
# closes it and forgets it, so the thread's next call starts a new one. The two threads
# below both hold their sessions at the same moment (the barrier), then take turns to query
# (the events), so that the page's output comes in a fixed order; every wait has a timeout.

Scoped = scoped_session(SessionLocal)
barrier = threading.Barrier(2, timeout=10)
turns = [threading.Event(), threading.Event(), threading.Event()]
report: dict[str, dict] = {}


def thread_work(turn: int) -> None:
    name = f"thread {turn}"
    session = Scoped()
    barrier.wait()  # both threads now hold a session
    # sphinx_gallery_start_ignore
    assert turns[turn].wait(timeout=10), "waited for this thread's turn"
    # sphinx_gallery_end_ignore
    count = session.scalar(select(func.count()).select_from(User))
    report[name] = {"session": session, "again": Scoped() is session, "count": count}
    Scoped.remove()
    report[name]["removed"] = not Scoped.registry.has()
    turns[turn + 1].set()


threads = [threading.Thread(target=thread_work, args=(turn,)) for turn in range(2)]
for thread in threads:
    thread.start()
turns[0].set()
for thread in threads:
    thread.join(timeout=10)
for name in sorted(report):
    print(name, {key: value for key, value in report[name].items() if key != "session"})
# sphinx_gallery_start_ignore
assert not any(thread.is_alive() for thread in threads), "both threads finished"
assert sorted(report) == ["thread 0", "thread 1"], "both threads reported"
# sphinx_gallery_end_ignore
sessions = [report[name]["session"] for name in sorted(report)]
# sphinx_gallery_start_ignore
assert sessions[0] is not sessions[1], "each thread had its own session"
assert all(r["again"] and r["removed"] for r in report.values()), "one until remove()"
assert not Scoped.registry.has(), "the main thread never asked for one"
# sphinx_gallery_end_ignore

# %%
# A background worker: a new session for every job, and ids instead of objects
# ----------------------------------------------------------------------------
#
# A request hands work to a worker thread through a queue. It passes the user's id, not the
# ``User`` object: once the request's session has closed its objects are detached, and those
# its commit expired cannot load their attributes, as alice showed above. The worker opens a
# session per job with ``SessionLocal.begin()``, which commits at the end of the block, or
# rolls back if the job raises: one failing job loses only its own changes.

jobs: queue.Queue = queue.Queue()
results: list[str] = []


def rename_job(session: Session, user_id: int, new_name: str) -> None:
    user = session.get(User, user_id)
    user.name = new_name
    if new_name.startswith("!"):
        raise ValueError(f"bad name {new_name!r}")


def worker() -> None:
    while (job := jobs.get(timeout=10)) is not None:
        try:
            with SessionLocal.begin() as session:
                rename_job(session, *job)
            results.append(f"{job}: committed")
        except ValueError as caught:
            results.append(f"{job}: rolled back ({caught})")


for job in [(1, "alicia"), (2, "!amy"), (2, "amelia"), None]:
    jobs.put(job)
background = threading.Thread(target=worker)
background.start()
background.join(timeout=10)
print("\n".join(results))
names = names_in_database()
print("in the database:", names)
# sphinx_gallery_start_ignore
assert not background.is_alive(), "the worker finished its queue"
assert results[1].endswith("rolled back (bad name '!amy')"), "the bad job rolled back"
assert names == ["alicia", "amelia"], "the other jobs were committed"

engine.dispose()
if tmpdir is not None:
    tmpdir.cleanup()
# sphinx_gallery_end_ignore
