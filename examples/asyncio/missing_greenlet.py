# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "sqlalchemy[asyncio]>=2.0.4",
#     "aiosqlite",
# ]
# ///
"""
``MissingGreenlet`` after ``await session.commit()``
=====================================================

Under asyncio every read that needs SQL must be awaited: an expired attribute (after
``await session.commit()``) and a lazy collection not loaded yet raise ``MissingGreenlet``
when read as plain attributes. It comes bare or as the ``.orig`` of a ``StatementError``,
depending on the release, the driver and the pool (a read that must first open or ping a
connection, under ``NullPool`` or ``pool_pre_ping=True``, raises it bare), so catch both. The
fix is to load before you read: ``await session.refresh(obj)``, ``selectinload()``,
``awaitable_attrs``, or ``expire_on_commit=False`` to keep the loaded values.

Under asyncio an attribute cannot load itself: after ``await session.commit()`` every attribute
is expired, and a lazy collection is not loaded until first read, so reading either one
raises ``MissingGreenlet`` ("greenlet_spawn has not been called"), sometimes inside a
``StatementError``, which ``except MissingGreenlet`` does not catch.
"""

# %%
# An :class:`~sqlalchemy.ext.asyncio.AsyncSession` on aiosqlite (``DATABASE_URL`` when set:
# give it an async driver). Every cell is an ``async def`` run by one
# ``asyncio.Runner``, so all cells share one event loop. ``missing_greenlet()`` runs a
# read that needs SQL and catches both forms of the error: ``except (MissingGreenlet,
# StatementError)``, then it re-raises a ``StatementError`` whose ``.orig`` is something
# else (an ``IntegrityError`` is a ``StatementError`` too). ``form()`` says which form came.

import asyncio
import gc
import logging
import os
import re
import sys
import tempfile
import threading
import types
import warnings

import sqlalchemy
from sqlalchemy import ForeignKey, String, exc, inspect, make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.pool import NullPool


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


# A refused read leaves the driver's coroutine never awaited, and Python warns when it is
# collected, or reports an error of its clean-up: the error this page shows, not a new
# one.
warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)


def unless_a_coroutine(unraisable, report=sys.unraisablehook):
    if not isinstance(unraisable.object, types.CoroutineType):
        report(unraisable)


sys.unraisablehook = unless_a_coroutine
runner = asyncio.Runner()
# sphinx_gallery_start_ignore
threads_before = set(threading.enumerate())
# sphinx_gallery_end_ignore
engine = create_async_engine(os.environ.get("DATABASE_URL", "sqlite+aiosqlite://"))
async_session = async_sessionmaker(engine)


async def create_tables(target):
    async with target.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.run_sync(Base.metadata.create_all)
    async with async_sessionmaker(target)() as session:
        address = Address(id=1, email="a@example.org")
        session.add(User(id=1, name="alice", addresses=[address]))
        await session.commit()


def missing_greenlet(read, show=True):
    """Run a read that needs SQL; print the error and return it, in either form."""
    try:
        read()
    except (exc.MissingGreenlet, exc.StatementError) as error:
        if not isinstance(getattr(error, "orig", error), exc.MissingGreenlet):
            raise  # a StatementError about something else
        message = re.split(r"\s*\(Background on", str(error).splitlines()[0])[0]
        if show:
            print(f"{type(error).__name__}: {message}")
        return error
    raise AssertionError("the read raised no error")


def form(error):
    return "bare" if isinstance(error, exc.MissingGreenlet) else "wrapped"


# sphinx_gallery_start_ignore
assert issubclass(exc.IntegrityError, exc.StatementError), (
    "an IntegrityError is a StatementError too: check .orig before treating it as this error"
)
assert not issubclass(exc.StatementError, exc.MissingGreenlet), (
    "except MissingGreenlet misses the wrapped form"
)
assert not issubclass(exc.MissingGreenlet, exc.StatementError), (
    "except StatementError alone misses the bare form"
)
# sphinx_gallery_end_ignore


# What the runs of this page found for a read whose first await is its statement (the
# default pool, or a connection the session holds already): the ``(release, driver)``
# pairs that raise the ``MissingGreenlet`` inside a ``StatementError``, and those that
# raise it bare.
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
RELEASE = ".".join(sqlalchemy.__version__.split(".")[:2])


def expected_form(driver):
    """The form the runs found for a read that opens or pings no connection first."""
    if (RELEASE, driver) in WRAPPED_WITH:
        return "wrapped"
    return "bare" if (RELEASE, driver) in BARE_WITH else None


runner.run(create_tables(engine))

# %%
# An expired attribute after ``await session.commit()``
# -----------------------------------------------------
#
# ``commit()`` expires every attribute, as in a synchronous session. The next read of
# ``user.name`` must send a ``SELECT``; a synchronous session sends it inside the attribute
# access, but here sending it needs an ``await``, and a plain attribute read cannot await.
# SQLAlchemy raises ``MissingGreenlet`` instead. With this engine's default pool it comes
# inside a ``StatementError`` on 2.1 with aiosqlite and bare on 2.0 (the runs of this page
# found other drivers differ: ``WRAPPED_WITH`` and ``BARE_WITH`` above), so the ``except``
# in ``missing_greenlet()`` names both.


