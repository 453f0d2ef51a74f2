# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
After a failed flush: ``PendingRollbackError``, ``rollback()``, and get-or-create
=================================================================================

A flush that fails (here an ``IntegrityError``) rolls the session's transaction back, and
every later query, flush or commit of the session raises ``PendingRollbackError`` until
``rollback()`` is called. A connection lost in a transaction: the statement that finds it
lost raises the driver's error, and every later one ``PendingRollbackError`` ("Can't
reconnect until invalid transaction is rolled back"). A request or a task that catches an
error must call ``rollback()`` (or end the session) before it goes on. A get-or-create
that can race another writer puts its ``INSERT`` in a savepoint (``begin_nested()``): the
duplicate rolls back only the savepoint, and the code selects the other writer's row. On
SQLite a savepoint needs the pysqlite ``BEGIN`` workaround (without it, ``RELEASE
SAVEPOINT`` commits), and with it the race cannot happen: the other writer gets "database
is locked". On MariaDB and MySQL the second lookup takes a locking read (checked on
MariaDB 10.11 only); from MariaDB 11.6.2, whose snapshot isolation refuses it, read at
READ COMMITTED or retry the whole transaction.
"""

# %%
# Setup: two sessions on one database
# -----------------------------------
#
# A ``Tag`` name is unique. The get-or-create race below needs a second writer on the same
# database, so SQLite gets a file (an in-memory database exists in one connection only).

import os
import re
import tempfile
import time
import warnings

from sqlalchemy import (
    ForeignKey,
    String,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    OperationalError,
    PendingRollbackError,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    relationship,
    sessionmaker,
)


class Base(DeclarativeBase):
    pass


class Tag(Base):
    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)

    def __repr__(self) -> str:
        return f"Tag(id={self.id!r}, name={self.name!r})"


class Post(Base):
    __tablename__ = "post"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("tag.id"))
    tag: Mapped[Tag | None] = relationship()

    def __repr__(self) -> str:
        return f"Post(id={self.id!r}, title={self.title!r})"


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmpdir = None
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    tmpdir = tempfile.TemporaryDirectory()
    url = url.set(database=os.path.join(tmpdir.name, "example.db"))
engine = create_engine(url)
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
SessionLocal = sessionmaker(engine)
with SessionLocal.begin() as setup:
    setup.add(Tag(name="sqlalchemy"))


def error_text(caught: Exception) -> str:
    """The error's first line, without its background link or addresses."""
    message = re.split(r"\s*\(Background on this error", str(caught))[0]
    message = re.sub(r" at 0x[0-9a-f]+", "", message).splitlines()[0]
    return f"{type(caught).__name__}: {message}"


# %%
# A failed flush poisons the session
# ----------------------------------
#
# The session adds a tag whose name exists. The flush sends the ``INSERT``, the database
# refuses it, and the session rolls back its transaction at once. It is no longer
# active: the next query does not run, it raises ``PendingRollbackError``, whose message
# repeats the first error; so do a flush of a new change and ``commit()``. ``add()`` and
# ``close()`` still work (``close()`` ends the session, as ``rollback()`` would).

session = SessionLocal()
duplicate = Tag(name="sqlalchemy")
session.add(duplicate)
flush_error = None
try:
    session.flush()
except IntegrityError as caught:
    flush_error = caught
    print(error_text(caught))
print("session active:", session.is_active)
error = None
try:
    session.scalars(select(Tag)).all()
except PendingRollbackError as caught:
    error = caught
    print(error_text(caught))
later_uses = {}
for name, use in {
    "add()": lambda: session.add(Tag(name="another")),
    "flush()": session.flush,
    "commit()": session.commit,
}.items():
    try:
        use()
        later_uses[name] = "works"
    except PendingRollbackError:
        later_uses[name] = "PendingRollbackError"
print(later_uses)
# sphinx_gallery_start_ignore
assert later_uses == {
    "add()": "works",
    "flush()": "PendingRollbackError",
    "commit()": "PendingRollbackError",
}, "add() worked; a flush of the added tag and commit() raised PendingRollbackError"
assert not session.is_active, "after the failed flush the session is inactive"
assert error is not None and "Session.rollback()" in str(error), (
    "the next query raised PendingRollbackError, asking for rollback()"
)
assert flush_error is not None, "the flush raised IntegrityError"
assert str(flush_error.orig).splitlines()[0] in str(error), (
    "its message repeats the flush's error"
)
# sphinx_gallery_end_ignore

