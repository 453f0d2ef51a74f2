# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Serialization failures: retry the whole transaction, in a new session
=====================================================================

Two transactions that each read what the other writes cannot both commit at
``SERIALIZABLE``: PostgreSQL fails one (SQLSTATE 40001, "could not serialize access due to
read/write dependencies among transactions"); SQLite lets one writer in at a time
("database is locked"); MariaDB's InnoDB locks the rows a transaction read, so two
requests that each read, then write, deadlock (error 1213, raised at once), and a write
that waits on a reader's lock fails when ``innodb_lock_wait_timeout`` passes (error 1205;
50 seconds by default, 1 second on this page).
Retry by running the whole transaction function again in a new session: sending the write
again keeps a decision made from a read the database refused, and breaks the rule the read
checked.
"""

# %%
# Setup: a rule that needs the read and the write together
# --------------------------------------------------------
#
# Two doctors are on call, and one may go off call only while another stays on:
# ``go_off_call()`` counts the doctors on call, and sets this one off call if the count is
# at least 2. ``meanwhile`` stands in for a second request arriving between the read and
# the write (this page runs in one thread).
#
# Each database is made ``SERIALIZABLE`` its own way. PostgreSQL and MariaDB take
# ``isolation_level="SERIALIZABLE"`` (for one session or one transaction instead, see
# :doc:`../transactions_and_pool/isolation_level`); MariaDB's lock wait
# (``innodb_lock_wait_timeout``) is cut to 1 second. SQLite gets a file (two connections
# share it), a 0.1 second lock timeout, and, once the table exists, a ``begin`` event that
# sends ``BEGIN IMMEDIATE``: Python's ``sqlite3`` driver would begin only at the first
# write, leaving the read outside the transaction. ``BEGIN IMMEDIATE`` on every transaction
# has a cost: it takes the write lock, so two sessions that only read wait for each other
# too. A plain ``BEGIN`` (SQLAlchemy's documented recipe for pysqlite) also stops this
# write skew, and lets readers share the database. In SQLite's default rollback-journal
# mode the first request to commit a write fails with "database is locked" while the other
# holds its read lock; in WAL mode (``PRAGMA journal_mode=wal``) the first commits, and the
# other's write fails with "database is locked", its read being older than that commit.

import os
import re
import sqlite3
import tempfile

from sqlalchemy import String, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Doctor(Base):
    __tablename__ = "doctors"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    on_call: Mapped[bool]

    def __repr__(self) -> str:
        return f"Doctor(name={self.name!r}, on_call={self.on_call!r})"


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmpdir = None
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    tmpdir = tempfile.TemporaryDirectory()
    url = url.set(database=os.path.join(tmpdir.name, "example.db"))
dialect = url.get_backend_name()
if dialect == "sqlite":
    engine = create_engine(url, connect_args={"timeout": 0.1})

    @event.listens_for(engine, "connect")
    def driver_sends_no_begin(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None

else:
    engine = create_engine(url, isolation_level="SERIALIZABLE")
    if dialect in ("mysql", "mariadb"):

        @event.listens_for(engine, "connect")
        def short_lock_wait(dbapi_connection, connection_record):
            cursor = dbapi_connection.cursor()
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
            cursor.close()


# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
if dialect == "sqlite":

    @event.listens_for(engine, "begin")
    def begin_immediate(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


statements: list[str] = []  # every statement sent, for the asserts
event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))


def go_off_call(session: Session, name: str, meanwhile=lambda: None) -> bool:
    on_call = session.scalar(
        select(func.count()).select_from(Doctor).where(Doctor.on_call)
    )
    meanwhile()
    if on_call < 2:
        return False
    session.get(Doctor, name).on_call = False
    session.flush()
    return True


def both_on_call() -> None:
    with Session(engine) as setup, setup.begin():
        for name in ("alice", "bob"):
            setup.merge(Doctor(name=name, on_call=True))


def on_call_now() -> list[str]:
    with Session(engine) as reader:
        return reader.scalars(select(Doctor.name).where(Doctor.on_call)).all()


def first_line(error: DBAPIError) -> str:
    return re.sub(r" at 0x[0-9a-f]+", "", str(error).splitlines()[0])


both_on_call()

# sphinx_gallery_start_ignore
# Without BEGIN IMMEDIATE (Python's sqlite3 as it comes), the read runs outside any
# transaction and both requests commit: nobody is left on call. Checked with sqlite3 alone,
# so that the page's SQL boxes stay the page's.
if dialect == "sqlite":
    plain = os.path.join(tmpdir.name, "plain.db")
    first, second = (sqlite3.connect(plain, timeout=0.1) for _ in range(2))
    first.execute("CREATE TABLE doctors (name TEXT PRIMARY KEY, on_call BOOLEAN)")
    first.execute("INSERT INTO doctors VALUES ('alice', 1), ('bob', 1)")
    first.commit()
    count = "SELECT count(*) FROM doctors WHERE on_call"
    seen = [c.execute(count).fetchone()[0] for c in (first, second)]
    for connection, name in ((first, "alice"), (second, "bob")):
        connection.execute("UPDATE doctors SET on_call = 0 WHERE name = ?", (name,))
        connection.commit()
    left = first.execute(count).fetchone()[0]
    first.close()
    second.close()
    assert seen == [2, 2] and left == 0, (
        "with the driver's own BEGIN, SQLite let both requests commit"
    )
    # A plain BEGIN: Alice's commit fails while Bob holds his read lock; Bob's commits.
    bob, alice = (sqlite3.connect(plain, timeout=0.1, isolation_level=None) for _ in "ab")
    bob.execute("UPDATE doctors SET on_call = 1")
    for connection in (bob, alice):
        connection.execute("BEGIN")
        assert connection.execute(count).fetchone()[0] == 2, "each read 2 on call"
    alice.execute("UPDATE doctors SET on_call = 0 WHERE name = 'alice'")
    try:
        alice.execute("COMMIT")
        alice_failed = None
    except sqlite3.OperationalError as caught:
        alice_failed = str(caught)
    alice.execute("ROLLBACK")
    bob.execute("UPDATE doctors SET on_call = 0 WHERE name = 'bob'")
    bob.execute("COMMIT")
    left = [row[0] for row in bob.execute("SELECT name FROM doctors WHERE on_call")]
    assert alice_failed == "database is locked" and left == ["alice"], (
        "a plain BEGIN also stops the write skew: Alice's commit failed, Bob's went through"
    )
    # BEGIN IMMEDIATE everywhere: a second session that only reads waits, then fails.
    bob.execute("BEGIN IMMEDIATE")
    try:
        alice.execute("BEGIN IMMEDIATE")
        reader_failed = None
    except sqlite3.OperationalError as caught:
        reader_failed = str(caught)
    bob.execute("ROLLBACK")
    bob.close()
    alice.close()
    assert reader_failed == "database is locked", "BEGIN IMMEDIATE locks readers out too"
    # The same in WAL mode: Alice's commit goes through, Bob's write fails.
    wal = os.path.join(tmpdir.name, "wal.db")
    setup = sqlite3.connect(wal, isolation_level=None)
    mode = setup.execute("PRAGMA journal_mode=wal").fetchone()[0]
    setup.execute("CREATE TABLE doctors (name TEXT PRIMARY KEY, on_call BOOLEAN)")
    setup.execute("INSERT INTO doctors VALUES ('alice', 1), ('bob', 1)")
    setup.close()
    bob, alice = (sqlite3.connect(wal, timeout=0.1, isolation_level=None) for _ in "ab")
    for connection in (bob, alice):
        connection.execute("BEGIN")
        assert connection.execute(count).fetchone()[0] == 2, "each read 2 on call"
    alice.execute("UPDATE doctors SET on_call = 0 WHERE name = 'alice'")
    alice.execute("COMMIT")
    try:
        bob.execute("UPDATE doctors SET on_call = 0 WHERE name = 'bob'")
        bob.execute("COMMIT")
        bob_failed = None
    except sqlite3.OperationalError as caught:
        bob_failed = str(caught)
    bob.execute("ROLLBACK")
    left = [row[0] for row in bob.execute("SELECT name FROM doctors WHERE on_call")]
    bob.close()
    alice.close()
    assert mode == "wal" and bob_failed == "database is locked" and left == ["bob"], (
        "in WAL mode Alice's commit went through and Bob's write failed: database is locked"
    )
# sphinx_gallery_end_ignore

# %%
# Two requests at once: one of them fails
# ---------------------------------------
#
# Bob's request reads 2 doctors on call; then Alice's runs, in a session of its own; then
# Bob's writes and commits. Which one fails, and where, depends on the database:
#
# - PostgreSQL lets both run: Alice's commits, and Bob's fails with SQLSTATE 40001,
#   "could not serialize access due to read/write dependencies among transactions".
# - SQLite: Bob's ``BEGIN IMMEDIATE`` holds the database's write lock from his first read;
#   Alice's ``BEGIN IMMEDIATE`` waits for it, and fails with "database is locked" after
#   0.1 seconds. Bob's commits.
# - MariaDB: at ``SERIALIZABLE`` InnoDB's plain reads lock the rows they read; Alice's
#   ``UPDATE`` waits for Bob's lock and fails after 1 second with error 1205, "Lock wait
#   timeout exceeded; try restarting transaction". Bob's commits. (Two requests in two
#   threads that both read before either writes deadlock instead: one fails at once with
#   error 1213, "Deadlock found when trying to get lock"; checked with two threads on
#   MariaDB 10.11, not on this page.)
#
# Everywhere, one doctor is still on call, and the failed request got an error that means
# "run me again", not "you broke a constraint".

outcome: dict[str, str] = {}
errors: dict[str, DBAPIError] = {}
sessions = {"alice": Session(engine), "bob": Session(engine)}


def request(name: str, meanwhile=lambda: None) -> None:
    session = sessions[name]
    try:
        with session.begin():
            go_off_call(session, name, meanwhile)
        outcome[name] = "went off call"
    except DBAPIError as error:
        outcome[name], errors[name] = first_line(error), error


request("bob", meanwhile=lambda: request("alice"))
for name, result in outcome.items():
    print(f"{name}: {result}")
now = on_call_now()
print("on call now:", now)
# sphinx_gallery_start_ignore
failed = "bob" if dialect == "postgresql" else "alice"
error_text = {  # the driver's own prefix and format left out: any driver
    "postgresql": "could not serialize access due to read/write dependencies among"
    " transactions",
    "sqlite": "(sqlite3.OperationalError) database is locked",
    "mysql": "Lock wait timeout exceeded; try restarting transaction",
}[dialect.replace("mariadb", "mysql")]
won = "alice" if failed == "bob" else "bob"
assert outcome[won] == "went off call", f"on {dialect}, {won}'s request committed"
assert error_text in outcome[failed], f"on {dialect}, {failed}'s failed: {error_text}"
assert now == [failed], "one doctor is still on call"
if dialect == "postgresql":
    orig = errors["bob"].orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate is None:  # pg8000
        sqlstate = orig.args[0]["C"]
    assert sqlstate == "40001", "PostgreSQL's error is SQLSTATE 40001"
if dialect in ("mysql", "mariadb"):
    orig = errors["alice"].orig
    assert 1205 in (getattr(orig, "errno", None), orig.args[0]), "MariaDB's is 1205"
# sphinx_gallery_end_ignore

# %%
# Retrying the commit, or the write: wrong both ways
# --------------------------------------------------
#
# Here ``with session.begin()`` rolled back when the error went through it, so calling
# ``commit()`` again on the failed request's session raises nothing and sends no
# ``UPDATE``: its doctor is still on call. That is the block's doing: a session whose
# flush failed outside such a block raises ``PendingRollbackError`` until ``rollback()``
# (:doc:`../transactions_and_pool/failed_flush`), and a Core connection on MariaDB stays
# in its transaction after error 1205, so ``commit()`` there keeps the statements before
# it (checked on MariaDB 10.11, not on this page): always roll back. Setting the doctor
# off call again on that session and committing does send the ``UPDATE``, in a new
# transaction that nothing refuses: the decision still comes from the read that saw 2
# doctors, and now nobody is on call.

failed = next(name for name, result in outcome.items() if result != "went off call")
session = sessions[failed]
# sphinx_gallery_start_ignore
statements.clear()
# sphinx_gallery_end_ignore
session.commit()
# sphinx_gallery_start_ignore
sent_by_commit = [s for s in statements if s.startswith("UPDATE")]
# sphinx_gallery_end_ignore
now = on_call_now()
print("after commit() again, on call:", now)
# sphinx_gallery_start_ignore
assert sent_by_commit == [], "commit() again sent no UPDATE"
assert now == [failed], "its doctor is still on call"
# sphinx_gallery_end_ignore
# sphinx_gallery_start_ignore
statements.clear()
# sphinx_gallery_end_ignore
session.get(Doctor, failed).on_call = False
session.commit()
# sphinx_gallery_start_ignore
sent_by_write = [s for s in statements if s.startswith("UPDATE")]
# sphinx_gallery_end_ignore
now = on_call_now()
print("after the write again, on call:", now)
# sphinx_gallery_start_ignore
assert len(sent_by_write) == 1, "setting the doctor off call again sent the UPDATE"
assert now == [], "the write sent again left nobody on call"
# sphinx_gallery_end_ignore
for session in sessions.values():
    session.close()

# %%
# The retry helper: the whole function, a new session each time
# -------------------------------------------------------------
#
# ``run_in_transaction()`` opens a new session for each attempt and runs the whole
# function in one transaction: the read comes again, from the database's state now.
# It retries only the errors that mean "run me again", a few times, then lets the error
# through; any other error is not retried. The function takes the session as an argument
# and keeps nothing from one attempt to the next (no objects, no counts).
#
# ``retryable()`` reads the code where each driver puts it. This page runs it with the
# driver of its database URL; it was also run on SQLAlchemy 2.0.59 against PostgreSQL 15
# with psycopg, psycopg2 (2.0's default for ``postgresql://``) and pg8000, and against
# MariaDB 10.11 with PyMySQL and mysql-connector. MariaDB Connector/Python sets ``errno``
# too (SQLAlchemy's own dialect reads it there).


def retryable(error: DBAPIError) -> bool:
    orig = error.orig
    first = orig.args[0] if orig.args else None
    sqlstate = (  # PostgreSQL
        getattr(orig, "sqlstate", None)  # psycopg, asyncpg
        or getattr(orig, "pgcode", None)  # psycopg2
        or (first.get("C") if isinstance(first, dict) else None)  # pg8000
    )
    errno = getattr(orig, "errno", None) or first  # MariaDB, MySQL: errno, or args[0]
    return (
        sqlstate in ("40001", "40P01")  # serialization failure, deadlock
        or errno in (1205, 1213)  # lock wait timeout, deadlock
        or "database is locked" in str(orig)  # SQLite
    )


def run_in_transaction(work, *args, attempts: int = 3):
    for attempt in range(1, attempts + 1):
        with Session(engine) as session:
            try:
                with session.begin():
                    return work(session, *args)
            except DBAPIError as error:
                if attempt == attempts or not retryable(error):
                    raise
                print(f"attempt {attempt} failed, retrying: {first_line(error)}")


# sphinx_gallery_start_ignore
assert all(retryable(error) for error in errors.values()), (
    "the helper retries the error each database raised above"
)
duplicate = IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint failed"))
assert not retryable(duplicate), "any other error is not retried"
# sphinx_gallery_end_ignore


# %%
# The same two requests, retried
# ------------------------------
#
# Both doctors are on call again, and the two requests run as above, through the helper.
# Alice's runs inside Bob's first attempt only. On PostgreSQL, Bob's first attempt fails;
# his second reads 1 doctor on call, and he stays. On SQLite and MariaDB, Alice's request
# fails while Bob's holds the lock; in one thread her retry can only run once Bob's is
# over: it reads 1 doctor on call, and she stays.

both_on_call()
# sphinx_gallery_start_ignore
statements.clear()
# sphinx_gallery_end_ignore
results: dict[str, bool | str] = {}


def alice_once() -> None:
    if "alice" not in results:
        try:
            results["alice"] = run_in_transaction(go_off_call, "alice", attempts=1)
        except DBAPIError as error:
            results["alice"] = first_line(error)


results["bob"] = run_in_transaction(go_off_call, "bob", alice_once)
if results["alice"] is not True:  # her request failed: run it again, whole
    results["alice"] = run_in_transaction(go_off_call, "alice")
print("went off call:", results)
now = on_call_now()
print("on call now:", now)
# sphinx_gallery_start_ignore
if dialect == "postgresql":
    assert results == {"alice": True, "bob": False}, (
        "on PostgreSQL, Bob's second attempt read 1 doctor on call, and he stayed"
    )
else:
    assert results == {"alice": False, "bob": True}, (
        f"on {dialect}, Alice's request, run again, read 1 doctor on call, and she stayed"
    )
reads = sum(s.startswith("SELECT count(*)") for s in statements)
assert reads == (2 if dialect == "sqlite" else 3), (
    "3 reads (on SQLite 2: Alice's first attempt failed at its BEGIN IMMEDIATE)"
)
assert len(now) == 1, "one doctor is still on call"
# sphinx_gallery_end_ignore

# %%
# In one sentence
# ---------------
#
# A serialization failure, a deadlock or a lock timeout says "run the transaction again":
# retry the whole function, reads included, in a new session, a few times at most; never
# re-send only the write or the commit, and keep nothing from the failed attempt.
#
# Clean up: close the engine's connections and remove the SQLite file.

engine.dispose()
if tmpdir is not None:
    tmpdir.cleanup()
