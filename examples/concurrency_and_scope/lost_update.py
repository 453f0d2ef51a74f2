# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0.2",
# ]
# ///
"""
Lost updates: two sessions, one row, and three fixes
====================================================

Reading a value into Python and writing it back loses concurrent updates; let the database
compute (``User.balance + 10``), or lock the row first with ``with_for_update()`` on
PostgreSQL and MariaDB (SQLite ignores it), or add a ``version_id_col`` so the losing
write raises ``StaleDataError`` and can be retried on fresh data (if every writer bumps
the version).
"""

# %%
# Setup: two sessions on one database, no wait longer than a second or two
# ------------------------------------------------------------------------
#
# :doc:`Two sessions <../session_lifecycle/two_sessions>` are two connections, so SQLite needs a
# file (an in-memory database belongs to
# one connection). Every lock wait is capped: SQLite's ``timeout``, PostgreSQL's
# ``lock_timeout`` and MariaDB's ``innodb_lock_wait_timeout`` make a blocked statement fail
# instead of hanging this single-threaded page. This page's helper ``reset`` closes both
# sessions (ending their transactions, emptying their identity maps) and puts the balance
# back to 100.

import os
import re
import tempfile

from sqlalchemy import create_engine, event, inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.orm.exc import StaleDataError


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    balance: Mapped[int]

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, balance={self.balance!r})"


class VersionedUser(Base):
    __tablename__ = "versioned_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    balance: Mapped[int]
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"VersionedUser(id={self.id}, balance={self.balance}, v={self.version})"


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

session_a = Session(engine)
session_b = Session(engine)
statements: list[str] = []  # every statement sent, for the asserts
event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))


def reset() -> None:
    session_a.close()  # ends both transactions, empties both identity maps
    session_b.close()
    with Session(engine) as setup:
        setup.merge(User(id=1, balance=100))
        setup.commit()


def balance_in_database() -> int:
    with engine.connect() as connection:
        return connection.scalar(select(User.balance).where(User.id == 1))


def message_of(error: Exception) -> str:
    """The error's first line, without addresses (the SQL box shows the SQL)."""
    message = re.sub(r" at 0x[0-9a-f]+", "", str(error).splitlines()[0])
    return f"{type(error).__name__}: {message}"


reset()

# %%
# The lost update: read, modify, write, twice
# -------------------------------------------
#
# A and B both load the user with balance 100. A adds 10 and commits; B adds 20 and commits.
# Each UPDATE sends the value computed in Python, ``SET balance = 110`` then
# ``SET balance = 120``: B's write overwrites A's. The database ends at 120, not 130, on all
# three databases at their default isolation levels. In the tables of ORM objects under the
# cells, the first ``User(id=1)`` is A's object, the second B's.

user_a = session_a.get(User, 1)
user_b = session_b.get(User, 1)
user_a.balance += 10
session_a.commit()
user_b.balance += 20
session_b.commit()
in_db = balance_in_database()
print("balance in the database:", in_db)
# sphinx_gallery_start_ignore
assert in_db == 120, "B's write overwrote A's: A's +10 is lost"
# sphinx_gallery_end_ignore

# %%
# Fix 1: let the database add (``SET balance = balance + 10``)
# ------------------------------------------------------------
#
# Assign a SQL expression instead of a number: ``user.balance = User.balance + 10``. The flush
# sends ``SET balance=(user_account.balance + ?)``, computed by the database from the row as
# it is when the UPDATE runs, and expires the attribute (the ORM does not know the result).
# Session B does the same with an ORM ``update()`` statement. Nothing read earlier is
# written back, so nothing is lost. One trap: B's loaded object shows 120 until B's commit,
# because the ORM computed ``balance + 20`` in Python from B's stale 100
# (:ref:`sphx_glr_auto_examples_myths_evaluate_reads_database.py`); the commit expires it.

