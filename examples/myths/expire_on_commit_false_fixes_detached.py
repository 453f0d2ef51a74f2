# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
``expire_on_commit=False`` and ``DetachedInstanceError``: what it fixes, what it does not
=========================================================================================

``expire_on_commit=False`` is a trade-off, not a mistake: the default is ``True``, but with
``AsyncSession``, where a reload on attribute access cannot happen implicitly, it is often set
(SQLAlchemy's own 2.x asyncio ORM example passes it to ``async_sessionmaker()``). It keeps the
column values loaded before a commit readable after the session closes. It does not load a
relationship you never loaded, it does not stop a rollback from expiring everything, and what
it keeps can be stale.
"""

# %%
# The claim
# ---------
#
# "Getting ``DetachedInstanceError`` after the session closes? Set ``expire_on_commit=False``."
#
# A second connection will change a row behind our back, so the in-memory SQLite default is
# swapped for a SQLite file in a temporary directory. ``error_of()`` returns the message a
# read raises, without the object's address.

import os
import re
import tempfile

from sqlalchemy import ForeignKey, String, create_engine, inspect, make_url, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.exc import DetachedInstanceError


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    addresses: Mapped[list["Address"]] = relationship()

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmp = tempfile.TemporaryDirectory()
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmp.name, "example.db"))
engine = create_engine(url)
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)

with Session(engine) as setup, setup.begin():
    setup.add(User(id=1, name="alice", addresses=[Address(id=1)]))


def rename_elsewhere(new_name):  # on another connection, committed
    with engine.begin() as other:
        other.execute(
            update(User.__table__).where(User.__table__.c.id == 1).values(name=new_name)
        )


def error_of(read):
    try:
        read()
    except DetachedInstanceError as exc:
        message = re.sub(r" at 0x\w+|\s\(Background.*", "", str(exc), flags=re.S)
        print(f"{type(exc).__name__}: {message}")
        return message
    return None


def get_user(user_id, end="commit", **session_options):
    with Session(engine, **session_options) as session:
        user = session.get(User, user_id)
        getattr(session, end)()
        return user


# %%
# Run it
# ------
#
# The classic shape: a function loads a user, commits, closes the session, returns the object.
# The commit expired it, and a closed session cannot reload it.

alice = get_user(1)
message = error_of(lambda: alice.name)
# sphinx_gallery_start_ignore
assert "refresh operation cannot proceed" in message, "expired: no reload"
assert inspect(alice).detached and "name" in inspect(alice).expired_attributes, (
    "commit expired it"
)
# sphinx_gallery_end_ignore

# %%
# What it fixes: loaded columns stay readable
# -------------------------------------------
#
# With ``expire_on_commit=False`` the commit expires nothing, so ``name`` reads without SQL.

alice = get_user(1, expire_on_commit=False)
print(alice, "| detached:", inspect(alice).detached)
# sphinx_gallery_start_ignore
assert alice.name == "alice" and inspect(alice).detached, (
    "the detached object keeps its values"
)
# sphinx_gallery_end_ignore

# %%
# What it does not fix: a relationship never loaded
# -------------------------------------------------
#
# ``addresses`` was not loaded inside the session, and a lazy load needs one. Load what you
# will read while the session is open (e.g. ``selectinload()``), as SQLAlchemy's
# :external+sqlalchemy:ref:`asyncio guide <asyncio_orm_avoid_lazyloads>` advises.

message = error_of(lambda: alice.addresses)
# sphinx_gallery_start_ignore
assert "lazy load operation of attribute 'addresses' cannot proceed" in message, (
    "the lazy load of addresses still raises"
)
# sphinx_gallery_end_ignore

# %%
# What it does not fix: a rollback
# --------------------------------
#
# :doc:`expire_on_commit <../session_lifecycle/expire_on_commit>` is about commits. ``rollback()``
# (as in an ``except`` branch) still
# expires every object the transaction loaded, and after close the error is back.

alice = get_user(1, end="rollback", expire_on_commit=False)
message = error_of(lambda: alice.name)
# sphinx_gallery_start_ignore
assert inspect(alice).expired_attributes == {"id", "name", "addresses"}, (
    "rollback expired all"
)
assert "refresh operation cannot proceed" in message, "the error is back"
# sphinx_gallery_end_ignore

# %%
# The price: what it keeps can be stale
# -------------------------------------
#
# After another connection renames alice, the kept object still says ``"alice"``; in a
# long-lived session, no commit ever reloads it either.

alice = get_user(1, expire_on_commit=False)
rename_elsewhere("alicia")
print(alice)
# sphinx_gallery_start_ignore
assert alice.name == "alice", "the detached object keeps the value from before the rename"
# sphinx_gallery_end_ignore
with Session(engine, expire_on_commit=False) as session:
    alice = session.get(User, 1)  # "alicia"
    session.commit()
    rename_elsewhere("ali")
    session.commit()
    print(alice, "| expired:", inspect(alice).expired_attributes)
    # sphinx_gallery_start_ignore
    assert alice.name == "alicia" and not inspect(alice).expired_attributes, (
        "the stale name was never reloaded"
    )
    # sphinx_gallery_end_ignore

# %%
# Other ways out
# --------------
#
# **Re-attach and refresh** when you need the object again: ``session.add()`` makes it
# persistent in a new session, :doc:`refresh() <../session_lifecycle/refresh_after_commit>` reloads
# it. Not ``session.merge()`` of a stale
# object: it copies the stale values onto the fresh row as a pending change.

with Session(engine) as session:
    session.add(alice)  # the stale "alicia" from above
    session.refresh(alice)
    # sphinx_gallery_start_ignore
    assert alice.name == "ali" and inspect(alice).persistent, (
        "refresh() loaded the current value"
    )
    # sphinx_gallery_end_ignore
stale = get_user(1, expire_on_commit=False)  # "ali"
rename_elsewhere("al")
with Session(engine) as session:
    merged = session.merge(stale)
    print(merged, "|", inspect(merged).attrs.name.history)
    # sphinx_gallery_start_ignore
    assert merged.name == "ali" and merged in session.dirty, (
        "merge() would write 'ali' back"
    )
    assert inspect(merged).attrs.name.history.deleted == ["al"], "over the current 'al'"
    # sphinx_gallery_end_ignore
# sphinx_gallery_start_ignore
engine.dispose()
tmp.cleanup()
# sphinx_gallery_end_ignore

# %%
# Checked by
# ----------
#
# - After commit and close, the object is expired; reading it raises ``DetachedInstanceError``.
# - With ``expire_on_commit=False`` its loaded columns read after close, but a relationship never
#   loaded raises ("lazy load operation ... cannot proceed"), a rollback still expires it
#   (the error is back), and the kept values go stale after another connection's change.
# - ``add()`` + ``refresh()`` gives the current value; ``merge()`` of a stale object makes the
#   stale value a pending change.
