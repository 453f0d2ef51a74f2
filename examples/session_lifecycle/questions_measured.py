# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "sqlalchemy[asyncio]>=2.0.13",
#     "aiosqlite",
# ]
# ///
"""
The questions readers ask, measured: relationships, asyncio, server values, concurrency
=======================================================================================

The companion of :ref:`the everyday operations, measured
<sphx_glr_auto_examples_session_lifecycle_operations_measured.py>` for the questions that
recur most about a session being out of sync: a relationship read after the session is gone,
an attribute read after ``await session.commit()``, a server default after INSERT, raw SQL,
mutable JSON, two sessions writing one row. Each cell runs one case from a fresh
state, records a short verdict (``DetachedInstanceError``, ``MissingGreenlet``, ``stale``,
``lost`` ...) and asserts it; the cheat sheet and the decision guide quote these verdicts,
checked against this run while the site is built. Each topic has its own page with the whole
story; this one only measures.
"""

# %%
# Setup
# -----
#
# Parents with children, a counter, a JSON column and a server default. ``record()`` stores a
# verdict under a key and asserts the expected one; ``statements()`` lists the verbs of the
# SQL a step sent. The asyncio cell opens an async engine on the same database.

import asyncio
import gc
import os
import re
import tempfile
import warnings

import sqlalchemy
from sqlalchemy import (
    JSON,
    ForeignKey,
    create_engine,
    delete,
    event,
    func,
    inspect,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.exc import InvalidRequestError, MissingGreenlet, StatementError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    raiseload,
    relationship,
    selectinload,
)
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import DetachedInstanceError, StaleDataError
from sqlalchemy.types import String