async def read_after_commit():
    async with async_session() as session:
        user = await session.get(User, 1)
        await session.commit()
        print("expired:", sorted(inspect(user).expired_attributes))
        error = missing_greenlet(lambda: user.name)
        print("form:", form(error))
        # sphinx_gallery_start_ignore
        found = getattr(error, "orig", error)
        assert isinstance(found, exc.MissingGreenlet), "an expired read raises"
        assert "greenlet_spawn has not been called" in str(found), (
            "the error says greenlet_spawn has not been called"
        )
        assert "name" in inspect(user).expired_attributes, "name is still expired"
        expected = expected_form(engine.dialect.driver)
        if expected is not None:
            assert form(error) == expected, (
                f"on SQLAlchemy {RELEASE} with {engine.dialect.driver} it comes {expected}"
            )
        if engine.dialect.driver == "aiosqlite":
            assert form(error) == ("wrapped" if RELEASE == "2.1" else "bare"), (
                "with aiosqlite: inside a StatementError on 2.1, bare on 2.0"
            )
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
# ``user`` raises ``MissingGreenlet`` on its first ``user.addresses``, in the same form as the
# expired attribute, and the collection stays unloaded.


async def read_lazy_relationship():
    async with async_session() as session:
        user = await session.get(User, 1)
        # sphinx_gallery_start_ignore
        assert "name" in inspect(user).dict, "the columns were loaded by get()"
        # sphinx_gallery_end_ignore
        error = missing_greenlet(lambda: user.addresses)
        print("form:", form(error))
        # sphinx_gallery_start_ignore
        found = getattr(error, "orig", error)
        assert isinstance(found, exc.MissingGreenlet), "a lazy load raises"
        assert "greenlet_spawn has not been called" in str(found), (
            "the error says greenlet_spawn has not been called"
        )
        assert "addresses" not in inspect(user).dict, "still not loaded"
        expected = expected_form(engine.dialect.driver)
        if expected is not None:
            assert form(error) == expected, (
                f"on SQLAlchemy {RELEASE} with {engine.dialect.driver} it comes {expected}"
            )
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

# %%
# The pool decides the form too
# -----------------------------
#
# The ``StatementError`` wraps the ``MissingGreenlet`` when the read's first ``await`` is its
# statement. A read that must first open a connection (``NullPool`` opens one for every
# checkout) or ping one (``pool_pre_ping=True``) fails there, before any statement, and the
# ``MissingGreenlet`` comes bare, on 2.0 and 2.1, with each driver of ``WRAPPED_WITH`` and
# ``BARE_WITH`` (the runs of this page checked all four). A lazy load inside a transaction
# uses the connection the session holds already, so there the pool changes nothing. Three
# engines on one SQLite file (each ``NullPool`` connection to ``sqlite://`` would open a new,
# empty database), each read once inside a transaction and once after ``commit()``:

url = make_url(os.environ.get("DATABASE_URL", "sqlite+aiosqlite://"))
tmp = tempfile.TemporaryDirectory()
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmp.name, "pools.db"))
# With psycopg, the pool also logs "Exception terminating connection", with a traceback,
# when it cannot close the connection whose ping failed (closing needs an ``await`` too):
# this page keeps the pool's error log (its loggers are below ``sqlalchemy.pool``) quiet.
logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)
engines = {
    "default pool": create_async_engine(url),
    "NullPool": create_async_engine(url, poolclass=NullPool),
    "pool_pre_ping=True": create_async_engine(url, pool_pre_ping=True),
}


async def two_reads(target):
    async with async_sessionmaker(target)() as session:
        user = await session.get(User, 1)
        in_transaction = form(missing_greenlet(lambda: user.addresses, show=False))
        await session.commit()
        after_commit = form(missing_greenlet(lambda: user.name, show=False))
    await target.dispose()
    return in_transaction, after_commit


async def forms_by_pool():
    await create_tables(engines["default pool"])
    forms = {}
    for name, each in engines.items():
        forms[name] = in_transaction, after_commit = await two_reads(each)
        print(f"{name:18}  lazy load in a transaction: {in_transaction:7}  ", end="")
        print(f"expired read after commit: {after_commit}")
    return forms


forms = runner.run(forms_by_pool())
# sphinx_gallery_start_ignore
expected = expected_form(engines["NullPool"].dialect.driver)
if expected is not None:
    assert forms["default pool"] == (expected, expected), (
        "with the default pool both reads come as on the cells above"
    )
    assert forms["NullPool"] == (expected, "bare"), (
        "with NullPool the read after commit opens a connection first: bare"
    )
    assert forms["pool_pre_ping=True"] == (expected, "bare"), (
        "with pool_pre_ping=True the read after commit pings first: bare"
    )
if engines["NullPool"].dialect.driver == "aiosqlite" and RELEASE == "2.1":
    assert forms["default pool"] != forms["NullPool"], (
        "on 2.1 with aiosqlite the default pool and NullPool give different forms"
    )
# sphinx_gallery_end_ignore

# %%
# Clean up: dispose of the engine, close the event loop, remove the temporary file. First
# ``gc.collect()``: on SQLAlchemy 2.0.38 to 2.0.45 the failed ``pool_pre_ping`` above leaves
# its connection open (closing it needs an ``await`` too), and the thread aiosqlite runs
# for it would keep Python from exiting; collecting the connection stops that thread.

gc.collect()
runner.run(engine.dispose())
runner.close()
tmp.cleanup()
# sphinx_gallery_start_ignore
others = [t for t in threading.enumerate() if t not in threads_before and not t.daemon]
for thread in others:
    thread.join(timeout=5)
assert not any(t.is_alive() for t in others), "no driver thread is left to block the exit"
# sphinx_gallery_end_ignore
