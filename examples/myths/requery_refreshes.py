# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Myth: running the query again refreshes my objects
==================================================

A ``Session`` keeps one object per row (the identity map). Selecting a row it already holds gives
you that same object back, with the values it already had. This page shows that, then the three
ways that do reload, what each costs, and what each throws away.
"""

# %%
# The claim
# ---------
#
# "Someone else changed the row? Just run the query again and your objects are up to date."
#
# A second connection will change a row behind the session's back, so the in-memory SQLite
# default is swapped for a SQLite file in a temporary directory.

import os
import tempfile

from sqlalchemy import String, create_engine, event, inspect, make_url, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmp = tempfile.TemporaryDirectory()
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmp.name, "example.db"))
# MariaDB's default REPEATABLE READ would pin each transaction to its first snapshot.
mariadb = url.get_backend_name() in ("mysql", "mariadb")
engine = create_engine(url, **({"isolation_level": "READ COMMITTED"} if mariadb else {}))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)

sql = []  # the first word of every statement sent, to count them
event.listen(
    engine, "before_cursor_execute", lambda *args: sql.append(args[2].split()[0])
)

with Session(engine) as setup:
    setup.add(User(id=1, name="alice"))
    setup.commit()


def rename_elsewhere(new_name):
    """Another connection renames user 1 and commits."""
    with engine.begin() as other:
        other.execute(
            update(User.__table__).where(User.__table__.c.id == 1).values(name=new_name)
        )
    sql.clear()


# %%
# Run it
# ------
#
# Load alice, let another connection rename her, then run the same query again.

session = Session(engine)
alice = session.scalars(select(User)).one()
rename_elsewhere("alicia")

again = session.scalars(select(User)).one()
row_name = session.scalar(select(User.name))  # a column query bypasses the identity map
print(again, "| the row said:", row_name)
# sphinx_gallery_start_ignore
assert again is alice, "the query returned the same object from the identity map"
assert alice.name == "alice", "its loaded value was not overwritten"
assert row_name == "alicia", "although the database sent back the new value"
# sphinx_gallery_end_ignore

# %%
# What actually happens
# ---------------------
#
# The SELECT does go to the database and the new row does come back. But when the loader finds
# that primary key already in the :doc:`identity map <../session_lifecycle/identity_map>`, it hands
# you the existing object and leaves its
# loaded attributes alone: within a transaction the session treats what it loaded as current, and
# it expires everything at commit or rollback so the next transaction reloads. Until then,
# loaded attributes are only replaced when you ask for it.

# %%
# Do this instead
# ---------------
#
# Each of the three reads the row again inside the current transaction, so it sees another
# connection's commit where the isolation level shows it: READ COMMITTED (PostgreSQL's default,
# and what this page sets on MariaDB) or SQLite. Under MariaDB's default REPEATABLE READ all three
# return the transaction's first snapshot until it ends
# (:ref:`sphx_glr_auto_examples_myths_commit_synchronize_session.py` runs that).
#
# **1.** ``populate_existing`` overwrites the objects the query returns, in that one SELECT. It
# also overwrites your unflushed changes. (A query
# :doc:`autoflushes <../session_lifecycle/autoflush>` first, which would send the change
# to the database before reloading it; ``no_autoflush`` keeps it unflushed so we can see it lost.)

alice.name = "my edit"
rename_elsewhere("ali")
with session.no_autoflush:
    session.scalars(select(User).execution_options(populate_existing=True)).one()
print(alice)
# sphinx_gallery_start_ignore
assert alice.name == "ali", "populate_existing loaded the database value"
assert alice not in session.dirty, "the unflushed edit was discarded"
assert sql == ["SELECT"], "it cost the query's own SELECT, nothing more"
# sphinx_gallery_end_ignore

# %%
# With autoflush on (the default), the edit is flushed first, then reloaded: it survives, as an
# uncommitted UPDATE in the session's transaction.

alice.name = "flushed edit"
sql.clear()
session.scalars(select(User).execution_options(populate_existing=True)).one()
print(alice)
# sphinx_gallery_start_ignore
assert alice.name == "flushed edit" and sql == ["UPDATE", "SELECT"], (
    "autoflush, then reload"
)
# sphinx_gallery_end_ignore
session.rollback()  # undoes the flushed edit and expires alice

# %%
# **2.** ``session.refresh(obj)`` emits a SELECT for that object right away. It expires the
# object first, so its unflushed changes are discarded; other pending objects (a new ``bob``)
# are autoflushed before the SELECT, as before any query.

alice.name = "my edit"
rename_elsewhere("al")
session.add(User(id=2, name="bob"))
session.refresh(alice)
print(alice)
# sphinx_gallery_start_ignore
assert alice.name == "al" and alice not in session.dirty, "refreshed, edit discarded"
assert sql == ["INSERT", "SELECT"], (
    "refresh() flushed bob (not the edit), then one SELECT"
)
# sphinx_gallery_end_ignore

# %%
# **3.** ``session.expire(obj)`` sends nothing now; it marks the attributes as unloaded (dropping
# unflushed changes). The next attribute access loads them: the SELECT is deferred, and skipped
# entirely if you never touch the object again.

session.rollback()  # ends bob's INSERT, which on SQLite locks out the other connection
alice.name = "my edit"
rename_elsewhere("alix")
session.expire(alice)
print("expired:", sorted(inspect(alice).expired_attributes))
# sphinx_gallery_start_ignore
assert sql == [] and "name" in inspect(alice).expired_attributes, "expire() sent no SQL"
assert alice not in session.dirty, "the unflushed edit was discarded"
# sphinx_gallery_end_ignore
print(alice.name)
# sphinx_gallery_start_ignore
assert alice.name == "alix" and sql == ["SELECT"], "the next access sent the SELECT"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session and the engine's connections.

session.close()
engine.dispose()
tmp.cleanup()


# %%
# Checked by
# ----------
#
# - Re-running ``select(User)`` returns the identical object with its old value, although the
#   database sent the new one.
# - ``populate_existing`` reloads in the query's own SELECT and discards an unflushed edit (with
#   autoflush off); with autoflush on, the edit is flushed first and survives.
# - ``refresh()`` discards the object's edit, flushes other pending objects, and sends one SELECT
#   at once.
# - ``expire()`` sends nothing, discards the edit, and the next access sends one SELECT.
