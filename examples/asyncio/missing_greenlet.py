# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "sqlalchemy[asyncio]>=2.0",
#     "aiosqlite",
# ]
# ///
"""
``MissingGreenlet`` after ``await session.commit()``
=====================================================

Under asyncio every read that needs SQL must be awaited: an expired attribute (after
``await session.commit()``) and a lazy collection not loaded yet raise ``MissingGreenlet``
(bare or inside a ``StatementError``, depending on release and driver: catch both) when read
as plain attributes, and read fine once an awaited call such as ``session.refresh()`` has
loaded them.

Under asyncio an attribute cannot load itself: after ``await session.commit()`` every attribute
is expired, and a lazy collection is not loaded until first read, so reading either one
raises ``MissingGreenlet`` ("greenlet_spawn has not been called"). Depending on release and
driver it comes wrapped in a ``StatementError`` (the ``MissingGreenlet`` is its ``.orig``),
which ``except MissingGreenlet`` does not catch: the runs of this page found it wrapped on 2.1
with aiosqlite, psycopg and aiomysql and on 2.0 with aiomysql, bare on 2.1 with asyncpg and on
2.0 with aiosqlite, psycopg and asyncpg. Code that handles it should check both forms:
``isinstance(error, MissingGreenlet) or isinstance(getattr(error, "orig", None),
MissingGreenlet)``. Load what you will read with an
``await`` first (``await session.refresh(obj)``, ``selectinload()``, ``awaitable_attrs``), or
keep the values with ``expire_on_commit=False``.
"""

# %%
# An :class:`~sqlalchemy.ext.asyncio.AsyncSession` on aiosqlite (``DATABASE_URL`` when set:
# give it an async driver). Every cell is an ``async def`` run by one
# ``asyncio.Runner``, so all cells share one event loop. ``missing_greenlet()`` runs a
# read that needs SQL, prints the error it raises and finds the ``MissingGreenlet`` in
# it the robust way: the error itself, or the ``.orig`` of a ``StatementError``. Which form
# comes depends on release and driver; the runs of this page found (and it checks) a
# ``StatementError`` around it on 2.1 with aiosqlite, psycopg and aiomysql
# (:doc:`MariaDB </dialect-differences>`) and on 2.0 with aiomysql, the ``MissingGreenlet``
# itself on 2.1 with asyncpg and on 2.0 with aiosqlite, psycopg and asyncpg.

import asyncio
import os
import re

import sqlalchemy
from sqlalchemy import ForeignKey, String, exc, inspect
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


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
    email: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"Address(id={self.id!r}, email={self.email!r})"


runner = asyncio.Runner()
engine = create_async_engine(os.environ.get("DATABASE_URL", "sqlite+aiosqlite://"))
async_session = async_sessionmaker(engine)


async def create_tables():
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.run_sync(Base.metadata.create_all)
    async with async_session() as session:
        address = Address(id=1, email="a@example.org")
        session.add(User(id=1, name="alice", addresses=[address]))
        await session.commit()


# What the runs of this page found: the ``(release, driver)`` pairs that raise the
# ``MissingGreenlet`` inside a ``StatementError``, and those that raise it bare.
WRAPPED_WITH = {
    ("2.0", "aiomysql"),
    ("2.1", "aiosqlite"),
    ("2.1", "psycopg"),
    ("2.1", "aiomysql"),
}
BARE_WITH = {
    ("2.0", "aiosqlite"),
    ("2.0", "psycopg"),
    ("2.0", "asyncpg"),
    ("2.1", "asyncpg"),
}


def missing_greenlet(read):
    """Run a read that needs SQL; print the error, return the MissingGreenlet in it."""
    try:
        read()
    except exc.SQLAlchemyError as error:
        message = re.split(r"\s*\(Background on", str(error).splitlines()[0])[0]
        print(f"{type(error).__name__}: {message}")
        # Catch both forms: the MissingGreenlet itself, or a StatementError around it.
        if isinstance(error, exc.MissingGreenlet):
            found = error
        elif isinstance(getattr(error, "orig", None), exc.MissingGreenlet):
            found = error.orig
        else:
            raise
        release = ".".join(sqlalchemy.__version__.split(".")[:2])
        driver = engine.dialect.driver
        # sphinx_gallery_start_ignore
        if (release, driver) in WRAPPED_WITH:
            assert isinstance(error, exc.StatementError), (
                f"on SQLAlchemy {release} with {driver} the MissingGreenlet comes inside a "
                "StatementError"
            )
        if (release, driver) in BARE_WITH:
            assert found is error, (
                f"on SQLAlchemy {release} with {driver} the MissingGreenlet comes bare"
            )
        # sphinx_gallery_end_ignore
        return found
    raise AssertionError("the read raised no error")


