# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "sqlalchemy[asyncio]>=2.0.13",
#     "aiosqlite",
# ]
# ///
"""
Loading before you read, under asyncio
======================================

Every load under asyncio must happen behind an ``await``: put it in the query
(``selectinload``), ask for it (``refresh(obj, [names])``, ``awaitable_attrs``) or run
synchronous code with ``run_sync()``; ``expire_on_commit=False`` only keeps what was loaded,
stale values included, and ``lazy="raise"`` makes the forgotten load fail with its name.

Under asyncio a plain read of an attribute that is not loaded raises ``MissingGreenlet`` (bare
or wrapped in a ``StatementError``, depending on release, driver and pool: see
:ref:`the first page <sphx_glr_auto_examples_asyncio_missing_greenlet.py>`).
Each way is run below, with the SQL it sends.
"""

# %%
# A user with one address. ``sent`` records each statement, so a cell can count its
# ``SELECT`` statements. A second connection will change a row behind our back, so the
# in-memory SQLite default is swapped for a SQLite file in a temporary directory.

import asyncio
import os
import tempfile

from sqlalchemy import ForeignKey, String, event, exc, inspect, make_url, select, update
from sqlalchemy.ext.asyncio import AsyncAttrs, async_sessionmaker, create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    relationship,
    selectinload,
)


class Base(AsyncAttrs, DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    addresses: Mapped[list["Address"]] = relationship()
    # The same rows, but a read that would lazy load raises at once.
    addresses_or_raise: Mapped[list["Address"]] = relationship(
        lazy="raise",
        viewonly=True,
    )

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    email: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"Address(id={self.id!r}, email={self.email!r})"


url = make_url(os.environ.get("DATABASE_URL", "sqlite+aiosqlite://"))
tmp = tempfile.TemporaryDirectory()
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmp.name, "example.db"))
runner = asyncio.Runner()
engine = create_async_engine(url)
async_session = async_sessionmaker(engine)

sent = []


@event.listens_for(engine.sync_engine, "before_cursor_execute")
def record(connection, cursor, statement, *args):
    sent.append(statement)


def selects():
    return [sql for sql in sent if sql.lstrip().upper().startswith("SELECT")]


async def create_tables():
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.run_sync(Base.metadata.create_all)
    async with async_session() as session:
        address = Address(id=1, email="a@example.org")
        session.add(User(id=1, name="alice", addresses=[address]))
        await session.commit()


async def rename_elsewhere(name):
    """Another connection renames alice and commits."""
    async with engine.begin() as other:
        users = User.__table__
        await other.execute(update(users).where(users.c.id == 1).values(name=name))


runner.run(create_tables())

# %%
# ``selectinload()``: load the collection with the query
# -------------------------------------------------------
#
# :func:`~sqlalchemy.orm.selectinload` loads ``addresses`` for every user the query returns,
# in a second ``SELECT ... WHERE addresses.user_id IN (...)``, inside the awaited
# ``execute()``. Reading ``user.addresses`` afterwards sends nothing.


async def with_selectinload():
    async with async_session() as session:
        query = select(User).options(selectinload(User.addresses))
        sent.clear()
        user = (await session.scalars(query)).one()
        users_select, addresses_select = selects()
        # sphinx_gallery_start_ignore
        assert " IN " in addresses_select, "the second SELECT uses IN"
        # sphinx_gallery_end_ignore
        sent.clear()
        print(user.addresses)
        # sphinx_gallery_start_ignore
        assert not sent, "loaded: no SQL"
        # sphinx_gallery_end_ignore
        return user


user = runner.run(with_selectinload())

# %%
# ``await session.refresh(obj, [names])``: load named attributes on an object you have
# -------------------------------------------------------------------------------------
#
# After ``await session.commit()`` everything is expired.
# :doc:`refresh() <../session_lifecycle/refresh_after_commit>` with attribute names
# loads just those, relationships included, behind the ``await``.


async def with_refresh():
    async with async_session() as session:
        user = await session.get(User, 1)
        await session.commit()
        await session.refresh(user, ["name", "addresses"])
        sent.clear()
        print(user.name, user.addresses)
        # sphinx_gallery_start_ignore
        assert not sent, "loaded: no SQL"
        # sphinx_gallery_end_ignore
        return user


user = runner.run(with_refresh())

# %%
# ``awaitable_attrs``: await the attribute itself
# -----------------------------------------------
#
# With :class:`~sqlalchemy.ext.asyncio.AsyncAttrs` mixed into the base class,
# ``await user.awaitable_attrs.addresses`` runs the
# :doc:`lazy load <../relationships/lazy_load_after_close>` behind an ``await`` and returns
# the collection; it works for an expired column too. Here both are read after a commit: one
# ``SELECT`` for the expired columns, one for the collection.


