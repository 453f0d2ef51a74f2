# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
A lazy relationship after the session is gone: ``DetachedInstanceError``
========================================================================

A detached object can read only what was loaded (and not expired) before its session closed,
so eager load its relationships with ``selectinload()`` or ``joinedload()`` inside the
session, do not let a commit expire them before the read, and use ``raiseload()`` or
``lazy="raise"`` to turn a forgotten load into an immediate error.

Load what you will need while the session is open: ``selectinload()`` or
``joinedload()`` in the query (and, if you commit before you read,
``expire_on_commit=False``). ``expire_on_commit=False`` alone does not help: it keeps only
what was loaded. Map relationships ``lazy="raise"`` (or query with ``raiseload()``) so that
a forgotten load fails at once, inside the session, with a clear message.
"""

# %%
# Setup
# -----
#
# A user with two addresses, and an order whose ``user`` relationship is mapped
# ``lazy="raise"`` (used at the end). ``error_of()`` runs a read and returns the message it
# raises, without the object's address.

import os
import re

from sqlalchemy import ForeignKey, String, create_engine, insert, inspect, select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    joinedload,
    lazyload,
    mapped_column,
    raiseload,
    relationship,
    selectinload,
)
from sqlalchemy.orm.exc import DetachedInstanceError


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


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"Order(id={self.id!r}, user_id={self.user_id!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
emails = ["alice@home", "alice@work"]
with Session(engine) as setup, setup.begin():
    setup.execute(insert(User), [{"id": 1, "name": "alice"}])
    rows = [{"id": i, "email": e, "user_id": 1} for i, e in enumerate(emails, 1)]
    setup.execute(insert(Address), rows)
    setup.execute(insert(Order), [{"id": 1, "user_id": 1}])


LAZY_LOAD = "lazy load operation of attribute 'addresses' cannot proceed"


def error_of(read, expected=DetachedInstanceError):
    try:
        read()
    except expected as exc:
        message = re.sub(r" at 0x\w+|\s\(Background.*", "", str(exc), flags=re.S)
        print(f"{type(exc).__name__}: {message}")
        return message
    return None


# %%
# The error: a lazy load after close
# ----------------------------------
#
# The session loads the user and closes. ``addresses`` was never read, so it was never loaded:
# reading it now needs a SELECT, and a detached object has no session to run it. ``close()``
# expires nothing, so the columns the query loaded still read fine.

with Session(engine) as session:
    user = session.get(User, 1)
# sphinx_gallery_start_ignore
assert inspect(user).detached and "addresses" not in inspect(user).dict, (
    "the detached user's addresses were never loaded"
)
# sphinx_gallery_end_ignore
message = error_of(lambda: user.addresses)
# sphinx_gallery_start_ignore
assert LAZY_LOAD in message, "the lazy load raises: the object has no session"
assert user.name == "alice", "the loaded columns still read after close"
# sphinx_gallery_end_ignore

# %%
# The same after commit and close
# -------------------------------
#
# A commit expires every attribute; the closed session cannot reload the columns either
# ("refresh operation") nor the relationship ("lazy load operation").

with Session(engine) as session:
    user = session.get(User, 1)
    session.commit()
expired = inspect(user).expired_attributes
# sphinx_gallery_start_ignore
assert expired == {"id", "name", "addresses"}, "the commit expired every attribute"
# sphinx_gallery_end_ignore
message = error_of(lambda: user.addresses)
# sphinx_gallery_start_ignore
assert LAZY_LOAD in message, "the lazy load still raises"
# sphinx_gallery_end_ignore
print("expired:", sorted(expired))
message = error_of(lambda: user.name)
# sphinx_gallery_start_ignore
assert "refresh operation cannot proceed" in message, "nor the expired columns"
# sphinx_gallery_end_ignore

# %%
# ``expire_on_commit=False`` does not prevent it
# ----------------------------------------------
#
# With :doc:`expire_on_commit=False <../myths/expire_on_commit_false_fixes_detached>` the commit
# keeps what was loaded, and only that: the columns
# read after close; the collection that was never loaded still raises. (More on this setting:
# :ref:`sphx_glr_auto_examples_myths_expire_on_commit_false_fixes_detached.py`.)

with Session(engine, expire_on_commit=False) as session:
    user = session.get(User, 1)
    session.commit()
# sphinx_gallery_start_ignore
assert not inspect(user).expired_attributes and user.name == "alice", (
    "the loaded columns were kept"
)
# sphinx_gallery_end_ignore
message = error_of(lambda: user.addresses)
# sphinx_gallery_start_ignore
assert LAZY_LOAD in message, "the addresses were not loaded: the lazy load raises"
# sphinx_gallery_end_ignore

# %%
# ``selectinload()``: one more SELECT, while the session is open
# ---------------------------------------------------------------
#
# :func:`~sqlalchemy.orm.selectinload` loads the collection with a second SELECT,
# ``WHERE addresses.user_id IN (...)`` (the primary keys of the users just loaded), before the
# query returns. After close the collection is in memory and reads without a session.

with Session(engine) as session:
    query = select(User).options(selectinload(User.addresses))
    user = session.scalars(query).one()
# sphinx_gallery_start_ignore
assert "addresses" in inspect(user).dict, "the collection was loaded inside the session"
# sphinx_gallery_end_ignore
print(user.addresses)
# sphinx_gallery_start_ignore
assert sorted(a.email for a in user.addresses) == emails, "it reads after close"
# sphinx_gallery_end_ignore

# %%
# ``joinedload()``: one SELECT with a JOIN
# ----------------------------------------
#
# :func:`~sqlalchemy.orm.joinedload` adds a ``LEFT OUTER JOIN`` to the same SELECT. For a
# joined collection, a ``select()`` result must be de-duplicated with ``.unique()``: without
# it, SQLAlchemy refuses to hand back the rows.

with Session(engine) as session:
    query = select(User).options(joinedload(User.addresses))
    message = error_of(lambda: session.scalars(query).all(), InvalidRequestError)
    # sphinx_gallery_start_ignore
    assert "unique() method must be invoked" in message, "a joined collection needs it"
    # sphinx_gallery_end_ignore
    user = session.scalars(query).unique().one()
print(user.addresses)
# sphinx_gallery_start_ignore
assert sorted(a.email for a in user.addresses) == emails, "it reads after close"
# sphinx_gallery_end_ignore

# %%
# A commit before the read undoes the eager load
# ----------------------------------------------
#
# The commit expires the collection ``selectinload()`` just loaded, so after close it raises
# again. Read before the commit, or keep what you loaded with ``expire_on_commit=False``.

with Session(engine) as session:
    user = session.scalars(select(User).options(selectinload(User.addresses))).one()
    session.commit()
message = error_of(lambda: user.addresses)
# sphinx_gallery_start_ignore
assert LAZY_LOAD in message, "the commit expired them: the lazy load raises"
# sphinx_gallery_end_ignore
with Session(engine, expire_on_commit=False) as session:
    user = session.scalars(select(User).options(selectinload(User.addresses))).one()
    session.commit()
# sphinx_gallery_start_ignore
assert sorted(a.email for a in user.addresses) == emails, "now it reads"
# sphinx_gallery_end_ignore

# %%
# ``raiseload()``: the forgotten load fails inside the session
# ------------------------------------------------------------
#
# The ``DetachedInstanceError`` shows up late, wherever the object is read after its session
# is gone (a template, a serializer). With :func:`~sqlalchemy.orm.raiseload` the query says "no
# lazy loads": the first read raises at once, inside the session. ``raiseload("*")`` is the
# wildcard form.

with Session(engine) as session:
    user = session.scalars(select(User).options(raiseload(User.addresses))).one()
    message = error_of(lambda: user.addresses, InvalidRequestError)
    # sphinx_gallery_start_ignore
    assert "'User.addresses' is not available due to lazy='raise'" in message, (
        "lazy='raise' makes the read raise, naming User.addresses"
    )
    # sphinx_gallery_end_ignore
    user = session.scalars(select(User).options(raiseload("*"))).one()
    message = error_of(lambda: user.addresses, InvalidRequestError)
    # sphinx_gallery_start_ignore
    assert "'User.addresses' is not available due to lazy='raise'" in message, (
        "raiseload('*') makes it raise too"
    )
    # sphinx_gallery_end_ignore

# %%
# ``lazy="raise"``: the same, in the mapping
# ------------------------------------------
#
# Mapped ``relationship(lazy="raise")``, ``Order.user`` refuses to lazy load unless a query
# says otherwise, even with its user already in the
# :doc:`identity map <../session_lifecycle/identity_map>`. A query that asks for
# ``joinedload(Order.user)`` gets an order that reads its user after close;
# ``lazyload(Order.user)`` turns lazy loading back on for one query.

with Session(engine) as session:
    alice = session.get(User, 1)  # user 1 is now in the identity map
    order = session.get(Order, 1)
    message = error_of(lambda: order.user, InvalidRequestError)
    # sphinx_gallery_start_ignore
    assert "'Order.user' is not available due to lazy='raise'" in message, (
        "the read of Order.user raises, naming it"
    )
    # sphinx_gallery_end_ignore
    order = session.scalars(select(Order).options(joinedload(Order.user))).one()
print(order, order.user)
# sphinx_gallery_start_ignore
assert order.user.name == "alice", "eager loaded, it reads after close"
# sphinx_gallery_end_ignore
with Session(engine) as session:
    order = session.scalars(select(Order).options(lazyload(Order.user))).one()
    user = order.user  # a lazy load: lazyload() turned it back on
    print(order, user)
    # sphinx_gallery_start_ignore
    assert user.name == "alice", "lazyload() allows the lazy load again"
    # sphinx_gallery_end_ignore
# sphinx_gallery_start_ignore
engine.dispose()
# sphinx_gallery_end_ignore
