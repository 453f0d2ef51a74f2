# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Raw SQL through ``text()``
==========================

``text()`` changes rows behind the session's back: expire (or ``populate_existing``) what
it touched, or write the change as ``update(User)``; and on 2.0 flush first when the SQL
must see pending changes.
"""

# %%
# Setup
# -----
#
# Two committed users; ann is loaded. ``in_database()`` reads a status with a plain column
# SELECT, which no :doc:`identity map <../session_lifecycle/identity_map>` can hide.

import os

import sqlalchemy
from sqlalchemy import String, create_engine, inspect, select, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

SA_VERSION = tuple(int(part) for part in sqlalchemy.__version__.split(".")[:2])
print("SQLAlchemy", sqlalchemy.__version__)


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
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
session = Session(engine)
session.add(User(id=1, name="ann", status="active"))
session.add(User(id=2, name="bob", status="active"))
session.commit()
ann = session.get(User, 1)


def in_database(user_id):
    return session.scalar(select(User.status).where(User.id == user_id))


# %%
# A ``text()`` UPDATE changes the row, not the object
# ---------------------------------------------------
#
# The UPDATE matches ann's row and changes it, in the session's own transaction. ann is
# neither updated nor expired: she shows ``"active"`` without any SQL.

result = session.execute(text("UPDATE users SET status = 'away' WHERE id = 1"))
in_db = in_database(1)
print("rows matched:", result.rowcount, "| ann:", ann, "| in the row:", in_db)
# sphinx_gallery_start_ignore
assert result.rowcount == 1 and in_db == "away", "the row was updated"
assert ann.status == "active", "the loaded object kept its old value"
assert not inspect(ann).expired_attributes, "and was not expired"
# sphinx_gallery_end_ignore

# %%
# A ``text()`` SELECT of entities goes through the identity map
# -------------------------------------------------------------
#
# ``select(User).from_statement(text(...))`` turns raw rows into ``User`` objects. Row 1 is
# already loaded, so the query returns ann as she is, still stale, like any ORM query;
# :doc:`populate_existing=True <../myths/requery_refreshes>` makes the fetched row overwrite her.

raw_select = select(User).from_statement(text("SELECT * FROM users WHERE id = 1"))
found = session.scalars(raw_select).one()
print("from_statement:", found)
# sphinx_gallery_start_ignore
assert found is ann and ann.status == "active", "the identity map returned stale ann"
# sphinx_gallery_end_ignore
found = session.scalars(raw_select.execution_options(populate_existing=True)).one()
print("with populate_existing:", found)
# sphinx_gallery_start_ignore
assert found is ann and ann.status == "away", "the row overwrote her"
# sphinx_gallery_end_ignore
session.rollback()
in_db = in_database(1)
print("in the row after rollback():", in_db)
# sphinx_gallery_start_ignore
assert in_db == "active", "the rollback undid the text(): same transaction"
# sphinx_gallery_end_ignore

# %%
# The fix: expire after the ``text()``
# ------------------------------------
#
# When you must send raw SQL, expire what it may have changed (``expire_all()`` when you
# cannot tell). The next access reloads the row. (ann is read first: the rollback above
# expired her, and the point is to expire a loaded, stale object.)

print("ann loaded again:", ann.status)
# sphinx_gallery_start_ignore
assert ann.status == "active", "ann is loaded again"
# sphinx_gallery_end_ignore
session.execute(text("UPDATE users SET status = 'away' WHERE id = 1"))
# sphinx_gallery_start_ignore
assert ann.status == "active", "and stale after the text()"
# sphinx_gallery_end_ignore
session.expire(ann)
status = ann.status  # the first access after expire() reloads the row
print("after expire():", status)
# sphinx_gallery_start_ignore
assert status == "away", "reloaded with the database's value"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# The better fix: an ORM ``update()``
# -----------------------------------
#
# The same change as an ORM-enabled ``update(User)`` is synchronized: under the default
# ``synchronize_session="auto"`` the loaded ann gets the new value at once, with no
# SELECT: it is in her ``__dict__`` before anything reads her. (ann is read first, as
# above: the rollback expired her, and only a loaded object can be updated in place.)

print("ann loaded again:", ann.status)
# sphinx_gallery_start_ignore
assert ann.status == "active", "ann is loaded again after the rollback"
# sphinx_gallery_end_ignore
session.execute(update(User).where(User.id == 1).values(status="away"))
in_memory = ann.__dict__["status"]  # read without loading anything
in_db = in_database(1)
print("after update(User):", in_memory, "| in the database:", in_db)
# sphinx_gallery_start_ignore
assert in_memory == "away" == in_db, "object and row agree"
# sphinx_gallery_end_ignore

session.rollback()

# %%
# Pending changes: 2.1 flushes before ``text()``, 2.0 does not
# ------------------------------------------------------------
#
# bob's new status is only in memory. The ``text()`` UPDATE looks for ``status = 'pending'``.
# SQLAlchemy 2.1 autoflushes before a ``text()`` statement, so the UPDATE finds bob's row;
# 2.0 sends the UPDATE before bob's change, and it matches nothing. The same goes for a
# ``text()`` SELECT: only 2.1 counts the pending new user cy. The version comparison
# :ref:`sphx_glr_auto_examples_synchronize_session_version_differences.py` shows this
# for Core statements too.

bob = session.get(User, 2)
bob.status = "pending"
mark_seen = text("UPDATE users SET status = 'seen' WHERE status = 'pending'")
matched = session.execute(mark_seen)
session.add(User(id=3, name="cy", status="new"))
counted = session.scalar(text("SELECT count(*) FROM users"))
print(f"rows matched {matched.rowcount}, users counted {counted}")
# sphinx_gallery_start_ignore
if SA_VERSION >= (2, 1):
    assert (matched.rowcount, counted) == (1, 3), "2.1 flushed both changes first"
else:
    assert (matched.rowcount, counted) == (0, 2), "2.0 sent text() before the changes"
    assert bob in session.dirty and session.new, "both are still waiting for a flush"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# On 2.0, call ``session.flush()`` before a ``text()`` that must see pending changes; it
# does the same on 2.1, where the autoflush then has nothing left to do.

bob.status = "pending"
session.flush()
matched = session.execute(mark_seen)
in_db = in_database(2)
print("rows matched after flush():", matched.rowcount, "| bob's row:", in_db)
# sphinx_gallery_start_ignore
assert matched.rowcount == 1, "the flushed change is visible to the raw UPDATE"
assert in_db == "seen", "bob's row was the one updated"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# Clean up: close the session.

session.close()
