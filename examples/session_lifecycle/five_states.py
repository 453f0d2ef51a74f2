# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
The five object states
======================

``add()`` makes a new (transient) object pending, a flush makes it persistent, a flushed
``delete()`` makes it deleted and ``commit()`` then detaches it, while ``expunge()`` and
``close()`` detach persistent objects, which keep only the values they had loaded, even
values that the closing rollback removed from the database; an object whose DELETE was
flushed stays reported deleted after ``close()``, although the rollback restored its row.

Every ORM object is in exactly one of five states: transient, pending, persistent, deleted or
detached. The state decides whether the ``Session`` tracks the object and whether reading an
attribute can reach the database. We walk one object through all five with ``inspect()``.
"""

# %%
# Setup
# -----
#
# ``state_of()`` returns the one state flag of ``inspect(obj)`` that is true, and asserts that
# exactly one is.

import os
import re

from sqlalchemy import String, create_engine, func, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.orm.exc import DetachedInstanceError


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
session = Session(engine)

STATES = ("transient", "pending", "persistent", "deleted", "detached")


def state_of(obj):
    insp = inspect(obj)
    flags = [name for name in STATES if getattr(insp, name)]
    # sphinx_gallery_start_ignore
    assert len(flags) == 1, "an object is in exactly one state"
    # sphinx_gallery_end_ignore
    print(f"state: {flags[0]}, identity: {insp.identity}")
    return flags[0]


# %%
# Transient
# ---------
#
# A new object belongs to no session and has no identity (no primary key from the database).

alice = User(name="alice")
state = state_of(alice)
# sphinx_gallery_start_ignore
assert state == "transient", "a new object is transient"
assert inspect(alice).session is None, "a transient object belongs to no session"
# sphinx_gallery_end_ignore

# %%
# Pending
# -------
#
# ``add()`` puts it in the session's ``new`` collection. No SQL is sent yet, so it still has no
# primary key.

session.add(alice)
state = state_of(alice)
# sphinx_gallery_start_ignore
assert state == "pending", "an added, unflushed object is pending"
assert alice in session.new and alice.id is None, "pending: waiting for the INSERT"
# sphinx_gallery_end_ignore

# %%
# Persistent
# ----------
#
# :doc:`flush() <../myths/flush_commits>` sends the INSERT. The object now has an identity key and
# sits in the identity map,
# so ``session.get()`` hands back this very object.

session.flush()
state = state_of(alice)
# sphinx_gallery_start_ignore
assert state == "persistent", "a flushed object is persistent"
assert inspect(alice).identity == (alice.id,), "it now has an identity key"
assert session.get(User, alice.id) is alice, "the identity map hands back the same object"
# sphinx_gallery_end_ignore

# %%
# Deleted
# -------
#
# ``delete()`` only marks the object; it stays persistent until the flush sends the DELETE. Then
# it is deleted: gone from the :doc:`identity map <identity_map>`, while the transaction is not yet
# committed.

session.delete(alice)
state = state_of(alice)
# sphinx_gallery_start_ignore
assert state == "persistent", "delete() alone only marks the object"
assert alice in session.deleted, "it is queued for deletion"
# sphinx_gallery_end_ignore
session.flush()
state = state_of(alice)
# sphinx_gallery_start_ignore
assert state == "deleted", "after the DELETE is flushed it is deleted"
assert alice not in session, "a deleted object has left the identity map"
# sphinx_gallery_end_ignore

# %%
# Detached
# --------
#
# ``commit()`` makes the deletion final: the object is detached. It keeps its identity and the
# values it had, but no session tracks it any more.

session.commit()
state = state_of(alice)
# sphinx_gallery_start_ignore
assert state == "detached", "a deleted object becomes detached on commit"
assert inspect(alice).was_deleted, "inspect() remembers it was deleted"
assert inspect(alice).identity is not None and alice.name == "alice", (
    "it keeps key and values"
)
# sphinx_gallery_end_ignore
print(alice)

# %%
# Detached by ``expunge()``
# -------------------------
#
# A persistent object becomes detached when you ``expunge()`` it. Here bob was just committed,
# so his attributes are expired, and a detached object cannot reload them.

bob = User(id=2, name="bob")
session.add(bob)
session.commit()
state = state_of(bob)
# sphinx_gallery_start_ignore
assert state == "persistent", "commit leaves a live object persistent (and expired)"
# sphinx_gallery_end_ignore
session.expunge(bob)
state = state_of(bob)
# sphinx_gallery_start_ignore
assert state == "detached", "expunge() detaches a persistent object"
assert inspect(bob).expired_attributes == {"id", "name"}, "commit had expired bob"
# sphinx_gallery_end_ignore
message = None
try:
    print(bob.name)  # needs a reload, and no session can do it
except DetachedInstanceError as exc:
    message = re.sub(r" at 0x[0-9a-fA-F]+", "", str(exc)).split(" (Background")[0]
    print(f"{type(exc).__name__}: {message}")
# sphinx_gallery_start_ignore
assert message and "is not bound to a Session" in message, (
    "detached + expired cannot reload"
)
# sphinx_gallery_end_ignore

# %%
# Detached by ``close()``
# -----------------------
#
# Closing a session detaches the persistent objects it held, here ``bob``. ``close()`` does not
# expire, so loaded values stay readable without SQL.

with Session(engine) as other:
    bob = other.get(User, inspect(bob).identity)
    state = state_of(bob)
    # sphinx_gallery_start_ignore
    assert state == "persistent", "a loaded object is persistent"
    # sphinx_gallery_end_ignore
state = state_of(bob)
# sphinx_gallery_start_ignore
assert state == "detached", "closing the session detached bob"
assert bob.name == "bob", "close() kept the loaded values"
# sphinx_gallery_end_ignore
session.close()

# %%
# What a closed session leaves behind may never have been committed
# -----------------------------------------------------------------
#
# ``close()`` rolls back the transaction, but leaves the objects' values as they were. A user
# flushed and never committed comes out detached, with an identity and a readable name, for a
# row that the rollback removed.

with Session(engine) as other:
    ghost = User(id=3, name="ghost")
    other.add(ghost)
    other.flush()  # INSERT sent, never committed
state = state_of(ghost)
# sphinx_gallery_start_ignore
assert state == "detached", "close() detached the flushed object"
assert ghost.name == "ghost" and not inspect(ghost).expired_attributes, (
    "its values read fine"
)
# sphinx_gallery_end_ignore
with engine.connect() as check:
    rows = check.scalar(select(func.count()).select_from(User).where(User.id == 3))
print("rows with id 3 in the database:", rows)
# sphinx_gallery_start_ignore
assert rows == 0, "the row was rolled back: the detached object describes nothing"
# sphinx_gallery_end_ignore

# %%
# A deleted object stays deleted after ``close()``
# ------------------------------------------------
#
# ``close()`` detaches the objects the session still holds. An object whose DELETE was
# flushed is no longer held, so it comes out still reported *deleted*, not detached, although
# the closing rollback restored its row.

with Session(engine) as other:
    doomed = other.get(User, 2)
    other.delete(doomed)
    other.flush()  # DELETE sent, never committed
state = state_of(doomed)
# sphinx_gallery_start_ignore
assert state == "deleted", "close() left the flushed-deleted object deleted, not detached"
# sphinx_gallery_end_ignore
with engine.connect() as check:
    rows = check.scalar(select(func.count()).select_from(User).where(User.id == 2))
print("rows with id 2 in the database:", rows)
# sphinx_gallery_start_ignore
assert rows == 1, "though the closing rollback restored its row"
# sphinx_gallery_end_ignore