# %%
# ``rollback()`` makes it usable again
# ------------------------------------
#
# ``rollback()`` ends the failed transaction; the object whose ``INSERT`` failed is
# transient again (no longer in the session), and the next query begins a new transaction.
# The tag ``add()`` put in the session after the failure is discarded too, and
# ``rollback()`` warns about it.

added_after = next(t for t in session.new if t.name == "another")
with warnings.catch_warnings(record=True) as recorded:
    warnings.simplefilter("always")
    session.rollback()
print("rollback() warned:", [f"{w.category.__name__}: {w.message}" for w in recorded])
print("the failed tag is transient:", inspect(duplicate).transient)
print("the tag added after the failure is transient:", inspect(added_after).transient)
tags = session.scalars(select(Tag)).all()
print("session active:", session.is_active, "-", tags)
session.close()
# sphinx_gallery_start_ignore
assert inspect(duplicate).transient, "after rollback() the failed tag is transient"
assert inspect(added_after).transient, "and so is the tag added after the failure"
assert [str(w.message) for w in recorded] == [
    "Session's state has been changed on a non-active transaction - this state will be "
    "discarded."
], "rollback() warned that the state changed after the failure was discarded"
assert [t.name for t in tags] == ["sqlalchemy"], (
    "after rollback() the session runs queries"
)

# sphinx_gallery_end_ignore

# %%
# A lost connection: the driver's error, then "Can't reconnect until ..."
# -----------------------------------------------------------------------
#
# When a connection dies in the middle of a transaction (a server restart, a network cut,
# an idle-in-transaction timeout), the next statement the session sends raises the
# driver's error, wrapped by SQLAlchemy (``connection_invalidated`` is true): SQLAlchemy
# has recognised a lost connection and invalidated it. The transaction is gone, so every
# later statement raises ``PendingRollbackError``, until ``rollback()``; then the session
# takes a fresh connection from the pool. ``cut()`` below closes the session's connection
# from outside: on SQLite it closes the driver's connection under the session; on
# PostgreSQL and MariaDB (``DATABASE_URL``) the server ends it (``pg_terminate_backend()``,
# ``KILL``).


def cut(session) -> None:
    name = engine.dialect.name
    if name == "sqlite":
        session.connection().connection.dbapi_connection.close()
        return
    if name == "postgresql":
        pid = session.scalar(text("SELECT pg_backend_pid()"))
        kill = text(f"SELECT pg_terminate_backend({int(pid)}, 5000)")
    else:
        thread_id = session.scalar(text("SELECT CONNECTION_ID()"))
        kill = text(f"KILL {int(thread_id)}")
    with engine.connect() as other:
        other.execute(kill)
        # KILL returns before the server has ended the connection: wait until it has.
        if name != "postgresql":
            listed = text(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = :i"
            )
            for _ in range(1000):  # at most ten seconds
                if not other.scalar(listed, {"i": thread_id}):
                    break
                time.sleep(0.01)


session = SessionLocal()
session.scalars(select(Tag)).all()
cut(session)
errors = []
for _ in range(2):
    try:
        session.scalars(select(Tag)).all()
    except DBAPIError as caught:
        errors.append(caught)
        print(error_text(caught), "- invalidated:", caught.connection_invalidated)
    except PendingRollbackError as caught:
        errors.append(caught)
        print(error_text(caught))
session.rollback()
tags = session.scalars(select(Tag)).all()
print("after rollback():", tags)
session.close()
# sphinx_gallery_start_ignore
assert len(errors) == 2, "both queries after the cut raised"
assert isinstance(errors[0], DBAPIError) and errors[0].connection_invalidated, (
    "the first raised the driver's error, and SQLAlchemy invalidated the connection"
)
assert isinstance(errors[1], PendingRollbackError) and (
    "Can't reconnect until invalid transaction is rolled back" in str(errors[1])
), "the next raised PendingRollbackError"
assert [t.name for t in tags] == ["sqlalchemy"], "after rollback() a new connection works"
# sphinx_gallery_end_ignore

