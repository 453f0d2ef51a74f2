# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
``synchronize_session`` on SQLite, PostgreSQL and MariaDB
=========================================================

The same bulk statements send different SQL to different databases: ``'fetch'`` is one
``UPDATE ... RETURNING`` where the database can return rows from an UPDATE, and a ``SELECT``
followed by the ``UPDATE`` where it cannot. This page asserts, for whichever database
``DATABASE_URL`` names (SQLite in memory by default), what that database is sent, and that the
session ends up the same everywhere.
"""

# %%
# Setup
# -----
#
# Two users. ``sent`` records the first word of every statement, to check the shape of the SQL
# without depending on each driver's placeholders (``?``, ``%s``, ``%(name)s``).

import os

from sqlalchemy import String, create_engine, delete, event, func, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r}, status={self.status!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
Base.metadata.drop_all(engine)
Base.metadata.create_all(engine)
with Session(engine) as session:
    session.add_all(
        [User(id=1, name="Alice", status="active"), User(id=2, name="bob", status="active")]
    )
    session.commit()

sent: list[str] = []
event.listen(
    engine,
    "before_cursor_execute",
    lambda conn, cursor, sql, *rest: sent.append(sql.split()[0].upper()),
)

# %%
# What this database can return
# -----------------------------
#
# SQLAlchemy knows, per dialect, whether ``UPDATE`` and ``DELETE`` can have a ``RETURNING``
# clause. SQLite (3.35 and later) and PostgreSQL can do both; MariaDB can return rows from a
# ``DELETE`` but not from an ``UPDATE``.

dialect = engine.dialect
print(
    f"{dialect.name}: UPDATE..RETURNING={dialect.update_returning}, "
    f"DELETE..RETURNING={dialect.delete_returning}"
)
expected = {"sqlite": (True, True), "postgresql": (True, True), "mysql": (False, True)}
if dialect.name in expected:
    assert (dialect.update_returning, dialect.delete_returning) == expected[dialect.name], (
        f"{dialect.name} returns rows from UPDATE / DELETE as the text says"
    )

# %%
# ``'fetch'`` on an UPDATE
# ------------------------
#
# With ``RETURNING`` the database tells which rows it changed in the same statement. Without
# it, SQLAlchemy first SELECTs the primary keys of the matching rows, then sends the UPDATE:
# two statements, and between them another transaction may change which rows match (under
# MariaDB's default REPEATABLE READ the SELECT even reads the transaction's snapshot while the
# UPDATE changes the latest rows). The objects updated in the session are those the SELECT
# found.

with Session(engine) as session:
    alice = session.get(User, 1)
    sent.clear()
    session.execute(
        update(User).where(User.status == "active").values(status="archived"),
        execution_options={"synchronize_session": "fetch"},
    )
    print(sent)
    print(alice)
    if dialect.update_returning:
        assert sent == ["UPDATE"], "one UPDATE ... RETURNING"
    else:
        assert sent == ["SELECT", "UPDATE"], "a SELECT of the keys, then the UPDATE"
    assert alice.status == "archived", "on every database the loaded object is updated"
    session.rollback()

# %%
# ``'auto'`` falling back to ``'fetch'``
# --------------------------------------
#
# ``lower()`` cannot run in Python, so ``'auto'`` (the default) does what ``'fetch'`` does:
# the same split between one statement and two.

with Session(engine) as session:
    alice = session.get(User, 1)
    sent.clear()
    session.execute(update(User).where(func.lower(User.name) == "alice").values(status="away"))
    print(sent)
    assert sent == (["UPDATE"] if dialect.update_returning else ["SELECT", "UPDATE"]), (
        "'auto' fell back to 'fetch'"
    )
    assert alice.status == "away", "and the loaded object is updated"
    session.rollback()

# %%
# ``'fetch'`` on a DELETE
# -----------------------
#
# All three databases can return rows from a ``DELETE``, so here the SQL has the same shape
# everywhere: one statement.

with Session(engine) as session:
    bob = session.get(User, 2)
    sent.clear()
    session.execute(
        delete(User).where(User.name == "bob"), execution_options={"synchronize_session": "fetch"}
    )
    print(sent)
    assert sent == ["DELETE"], "one DELETE ... RETURNING on every database here"
    assert bob not in session, "the matched object left the session"
    session.rollback()

# %%
# What stays the same
# -------------------
#
# However many statements were sent, the session's view afterwards is the same on every
# database: the objects that matched carry the new values, and after a rollback the rows
# are as they were.

with Session(engine) as session:
    rows = session.execute(select(User.id, User.status).order_by(User.id)).all()
    print(rows)
assert [tuple(row) for row in rows] == [(1, "active"), (2, "active")], "rollbacks undid it all"

# %%
# In one sentence
# ---------------
#
# ``'fetch'`` costs one ``UPDATE ... RETURNING`` on SQLite and PostgreSQL but a ``SELECT`` and
# an ``UPDATE`` on MariaDB, while what the session ends up knowing is the same on all three.
