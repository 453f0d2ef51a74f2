# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Isolation level per session or per transaction, and when it is too late
=======================================================================

For every transaction of a session, bind it to ``engine.execution_options(isolation_level=
...)``; for one transaction, call ``session.connection(execution_options={"isolation_level":
...})`` before anything else in it. Once a query has begun the transaction it is too late:
``connection()`` ignores the option with a ``SAWarning``, the connection's
``execution_options()`` raises ``InvalidRequestError``, and ``session.execute(...,
execution_options=...)`` ignores it without a word (set on the statement itself,
``select(...).execution_options()``, the option raises ``ArgumentError``).
"""

# %%
# Setup
# -----
#
# ``WANTED`` is a level other than the database's default: ``SERIALIZABLE`` on PostgreSQL
# (default ``READ COMMITTED``) and MariaDB (default ``REPEATABLE READ``); on SQLite, whose
# default is ``SERIALIZABLE``, ``READ UNCOMMITTED``. ``level()`` asks the connection a
# session's transaction runs on (``Connection.get_isolation_level()`` queries the database).
# The page shows the level each transaction reports, not what the level changes. On SQLite
# ``READ UNCOMMITTED`` only sets ``PRAGMA read_uncommitted = 1``, which, SQLite's
# documentation says, matters only between connections sharing a cache (shared-cache
# mode): here it changes what the connection reports, and nothing else is shown.
# ``caught()`` runs a step and prints the warnings and the error it raised.

import os
import re
import warnings

from sqlalchemy import String, create_engine, select
from sqlalchemy.exc import ArgumentError, InvalidRequestError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
WANTED = "READ UNCOMMITTED" if engine.dialect.name == "sqlite" else "SERIALIZABLE"


def level(session: Session) -> str:
    return session.connection().get_isolation_level()


def caught(step) -> list[str]:
    """Run step(); return (and print) each warning and the error it raised."""
    seen = []
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        try:
            step()
        except (ArgumentError, InvalidRequestError) as error:
            message = re.split(r"\s*\(Background on this error", str(error))[0]
            seen.append(f"{type(error).__name__}: {message}")
    seen[:0] = [f"{w.category.__name__}: {w.message}" for w in recorded]
    for line in seen:
        print(line)
    return seen


with Session(engine) as session:
    DEFAULT = level(session)
print("the default level:", DEFAULT)
# sphinx_gallery_start_ignore
assert DEFAULT != WANTED, "the level this page asks for is not the database's default"
if engine.dialect.name == "sqlite":
    with engine.connect() as connection:
        pragma = "PRAGMA read_uncommitted"
        before = connection.exec_driver_sql(pragma).scalar()
        connection.rollback()
        connection.execution_options(isolation_level=WANTED)
        after = connection.exec_driver_sql(pragma).scalar()
    assert (before, after) == (0, 1), (
        "SQLite: READ UNCOMMITTED sets PRAGMA read_uncommitted to 1"
    )
# sphinx_gallery_end_ignore

# %%
# Every transaction of a session: bind it to an engine copy
# ---------------------------------------------------------
#
# ``engine.execution_options(isolation_level=...)`` returns a copy of the engine that shares
# its pool and sets the level on each connection it hands out (and resets it when the
# connection goes back to the pool). A session bound to it, or a ``sessionmaker(bind=...)``
# of it, runs every transaction at that level, the one after a commit too.

serializable = engine.execution_options(isolation_level=WANTED)
with Session(serializable) as session:
    first = level(session)
    session.commit()
    second = level(session)
print("first transaction:", first, "- after commit():", second)
with Session(engine) as session:
    plain = level(session)
print("a session of the plain engine:", plain)
# sphinx_gallery_start_ignore
assert first == second == WANTED, (
    "every transaction of the bound session ran at the level"
)
assert plain == DEFAULT, "the plain engine's sessions still get the default"
# sphinx_gallery_end_ignore

# %%
# One transaction: ``connection(execution_options=...)`` first
# ------------------------------------------------------------
#
# ``session.connection(execution_options=...)`` as the transaction's first step begins the
# transaction on a connection set to the level. It holds until the transaction ends: the
# next transaction is back at the default.

with Session(engine) as session:
    session.connection(execution_options={"isolation_level": WANTED})
    this_one = level(session)
    session.commit()
    next_one = level(session)
print("this transaction:", this_one, "- the next one:", next_one)
# sphinx_gallery_start_ignore
assert this_one == WANTED, "the transaction ran at the level asked for"
assert next_one == DEFAULT, "the next transaction was back at the default"
# sphinx_gallery_end_ignore

# %%
# Too late: ``connection(execution_options=...)`` after a query
# -------------------------------------------------------------
#
# A query has already begun the transaction (the session's autobegin) on a connection at
# the default level. ``connection()`` cannot change it: it warns, and the transaction
# stays at the default. After ``commit()`` (or ``rollback()``) the same call begins the
# next transaction at the level.

with Session(engine) as session:
    session.scalars(select(User)).all()
    seen = caught(
        lambda: session.connection(execution_options={"isolation_level": WANTED})
    )
    after = level(session)
    session.commit()
    session.connection(execution_options={"isolation_level": WANTED})
    after_commit = level(session)
print("the level:", after, "- after commit():", after_commit)
# sphinx_gallery_start_ignore
assert seen == [
    "SAWarning: Connection is already established for the given bind; "
    "execution_options ignored"
], "connection(execution_options=...) after a query warned that it ignored them"
assert after == DEFAULT, "and the transaction stayed at the default level"
assert after_commit == WANTED, "after commit() the call set the next transaction's level"
# sphinx_gallery_end_ignore

# %%
# Too late: the connection's own ``execution_options()``
# ------------------------------------------------------
#
# Asking the session's connection directly raises instead: the level of a connection
# cannot change inside a transaction.

with Session(engine) as session:
    session.scalars(select(User)).all()
    seen = caught(lambda: session.connection().execution_options(isolation_level=WANTED))
# sphinx_gallery_start_ignore
assert len(seen) == 1 and seen[0].startswith(
    "InvalidRequestError: This connection has already initialized a SQLAlchemy "
    "Transaction() object via begin() or autobegin; isolation_level may not be altered"
), "the connection's execution_options() raised InvalidRequestError"
# sphinx_gallery_end_ignore

# %%
# Silently ignored: ``session.execute(..., execution_options=...)``
# -----------------------------------------------------------------
#
# Passed to ``session.execute()``, the option neither warns nor raises, and changes
# nothing: not after a query, and not even as the session's first statement, which begins
# the transaction at the default level. Set on the statement itself,
# ``select(...).execution_options(isolation_level=...)``, it raises ``ArgumentError`` at
# once, before anything runs.

options = {"isolation_level": WANTED}
for first_statement in (False, True):
    with Session(engine) as session:
        if not first_statement:
            session.scalars(select(User)).all()
        seen = caught(lambda: session.execute(select(User), execution_options=options))
        ran_at = level(session)
    where = "as the first statement" if first_statement else "after a query"
    print(f"{where}: {len(seen)} warnings or errors, the level: {ran_at}")
    # sphinx_gallery_start_ignore
    assert seen == [], f"{where}, session.execute() took the option without a word"
    assert ran_at == DEFAULT, f"{where}, the transaction ran at the default level"
    # sphinx_gallery_end_ignore
on_statement = caught(lambda: select(User).execution_options(**options))
# sphinx_gallery_start_ignore
assert len(on_statement) == 1 and on_statement[0].startswith(
    "ArgumentError: 'isolation_level' execution option may only be specified on "
    "Connection.execution_options()"
), "select(...).execution_options(isolation_level=...) raised ArgumentError"
# sphinx_gallery_end_ignore

# %%
# In one sentence
# ---------------
#
# Choose the level before the transaction begins: bind the session to
# ``engine.execution_options(isolation_level=...)``, or make
# ``session.connection(execution_options=...)`` the transaction's first call, after a
# ``commit()`` or ``rollback()`` if a query already ran. (Two sessions writing one row at
# each database's default level: :doc:`lost updates <../concurrency_and_scope/lost_update>`.)
#
# Clean up: the page closes its engine's connections.

engine.dispose()