runner.run(create_tables())

# %%
# An expired attribute after ``await session.commit()``
# -----------------------------------------------------
#
# ``commit()`` expires every attribute, as in a synchronous session. The next read of
# ``user.name`` must send a ``SELECT``; a synchronous session sends it inside the attribute
# access, but here sending it needs an ``await``, and a plain attribute read cannot await.
# SQLAlchemy raises ``MissingGreenlet`` instead: the error itself, or a ``StatementError``
# around it, depending on release and driver (``missing_greenlet()`` above catches both).


async def read_after_commit():
    async with async_session() as session:
        user = await session.get(User, 1)
        await session.commit()
        print("expired:", sorted(inspect(user).expired_attributes))
        error = missing_greenlet(lambda: user.name)
        # sphinx_gallery_start_ignore
        assert isinstance(error, exc.MissingGreenlet), "an expired read raises"
        assert "greenlet_spawn has not been called" in str(error), (
            "the error says greenlet_spawn has not been called"
        )
        assert "name" in inspect(user).expired_attributes, "name is still expired"
        # sphinx_gallery_end_ignore
        return user


user = runner.run(read_after_commit())

# %%
# The same read after an awaited load
# -----------------------------------
#
# The session is still usable. ``await session.refresh(user)`` sends the ``SELECT`` behind an
# ``await``; after it, ``user.name`` is an ordinary loaded value and reading it needs no SQL.
# It loads the columns only: the lazy ``addresses`` stays unloaded (and expired, in the state
# table).


async def refresh_then_read():
    async with async_session() as session:
        user = await session.get(User, 1)
        await session.commit()
        await session.refresh(user)
        print(user.name)
        # sphinx_gallery_start_ignore
        assert inspect(user).expired_attributes == {"addresses"}, (
            "refresh() loaded the columns id and name: only addresses is still expired"
        )
        assert "addresses" not in inspect(user).dict, "lazy collection not loaded"
        assert user.name == "alice", "the loaded value reads without SQL"
        # sphinx_gallery_end_ignore
        return user


user = runner.run(refresh_then_read())

# %%
# A lazy collection, even before any commit
# -----------------------------------------
#
# ``user.addresses`` is a lazy collection (the default, ``lazy="select"``): its first read
# sends a ``SELECT``. That is the same problem with no commit involved: the freshly loaded
# ``user`` raises ``MissingGreenlet`` on its first ``user.addresses``, and the collection stays
# unloaded.


async def read_lazy_relationship():
    async with async_session() as session:
        user = await session.get(User, 1)
        # sphinx_gallery_start_ignore
        assert "name" in inspect(user).dict, "the columns were loaded by get()"
        # sphinx_gallery_end_ignore
        error = missing_greenlet(lambda: user.addresses)
        # sphinx_gallery_start_ignore
        assert isinstance(error, exc.MissingGreenlet), "a lazy load raises"
        assert "greenlet_spawn has not been called" in str(error), (
            "the error says greenlet_spawn has not been called"
        )
        assert "addresses" not in inspect(user).dict, "still not loaded"
        # sphinx_gallery_end_ignore
        return user


user = runner.run(read_lazy_relationship())

# %%
# Loading the collection with an ``await``
# ----------------------------------------
#
# ``await session.refresh(user, ["addresses"])`` loads the named relationship (the SQL
# below); then ``user.addresses`` is a loaded list. :ref:`The next page
# <sphx_glr_auto_examples_asyncio_loading_under_asyncio.py>` runs every fix, with its SQL.


async def refresh_relationship():
    async with async_session() as session:
        user = await session.get(User, 1)
        await session.refresh(user, ["addresses"])
        print(user.addresses)
        # sphinx_gallery_start_ignore
        assert "addresses" in inspect(user).dict, "refresh() loaded the collection"
        assert [a.email for a in user.addresses] == ["a@example.org"], (
            "the loaded collection holds the user's address"
        )
        # sphinx_gallery_end_ignore
        return user


user = runner.run(refresh_relationship())
# sphinx_gallery_start_ignore
runner.run(engine.dispose())
runner.close()
# sphinx_gallery_end_ignore
