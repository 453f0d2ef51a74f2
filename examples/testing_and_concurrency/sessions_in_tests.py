# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "sqlalchemy[asyncio]>=2.0.4",
#     "aiosqlite",
#     "pytest",
# ]
# ///
"""
Sessions in tests: roll back what the code under test committed
===============================================================

Open a connection, begin a transaction, and bind the test's sessions to that connection with
``join_transaction_mode="create_savepoint"``: the code under test may ``commit()`` (it
releases a savepoint) and ``rollback()`` (to the savepoint), and the fixture's final rollback
removes everything, with ``Session`` and ``AsyncSession`` alike (on SQLite, with the pysqlite
``BEGIN`` workaround). Give each simulated request a session of its own, closed when the
request ends: a test that hands its own session to the code under test hides a missing
``commit()`` and a ``DetachedInstanceError`` behind one identity map. ``sqlite://`` is one
database per connection (a second thread finds "no such table"), and ``StaticPool`` makes one
connection, so one transaction, for every session.
"""

# %%
# Setup: the application under test
# ---------------------------------
#
# Users with addresses, in a SQLite file (so that several connections see one database).
# ``begin_as_sqlalchemy_says()`` is the pysqlite workaround that :doc:`the savepoints page
# <../session_lifecycle/savepoints>` runs: without it a transaction that starts with a
# ``SAVEPOINT`` is committed by its ``RELEASE`` (the last cell shows it). On Python 3.12
# and later, SQLAlchemy 2.1's SQLite documentation gives ``connect_args={"autocommit":
# False}`` (sqlite3's own ``autocommit`` attribute) as the most straightforward approach,
# the event recipe used here being the other; it is not run here: the site is built with
# Python 3.11, whose ``sqlite3`` has no ``autocommit``. ``sent`` records
# each statement, and ``COMMIT`` / ``ROLLBACK`` (the driver's own calls). ``sign_up()`` is
# the code under test: it commits, as application code does.

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import threading

from sqlalchemy import ForeignKey, String, create_engine, event, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)
from sqlalchemy.orm.exc import DetachedInstanceError
from sqlalchemy.pool import StaticPool


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    addresses: Mapped[list["Address"]] = relationship()

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


class Address(Base):
    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    email: Mapped[str] = mapped_column(String(50), unique=True)

    def __repr__(self) -> str:
        return f"Address(id={self.id!r}, email={self.email!r})"


