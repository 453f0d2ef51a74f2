# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Myth: ``flush()`` commits
============================

After ``flush()`` the object has its primary key and every query in the session finds it, so
it looks saved. It is not: the row exists only inside the session's open transaction, and a
rollback (or a crash) takes it away.
"""

# %%
# The claim
# ---------
#
#    "I called ``session.flush()``, the ``INSERT`` ran and I got an id, so the row is in the
#    database."
#
# To see what *other* connections see we need two connections to one database. The default
# in-memory SQLite gives every connection its own database, so in that case we use a SQLite
# file in a temporary directory.

import os
import tempfile

from sqlalchemy import String, create_engine, func, inspect, make_url, select
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
tmpdir = None
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    tmpdir = tempfile.TemporaryDirectory()
    url = url.set(database=os.path.join(tmpdir.name, "flush.db"))
engine = create_engine(url)
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)

count_users = select(func.count()).select_from(User)

# %%
# Run it
# ------
#
# Add a user and flush. The ``INSERT`` is sent, the object gets its primary key, and the
# session's own queries see the row.

session = Session(engine)
user = User(name="alice")
session.add(user)
session.flush()
state = inspect(user)
print(user, "| persistent:", state.persistent)
seen = session.scalar(count_users)
print("rows seen by the session:", seen)

# sphinx_gallery_start_ignore
assert user.id is not None, "flush() sent the INSERT and the object got its primary key"
assert state.persistent, "after flush() the object is persistent"
assert seen == 1, "the session's own transaction sees the row"
# sphinx_gallery_end_ignore

# %%
# Now ask from a second connection, while the session's transaction is still open.
#
# On SQLite (default rollback-journal mode) the writer holds a RESERVED lock after the flush.
# That lock still lets other connections take a SHARED lock and read; they read the file as it
# was at the last commit, so the read is not blocked. (It is the writer's ``COMMIT`` that must
# wait for readers to finish, which is why this connection is closed before we commit.)

with engine.connect() as other:
    if engine.dialect.name == "sqlite":
        mode = other.exec_driver_sql("PRAGMA journal_mode").scalar()
        # sphinx_gallery_start_ignore
        assert mode == "delete", (
            "SQLite file databases use the rollback journal by default"
        )
        # sphinx_gallery_end_ignore
    seen = other.scalar(count_users)
print("rows seen by another connection:", seen)
# sphinx_gallery_start_ignore
assert seen == 0, "another connection does not see the flushed, uncommitted row"
# sphinx_gallery_end_ignore

# %%
# Roll back. The flushed ``INSERT`` is undone, and the object that was pending in this
# transaction is expunged: it is :doc:`transient <../session_lifecycle/five_states>` again. Its
# attribute values stay on the object,
# including the id the ``INSERT`` produced, but no row has that id any more.

flushed_id = user.id
session.rollback()
print(user, "| transient:", state.transient)
seen = session.scalar(count_users)
print("rows seen by the session:", seen)

# sphinx_gallery_start_ignore
assert seen == 0, "rollback() discarded the flushed row"
assert state.transient, "the flushed object is transient again after rollback()"
assert user.id == flushed_id, "the object still carries the id, but nothing in the table"
# sphinx_gallery_end_ignore

# %%
# What actually happens
# ---------------------
#
# ``flush()`` sends the pending ``INSERT``/``UPDATE``/``DELETE`` statements on the session's
# connection, *inside* its transaction. The database now knows the rows, but only that
# transaction can see them (under the usual isolation levels), and they are permanent only
# when the transaction commits. ``commit()`` is flush plus ``COMMIT``; ``rollback()`` throws
# away everything flushed since the transaction began and puts objects that were inserted in
# it back to transient. :doc:`Autoflush <../session_lifecycle/autoflush>` before queries is why
# flushed-but-uncommitted rows look
# saved from inside the session.

# %%
# Do this instead
# ---------------
#
# Use ``flush()`` when you need database-generated values (a primary key for a foreign key,
# a server default) in the middle of a transaction, and ``commit()`` when the work is done.
# After the commit the other connection sees the row.

session.add(user)
session.commit()

with engine.connect() as other:
    seen = other.scalar(count_users)
print("rows seen by another connection:", seen)
# sphinx_gallery_start_ignore
assert seen == 1, "after commit() another connection sees the row"
assert state.persistent, "the committed object is persistent"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session and the engine's connections.

session.close()
engine.dispose()
if tmpdir is not None:
    tmpdir.cleanup()


# %%
# Checked by
# ----------
#
# - After ``flush()`` the object has a primary key, is persistent, and the session counts the
#   row.
# - A second connection, reading while the transaction is open, counts no row, and its read is
#   not blocked by the writer on SQLite.
# - ``rollback()`` removes the flushed row and makes the object transient again (its id
#   attribute stays set).
# - After ``commit()`` the second connection counts the row.