# %%
# A task loop must roll back, or every later task fails
# -----------------------------------------------------
#
# A worker shares one session between its tasks, catches each task's error and goes on.
# Without a ``rollback()`` in the ``except``, the task after the failing one fails too,
# with ``PendingRollbackError``, though nothing is wrong with it. With it, only the
# failing task's work is lost. (A session per task, ``with SessionLocal.begin() as
# session:``, rolls back by itself; see
# :doc:`a session per request, per thread, per job
# <../concurrency_and_scope/session_per_request>`.)


def run_tasks(session, names: list[str], roll_back: bool) -> list[str]:
    report = []
    for name in names:
        try:
            session.add(Tag(name=name))
            session.commit()
            report.append(f"{name}: committed")
        except (IntegrityError, PendingRollbackError) as caught:
            report.append(f"{name}: {type(caught).__name__}")
            if roll_back:
                session.rollback()
    return report


for roll_back in (False, True):
    with SessionLocal() as session:
        names = [f"first {roll_back}", "sqlalchemy", f"third {roll_back}"]
        report = run_tasks(session, names, roll_back)
    print("with rollback():" if roll_back else "without rollback():", report)
    # sphinx_gallery_start_ignore
    if roll_back:
        assert report[1:] == ["sqlalchemy: IntegrityError", "third True: committed"], (
            "with rollback() in the except, the task after the failure commits"
        )
    else:
        assert report[1:] == [
            "sqlalchemy: IntegrityError",
            "third False: PendingRollbackError",
        ], (
            "without rollback(), the task after the failure fails with PendingRollbackError"
        )
    # sphinx_gallery_end_ignore

# %%
# Get-or-create, racing another writer
# ------------------------------------
#
# A request creates a post with the tag "python", creating the tag if it does not exist.
# It looks for the tag and finds none; before it inserts one, another request commits a
# "python" tag. The ``INSERT`` then fails, and the failed flush takes the whole
# transaction with it: the post, added before, is lost as well.


def find_tag(session, name: str) -> Tag | None:
    return session.scalars(select(Tag).where(Tag.name == name)).one_or_none()


def other_writer_adds(name: str) -> None:
    with SessionLocal.begin() as other:
        other.add(Tag(name=name))


request = SessionLocal()
post = Post(title="Hello")
found = find_tag(request, "python")
other_writer_adds("python")
request.add(post)
error = None
if found is None:
    post.tag = Tag(name="python")
    try:
        request.flush()
    except IntegrityError as caught:
        error = caught
        print(error_text(caught))
request.rollback()
print("the post is", "transient" if inspect(post).transient else "in the session")
request.close()
# sphinx_gallery_start_ignore
assert found is None, "the request found no tag before the other writer committed one"
assert error is not None, "its INSERT of the same name raised IntegrityError"
assert inspect(post).transient, "the rollback lost the post too"
# sphinx_gallery_end_ignore

# %%
# The savepoint: only the ``INSERT`` is rolled back
# -------------------------------------------------
#
# ``begin_nested()`` brackets the ``INSERT`` of the tag with ``SAVEPOINT`` and, when it
# fails, ``ROLLBACK TO SAVEPOINT``: the transaction goes on, and the code selects the tag
# again and finds the other writer's. ``race`` lets this page commit the other writer's
# tag at the worst moment, between the lookup and the ``INSERT``. The second lookup is a
# plain ``SELECT``, which finds the row on PostgreSQL (at READ COMMITTED each statement
# sees what was committed before it) and on SQLite here, where the first lookup ran
# outside any transaction (the cell after next). On MariaDB and MySQL
# (InnoDB, whose default isolation level is REPEATABLE READ) it still reads the
# transaction's first snapshot, from before the other writer's commit, and finds nothing;
# the code then makes a locking read (``with_for_update()``), which reads the latest
# committed row. Of the two, only MariaDB is run (when this page runs on it), and that
# locking read was checked on MariaDB 10.11, where ``innodb_snapshot_isolation`` is off
# by default; the next cell shows what MariaDB 11.6.2 and later, where it is on, do.


