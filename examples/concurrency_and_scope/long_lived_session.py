# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
A long-lived session in a polling loop: the objects it holds keep their old values
==================================================================================

A session kept across a polling loop returns the objects it loaded, and that the loop
still holds, with their old values (and on MariaDB reads an old snapshot even for plain
columns); use one session per iteration, or end its transaction in every iteration with
``rollback()``, which always expires the objects, or ``commit()``, which expires them only
under the default ``expire_on_commit=True`` (with ``False`` the loop keeps the old value).
Web requests, threads and background jobs:
:ref:`sphx_glr_auto_examples_concurrency_and_scope_session_per_request.py`.
"""

# %%
# Setup: a worker polls a job's status while another connection changes it
# ------------------------------------------------------------------------
#
# SQLite needs a file, so that two connections see one database. ``the_other_process()``
# plays the rest of the world: it sets the job's status on
# :doc:`another connection <../session_lifecycle/two_sessions>` and commits,
# once before each iteration of the loop.

import os
import tempfile

from sqlalchemy import String, create_engine, event, inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20))

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, status={self.status!r})"


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmpdir = None
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    tmpdir = tempfile.TemporaryDirectory()
    url = url.set(database=os.path.join(tmpdir.name, "example.db"))
is_sqlite = url.get_backend_name() == "sqlite"
engine = create_engine(url, connect_args={"timeout": 2} if is_sqlite else {})
dialect = engine.dialect.name
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
STATUSES = ("queued", "running", "done")
statements: list[str] = []  # every statement sent, for the asserts
event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))


def the_other_process(status: str) -> None:
    with engine.begin() as other:
        other.execute(update(Job).where(Job.id == 1).values(status=status))


with Session(engine) as setup:
    setup.add(Job(id=1, status="new"))
    setup.commit()

# %%
# The long-lived session: the loaded object never changes
# -------------------------------------------------------
#
# The worker opens one session before the loop and, in each iteration, asks for the job it
# is working on and keeps it in ``job``. The first ``get()`` loads it; the later ones find
# it in the :doc:`identity map <../session_lifecycle/identity_map>` and send no SQL at all. A query
# is no better: ``select(Job)`` sends
# its SELECT, receives the new row, and hands back the object it already has, with the
# values it already has.

worker = Session(engine)
seen_by_get, seen_by_query, sent_by_get = [], [], []
for status in STATUSES:
    the_other_process(status)
    before = len(statements)
    job = worker.get(Job, 1)
    sent_by_get.append(len(statements) - before)
    seen_by_get.append(job.status)
    job = worker.scalars(select(Job).where(Job.id == 1)).one()
    seen_by_query.append(job.status)
print("get():", seen_by_get, "- select(Job):", seen_by_query)
# sphinx_gallery_start_ignore
assert seen_by_get == ["queued"] * 3, "get() kept answering from the identity map"
assert sent_by_get == [1, 0, 0], "only the first get() sent a SELECT"
assert seen_by_query == ["queued"] * 3, "a query returned the same loaded object"
# sphinx_gallery_end_ignore

# %%
# Only while something holds the object
# -------------------------------------
#
# The identity map holds its objects weakly. A loop that keeps no reference
# (``worker.get(Job, 1).status``) lets the object go after each read, and the next ``get()``
# loads the row again; that is why the bug comes and goes. Then what the reload sees is up
# to the transaction: the latest commit on PostgreSQL and SQLite, and on MariaDB the
# snapshot of the worker's open REPEATABLE READ transaction, ``queued`` again.

del job
seen = []
for status in ("running", "done"):
    the_other_process(status)
    seen.append(worker.get(Job, 1).status)
print("get() with nothing holding the job:", seen)
# sphinx_gallery_start_ignore
if dialect == "mysql":
    assert seen == ["queued", "queued"], "MariaDB: reloads read the old snapshot"
else:
    assert seen == ["running", "done"], f"{dialect}: reloads read the latest"
# sphinx_gallery_end_ignore

# %%
# Asking for the column: per database
# -----------------------------------
#
# ``select(Job.status)`` returns the value itself, not an object, so the identity map is out
# of the way and we see what the worker's transaction sees. PostgreSQL (READ COMMITTED) and
# SQLite see the latest commit. On SQLite, the worker's ``BEGIN (implicit)`` under the first
# loop is SQLAlchemy's own, logical begin: pysqlite sends no BEGIN before a SELECT, so the
# worker's connection holds no transaction, whatever isolation level it reports. MariaDB's
# REPEATABLE READ transaction, open since the first ``get()``, reads the snapshot it took
# then: ``queued`` forever (more on isolation in
# :ref:`sphx_glr_auto_examples_session_lifecycle_two_sessions.py`).

level = worker.connection().get_isolation_level()
print("the worker's isolation level:", level)
if dialect == "sqlite":
    reading = worker.connection().connection.driver_connection
    # sphinx_gallery_start_ignore
    assert level == "SERIALIZABLE", "SQLite reports SERIALIZABLE"
    assert not reading.in_transaction, "pysqlite sent no BEGIN for the worker's reads"
    # sphinx_gallery_end_ignore
else:
    expected = {"mysql": "REPEATABLE READ", "postgresql": "READ COMMITTED"}[dialect]
    # sphinx_gallery_start_ignore
    assert level == expected, f"{dialect} defaults to {expected}"
    # sphinx_gallery_end_ignore
the_other_process("failed")
in_row = worker.scalar(select(Job.status).where(Job.id == 1))
print("the column, in the worker's transaction:", in_row)
# sphinx_gallery_start_ignore
if dialect == "mysql":
    assert in_row == "queued", "MariaDB: the snapshot of the first read"
else:
    assert in_row == "failed", f"{dialect}: each statement sees the latest commit"
# sphinx_gallery_end_ignore

# %%
# ``expire_all()`` is not enough on MariaDB
# -----------------------------------------
#
# Expiring the object makes the next access reload it, in the same transaction: fresh on
# PostgreSQL and SQLite, the old snapshot again on MariaDB. Only the end of the transaction
# (``commit()`` or ``rollback()``) lets MariaDB's next read see the new commits.

job = worker.get(Job, 1)
worker.expire_all()
print(f"after expire_all(): {job}")
expected = "queued" if dialect == "mysql" else "failed"
# sphinx_gallery_start_ignore
assert job.status == expected, "the reload ran in the same transaction"
# sphinx_gallery_end_ignore
worker.rollback()
print(f"after rollback(): {job}")
# sphinx_gallery_start_ignore
assert job.status == "failed", "a new transaction sees the latest commit everywhere"
# sphinx_gallery_end_ignore
worker.close()

# %%
# A session per unit of work sees every commit
# --------------------------------------------
#
# Each iteration opens its own session, reads, and closes it: a new identity map and a new
# transaction each time, so every read comes from the database as it is now, on every
# database.


def poll_once() -> str:
    with Session(engine) as session:
        return session.get(Job, 1).status


seen = []
for status in STATUSES:
    the_other_process(status)
    seen.append(poll_once())
    print("committed:", status, "- a new session reads:", seen[-1])
# sphinx_gallery_start_ignore
assert seen == list(STATUSES), "every iteration saw the status just committed"
# sphinx_gallery_end_ignore

# %%
# Or end the transaction in every iteration
# -----------------------------------------
#
# A session that must live longer works too if each iteration ends with ``commit()``: that
# ends the transaction and, under the default ``expire_on_commit=True``, expires every
# object, so the next ``get()`` loads the row in a new transaction.

worker = Session(engine)
seen = []
for status in STATUSES:
    the_other_process(status)
    job = worker.get(Job, 1)
    seen.append(job.status)
    worker.commit()
    print("committed:", status, "- the worker reads:", seen[-1])
    # sphinx_gallery_start_ignore
    assert inspect(job).expired, "commit() expired the job"
    # sphinx_gallery_end_ignore
# sphinx_gallery_start_ignore
assert seen == list(STATUSES), "every iteration saw the status just committed"
# sphinx_gallery_end_ignore
worker.close()

# %%
# With ``expire_on_commit=False``, end it with ``rollback()``
# -----------------------------------------------------------
#
# A session made with ``expire_on_commit=False`` keeps its objects loaded through
# ``commit()``: while the loop holds the job, its ``get()`` returns it from the identity
# map with the first value it read. ``rollback()`` expires every object whatever that
# setting says, so the same loop ending with ``rollback()`` reads every status.


def poll_with(end) -> list[str]:
    with Session(engine, expire_on_commit=False) as keeping:
        seen = []
        for status in STATUSES:
            the_other_process(status)
            job = keeping.get(Job, 1)  # the loop holds the job, as in the first cells
            seen.append(job.status)
            getattr(keeping, end)()
        return seen


after_commit, after_rollback = poll_with("commit"), poll_with("rollback")
print("expire_on_commit=False, commit() each time, reads:", after_commit)
print("expire_on_commit=False, rollback() each time, reads:", after_rollback)
# sphinx_gallery_start_ignore
assert after_commit == [STATUSES[0]] * len(STATUSES), (
    "with expire_on_commit=False, commit() in every iteration still returns the first value"
)
assert after_rollback == list(STATUSES), (
    "with expire_on_commit=False, rollback() in every iteration reads every status"
)
engine.dispose()
if tmpdir is not None:
    tmpdir.cleanup()
# sphinx_gallery_end_ignore
