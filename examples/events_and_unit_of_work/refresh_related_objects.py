# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
refresh() and eager loading leave loaded related objects stale
==============================================================

``session.refresh(user)`` overwrites ``user`` only: the related rows its eager loader selects
again, like those of a query with ``selectinload()``, land on objects the session already holds,
and those keep their old values, though the SQL fetched the new ones; run the query, with the
same eager loader options, with the ``populate_existing`` execution option to overwrite them all
(it overwrites what that query and its loaders fetch, unflushed changes included).
"""

# %%
# A user with one address, loaded with ``selectinload()``: both objects are in the identity
# map. ``change_behind()`` changes both rows with a Core ``UPDATE`` on the tables, through
# the session's own connection: the database changes, the loaded objects do not know.
# ``in_database()`` reads the address row without touching the objects.

import os

from sqlalchemy import ForeignKey, String, create_engine, event, select, update
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    addresses: Mapped[list["Address"]] = relationship(back_populates="user")

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(50))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship(back_populates="addresses")

    def __repr__(self) -> str:
        return f"Address(id={self.id!r}, email={self.email!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
sent = []
event.listen(
    engine, "before_cursor_execute", lambda conn, cursor, sql, *a: sent.append(sql)
)
with Session(engine) as setup:
    setup.add(User(id=1, name="alice", addresses=[Address(id=1, email="alice@old")]))
    setup.commit()


def change_behind(session, name, email):
    session.connection().execute(update(User.__table__).values(name=name))
    session.connection().execute(update(Address.__table__).values(email=email))


def in_database(session):
    return session.connection().execute(select(Address.__table__.c.email)).scalar_one()


session = Session(engine)
user = session.scalars(select(User).options(selectinload(User.addresses))).one()
address = user.addresses[0]
print(user, user.addresses)

# %%
# ``refresh()`` overwrites the object you name, not its related objects
# ---------------------------------------------------------------------
#
# ``refresh(user)`` selects the user again, and since ``addresses`` was loaded by
# ``selectinload()``, it runs that loader again too: look at the second ``SELECT`` below,
# which fetched the address row. The user has its new name; the address, already in the
# identity map, keeps its old email, though the database (and that ``SELECT``) has the new
# one.

change_behind(session, "Alice", "alice@new")
sent.clear()
session.refresh(user)
statements = list(sent)
email = in_database(session)
print(user, user.addresses, "| database:", email)
# sphinx_gallery_start_ignore
assert user.name == "Alice", "refresh() overwrote the user's own columns"
assert len(statements) == 2 and "FROM addresses" in statements[1], (
    "refresh() selected the address rows again"
)
assert user.addresses == [address], "the collection holds the same address object"
assert address.email == "alice@old", "the address kept its old email"
assert email == "alice@new", "the database holds the new one"
# sphinx_gallery_end_ignore

# %%
# A query with a loader option does the same
# ------------------------------------------
#
# Running the query again with ``selectinload()`` sends both ``SELECT`` statements, and every
# row they return belongs to an object the session holds, so nothing is overwritten: neither
# the user's new name nor the address's new email reach the objects. (The same is true of a
# query without options: :doc:`running the query again does not refresh
# <../myths/requery_refreshes>`.)

change_behind(session, "Ally", "ally@new")
sent.clear()
again = session.scalars(select(User).options(selectinload(User.addresses))).one()
statements = list(sent)
email = in_database(session)
print(again, again.addresses, "| database:", email)
# sphinx_gallery_start_ignore
assert again is user, "the query returned the object the session already held"
assert len(statements) == 2 and "FROM addresses" in statements[1], (
    "it sent both SELECT statements"
)
assert (user.name, address.email) == ("Alice", "alice@old"), (
    "neither object took the values the SELECTs returned"
)
assert email == "ally@new", "the database holds the new email"
# sphinx_gallery_end_ignore

# %%
# Do this instead: ``populate_existing``
# --------------------------------------
#
# The ``populate_existing`` execution option tells the query to overwrite objects the
# session already holds, and it applies to the rows its eager loaders fetch as well, and
# to those only: without ``selectinload()`` the user is overwritten, and the lazy load of
# ``user.addresses`` that follows runs without the option, so the address keeps its old
# email. With the loader: the same two ``SELECT``
# statements, and this time both objects hold what the database holds.

sent.clear()
session.scalars(select(User).execution_options(populate_existing=True)).one()
print("without the loader:", user, user.addresses)
# sphinx_gallery_start_ignore
assert len(sent) == 2 and "FROM addresses" in sent[1], "user.addresses was lazy-loaded"
assert (user.name, address.email) == ("Ally", "alice@old"), (
    "without the loader option only the user was overwritten"
)
# sphinx_gallery_end_ignore
sent.clear()
fresh = session.scalars(
    select(User)
    .options(selectinload(User.addresses))
    .execution_options(populate_existing=True)
).one()
statements = list(sent)
print(fresh, fresh.addresses, "| database:", in_database(session))
# sphinx_gallery_start_ignore
assert fresh is user and user.addresses == [address], "the same objects, overwritten"
assert len(statements) == 2, "the same two SELECT statements"
assert (user.name, address.email) == ("Ally", "ally@new"), (
    "populate_existing overwrote the user and its loaded address"
)
# sphinx_gallery_end_ignore

# %%
# ``session.get()`` takes it as a keyword: ``session.get(User, 1, populate_existing=True,
# options=[selectinload(User.addresses)])``. It overwrites unflushed changes too: with
# autoflush on they are flushed first, but under ``no_autoflush`` (or ``autoflush=False``)
# the email typed below is silently replaced by the database's.

change_behind(session, "Al", "al@new")
with session.no_autoflush:
    address.email = "typed, not flushed"
    fresh = session.get(
        User, 1, populate_existing=True, options=[selectinload(User.addresses)]
    )
print(fresh, fresh.addresses, "| dirty:", list(session.dirty))
# sphinx_gallery_start_ignore
assert (user.name, address.email) == ("Al", "al@new"), (
    "get(populate_existing=True) overwrote both objects, the unflushed email too"
)
assert not session.dirty, "the typed change is gone: nothing is dirty"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# Clean up: close the session and the engine's connections.

session.close()
engine.dispose()