reset()
user_a = session_a.get(User, 1)
user_b = session_b.get(User, 1)
user_a.balance = User.balance + 10
statements.clear()
session_a.flush()
# sphinx_gallery_start_ignore
assert "SET balance=(user_account.balance + " in statements[-1], "the database adds"
# sphinx_gallery_end_ignore
expired_after_flush = "balance" in inspect(user_a).expired_attributes
session_a.commit()
session_b.execute(update(User).where(User.id == 1).values(balance=User.balance + 20))
print("expired after A's flush:", expired_after_flush, "- B's object:", user_b)
# sphinx_gallery_start_ignore
assert expired_after_flush, "the flush of a SQL expression expires the attribute"
assert user_b.balance == 120, "B's object got 100 + 20, computed in Python"
# sphinx_gallery_end_ignore
session_b.commit()
in_db = balance_in_database()
print(f"database: {in_db} - A: {user_a} - B: {user_b}")
# sphinx_gallery_start_ignore
assert in_db == 130, "both increments arrived: nothing lost"
assert user_a.balance == 130 and user_b.balance == 130, "after commit both reload 130"
# sphinx_gallery_end_ignore

# %%
# Fix 2: ``with_for_update()``: B waits for A's lock (not on SQLite)
# ------------------------------------------------------------------
#
# A loads the user with ``SELECT ... FOR UPDATE``, which locks the row until A's transaction
# ends. On PostgreSQL and MariaDB, B's own ``SELECT ... FOR UPDATE`` waits for that lock; a
# real application just waits, this page gives up after one second (the lock timeout from
# the setup). SQLite has no row locks: it sends the SELECT without ``FOR UPDATE`` and B
# reads 100 at once. Lock before the first read: a locking SELECT of an object the session
# already holds keeps its old values
# (:ref:`sphx_glr_auto_examples_session_lifecycle_with_for_update.py`).

reset()
statements.clear()
user_a = session_a.scalars(select(User).where(User.id == 1).with_for_update()).one()
locking = [sql for sql in statements if sql.startswith("SELECT")]
# sphinx_gallery_start_ignore
assert ("FOR UPDATE" in locking[-1]) != (dialect == "sqlite"), "FOR UPDATE, but SQLite"
# sphinx_gallery_end_ignore
user_b = lock_error = None
try:
    user_b = session_b.scalars(select(User).where(User.id == 1).with_for_update()).one()
    print("B read without waiting:", user_b)
except OperationalError as error:
    lock_error = error
    print(message_of(error))
    session_b.rollback()
# sphinx_gallery_start_ignore
if dialect == "sqlite":
    assert user_b is not None and user_b.balance == 100, "SQLite: B is not held back"
else:
    assert user_b is None, f"{dialect}: B's locking read waited for A, then timed out"
    assert "lock" in str(lock_error).lower(), "the error is a lock timeout"
# sphinx_gallery_end_ignore

# %%
# So B reads after A's commit, and adds to A's result
# ---------------------------------------------------
#
# A adds 10 and commits, which releases the lock. On PostgreSQL and MariaDB, B (a real B
# would have been waiting all along) now locks and reads 110 and writes 130. On SQLite, B
# still holds the 100 it read before A's commit, and its write loses A's update again:
# there, use fix 1 or fix 3.

user_a.balance += 10
session_a.commit()
if user_b is None:
    user_b = session_b.scalars(select(User).where(User.id == 1).with_for_update()).one()
print("B read:", user_b)
user_b.balance += 20
session_b.commit()
in_db = balance_in_database()
print("balance in the database:", in_db)
expected = 120 if dialect == "sqlite" else 130
# sphinx_gallery_start_ignore
assert in_db == expected, f"{dialect}: the database ends at {expected}"
# sphinx_gallery_end_ignore

# %%
# Fix 3: ``version_id_col``: the second write fails instead of winning
# --------------------------------------------------------------------
#
# ``__mapper_args__ = {"version_id_col": version}`` makes every UPDATE of a
# ``VersionedUser`` set ``version`` to the loaded version plus one and add
# ``AND versioned_user.version = ?`` to its WHERE clause, with the version the session
# loaded. A's UPDATE matches (version 1) and writes version 2. B's UPDATE still asks for
# version 1, matches no row, and the flush raises :doc:`StaleDataError <stale_data_error>`.