def begin_as_sqlalchemy_says(engine):
    @event.listens_for(engine, "connect")
    def no_driver_transactions(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None  # pysqlite sends no BEGIN of its own

    @event.listens_for(engine, "begin")
    def send_begin(connection):
        connection.exec_driver_sql("BEGIN")

    return engine


# sphinx_gallery_start_ignore
if sys.version_info < (3, 12):
    import sqlite3

    assert not hasattr(sqlite3.Connection, "autocommit"), (
        "Python 3.11's sqlite3 has no autocommit attribute"
    )
# sphinx_gallery_end_ignore


sent: list[str] = []


def record(engine):
    def statement(conn, cursor, sql, parameters, context, executemany):
        sent.append(sql.split(" (")[0].split("\n")[0].strip())

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", lambda conn: sent.append("COMMIT"))
    event.listen(engine, "rollback", lambda conn: sent.append("ROLLBACK"))
    return engine


tmp = tempfile.TemporaryDirectory()
DATABASE = os.path.join(tmp.name, "app.db")
engine = record(begin_as_sqlalchemy_says(create_engine(f"sqlite:///{DATABASE}")))
Base.metadata.create_all(engine)
SessionLocal = sessionmaker(engine)


def count_users() -> int:
    with SessionLocal() as check:
        return check.scalar(select(func.count()).select_from(User))


def sign_up(session: Session, name: str, email: str) -> int:
    user = User(name=name, addresses=[Address(email=email)])
    session.add(user)
    session.commit()
    return user.id


# %%
# The fixture: a transaction around the test, a savepoint around each commit
# --------------------------------------------------------------------------
#
# ``db_session()`` is the body of a pytest fixture (``yield`` hands the session to the test):
# it opens a connection, begins a transaction, and binds a session to that connection with
# ``join_transaction_mode="create_savepoint"``. The session then brackets its work in a
# ``SAVEPOINT``, and ``sign_up()``'s ``commit()`` sends ``RELEASE SAVEPOINT``, not
# ``COMMIT``. The test sees the committed user; the fixture's rollback removes it.


@contextlib.contextmanager
def db_connection():
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


@contextlib.contextmanager
def db_session():
    with db_connection() as connection:
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()


sent.clear()
with db_session() as session:
    sign_up(session, "alice", "alice@example.org")
    seen = session.scalar(select(func.count()).select_from(User))
    print("users the test sees:", seen)
in_test = list(sent)
after = count_users()
print("users after the fixture's rollback:", after)
# sphinx_gallery_start_ignore
assert seen == 1, "the test sees the user sign_up() committed"
assert "RELEASE SAVEPOINT sa_savepoint_1" in in_test, (
    "sign_up()'s commit released a savepoint"
)
assert "COMMIT" not in in_test, "nothing was committed during the test"
assert in_test[-1] == "ROLLBACK", "the fixture ended with the outer rollback"
assert after == 0, "the fixture's rollback removed what sign_up() committed"
# sphinx_gallery_end_ignore

# %%
# The code under test rolls back: only to its savepoint
# -----------------------------------------------------
#
# After a commit, the session starts a new savepoint on its next use. So when the code under
# test catches an ``IntegrityError`` and calls ``rollback()`` (here a second sign-up with a
# taken e-mail address), it sends ``ROLLBACK TO SAVEPOINT``: what the test committed before
# stays for the rest of the test, and the session is usable again.

sent.clear()
with db_session() as session:
    sign_up(session, "bob", "bob@example.org")
    try:
        sign_up(session, "bobby", "bob@example.org")
    except IntegrityError as caught:
        session.rollback()  # what the code under test does with the error
        print(f"{type(caught).__name__}: {str(caught.orig)}")
    names = session.scalars(select(User.name)).all()
    print("users the test sees after the rollback:", names)
in_test = list(sent)
after = count_users()
print("users after the fixture's rollback:", after)
# sphinx_gallery_start_ignore
assert names == ["bob"], "the rollback undid only the failed sign-up"
assert "ROLLBACK TO SAVEPOINT sa_savepoint_2" in in_test, (
    "it rolled back to the savepoint"
)
assert in_test.count("ROLLBACK") == 1, "the only full rollback is the fixture's"
assert after == 0, "and the fixture's rollback removed bob too"
# sphinx_gallery_end_ignore

# %%
# The same fixture for an ``AsyncSession``
# ----------------------------------------
#
# ``AsyncSession`` takes the same ``bind`` and ``join_transaction_mode`` (the engine's sync
# side, ``async_engine.sync_engine``, takes the pysqlite workaround: aiosqlite wraps the same
# ``sqlite3`` module). Under pytest, this body goes in the async fixture of your async test
# plugin; here one ``asyncio.run()`` drives it. Every attribute read below is loaded by an
# awaited statement (:doc:`why <../asyncio/missing_greenlet>`).

async_engine = create_async_engine(f"sqlite+aiosqlite:///{DATABASE}")
record(begin_as_sqlalchemy_says(async_engine.sync_engine))


@contextlib.asynccontextmanager
async def async_db_session():
    async with async_engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


async def sign_up_async(session: AsyncSession, name: str, email: str) -> None:
    session.add(User(name=name, addresses=[Address(email=email)]))
    await session.commit()


async def async_test():
    async with async_db_session() as session:
        await sign_up_async(session, "carol", "carol@example.org")
        seen = await session.scalar(select(func.count()).select_from(User))
        print("users the async test sees:", seen)
    await async_engine.dispose()
    return seen


sent.clear()
seen = asyncio.run(async_test())
in_test = list(sent)
after = count_users()
print("users after the fixture's rollback:", after)
# sphinx_gallery_start_ignore
assert seen == 1, "the async test sees the committed user"
assert "RELEASE SAVEPOINT sa_savepoint_1" in in_test, (
    "await commit() released a savepoint"
)
assert "COMMIT" not in in_test, "nothing was committed during the async test"
assert after == 0, "the async fixture's rollback removed it"
# sphinx_gallery_end_ignore

# %%
# The test's session is not the application's session
# ----------------------------------------------------
#
# In production each request gets a session of its own, closed when the request ends (as on
# :doc:`the session-per-request page <../concurrency_and_scope/session_per_request>`); the
# response is built after that. ``request()`` plays that part. Two endpoints carry a bug:
# ``rename()`` flushes and forgets to commit, and ``profile()`` returns the ORM object, whose
# lazy ``addresses`` the response reads after the session closed. A test that hands its own
# session to every request (a dependency override that yields the test's session) passes:
# the rename is in the session's transaction, and the session never closes.


def request(endpoint, *args, sessions=SessionLocal):
    with sessions() as session:
        result = endpoint(session, *args)
    return result


def rename(session: Session, user_id: int, name: str) -> None:
    session.get(User, user_id).name = name
    session.flush()  # the bug: no commit


def profile(session: Session, user_id: int) -> User:
    return session.get(User, user_id)  # the bug: the response reads it later


def render(user: User) -> dict:
    return {"name": user.name, "emails": [address.email for address in user.addresses]}


with db_session() as session:

    def the_tests_session():
        return contextlib.nullcontext(session)

    user_id = request(sign_up, "dave", "dave@example.org", sessions=the_tests_session)
    request(rename, user_id, "david", sessions=the_tests_session)
    name = session.get(User, user_id).name
    page = render(request(profile, user_id, sessions=the_tests_session))
    print("name after the rename:", name)
    print("the profile page:", page)
# sphinx_gallery_start_ignore
assert name == "david", "one shared session: the uncommitted rename is seen"
assert page == {"name": "david", "emails": ["dave@example.org"]}, (
    "one shared session, never closed: the lazy load after the request works"
)
# sphinx_gallery_end_ignore

# %%
# A session per request, bound to the test's connection: both bugs show
# ---------------------------------------------------------------------
#
# Bind a session factory to the fixture's connection, with the same
# ``join_transaction_mode``, and give each request its own session, closed at its end, as in
# production. Closing ``rename()``'s session rolls back to its savepoint: the rename is gone.
# ``profile()``'s user is detached when ``render()`` reads ``user.addresses``: the lazy load
# raises ``DetachedInstanceError``.


def scrub(error: Exception) -> str:
    message = re.split(r"\s*\(Background on this error", str(error))[0]
    return f"{type(error).__name__}: {re.sub(r' at 0x[0-9a-f]+', '', message)}"


error = None
with db_connection() as connection:
    per_request = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    user_id = request(sign_up, "dave", "dave@example.org", sessions=per_request)
    request(rename, user_id, "david", sessions=per_request)
    with per_request() as check:
        name = check.get(User, user_id).name
    print("name after the rename:", name)
    try:
        render(request(profile, user_id, sessions=per_request))
    except DetachedInstanceError as caught:
        error = caught
        print(scrub(caught))
# sphinx_gallery_start_ignore
assert name == "dave", "the rename was never committed: the request's close undid it"
assert isinstance(error, DetachedInstanceError), "the lazy load after the request raises"
assert "lazy load operation of attribute 'addresses'" in str(error), (
    "the error names the lazy load of addresses"
)
# sphinx_gallery_end_ignore

# %%
# The fixes, under the same test
# ------------------------------
#
# ``rename()`` commits; ``profile()`` builds the response while its session is open (or
# loads ``addresses`` eagerly, :doc:`before the session closes
# <../relationships/lazy_load_after_close>`). The per-request test passes.


def rename_fixed(session: Session, user_id: int, name: str) -> None:
    session.get(User, user_id).name = name
    session.commit()


def profile_fixed(session: Session, user_id: int) -> dict:
    return render(session.get(User, user_id))


with db_connection() as connection:
    per_request = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    user_id = request(sign_up, "dave", "dave@example.org", sessions=per_request)
    request(rename_fixed, user_id, "david", sessions=per_request)
    page = request(profile_fixed, user_id, sessions=per_request)
    print("the profile page:", page)
after = count_users()
print("users after the fixture's rollback:", after)
# sphinx_gallery_start_ignore
assert page == {"name": "david", "emails": ["dave@example.org"]}, (
    "with the fixes, the per-request test passes"
)
assert after == 0, "and the fixture still removed everything"
# sphinx_gallery_end_ignore

# %%
# The same, as a pytest suite
# ---------------------------
#
# The two fixtures and the tests above, as files pytest runs: ``conftest.py`` holds the
# fixtures, ``test_app.py`` the application and its tests. pytest runs in a new process,
# without plugins (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``), and this page prints its result
# without the timing. The shared-session tests of the buggy endpoints pass, their
# per-request twins fail, and so does nothing else: the second test starts from an empty
# table although the first one committed.

CONFTEST = """
import contextlib

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from test_app import Base


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('db')}/test.db")

    @event.listens_for(engine, "connect")
    def no_driver_transactions(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def send_begin(connection):
        connection.exec_driver_sql("BEGIN")

    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine):
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def shared_session(connection):
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    yield lambda: contextlib.nullcontext(session)
    session.close()


@pytest.fixture
def per_request(connection):
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
"""

TEST_APP = """
import pytest
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    addresses: Mapped[list["Address"]] = relationship()


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    email: Mapped[str] = mapped_column(String(50), unique=True)


def request(sessions, endpoint, *args):
    with sessions() as session:
        return endpoint(session, *args)


def sign_up(session, name, email):
    user = User(name=name, addresses=[Address(email=email)])
    session.add(user)
    session.commit()
    return user.id


def rename(session, user_id, name):
    session.get(User, user_id).name = name
    session.flush()  # bug


def rename_fixed(session, user_id, name):
    session.get(User, user_id).name = name
    session.commit()


def render(user):
    return {"name": user.name, "emails": [a.email for a in user.addresses]}


def profile(session, user_id):
    return session.get(User, user_id)  # bug


def profile_fixed(session, user_id):
    return render(session.get(User, user_id))


def test_a_commit_in_the_code_under_test(per_request):
    request(per_request, sign_up, "alice", "alice@example.org")
    with per_request() as check:
        assert check.scalar(select(func.count()).select_from(User)) == 1


def test_the_next_test_starts_empty(per_request):
    with per_request() as check:
        assert check.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize("sessions", ["shared_session", "per_request"])
def test_rename(sessions, request_fixtures):
    sessions = request_fixtures(sessions)
    user_id = request(sessions, sign_up, "dave", "dave@example.org")
    request(sessions, rename, user_id, "david")
    with sessions() as check:
        assert check.get(User, user_id).name == "david"


@pytest.mark.parametrize("sessions", ["shared_session", "per_request"])
def test_profile(sessions, request_fixtures):
    sessions = request_fixtures(sessions)
    user_id = request(sessions, sign_up, "dave", "dave@example.org")
    user = request(sessions, profile, user_id)
    assert render(user) == {"name": "dave", "emails": ["dave@example.org"]}


def test_rename_fixed(per_request):
    user_id = request(per_request, sign_up, "dave", "dave@example.org")
    request(per_request, rename_fixed, user_id, "david")
    with per_request() as check:
        assert check.get(User, user_id).name == "david"


def test_profile_fixed(per_request):
    user_id = request(per_request, sign_up, "dave", "dave@example.org")
    page = request(per_request, profile_fixed, user_id)
    assert page == {"name": "dave", "emails": ["dave@example.org"]}


@pytest.fixture
def request_fixtures(request):
    return request.getfixturevalue
"""


def run_pytest(directory: str) -> tuple[list[str], str]:
    """pytest's failures (test and exception) and its summary line, without the timing."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("PYTEST")
    }
    environment.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", COLUMNS="200")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rf",
        "--tb=no",
        "-p",
        "no:cacheprovider",
    ]
    result = subprocess.run(
        command,
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stdout.splitlines()
    failed = []
    for line in lines:
        if line.startswith("FAILED "):
            test, error = line.removeprefix("FAILED ").split(" - ", 1)
            failed.append(f"{test}: {error.split(':')[0].rsplit('.', 1)[-1]}")
    summary = re.sub(r" in [0-9.]+s( \([^)]*\))?", "", lines[-1].strip("= "))
    return failed, summary


suite = os.path.join(tmp.name, "suite")
os.mkdir(suite)
for name, text in (("conftest.py", CONFTEST), ("test_app.py", TEST_APP)):
    with open(os.path.join(suite, name), "w", encoding="utf-8") as file:
        file.write(textwrap.dedent(text).lstrip())
failed, summary = run_pytest(suite)
print("failed:", *failed, sep="\n  ")
print(summary)
# sphinx_gallery_start_ignore
assert failed == [
    "test_app.py::test_rename[per_request]: AssertionError",
    "test_app.py::test_profile[per_request]: DetachedInstanceError",
], "only the per-request tests of the buggy endpoints fail"
assert summary == "2 failed, 6 passed", "the shared-session tests and the rest pass"
# sphinx_gallery_end_ignore

# %%
# ``sqlite://`` is one database per connection
# --------------------------------------------
#
# An in-memory SQLite database lives inside one connection, and SQLAlchemy's default pool
# for it, ``SingletonThreadPool``, gives each thread its own connection. A test that
# creates the tables in its thread and then calls the application in another one (a test
# client that runs the application in a worker thread does that) gets an empty database
# there: "no such table". ``check_same_thread=False`` does not change that (it only lets
# this page close the thread's connection at the end, from the main thread).

not_for_threads = {"check_same_thread": False}
memory = create_engine("sqlite://", connect_args=not_for_threads)
Base.metadata.create_all(memory)
print("pool:", type(memory.pool).__name__)
outcome: dict[str, str] = {}


def the_application(engine) -> None:
    try:
        with Session(engine) as session:
            outcome["count"] = str(session.scalar(select(func.count()).select_from(User)))
    except OperationalError as caught:
        outcome["error"] = f"{type(caught).__name__}: {caught.orig}"


worker = threading.Thread(target=the_application, args=(memory,))
worker.start()
worker.join(timeout=10)
print(outcome["error"])
memory.dispose()
# sphinx_gallery_start_ignore
assert type(memory.pool).__name__ == "SingletonThreadPool", (
    "the default pool of sqlite://"
)
assert not worker.is_alive(), "the thread finished"
assert outcome == {"error": "OperationalError: no such table: users"}, (
    "another thread's connection is another, empty, database"
)
# sphinx_gallery_end_ignore

# %%
# ``StaticPool``: one connection, so one transaction, for everyone
# ----------------------------------------------------------------
#
# ``poolclass=StaticPool`` (with ``check_same_thread=False``, as SQLite refuses a
# connection used by a second thread) hands every session the one connection: the
# application finds the tables. It also finds what the test only flushed, and the
# application's ``rollback()`` undoes the test's work too, since both run in one transaction.

shared = create_engine("sqlite://", poolclass=StaticPool, connect_args=not_for_threads)
Base.metadata.create_all(shared)
outcome.clear()


def the_application_rolls_back(engine) -> None:
    with Session(engine) as session:
        outcome["count"] = str(session.scalar(select(func.count()).select_from(User)))
        session.rollback()


with Session(shared) as test_session:
    test_session.add(User(name="erin"))
    test_session.flush()  # the test's setup, not committed
    worker = threading.Thread(target=the_application_rolls_back, args=(shared,))
    worker.start()
    worker.join(timeout=10)
    left = test_session.scalar(select(func.count()).select_from(User))
print("users the application saw:", outcome["count"])
print("users the test sees after the application's rollback:", left)
shared.dispose()
# sphinx_gallery_start_ignore
assert not worker.is_alive(), "the thread finished"
assert outcome == {"count": "1"}, "the application saw the test's uncommitted user"
assert left == 0, "the application's rollback removed the test's flushed user"
# sphinx_gallery_end_ignore

# %%
# Without the pysqlite workaround, the fixture commits
# ----------------------------------------------------
#
# The same fixture on an engine without ``begin_as_sqlalchemy_says()``: pysqlite sends no
# ``BEGIN`` for ``connection.begin()``, so the first ``SAVEPOINT`` opens SQLite's
# transaction and its ``RELEASE`` commits it. The fixture's rollback then has nothing to
# undo, and the user stays in the database (PostgreSQL and MariaDB need no workaround:
# :doc:`the savepoints page <../session_lifecycle/savepoints>` runs on both).

plain = create_engine(f"sqlite:///{DATABASE}")
with plain.connect() as connection:
    transaction = connection.begin()
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        sign_up(session, "frank", "frank@example.org")
    transaction.rollback()
after = count_users()
print("users after the fixture's rollback:", after)
# sphinx_gallery_start_ignore
assert after == 1, "without the workaround, the RELEASE committed the user"
# sphinx_gallery_end_ignore
plain.dispose()

# %%
# In one sentence: the fixture owns the transaction and the code under test gets sessions
# of its own bound to it, so a ``commit()`` is a released savepoint, a bug of session scope
# still fails the test, and nothing outlives it.
#
# Clean up: the engine, and the temporary folder with the database and the suite.

engine.dispose()
tmp.cleanup()
