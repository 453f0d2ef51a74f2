# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Myth: ``before_update`` fires for a bulk UPDATE
==================================================

Audit columns, validation and cache invalidation often live in a mapper ``before_update``
listener. A bulk ``UPDATE`` skips it silently, so the audit column stays empty and nobody
notices.
"""

# %%
# The claim
# ---------
#
#    "My ``before_update`` listener stamps ``updated_by`` on every change, so
#    ``session.execute(update(User)...)`` gets stamped too."
#
# We register that mapper listener, plus a ``do_orm_execute`` listener on the session and the
# legacy ``after_bulk_update`` session event. Every call is recorded in ``calls``.

import os

from sqlalchemy import String, create_engine, event, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    updated_by: Mapped[str | None] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r}, updated_by={self.updated_by!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)

calls = []


def before_update(mapper, connection, target):
    calls.append(f"before_update({target.name!r})")
    target.updated_by = "before_update"


def record_execute(orm_execute_state):
    calls.append(f"do_orm_execute(is_update={orm_execute_state.is_update})")


event.listen(User, "before_update", before_update)
session = Session(engine)
session.add_all([User(id=1, name="alice"), User(id=2, name="bob"), User(id=3, name="cy")])
session.commit()
event.listen(session, "do_orm_execute", record_execute)
event.listen(session, "after_bulk_update", lambda ctx: calls.append("after_bulk_update"))

# %%
# Run it
# ------
#
# A bulk, ORM-enabled ``UPDATE`` through the session:

calls.clear()
session.execute(update(User).where(User.id == 1).values(name="Alice"))
print(calls)
# sphinx_gallery_start_ignore
assert calls == ["do_orm_execute(is_update=True)"], (
    "only do_orm_execute saw the bulk UPDATE"
)
# sphinx_gallery_end_ignore

stamp = session.execute(select(User.updated_by).where(User.id == 1)).scalar_one()
print("updated_by in the database:", stamp)
# sphinx_gallery_start_ignore
assert stamp is None, "before_update never ran, so the audit column is still empty"
# sphinx_gallery_end_ignore

# %%
# Compare a unit-of-work change: load the object, change an attribute, flush. Now the mapper
# event fires, once per object, and its stamp is written in the same ``UPDATE``. The flush
# itself does not go through ``do_orm_execute``.

bob = session.get(User, 2)
calls.clear()
bob.name = "Bob"
session.flush()
print(calls, bob)

# sphinx_gallery_start_ignore
assert calls == ["before_update('Bob')"], "the flush fired before_update, nothing else"
assert bob.updated_by == "before_update", "the listener's change was flushed with the row"
# sphinx_gallery_end_ignore

# %%
# The legacy ``Query.update()`` is a bulk UPDATE as well: no ``before_update``. It runs through
# ``session.execute()`` (so ``do_orm_execute`` fires) and then fires the legacy
# ``after_bulk_update`` session event, which the 2.0-style statement above did not.

calls.clear()
count = session.query(User).filter(User.id == 3).update({"name": "Cy"})
print(count, calls)

# sphinx_gallery_start_ignore
assert count == 1, "one row matched"
assert calls == ["do_orm_execute(is_update=True)", "after_bulk_update"], (
    "Query.update() fires do_orm_execute and after_bulk_update, not before_update"
)
# sphinx_gallery_end_ignore
session.rollback()

# %%
# What actually happens
# ---------------------
#
# Mapper events (``before_update``, ``after_update``, ...) belong to the flush: the unit of
# work walks the changed objects and fires them per object, per row. A bulk ``UPDATE`` is a
# single SQL statement whose ``WHERE`` clause the database evaluates; the ORM never has a row
# or object to hand to a mapper listener (any loaded objects are synchronized afterwards, in
# memory, not flushed:
# :doc:`what synchronization writes <../synchronize_session/what_sync_writes>`).
# What the session does see is the statement, so ``do_orm_execute``
# fires. ``after_bulk_update`` is a legacy hook for ``Query.update()`` only.

# %%
# Do this instead
# ---------------
#
# Either change objects through the unit of work (load, modify, flush, as with ``bob``
# above), paying one ``UPDATE`` per object for the per-object hooks. Or put logic that must
# also cover bulk statements in ``do_orm_execute``: it receives the statement and may replace
# it. Here every ORM ``UPDATE`` of ``User`` gets the audit column added to its ``SET`` clause.


def stamp_bulk_updates(state):
    if state.is_update and User in {m.class_ for m in state.all_mappers}:
        state.statement = state.statement.values(updated_by="do_orm_execute")


event.listen(session, "do_orm_execute", stamp_bulk_updates)

cy = session.get(User, 3)
session.execute(update(User).where(User.id == 3).values(name="CY"))
stamp = session.execute(select(User.updated_by).where(User.id == 3)).scalar_one()
print("updated_by in the database:", stamp)
print(cy)

# sphinx_gallery_start_ignore
assert stamp == "do_orm_execute", "the listener added updated_by to the bulk UPDATE"
assert cy.updated_by == "do_orm_execute", (
    "synchronize_session applied it to the loaded object"
)
# sphinx_gallery_end_ignore
session.commit()

# %%
# Clean up: close the session and the engine's connections.

session.close()
engine.dispose()


# %%
# Checked by
# ----------
#
# - ``session.execute(update(User)...)`` fires ``do_orm_execute`` with ``is_update`` true, and
#   neither ``before_update`` nor ``after_bulk_update``; the audit column stays empty.
# - A change flushed by the unit of work fires ``before_update`` once, and its stamp is saved.
# - Legacy ``Query.update()`` fires ``do_orm_execute`` and ``after_bulk_update``, not
#   ``before_update``.
# - A ``do_orm_execute`` listener can add ``updated_by`` to every bulk ``UPDATE`` of ``User``,
#   and ``synchronize_session`` carries it to the loaded object.