reset()
with Session(engine) as setup:
    setup.add(VersionedUser(id=1, balance=100))
    setup.commit()
account_a = session_a.get(VersionedUser, 1)
account_b = session_b.get(VersionedUser, 1)
account_a.balance += 10
session_a.commit()
statements.clear()
account_b.balance += 20
stale = None
try:
    session_b.commit()
except StaleDataError as error:
    stale = error
    print(message_of(error))
# sphinx_gallery_start_ignore
assert "expected to update 1 row(s); 0 were matched" in str(stale), "B's UPDATE missed"
# sphinx_gallery_end_ignore
update_sql = " ".join(statements[-1].split())
print("A's object:", account_a)
# sphinx_gallery_start_ignore
assert account_a.version == 2, "A's UPDATE wrote version 2"
assert update_sql.startswith("UPDATE versioned_user SET"), "the failing statement"
assert "AND versioned_user.version = " in update_sql, "its WHERE names the version"
# sphinx_gallery_end_ignore

# %%
# Recover: roll back, reload, apply the change again
# --------------------------------------------------
#
# After the error B's transaction must be rolled back; the rollback expires ``account_b``,
# so the next read loads balance 110 and version 2. B re-applies its +20 to that and commits.
# The other ways to meet ``StaleDataError`` (a row deleted, a primary key changed) are on
# :ref:`sphx_glr_auto_examples_concurrency_and_scope_stale_data_error.py`.

session_b.rollback()
# sphinx_gallery_start_ignore
assert {"balance", "version"} <= inspect(account_b).expired_attributes, "B's is expired"
# sphinx_gallery_end_ignore
print(f"B after the rollback: {account_b}")
account_b.balance += 20
session_b.commit()
print("after B's commit:", session_b.get(VersionedUser, 1))
# sphinx_gallery_start_ignore
assert (account_b.balance, account_b.version) == (130, 3), "B's retry: 130 at version 3"
# sphinx_gallery_end_ignore

# %%
# The version guards only against writers that bump it
# ----------------------------------------------------
#
# The check is in B's UPDATE: it fails only if the version changed. If A writes with an
# ``update(VersionedUser)`` statement (the form B used in fix 1), nothing bumps the version,
# B's flush matches version 1 and A's +10 is lost again, silently. Bump it in every such statement,
# :meth:`values(..., version=VersionedUser.version + 1)
# <sqlalchemy.sql.expression.Update.values>`, and B's flush raises again.


def race_with(statement) -> str:
    reset()
    with engine.begin() as setup:
        setup.execute(update(VersionedUser).values(balance=100, version=1))
    account_b = session_b.get(VersionedUser, 1)
    session_a.execute(statement)
    session_a.commit()
    account_b.balance += 20
    try:
        session_b.commit()
    except StaleDataError as error:
        session_b.rollback()
        return message_of(error)
    with engine.connect() as connection:
        return f"no error, balance {connection.scalar(select(VersionedUser.balance))}"


add_10 = update(VersionedUser).where(VersionedUser.id == 1)
add_10 = add_10.values(balance=VersionedUser.balance + 10)
no_bump = race_with(add_10)
with_bump = race_with(add_10.values(version=VersionedUser.version + 1))
print("A's UPDATE without the version:", no_bump)
print("A's UPDATE that bumps it:", with_bump)
# sphinx_gallery_start_ignore
assert no_bump == "no error, balance 120", "no bump: B wins silently, A's +10 lost"
assert with_bump.startswith("StaleDataError"), "with the bump, B's flush raises"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the sessions and the engine's connections.

session_a.close()
session_b.close()
engine.dispose()
if tmpdir is not None:
    tmpdir.cleanup()