def get_or_create_tag(session, name: str, race=lambda: None) -> Tag:
    tag = find_tag(session, name)
    # sphinx_gallery_start_ignore
    if session.bind.dialect.name == "sqlite":
        dbapi_connection = session.connection().connection.dbapi_connection
        lookups_in_transaction.append(dbapi_connection.in_transaction)
    # sphinx_gallery_end_ignore
    if tag is not None:
        return tag
    race()
    try:
        with session.begin_nested():
            tag = Tag(name=name)
            session.add(tag)
    except IntegrityError as caught:
        print("savepoint rolled back:", error_text(caught))
        tag = find_tag(session, name)
        # sphinx_gallery_start_ignore
        plain_reads.append(tag)
        # sphinx_gallery_end_ignore
        if tag is None:  # MariaDB: the snapshot is older than the other writer's commit
            locking = select(Tag).where(Tag.name == name).with_for_update()
            tag = session.scalars(locking).one()
    return tag


plain_reads: list = []
# sphinx_gallery_start_ignore
lookups_in_transaction: list = []
# sphinx_gallery_end_ignore
request = SessionLocal()
tag = get_or_create_tag(request, "rust", race=lambda: other_writer_adds("rust"))
print("session active:", request.is_active, "- got", tag)
post = Post(title="Hello again", tag=tag)
request.add(post)
request.commit()
print(post, "tagged", post.tag)
request.close()
with SessionLocal() as check:
    rows = check.execute(select(Tag.name, func.count()).group_by(Tag.name)).all()
    tag_counts = dict(rows)
    titles = check.scalars(select(Post.title).order_by(Post.id)).all()
print("rust tags:", tag_counts["rust"], "- posts:", titles)
# sphinx_gallery_start_ignore
assert len(plain_reads) == 1, "the savepoint's INSERT failed once"
assert post.tag.name == "rust" and post.id is not None, (
    "the post was committed, in the same transaction, with the other writer's tag"
)
if engine.dialect.name == "mysql":
    assert plain_reads[0] is None, (
        "MariaDB: a plain SELECT after the failed INSERT still reads the old snapshot"
    )
else:
    assert plain_reads[0] is not None, (
        f"{engine.dialect.name}: a plain SELECT after the failed INSERT finds the row"
    )
if engine.dialect.name == "sqlite":
    assert lookups_in_transaction == [False], (
        "SQLite: the first lookup ran outside any transaction"
    )
assert tag_counts["rust"] == 1, "one rust tag: the other writer's"
assert titles == ["Hello again"], "the post was committed"
# sphinx_gallery_end_ignore

# %%
# Newer MariaDB: snapshot isolation refuses the locking read
# ----------------------------------------------------------
#
# From MariaDB 11.6.2, ``innodb_snapshot_isolation`` is on by default: a locking read of
# a row changed since the transaction's snapshot raises error 1020, "Record has changed
# since last read", and the transaction can only be rolled back. Where it is on, read the
# other writer's row in a transaction at READ COMMITTED (for example
# ``session.connection(execution_options={"isolation_level": "READ COMMITTED"})`` as the
# session's first statement), or roll back and retry the whole transaction. When this page
# runs on MariaDB, the race above runs again with the variable set on for the session,
# then once more at READ COMMITTED, where the plain ``SELECT`` finds the row.

snapshot_error = None
if engine.dialect.name == "mysql" and engine.dialect.is_mariadb:
    plain_reads.clear()
    request = SessionLocal()
    request.execute(text("SET SESSION innodb_snapshot_isolation = ON"))
    try:
        get_or_create_tag(request, "go", race=lambda: other_writer_adds("go"))
    except DBAPIError as caught:
        snapshot_error = caught
        print(error_text(caught))
    request.rollback()
    request.execute(text("SET SESSION innodb_snapshot_isolation = DEFAULT"))
    request.close()
    request = SessionLocal()
    request.connection(execution_options={"isolation_level": "READ COMMITTED"})
    request.execute(text("SET SESSION innodb_snapshot_isolation = ON"))
    tag = get_or_create_tag(request, "java", race=lambda: other_writer_adds("java"))
    found_read_committed = repr(plain_reads[1])
    print("at READ COMMITTED, the plain SELECT found", found_read_committed)
    request.rollback()
    request.execute(text("SET SESSION innodb_snapshot_isolation = DEFAULT"))
    request.close()