class Base(DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    counter: Mapped[int] = mapped_column(default=5)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(
        String(20), server_default="new", onupdate=func.lower("UPDATED")
    )
    children: Mapped[list["Child"]] = relationship(back_populates="parent")

    def __repr__(self) -> str:
        return f"Parent(id={self.id!r}, name={self.name!r})"


class Child(Base):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"))
    parent: Mapped[Parent] = relationship(back_populates="children")

    def __repr__(self) -> str:
        return f"Child(id={self.id!r}, parent_id={self.parent_id!r})"


class Wallet(Base):
    __tablename__ = "wallets"
    id: Mapped[int] = mapped_column(primary_key=True)
    balance: Mapped[int]

    def __repr__(self) -> str:
        return f"Wallet(id={self.id!r}, balance={self.balance!r})"


class Account(Base):
    """A wallet with a version counter: the UPDATE checks it."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    balance: Mapped[int]
    version: Mapped[int] = mapped_column(nullable=False)
    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"Account(id={self.id!r}, balance={self.balance!r})"


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmp = tempfile.TemporaryDirectory()
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmp.name, "questions.db"))
backend = url.get_backend_name()
SYNC_DRIVER = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
}
ASYNC_DRIVER = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+aiomysql",
}
backend = "mysql" if backend == "mariadb" else backend
engine = create_engine(
    url.set(drivername=SYNC_DRIVER[backend])
)  # default isolation levels
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
parents, children = Parent.__table__, Child.__table__
wallets, accounts = Wallet.__table__, Account.__table__

sent = []
event.listen(
    engine, "before_cursor_execute", lambda conn, cur, sql, *rest: sent.append(sql)
)

# A refused async read leaves the driver's coroutine never awaited: not a warning of ours.
warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
MEASURED = {}  # "lazy-after-close/read" -> {"verdict": ...}; the docs build reads it
LABELS = {}  # the same key -> the label of the section that measures it


def record(section, key, verdict, expected):
    MEASURED[key], LABELS[key] = {"verdict": verdict}, f"questions_measured_{section}"
    print(f"{key:40} {verdict}")
    # sphinx_gallery_start_ignore
    assert verdict == expected, f"{key} is measured as {expected!r}"
    # sphinx_gallery_end_ignore


def statements():
    verbs = [
        sql.split()[0] + (" RETURNING" if "RETURNING" in sql else "") for sql in sent
    ]
    sent.clear()
    return ", ".join(verbs) or "no SQL"


def outcome(obj, attribute):
    """What reading the attribute does: "loaded", or the error it raises: the class an
    ``except`` has to name, and what a StatementError wraps."""
    try:
        getattr(obj, attribute)
        verdict = "loaded"
    except StatementError as error:
        verdict = f"{type(error.orig).__name__} in a {type(error).__name__}"
    except (DetachedInstanceError, MissingGreenlet, InvalidRequestError) as error:
        verdict = type(error).__name__
    gc.collect()  # a refused async read's coroutine goes now, not at some later moment
    return verdict


def reset():
    with engine.begin() as other:
        for table in (children, parents, wallets, accounts):
            other.execute(delete(table))
        other.execute(
            parents.insert(), [{"id": 1, "name": "p1", "counter": 5, "settings": {}}]
        )
        other.execute(
            parents.insert(), [{"id": 2, "name": "p2", "counter": 5, "settings": {}}]
        )
        other.execute(children.insert(), [{"id": 10, "parent_id": 1}])
        other.execute(wallets.insert(), [{"id": 1, "balance": 100}])
        other.execute(accounts.insert(), [{"id": 1, "balance": 100, "version": 1}])


# %%
# .. _questions_measured_relationships:
#
# Relationships
# -------------
#
# A relationship never loaded raises ``DetachedInstanceError`` once the session is closed,
# with :doc:`expire_on_commit=False <../myths/expire_on_commit_false_fixes_detached>` too;
# ``selectinload`` loads it while the session is open;
# ``raiseload()`` makes the mistake fail inside the session. Setting ``child.parent_id``
# moves neither a loaded ``child.parent`` nor the loaded collections, not even at flush,
# until they are expired; assigning ``child.parent`` moves the collections at once.

reset()
with Session(engine) as session:
    parent = session.get(Parent, 1)
sent.clear()
verdict = outcome(parent, "children")
record("relationships", "lazy-after-close/read", verdict, "DetachedInstanceError")
record("relationships", "lazy-after-close/sql", statements(), "no SQL")
with Session(engine, expire_on_commit=False) as session:
    parent = session.get(Parent, 1)
    session.commit()
verdict = outcome(parent, "children")
record(
    "relationships",
    "lazy-after-close/expire-on-commit-false",
    verdict,
    "DetachedInstanceError",
)
with Session(engine) as session:
    parent = session.scalars(
        select(Parent).options(selectinload(Parent.children))
    ).first()
record(
    "relationships",
    "lazy-after-close/selectinload",
    outcome(parent, "children"),
    "loaded",
)
with Session(engine) as session:
    parent = session.scalars(select(Parent).options(raiseload(Parent.children))).first()
    verdict = outcome(parent, "children")
record("relationships", "lazy-after-close/raiseload", verdict, "InvalidRequestError")

reset()
with Session(engine) as session:
    child = session.get(Child, 10)
    p1, p2 = child.parent, session.get(Parent, 2)
    p1.children, p2.children  # noqa: B018 - both collections loaded
    child.parent_id = 2
    sent.clear()
    session.flush()
    record("relationships", "foreign-key/flush-sql", statements(), "UPDATE")
    moved = child.parent is p2 or child in p2.children or child not in p1.children
    record(
        "relationships",
        "foreign-key/after-flush",
        "moved" if moved else "unchanged",
        "unchanged",
    )
    session.expire(child)
    session.expire(p1)
    session.expire(p2)
    moved = child.parent is p2 and child in p2.children and child not in p1.children
    record(
        "relationships",
        "foreign-key/after-expire",
        "moved" if moved else "unchanged",
        "moved",
    )
reset()
with Session(engine) as session:
    child = session.get(Child, 10)
    p1, p2 = child.parent, session.get(Parent, 2)
    p1.children, p2.children  # noqa: B018 - both collections loaded
    child.parent = p2
    moved = child in p2.children and child not in p1.children
    record(
        "relationships",
        "assign-parent/at-once",
        "moved" if moved else "unchanged",
        "moved",
    )

# %%
# .. _questions_measured_asyncio:
#
# asyncio
# -------
#
# After ``await session.commit()`` an attribute is expired, and reading it needs SQL the
# event loop cannot run behind a plain attribute access:
# :doc:`MissingGreenlet <../asyncio/missing_greenlet>`; a lazy relationship that has to load
# raises it too. With the default pool used here, this page's drivers raise it inside a
# ``StatementError`` on SQLAlchemy 2.1 (aiosqlite, psycopg, aiomysql) and on 2.0 with
# aiomysql, so ``except MissingGreenlet`` does not catch it there; the form also depends on
# the pool (:doc:`a read that must first open or ping a connection raises it bare
# <../asyncio/missing_greenlet>`): catch both. ``await session.refresh()`` loads them
# (:ref:`awaitable_attrs <questions_measured_awaitable_attrs>` too, next);
# ``expire_on_commit=False`` keeps the loaded values readable.

del child, p1, p2, parent  # done with the last cell's objects: each table shows its own
SQLALCHEMY_2_1 = tuple(int(part) for part in sqlalchemy.__version__.split(".")[:2]) >= (
    2,
    1,
)
WRAPPED = SQLALCHEMY_2_1 or backend == "mysql"  # as the runs found, with the default pool
MISSING_GREENLET = "MissingGreenlet in a StatementError" if WRAPPED else "MissingGreenlet"
reset()
async_engine = create_async_engine(url.set(drivername=ASYNC_DRIVER[backend]))
new_async_session = async_sessionmaker(async_engine)


async def asyncio_cases():
    async with new_async_session() as session:
        parent = await session.get(Parent, 1)
        await session.commit()
        record("asyncio", "async-commit/read", outcome(parent, "name"), MISSING_GREENLET)
        await session.refresh(parent)
        record("asyncio", "async-refresh/read", outcome(parent, "name"), "loaded")
        verdict = outcome(parent, "children")
        record("asyncio", "async-lazy/read", verdict, MISSING_GREENLET)
    async with new_async_session(expire_on_commit=False) as session:
        parent = await session.get(Parent, 1)
        await session.commit()
        verdict = outcome(parent, "name")
        record("asyncio", "async-expire-on-commit-false/read", verdict, "loaded")
    await async_engine.dispose()


asyncio.run(asyncio_cases())

# %%
# .. _questions_measured_awaitable_attrs:
#
# ``awaitable_attrs``
# -------------------
#
# The ``AsyncAttrs`` mixin (SQLAlchemy 2.0.13 and later) gives a mapped class
# ``awaitable_attrs``: ``await parent.awaitable_attrs.children`` loads the lazy relationship
# behind an ``await``, and reading ``parent.children`` then needs no SQL. Only this cell
# uses it: ``AwaitableParent`` maps the same ``parents`` table with the mixin.

from sqlalchemy.ext.asyncio import AsyncAttrs  # noqa: E402 - only this cell needs it


class AwaitableParent(AsyncAttrs, Base):
    __table__ = parents
    children: Mapped[list[Child]] = relationship(viewonly=True)

    def __repr__(self) -> str:
        return f"AwaitableParent(id={self.id!r}, name={self.name!r})"


async def awaitable_attrs_case():
    async with new_async_session() as session:
        parent = await session.get(AwaitableParent, 1)
        await parent.awaitable_attrs.children
        verdict = outcome(parent, "children")
        record("awaitable_attrs", "async-awaitable-attrs/read", verdict, "loaded")
    await async_engine.dispose()


asyncio.run(awaitable_attrs_case())

# %%
# .. _questions_measured_server_values:
#
# Server-generated values
# -----------------------
#
# A ``server_default`` is fetched by the INSERT itself (``RETURNING``) where the database has
# it: ``eager_defaults="auto"``, the default, covers INSERT. A value the UPDATE computes in SQL
# (``onupdate=func.lower(...)``) is expired after the flush, and its first read sends a SELECT;
# ``eager_defaults=True`` fetches it with ``UPDATE ... RETURNING`` instead.

reset()
with Session(engine) as session:
    new = Parent(id=3, name="p3")
    session.add(new)
    sent.clear()
    session.flush()
    record("server_values", "server-default/insert", statements(), "INSERT RETURNING")
    loaded = "status" not in inspect(new).expired_attributes
    verdict = "loaded" if loaded else "expired"
    record("server_values", "server-default/after-insert", verdict, "loaded")
    new.name = "renamed"
    session.flush()
    expired = "status" in inspect(new).expired_attributes
    verdict = "expired" if expired else "loaded"
    record("server_values", "onupdate/after-update", verdict, "expired")
    sent.clear()
    new.status  # noqa: B018 - the first read
    record("server_values", "onupdate/first-read", statements(), "SELECT")
Parent.__mapper__.eager_defaults = True
reset()
with Session(engine) as session:
    new = session.get(Parent, 1)
    new.name = "renamed"
    sent.clear()
    session.flush()
    fetch = "UPDATE RETURNING" if engine.dialect.update_returning else "UPDATE, SELECT"
    record("server_values", "eager-defaults/update", statements(), fetch)
Parent.__mapper__.eager_defaults = "auto"

# %%
# .. _questions_measured_untracked:
#
# Raw SQL and mutable JSON
# ------------------------
#
# ``text("UPDATE ...")`` synchronizes nothing; an in-place change to a JSON dict sends no
# UPDATE until ``flag_modified()``.

del new  # done with the last cell's objects: each table shows its own
reset()
with Session(engine) as session:
    parent = session.get(Parent, 1)
    session.execute(text("UPDATE parents SET counter = 9 WHERE id = 1"))
    memory = inspect(parent).dict["counter"]
    record(
        "untracked", "text-update/objects", "stale" if memory == 5 else "synced", "stale"
    )
reset()
with Session(engine) as session:
    parent = session.get(Parent, 1)
    parent.settings["theme"] = "dark"
    sent.clear()
    session.flush()
    record("untracked", "json-in-place/flush", statements(), "no SQL")
    flag_modified(parent, "settings")
    session.flush()
    record("untracked", "json-flag-modified/flush", statements(), "UPDATE")

# %%
# .. _questions_measured_concurrency:
#
# Two sessions, one row
# ---------------------
#
# At each database's default isolation level, both sessions read the balance, add to it in
# Python and commit: the second write overwrites the first, one deposit is lost. An atomic
# ``SET balance = balance + n`` keeps both; with a ``version_id_col`` the second flush matches
# no row and raises ``StaleDataError``, but only when the first writer bumped the version: a
# bulk ``update()`` that does not is lost again. ``StaleDataError`` from SQLAlchemy 2.0.2 on:
# 2.0.0 and 2.0.1 took SQLite for unable to count the rows an UPDATE matched, only warned
# ("versioning cannot be verified"), and the second deposit was lost without an error.

del parent  # done with the last cell's objects: each table shows its own


def two_deposits(model, deposit, first_deposit=None):
    """Two sessions read the balance of 100; the first deposits 10, then the second 20."""
    reset()
    with Session(engine) as first, Session(engine) as second:
        a, b = first.get(model, 1), second.get(model, 1)
        (first_deposit or deposit)(first, a, 10)
        first.commit()
        try:
            deposit(second, b, 20)
            second.commit()
        except StaleDataError as error:
            second.rollback()
            return type(error).__name__
    with engine.connect() as check:
        balance = check.scalar(select(model.__table__.c.balance))
    return "kept both" if balance == 130 else "lost"


def read_modify_write(session, wallet, amount):
    wallet.balance = wallet.balance + amount
    session.flush()


def atomic(session, wallet, amount):
    model = type(wallet)
    session.execute(update(model).values(balance=model.balance + amount))


record(
    "concurrency",
    "read-modify-write/balance",
    two_deposits(Wallet, read_modify_write),
    "lost",
)
record("concurrency", "atomic-update/balance", two_deposits(Wallet, atomic), "kept both")
sent.clear()
verdict = two_deposits(Account, read_modify_write)
RELEASE = tuple(int(part) for part in re.findall(r"\d+", sqlalchemy.__version__)[:3])
expected = "StaleDataError" if RELEASE >= (2, 0, 2) else "lost"  # 2.0.0, 2.0.1: "lost"
record("concurrency", "version-id-col/second-flush", verdict, expected)
checks = all("accounts.version = " in sql for sql in sent if sql.startswith("UPDATE"))
verdict = "checks the version" if checks else "does not check it"
record("concurrency", "version-id-col/update-sql", verdict, "checks the version")
verdict = two_deposits(Account, read_modify_write, first_deposit=atomic)
record("concurrency", "version-id-col/bulk-first-writer", verdict, "lost")
