# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
``with_for_update()`` does not refresh an object you already have
=================================================================

``with_for_update()``, in a query or in ``session.get()``, locks the row (except on SQLite,
which leaves out ``FOR UPDATE``) but, like any SELECT, leaves an object already in the identity
map as it was; add ``populate_existing=True``, or call
``session.refresh(obj, with_for_update=True)``, to get the row's current values into it.

Locking a row with ``SELECT ... FOR UPDATE`` feels like "now I have the latest version".
The database does send the latest row, but if the object is already in the session, the
identity map keeps the values it had, and ``session.get(..., with_for_update=True)`` is no
different. ``populate_existing``, or ``session.refresh(obj, with_for_update=True)``, is what
makes the row win.
"""

# %%
# Setup: a database that two connections share
# --------------------------------------------
#
# Another connection has to commit a change while our session is open, so an in-memory
# SQLite database (private to one connection) will not do: by default we use a SQLite file
# in a temporary directory. A short ``timeout`` turns any lock wait into a quick error.

import os
import tempfile

from sqlalchemy import String, create_engine, event, inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


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

with Session(engine) as setup:
    setup.add(User(id=1, name="old"))
    setup.commit()

statements: list[str] = []  # every statement sent, for the asserts
event.listen(
    engine, "before_cursor_execute", lambda conn, cursor, sql, *a: statements.append(sql)
)

# %%
# Our session loads the user
# --------------------------
#
# The object is now in the session's identity map, with ``name == "old"``. No row lock is
# held: a plain SELECT takes none. On SQLite there is not even a database lock: Python's
# ``sqlite3`` driver only sends ``BEGIN`` before the first write, so between statements
# our reading session holds no SHARED lock and the other connection can commit freely.

session = Session(engine)
user = session.get(User, 1)
print(user)
# sphinx_gallery_start_ignore
assert user.name == "old", "the session loaded the committed value"
# sphinx_gallery_end_ignore
if is_sqlite:
    driver_connection = session.connection().connection.driver_connection
    print("SQLite transaction open on our connection:", driver_connection.in_transaction)
    # sphinx_gallery_start_ignore
    assert not driver_connection.in_transaction, "pysqlite sends no BEGIN for a SELECT"
    # sphinx_gallery_end_ignore

# %%
# Another connection changes the row and commits
# ----------------------------------------------

with engine.begin() as other:
    other.execute(update(User).where(User.id == 1).values(name="new"))

# %%
# ``with_for_update()``: the SELECT runs, the object keeps the old value
# ----------------------------------------------------------------------
#
# The row comes back with ``name = 'new'``, but its identity key is already in the identity
# map, so the ORM returns the existing object and does not overwrite its loaded attributes.
# Selecting the column instead of the entity, with the same lock, shows what the row holds.

statements.clear()
locked = session.scalars(select(User).where(User.id == 1).with_for_update()).one()
print(locked, "- same object:", locked is user)
# sphinx_gallery_start_ignore
assert len(statements) == 1, "the SELECT really was sent to the database"
assert locked is user, "the query returns the object already in the identity map"
assert locked.name == "old", "its loaded value is not replaced by the row's new value"
# sphinx_gallery_end_ignore

in_row = session.scalar(select(User.name).where(User.id == 1).with_for_update())
print("name in the row:", in_row)
# sphinx_gallery_start_ignore
assert in_row == "new", "the database did send the committed new value"
# sphinx_gallery_end_ignore

# %%
# What SQL was that?
# ------------------
#
# SQLite has no row locks and ignores ``with_for_update()``: the SELECT is sent without a
# ``FOR UPDATE`` clause (SQLite locks the whole database file when it writes instead).
# PostgreSQL, MySQL and MariaDB render ``FOR UPDATE`` and lock the row until the
# transaction ends; the identity map behaves the same on all of them.

sql = " ".join(statements[0].split())
print(sql)
# sphinx_gallery_start_ignore
if engine.dialect.name == "sqlite":
    assert "FOR UPDATE" not in sql, "SQLite renders no FOR UPDATE"
else:
    assert sql.endswith("FOR UPDATE"), f"{engine.dialect.name} renders FOR UPDATE"
# sphinx_gallery_end_ignore

# %%
# ``session.get(..., with_for_update=True)``: the same trap
# ---------------------------------------------------------
#
# ``get()`` normally answers from the identity map without SQL; with ``with_for_update`` it does
# send the locking SELECT (no ``FOR UPDATE`` on SQLite again), and still keeps the loaded value.

statements.clear()
got = session.get(User, 1, with_for_update=True)
print(got, "- same object:", got is user)
# sphinx_gallery_start_ignore
assert len(statements) == 1, "get() with with_for_update sent a SELECT"
assert ("FOR UPDATE" in statements[0]) != is_sqlite, "FOR UPDATE everywhere but SQLite"
assert got is user and user.name == "old", "get() kept the stale loaded value too"
# sphinx_gallery_end_ignore

# %%
# ``populate_existing``: the row wins
# -----------------------------------
#
# With the :doc:`populate_existing <../myths/requery_refreshes>` execution option the ORM
# overwrites the attributes of
# objects it finds in the identity map with the row it just received. Same object, fresh
# value.

statements.clear()
stmt = select(User).where(User.id == 1).with_for_update()
fresh = session.scalars(stmt.execution_options(populate_existing=True)).one()
print(fresh, "- same object:", fresh is user)
# sphinx_gallery_start_ignore
assert fresh is user, "still the same object: the identity map is not bypassed"
assert user.name == "new", "populate_existing replaced the stale value with the row's"
assert not inspect(user).modified, "the refreshed object is clean, not a pending change"
assert len(statements) == 1, "one SELECT did it"
# sphinx_gallery_end_ignore

# %%
# ``session.refresh(obj, with_for_update=True)``: lock and reload in one call
# ---------------------------------------------------------------------------
#
# The rollback releases the lock; the next access reloads ``"new"`` without one, and another
# connection commits ``"newer"``. :doc:`refresh() <refresh_after_commit>` with
# ``with_for_update=True`` sends one locking
# SELECT and overwrites the object with the row, whatever it held.

session.rollback()
print(user.name)
# sphinx_gallery_start_ignore
assert user.name == "new", "after the rollback the object reloads"
# sphinx_gallery_end_ignore
with engine.begin() as other:
    other.execute(update(User).where(User.id == 1).values(name="newer"))
statements.clear()
session.refresh(user, with_for_update=True)
print(user)
# sphinx_gallery_start_ignore
assert user.name == "newer", "refresh() loaded the row's current value"
assert len(statements) == 1, "in one SELECT"
assert ("FOR UPDATE" in statements[0]) != is_sqlite, "locking it, except on SQLite"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session and the engine's connections.

session.close()
engine.dispose()
if tmpdir is not None:
    tmpdir.cleanup()