else:
    print("innodb_snapshot_isolation is MariaDB's: not run on", engine.dialect.name)
# sphinx_gallery_start_ignore
if engine.dialect.name == "mysql" and engine.dialect.is_mariadb:
    assert plain_reads[0] is None, "MariaDB: the plain SELECT found nothing again"
    assert plain_reads[1] is tag and "name='java'" in found_read_committed, (
        "at READ COMMITTED, the plain SELECT found the other writer's row"
    )
    assert snapshot_error is not None and snapshot_error.orig.args[0] == 1020, (
        "MariaDB with innodb_snapshot_isolation on: the locking read raised error 1020"
    )
# sphinx_gallery_end_ignore

# %%
# SQLite: a savepoint needs the pysqlite workaround
# -------------------------------------------------
#
# The races above ran on SQLite as pysqlite sets it up by default: it sends no ``BEGIN``
# before a ``SELECT``, so the lookup runs outside any transaction, and the ``SAVEPOINT``
# opens SQLite's transaction. When nobody races, ``RELEASE SAVEPOINT`` then commits the
# tag at once, and the request's ``rollback()`` later leaves it in the database. The
# workaround of SQLAlchemy's SQLite documentation (the one :doc:`the savepoints page
# <../session_lifecycle/savepoints>` runs) sends ``BEGIN`` first, and the rollback removes
# the tag. With it the race cannot happen: the request's lookup holds SQLite's read lock,
# and the other writer's ``COMMIT`` fails with "database is locked" (after 0.1 seconds
# here, the ``timeout`` given; 5 by default). On PostgreSQL and MariaDB the cell does not
# run.


def begin_as_sqlalchemy_says(engine):
    @event.listens_for(engine, "connect")
    def no_driver_transactions(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None  # pysqlite sends no BEGIN of its own

    @event.listens_for(engine, "begin")
    def send_begin(connection):
        connection.exec_driver_sql("BEGIN")

    return engine


def left_after_rollback(sessions, name: str) -> int:
    with sessions() as request:
        get_or_create_tag(request, name)  # nobody races: the savepoint is released
        request.rollback()  # the request fails later
    with sessions() as check:
        return check.scalar(select(func.count()).where(Tag.name == name))


lock_error = None
if engine.dialect.name == "sqlite":
    # sphinx_gallery_start_ignore
    lookups_in_transaction.clear()
    # sphinx_gallery_end_ignore
    plain_left = left_after_rollback(SessionLocal, "ruby")
    fixed = begin_as_sqlalchemy_says(create_engine(url, connect_args={"timeout": 0.1}))
    Fixed = sessionmaker(fixed)
    fixed_left = left_after_rollback(Fixed, "zig")

    def locked_writer() -> None:
        with Fixed.begin() as other:
            other.add(Tag(name="kotlin"))

    with Fixed() as request:
        try:
            get_or_create_tag(request, "kotlin", race=locked_writer)
        except OperationalError as caught:
            lock_error = caught
    fixed.dispose()
    print("pysqlite's default: tags left after the rollback:", plain_left)
    print("with the workaround: tags left after the rollback:", fixed_left)
    print("with the workaround, the other writer:", error_text(lock_error))
else:
    print("the pysqlite workaround is SQLite's: not run on", engine.dialect.name)
# sphinx_gallery_start_ignore
if engine.dialect.name == "sqlite":
    assert lookups_in_transaction[:2] == [False, True], (
        "the lookup ran outside a transaction by default, inside one with the workaround"
    )
    assert plain_left == 1, "pysqlite's default: the RELEASE committed the tag"
    assert fixed_left == 0, "with the workaround, the rollback removed the tag"
    assert lock_error is not None and "database is locked" in str(lock_error), (
        "with the workaround, the other writer's commit failed: database is locked"
    )
# sphinx_gallery_end_ignore

# %%
# In one sentence
# ---------------
#
# After any error inside a session's transaction, call ``rollback()`` (or end the session)
# before using it again, and wrap an ``INSERT`` that may lose a race in
# ``begin_nested()`` so that only it is undone (on SQLite, with the pysqlite workaround).
#
# Clean up: the page closes its engine's connections.

engine.dispose()
if tmpdir is not None:
    tmpdir.cleanup()
