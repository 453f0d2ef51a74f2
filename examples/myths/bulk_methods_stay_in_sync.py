# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Myth: ``bulk_update_mappings`` / ``bulk_save_objects`` keep the session in sync
===============================================================================

The legacy bulk methods live on the ``Session``, so it is natural to assume the ``Session`` knows
what they did. It does not: they send their statements past the unit of work and the identity
map, and the loaded objects you hold are left as they were. Their ``INSERT`` side
(``bulk_insert_mappings``, ``bulk_save_objects`` of new objects, ``return_defaults``) is
:ref:`sphx_glr_auto_examples_myths_bulk_insert_adds_to_session.py`.
"""

# %%
# The claim
# ---------
#
# "``session.bulk_update_mappings()`` and ``session.bulk_save_objects()`` are just faster
# versions of changing objects and flushing; the session stays in sync."
#
# We load two users and record every UPDATE statement sent to the database.

import os

from sqlalchemy import String, create_engine, event, inspect, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
users = User.__table__

updates = []  # every UPDATE statement sent


@event.listens_for(engine, "before_cursor_execute")
def record_updates(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().upper().startswith("UPDATE"):
        updates.append(statement)


with Session(engine) as setup:
    setup.add_all([User(id=1, name="alice"), User(id=2, name="bob")])
    setup.commit()

session = Session(engine)
alice, bob = session.scalars(select(User).order_by(User.id)).all()


def name_in_db(
    user_id,
):  # a Core SELECT on the session's connection, past the identity map
    return session.connection().scalar(select(users.c.name).where(users.c.id == user_id))


# %%
# Run it
# ------
#
# ``bulk_update_mappings`` renames alice in the database. The loaded ``alice`` does not notice.

session.bulk_update_mappings(User, [{"id": 1, "name": "Alice"}])
in_db = name_in_db(1)
print("in memory:", alice.name, "| in the database:", in_db)
# sphinx_gallery_start_ignore
assert in_db == "Alice", "the UPDATE reached the database"
assert alice.name == "alice", "the loaded object keeps the old name"
assert not inspect(alice).expired_attributes, "and it was not even expired"
# sphinx_gallery_end_ignore

# %%
# ``bulk_save_objects`` on an object with a pending change sends the UPDATE, but the object stays
# dirty, with its change still in its history...

bob.name = "Bob"
updates.clear()
session.bulk_save_objects([bob])
history = inspect(bob).attrs.name.history
print("UPDATEs sent:", len(updates), "| dirty:", bob in session.dirty, "|", history)
in_db = name_in_db(2)
print("in the database:", in_db)
# sphinx_gallery_start_ignore
assert len(updates) == 1 and in_db == "Bob", "bulk_save_objects sent the UPDATE"
assert bob in session.dirty and history.added == ["Bob"], "yet bob is still dirty"
# sphinx_gallery_end_ignore

# %%
# ...so the next flush sends the same UPDATE again.

session.flush()
print("UPDATEs sent:", len(updates), "| dirty:", bob in session.dirty)
# sphinx_gallery_start_ignore
assert len(updates) == 2, "the change was written twice"
assert bob not in session.dirty, "only the real flush marked it clean"
# sphinx_gallery_end_ignore
session.rollback()
session.close()

# %%
# What actually happens
# ---------------------
#
# The bulk methods (legacy since 2.0) turn the mappings or objects straight into INSERT or UPDATE
# statements. They do not look objects up in the
# :doc:`identity map <../session_lifecycle/identity_map>`, so ``bulk_update_mappings`` cannot
# update or expire the ``User`` you loaded; and ``bulk_save_objects`` reads an object's state to
# build its UPDATE but never marks that state as flushed, so the unit of work still sees a change
# to write. The database and your objects disagree, and nothing raises.

# %%
# Do this instead
# ---------------
#
# **The unit of work**: change the objects and flush. One UPDATE, the object is clean afterwards,
# and a second flush has nothing to send.

with Session(engine) as session:
    bob = session.get(User, 2)
    bob.name = "Bob"
    updates.clear()
    session.flush()
    session.flush()
    print("UPDATEs sent:", len(updates), "| dirty:", bob in session.dirty)
    # sphinx_gallery_start_ignore
    assert len(updates) == 1 and bob not in session.dirty, "written once, then clean"
    # sphinx_gallery_end_ignore
    session.commit()

# %%
# **A 2.x bulk UPDATE by primary key**: ``session.execute(update(User), [dicts])``. It is sent as
# one executemany, and the default ``synchronize_session='auto'`` updates the objects already
# loaded, without expiring or dirtying them.

with Session(engine) as session:
    alice, bob = session.scalars(select(User).order_by(User.id)).all()
    updates.clear()
    session.execute(update(User), [{"id": 1, "name": "ALICE"}, {"id": 2, "name": "BOB"}])
    # sphinx_gallery_start_ignore
    assert len(updates) == 1, "one UPDATE statement, executed for both parameter sets"
    # sphinx_gallery_end_ignore
    in_db = (name_in_db(1), name_in_db(2))
    print(alice, bob, "| in the database:", *in_db)
    # sphinx_gallery_start_ignore
    assert (alice.name, bob.name) == ("ALICE", "BOB"), (
        "the loaded objects were synchronized"
    )
    assert in_db == ("ALICE", "BOB"), "and the database agrees"
    assert not inspect(alice).expired_attributes and not session.dirty, (
        "nothing left to flush"
    )
    # sphinx_gallery_end_ignore
    session.commit()

# %%
# Checked by
# ----------
#
# - ``bulk_update_mappings`` changes the row but leaves the loaded object's old value, unexpired.
# - ``bulk_save_objects`` on a dirty object sends the UPDATE, leaves the object dirty with its
#   change in history, and the next flush sends the UPDATE a second time (2 UPDATEs).
# - Changing the object and flushing sends one UPDATE and leaves it clean.
# - ``session.execute(update(User), [dicts])`` updates both rows and the loaded objects.
