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
every later use of the session raises ``PendingRollbackError`` until ``rollback()`` is
called; a lost connection does the same ("Can't reconnect until invalid transaction is
rolled back"). A request or a task that catches an error must call ``rollback()`` (or
end the session) before it goes on. A get-or-create that can race another writer puts
its ``INSERT`` in a savepoint (``begin_nested()``): the duplicate rolls back only the
savepoint, and the code selects the other writer's row.
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

from sqlalchemy import ForeignKey, String, create_engine, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, PendingRollbackError
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
# repeats the first error.

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
# sphinx_gallery_start_ignore
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

session.rollback()
print("the failed tag is transient:", inspect(duplicate).transient)
tags = session.scalars(select(Tag)).all()
print("session active:", session.is_active, "-", tags)
session.close()
# sphinx_gallery_start_ignore
assert inspect(duplicate).transient, "after rollback() the failed tag is transient"
assert [t.name for t in tags] == ["sqlalchemy"], (
    "after rollback() the session runs queries"
)

# sphinx_gallery_end_ignore

# %%
# A lost connection: "Can't reconnect until invalid transaction is rolled back"
# -----------------------------------------------------------------------------
#
# When the driver reports a dropped connection in the middle of a transaction (a server
# restart, a network cut, an idle-in-transaction timeout), SQLAlchemy invalidates the
# connection. ``invalidate()`` below does the same on purpose. The transaction is gone,
# so the session refuses to go on as if nothing happened, until ``rollback()``; then it
# takes a fresh connection from the pool.

session = SessionLocal()
session.scalars(select(Tag)).all()
session.connection().invalidate()
error = None
try:
    session.scalars(select(Tag)).all()
except PendingRollbackError as caught:
    error = caught
    print(error_text(caught))
session.rollback()
tags = session.scalars(select(Tag)).all()
print("after rollback():", tags)
session.close()
# sphinx_gallery_start_ignore
assert (
    error is not None
    and "Can't reconnect until invalid transaction is rolled back" in (str(error))
), "a query after the connection was invalidated raised PendingRollbackError"
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
# tag at the worst moment, between the lookup and the ``INSERT``. Except on MariaDB, the
# second lookup is a plain ``SELECT``: under MariaDB's default isolation level,
# REPEATABLE READ, it still reads the transaction's first snapshot, from before the other
# writer's commit, and finds nothing (checked when this page runs on MariaDB); a locking
# read (``with_for_update()``) reads the latest committed row.


def get_or_create_tag(session, name: str, race=lambda: None) -> Tag:
    tag = find_tag(session, name)
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
assert tag_counts["rust"] == 1, "one rust tag: the other writer's"
assert titles == ["Hello again"], "the post was committed"
# sphinx_gallery_end_ignore

# %%
# In one sentence
# ---------------
#
# After any error inside a session's transaction, call ``rollback()`` (or end the session)
# before using it again, and wrap an ``INSERT`` that may lose a race in
# ``begin_nested()`` so that only it is undone.
#
# Clean up: the page closes its engine's connections.

engine.dispose()
if tmpdir is not None:
    tmpdir.cleanup()
