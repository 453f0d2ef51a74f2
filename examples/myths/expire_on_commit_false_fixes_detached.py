# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Myth: ``expire_on_commit=False`` is the fix for ``DetachedInstanceError``
=========================================================================

``expire_on_commit=False`` does make the error go away, by stopping the session from ever
reloading your objects after a commit: the loud error becomes a silent stale value.
"""

# %%
# The claim
# ---------
#
# "Getting ``DetachedInstanceError`` after the session closes? Set ``expire_on_commit=False``."
#
# A second connection will change a row behind our back, so the in-memory SQLite default is
# swapped for a SQLite file in a temporary directory.

import os
import re
import tempfile

from sqlalchemy import String, create_engine, inspect, make_url, update
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


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmp = tempfile.TemporaryDirectory()
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmp.name, "example.db"))
engine = create_engine(url)
Base.metadata.drop_all(engine)
Base.metadata.create_all(engine)

with Session(engine) as setup, setup.begin():
    setup.add(User(id=1, name="alice"))


def rename_elsewhere(new_name):  # on another connection, committed
    with engine.begin() as other:
        other.execute(update(User.__table__).where(User.__table__.c.id == 1).values(name=new_name))


# %%
# Run it
# ------
#
# The classic shape: a function loads a user, commits, closes the session, returns the object.


def get_user(user_id, **session_options):
    with Session(engine, **session_options) as session:
        user = session.get(User, user_id)
        session.commit()
        return user


alice = get_user(1)
message = None
try:
    print(alice.name)
except DetachedInstanceError as exc:
    message = re.sub(r" at 0x\w+|\s\(Background.*", "", str(exc), flags=re.S)
    print(f"{type(exc).__name__}: {message}")
assert message is not None, "reading after close raised DetachedInstanceError"
state = inspect(alice)
assert state.detached and "name" in state.expired_attributes, "the commit expired it: no reload"

# %%
# Now the "fix". No error, but after another connection renames alice, the object still says
# ``"alice"``, and nothing about it tells you so.

alice = get_user(1, expire_on_commit=False)
rename_elsewhere("alicia")
print(alice, "| detached:", inspect(alice).detached)
assert alice.name == "alice", "the detached object keeps the value from before the rename"

# %%
# In a long-lived session it is the same: nothing is expired at commit, so nothing is reloaded,
# and a change committed elsewhere never shows up, however many transactions later.

with Session(engine, expire_on_commit=False) as session:
    alice = session.get(User, 1)  # "alicia"
    session.commit()
    rename_elsewhere("ali")
    session.commit()
    print(alice, "| expired:", inspect(alice).expired_attributes)
    assert not inspect(alice).expired_attributes, "the commits expired nothing"
    assert alice.name == "alicia", "so the object was never reloaded"

# %%
# What actually happens
# ---------------------
#
# An object holds a copy of a row as seen in one transaction. ``commit()`` ends it, so by default
# it expires every object and the next access reloads. A closed session cannot reload: the
# expired, detached object raises ``DetachedInstanceError`` rather than guess. With
# ``expire_on_commit=False`` you keep reading the old copy, silently, long after the row changed.

# %%
# Do this instead
# ---------------
#
# **Return plain data**, read while the session is open. Nobody mistakes a dict for a live row.


def get_user_data(user_id):
    with Session(engine) as session:
        user = session.get(User, user_id)
        return {"id": user.id, "name": user.name}


data = get_user_data(1)
print(data)
assert data == {"id": 1, "name": "ali"}, "the dict holds the current value"

# %%
# **Re-attach and refresh** when you do need the object again later: ``session.add()`` makes the
# detached object persistent in a new session, ``refresh()`` reloads it.

with Session(engine) as session:
    session.add(alice)  # the stale "alicia" from above
    session.refresh(alice)
    print(alice, "| persistent:", inspect(alice).persistent)
    assert alice.name == "ali", "refresh() loaded the current value"

# %%
# Not ``session.merge()`` on a stale object: it copies the object's loaded values onto the fresh
# row, so the old value comes back as a pending change and the next flush writes it.

stale = get_user(1, expire_on_commit=False)  # "ali"
rename_elsewhere("al")
with Session(engine) as session:
    merged = session.merge(stale)
    print(merged, "|", inspect(merged).attrs.name.history)
    assert merged.name == "ali" and merged in session.dirty, "merge() would write 'ali' back"
    assert inspect(merged).attrs.name.history.deleted == ["al"], "over the current 'al'"
engine.dispose()
tmp.cleanup()

# %%
# Checked by
# ----------
#
# - After commit and close, the object is detached and expired; reading it raises
#   ``DetachedInstanceError``.
# - With ``expire_on_commit=False`` it keeps the old value after another connection changed the
#   row; in a long-lived session nothing is expired at commit, so it is never reloaded.
# - A dict read inside the session, and ``add()`` + ``refresh()``, give the current value;
#   ``merge()`` of a stale object makes the stale value a pending change.
