# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Myth: "Expired means detached / outdated"
==========================================

After ``commit()`` every object is *expired*, and the word sounds like "no longer usable" or
"known to be wrong". It means neither: an expired object is still in the session, and its
values are simply loaded again the next time you read them, as long as it stays in the session
and its row still exists.
"""

# %%
# The claim
# ---------
#
#    "After ``commit()`` my objects are expired, so they are detached from the session and their
#    data is out of date."

import os
import re

from sqlalchemy import String, create_engine, inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.orm.exc import DetachedInstanceError, ObjectDeletedError


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
user = User(id=1, name="alice")
session.add(user)
session.commit()

# %%
# Run it
# ------
#
# Right after ``commit()``, the object is :doc:`expired <../session_lifecycle/expire_on_commit>`.
# Ask ``inspect()`` what that means:

state = inspect(user)
print("expired attributes:", sorted(state.expired_attributes))
print("persistent:", state.persistent, "| detached:", state.detached)

# sphinx_gallery_start_ignore
assert state.expired_attributes == {"id", "name"}, (
    "commit() expired every loaded attribute"
)
assert state.persistent, "an expired object is still persistent"
assert not state.detached, "an expired object is not detached"
assert state.session is session, "it still belongs to the same session"
# sphinx_gallery_end_ignore

# %%
# Reading an expired attribute emits a ``SELECT`` for the row, inside a new transaction, and
# fills in all expired column attributes at once. Nobody changed the row, so the value is the
# same as before: the object was expired, not outdated.

print("name:", user.name)

# sphinx_gallery_start_ignore
assert user.name == "alice", "the reloaded value equals the old one: nothing was outdated"
assert not state.expired_attributes, "reading name loaded every expired attribute, id too"
# sphinx_gallery_end_ignore

# %%
# Now a really :doc:`detached <../session_lifecycle/five_states>` object: expire it, then close the
# session. The object has no session
# to load from, so reading the expired attribute raises.

session.expire(user)
session.close()
print("persistent:", state.persistent, "| detached:", state.detached)
# sphinx_gallery_start_ignore
assert state.detached, "close() detached the object"
# sphinx_gallery_end_ignore

error = None
try:
    print("name:", user.name)
except DetachedInstanceError as exc:
    error = exc
    message = re.sub(r" at 0x[0-9a-f]+", "", str(exc))
    message = re.split(r"\s*\(Background on this error", message)[0]
    print(f"{type(exc).__name__}: {message}")
# sphinx_gallery_start_ignore
assert error is not None, "reading an expired attribute of a detached object raises"
assert "is not bound to a Session" in str(error), "the error names the missing session"
# sphinx_gallery_end_ignore

# %%
# Persistent is not enough either when the row is gone. ``bob`` is committed (so expired), then
# his row is deleted behind the ORM's back with a Core DELETE: reading him sends the ``SELECT``,
# finds no row, and raises. The rollback brings the row back, and reading him works again.

users = User.__table__
bob = User(id=2, name="bob")
session.add(bob)
session.commit()
session.execute(users.delete().where(users.c.id == 2))
error = None
try:
    print("name:", bob.name)
except ObjectDeletedError as exc:
    error = exc
    message = re.sub(r" at 0x[0-9a-f]+", "", str(exc)).split(" (Background")[0]
    print(f"{type(exc).__name__}: {message}")
# sphinx_gallery_start_ignore
assert error is not None and inspect(bob).persistent, (
    "a persistent object whose row is gone"
)
assert "has been deleted" in str(error), "the error says the row was deleted"
# sphinx_gallery_end_ignore
session.rollback()
print("after the rollback:", bob.name)
# sphinx_gallery_start_ignore
assert bob.name == "bob", "the rollback brought the row back"
# sphinx_gallery_end_ignore
session.close()

# %%
# What actually happens
# ---------------------
#
# *Expired* and *detached* are independent. Expired is a per-attribute flag: "the value is not
# loaded; load it from the row on next access". Detached is the object's relation to a
# session: "there is no session (and so no connection) to load anything with". An expired
# object that is still persistent just emits a ``SELECT`` when read. It fails only when there is
# nothing to load from: no session (expired *and* detached), or no row (deleted elsewhere).
# Expired is not outdated either: the ORM does not know whether
# the row changed; it expires after ``commit()`` because other transactions *may* have changed
# it, and the reload tells you the current value.

# %%
# Do this instead
# ---------------
#
# Read expired attributes while the object is attached, and let the ``SELECT`` happen. If an
# object has to be used after its session is gone, load what you need first, or attach it to
# a new session with ``session.add()``, which makes it persistent again so that the expired
# attributes load normally.

with Session(engine) as session:
    session.add(user)
    # sphinx_gallery_start_ignore
    assert state.persistent, "add() re-attached the detached object"
    # sphinx_gallery_end_ignore
    print("name:", user.name)
    # sphinx_gallery_start_ignore
    assert user.name == "alice", "the expired attribute loaded through the new session"
    # sphinx_gallery_end_ignore

# %%
# Detached alone is fine too: leaving the ``with`` block closed the session without expiring
# anything, so the loaded values are still readable, with no SQL.

print("detached:", state.detached, "| expired:", sorted(state.expired_attributes))
print("name:", user.name)
# sphinx_gallery_start_ignore
assert state.detached and not state.expired_attributes, "detached, with loaded values"
assert user.name == "alice", "loaded attributes of a detached object are readable"
engine.dispose()
# sphinx_gallery_end_ignore

# %%
# Checked by
# ----------
#
# - After ``commit()`` the object has all attributes expired, and is still persistent in the
#   same session, not detached.
# - Reading an expired attribute reloads it with one ``SELECT``; the value equals the old one
#   when nobody changed the row.
# - An expired attribute of a detached object raises ``DetachedInstanceError``
#   ("... is not bound to a Session ..."); of a persistent object whose row was deleted,
#   ``ObjectDeletedError``.
# - ``session.add()`` re-attaches the object and the expired attribute loads again; a detached
#   object whose attributes are loaded stays readable.