async def with_awaitable_attrs():
    async with async_session() as session:
        user = await session.get(User, 1)
        await session.commit()
        sent.clear()
        name = await user.awaitable_attrs.name
        # sphinx_gallery_start_ignore
        assert len(selects()) == 1, "reading it cost one SELECT"
        # sphinx_gallery_end_ignore
        addresses = await user.awaitable_attrs.addresses
        # sphinx_gallery_start_ignore
        assert len(selects()) == 2, "the next load cost one more SELECT"
        # sphinx_gallery_end_ignore
        print(name, addresses)
        # sphinx_gallery_start_ignore
        assert [a.email for a in addresses] == ["a@example.org"], (
            "the awaited collection holds the user's address"
        )
        assert "addresses" in inspect(user).dict, "the collection stays loaded"
        # sphinx_gallery_end_ignore
        return user


user = runner.run(with_awaitable_attrs())

# %%
# ``run_sync()``: plain synchronous code, lazy loads included
# -----------------------------------------------------------
#
# :meth:`~sqlalchemy.ext.asyncio.AsyncSession.run_sync` calls a function with the
# synchronous :class:`~sqlalchemy.orm.Session` behind the ``AsyncSession``, inside a
# greenlet: there an expired attribute and a lazy relationship load themselves, as in any
# synchronous program. Each read sends its ``SELECT`` (below, in order).


def report(session, user_id):
    user = session.get(User, user_id)
    session.commit()  # expires user
    return f"{user.name}: {[a.email for a in user.addresses]}"


async def with_run_sync():
    async with async_session() as session:
        sent.clear()
        text = await session.run_sync(report, 1)
        print(text)
        # sphinx_gallery_start_ignore
        assert text == "alice: ['a@example.org']", (
            "run_sync() read the name and the addresses, both loaded"
        )
        assert len(selects()) == 3, "get, name, addresses"
        # sphinx_gallery_end_ignore


runner.run(with_run_sync())

# %%
# ``expire_on_commit=False``: values stay readable, and go stale
# ---------------------------------------------------------------
#
# A sessionmaker with ``expire_on_commit=False`` leaves loaded values in place after
# ``commit()``: ``user.name`` reads with no SQL. The price: another connection renames alice,
# and our ``user.name`` still says ``alice`` until an awaited load reads the row again (here
# ``refresh()``). A collection that was never loaded stays unloaded: nothing loads it.


async def with_expire_on_commit_false():
    keep_values = async_sessionmaker(engine, expire_on_commit=False)
    async with keep_values() as session:
        user = await session.get(User, 1)
        await session.commit()
        await rename_elsewhere("Alicia")
        sent.clear()
        print(user.name)
        # sphinx_gallery_start_ignore
        assert user.name == "alice" and not sent, "stale, no SQL"
        # sphinx_gallery_end_ignore
        await session.refresh(user)
        print(user.name)
        # sphinx_gallery_start_ignore
        assert user.name == "Alicia", "refresh() loaded the current value"
        assert "addresses" not in inspect(user).dict, "the addresses were never loaded"
        # sphinx_gallery_end_ignore
        await rename_elsewhere("alice")
        return user


user = runner.run(with_expire_on_commit_false())

# %%
# ``lazy="raise"``: a forgotten load fails at once, with its name
# ---------------------------------------------------------------
#
# ``User.addresses_or_raise`` is mapped with ``lazy="raise"``: reading it unloaded raises
# ``InvalidRequestError`` naming the attribute, and sends no SQL; inside ``run_sync()`` too,
# where the plain ``addresses`` loads silently. Loading it with ``selectinload()`` makes it
# readable.


def read_both(session):
    user = session.get(User, 1)
    try:
        user.addresses_or_raise
    except exc.InvalidRequestError:
        return len(user.addresses), "raised"
    return len(user.addresses), "loaded"


async def with_lazy_raise():
    async with async_session() as session:
        user = await session.get(User, 1)
        sent.clear()
        try:
            user.addresses_or_raise
        except exc.InvalidRequestError as error:
            print(f"{type(error).__name__}: {error}")
            # sphinx_gallery_start_ignore
            assert "lazy='raise'" in str(error), "the error names the loader strategy"
            # sphinx_gallery_end_ignore
        else:
            raise AssertionError("an unloaded lazy='raise' relationship raised nothing")
        # sphinx_gallery_start_ignore
        assert not sent, "no SQL was attempted"
        # sphinx_gallery_end_ignore
        loaded, strict = await session.run_sync(read_both)
        # sphinx_gallery_start_ignore
        assert (loaded, strict) == (1, "raised"), "sync code: lazy loads, raise raises"
        # sphinx_gallery_end_ignore
        query = select(User).options(selectinload(User.addresses_or_raise))
        query = query.execution_options(populate_existing=True)
        user = (await session.scalars(query)).one()
        print(user.addresses_or_raise)
        # sphinx_gallery_start_ignore
        assert "addresses_or_raise" in inspect(user).dict, "selectinload() loaded it"
        # sphinx_gallery_end_ignore
        return user


user = runner.run(with_lazy_raise())
# sphinx_gallery_start_ignore
runner.run(engine.dispose())
runner.close()
# sphinx_gallery_end_ignore
