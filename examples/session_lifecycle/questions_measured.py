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
mutable JSON, two sessions writing one row, a relationship without ``back_populates``, bulk
INSERT and ``merge()``, the changes a flush takes away, a cloned row, ``ON DELETE CASCADE``,
a failed flush, the connection a session holds, and a test's rollback. Each cell runs one
case from a fresh state, records a short verdict (``DetachedInstanceError``,
``MissingGreenlet``, ``stale``, ``lost`` ...) and asserts it; the cheat sheet and the
decision guide quote these verdicts, checked against this run while the site is built. Each
topic has its own page with the whole story; this one only measures.
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
import threading
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
from sqlalchemy.exc import (
    IntegrityError,
    InvalidRequestError,
    MissingGreenlet,
    OperationalError,
    PendingRollbackError,
    StatementError,
)
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    make_transient,
    mapped_column,
    raiseload,
    relationship,
    selectinload,
)
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import DetachedInstanceError, ObjectDeletedError, StaleDataError
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


class Member(Base):
    """A member whose email may be NULL: merge() copies a None from input data."""

    __tablename__ = "members"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"Member(id={self.id!r}, email={self.email!r})"


class Folder(Base):
    """Its files go with it in the database: ON DELETE CASCADE, passive_deletes=True."""

    __tablename__ = "folders"
    id: Mapped[int] = mapped_column(primary_key=True)
    files: Mapped[list["File"]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Folder(id={self.id!r})"


class File(Base):
    __tablename__ = "files"
    id: Mapped[int] = mapped_column(primary_key=True)
    folder_id: Mapped[int] = mapped_column(ForeignKey("folders.id", ondelete="CASCADE"))

    def __repr__(self) -> str:
        return f"File(id={self.id!r})"


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
members, folders, files = Member.__table__, Folder.__table__, File.__table__

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


def statements(returning=True):
    """The verbs of the SQL sent; ``returning=False`` leaves out the ``RETURNING`` that
    PostgreSQL's INSERT of a row whose key the database generates has, SQLite's not."""
    verbs = [
        sql.split()[0] + (" RETURNING" if returning and "RETURNING" in sql else "")
        for sql in sent
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
        for table in (children, parents, wallets, accounts, members, files, folders):
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
        other.execute(members.insert(), [{"id": 1, "name": "ann", "email": "ann@old"}])
        other.execute(folders.insert(), [{"id": 1}])
        other.execute(files.insert(), [{"id": 1, "folder_id": 1}])
        if backend == "postgresql":  # the next generated key follows the explicit ones
            for table in (parents, children, wallets, accounts, members, folders, files):
                other.execute(
                    select(
                        func.setval(func.pg_get_serial_sequence(table.name, "id"), 100)
                    )
                )


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

# %%
# .. _questions_measured_one_sided:
#
# A relationship without ``back_populates``; the backref cascade 2.0 removed
# --------------------------------------------------------------------------
#
# ``LonelyParent`` and ``LonelyChild`` map the same tables with two relationships that do not
# know each other (``overlaps=`` silences the warnings that say so): after
# ``child.parent = p`` a ``p.children`` loaded before stays as it was, through the flush,
# until it is expired. With ``back_populates`` (``Parent``, ``Child``), assigning a new child
# to a parent in the session does not add the child to the session on 2.x: it stays
# transient, and the flush leaves it out with a warning; when ``p.children`` is not loaded,
# the flush warns from SQLAlchemy 2.0.19 on, and leaves it out silently before.


class LonelyParent(Base):
    __table__ = parents
    children: Mapped[list["LonelyChild"]] = relationship(overlaps="children,parent")


class LonelyChild(Base):
    __table__ = children
    parent: Mapped[LonelyParent] = relationship(overlaps="children,parent")


reset()
with Session(engine) as session:
    child, p = session.get(LonelyChild, 10), session.get(LonelyParent, 2)
    p.children  # noqa: B018 - loaded: empty
    sent.clear()
    child.parent = p
    session.flush()
    record("one_sided", "no-back-populates/flush-sql", statements(), "UPDATE")
    verdict = "moved" if child in p.children else "unchanged"
    record("one_sided", "no-back-populates/after-flush", verdict, "unchanged")
    session.expire(p)
    verdict = "moved" if child in p.children else "unchanged"
    record("one_sided", "no-back-populates/after-expire", verdict, "moved")
reset()
with Session(engine) as session:
    p = session.get(Parent, 1)
    p.children  # noqa: B018 - loaded: the warning comes on every 2.x release then
    new_child = Child(id=11)
    new_child.parent = p
    state = "transient" if inspect(new_child).transient else "added"
    record("one_sided", "backref-cascade/child", state, "transient")
    sent.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session.flush()
    warned = any("not in session" in str(w.message) for w in caught)
    record("one_sided", "backref-cascade/flush", "warns" if warned else "silent", "warns")
    record("one_sided", "backref-cascade/flush-sql", statements(), "no SQL")
reset()
with Session(engine) as session:
    p = session.get(Parent, 1)  # p.children not loaded
    new_child = Child(id=11)
    new_child.parent = p
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session.flush()
    warned = any("not in session" in str(w.message) for w in caught)
    expected = "warns" if RELEASE >= (2, 0, 19) else "silent"  # 2.0.0 to 2.0.18: silent
    verdict = "warns" if warned else "silent"
    record("one_sided", "backref-cascade/flush-not-loaded", verdict, expected)

# %%
# .. _questions_measured_bulk_insert_merge:
#
# Bulk INSERT, and ``merge()`` of input data
# ------------------------------------------
#
# ``bulk_save_objects()`` inserts the rows and leaves the objects transient, out of the
# session; a ``get()`` then sends a ``SELECT``. With ``return_defaults=True`` the object
# gets its primary key and an identity: detached, still out of the session. ``merge()`` of
# an object built from input data selects the row, returns the session's own persistent
# object, and copies every attribute the input has: ``email=None`` becomes
# ``SET email=NULL``. When the session already holds the row, ``merge()`` sends no SQL;
# when the row is missing, the commit INSERTs it.

del child, p, new_child  # done with the last cell's objects: each table shows its own
reset()
with Session(engine) as session:
    new = Member(id=2, name="bob")
    sent.clear()
    session.bulk_save_objects([new])
    record("bulk_insert_merge", "bulk-insert/sql", statements(), "INSERT")
    state = "transient" if inspect(new).transient else "in the session"
    record("bulk_insert_merge", "bulk-insert/state", state, "transient")
    session.get(Member, 2)
    record("bulk_insert_merge", "bulk-insert/get-sql", statements(), "SELECT")
    fetched = Member(name="cy")
    session.bulk_save_objects([fetched], return_defaults=True)
    state = "detached" if inspect(fetched).detached else "transient"
    record("bulk_insert_merge", "bulk-insert/return-defaults-state", state, "detached")
reset()
with Session(engine) as session:
    incoming = Member(id=1, name="Ann", email=None)  # as an API handler builds it
    sent.clear()
    merged = session.merge(incoming)
    record("bulk_insert_merge", "merge-input/sql", statements(), "SELECT")
    state = "persistent" if inspect(merged).persistent else "not persistent"
    record("bulk_insert_merge", "merge-input/state", state, "persistent")
    session.commit()
    record("bulk_insert_merge", "merge-input/commit-sql", statements(), "UPDATE")
with engine.connect() as check:
    email = check.scalar(select(members.c.email).where(members.c.id == 1))
verdict = "overwritten with NULL" if email is None else "kept"
record("bulk_insert_merge", "merge-input/none", verdict, "overwritten with NULL")
with Session(engine) as session:
    held = session.get(Member, 1)  # held: the identity map keeps only what is referenced
    sent.clear()
    session.merge(Member(id=1, name="Ann", email=None))  # the same data: no UPDATE
    record("bulk_insert_merge", "merge-input/held-sql", statements(), "no SQL")
    session.merge(Member(id=5, name="eve"))
    sent.clear()
    session.commit()
    record("bulk_insert_merge", "merge-input/missing-commit-sql", statements(), "INSERT")

# %%
# .. _questions_measured_unit_of_work:
#
# Changes collected, and a row cloned
# -----------------------------------
#
# A query autoflushes, and the flush empties ``session.dirty``: code that reads it at commit
# time misses the change, a ``before_flush`` listener sees it (with autoflush on, as here).
# ``make_transient()`` of an object whose columns are all loaded, a primary key of ``None``
# and ``add()`` make the flush ``INSERT`` a copy of the row; with the old primary key kept,
# the ``INSERT`` fails.

del incoming, merged, new, fetched, held  # done with the last cell's objects
reset()
with Session(engine) as session:
    seen = []
    event.listen(
        session, "before_flush", lambda s, context, objects: seen.extend(s.dirty)
    )
    wallet = session.get(Wallet, 1)
    wallet.balance = 150
    session.execute(select(Parent))
    verdict = "empty" if not session.dirty else "holds it"
    record("unit_of_work", "dirty-after-query/dirty", verdict, "empty")
    verdict = "sees it" if wallet in seen else "misses it"
    record("unit_of_work", "dirty-after-query/before-flush", verdict, "sees it")
reset()
with Session(engine) as session:
    wallet = session.get(Wallet, 1)
    make_transient(wallet)
    wallet.id = None
    session.add(wallet)
    sent.clear()
    session.flush()
    record("unit_of_work", "clone/flush-sql", statements(returning=False), "INSERT")
    balances = session.scalars(select(Wallet.balance).order_by(Wallet.id)).all()
    verdict = "a copy of the row" if balances == [100, 100] else f"rows {balances}"
    record("unit_of_work", "clone/rows", verdict, "a copy of the row")
    copy = session.get(Wallet, 1)
    make_transient(copy)
    session.add(copy)
    try:
        session.flush()
        verdict = "inserted"
    except IntegrityError as error:
        verdict = type(error).__name__
    record("unit_of_work", "clone/same-key", verdict, "IntegrityError")
    session.rollback()

# %%
# .. _questions_measured_database_cascade:
#
# ``ON DELETE CASCADE`` with ``passive_deletes=True``
# ---------------------------------------------------
#
# ``Folder.files`` has ``cascade="all, delete-orphan"`` and ``passive_deletes=True``.
# Deleting a folder whose ``files`` are not loaded sends one ``DELETE``, and the database
# removes its files (SQLite only with ``PRAGMA foreign_keys=ON``, which this engine sets on
# each connection). A file the session loaded stays persistent after the commit; reading it
# then raises ``ObjectDeletedError``.

del copy, wallet  # done with the last cell's objects: each table shows its own
cascading = create_engine(url.set(drivername=SYNC_DRIVER[backend]))
event.listen(
    cascading, "before_cursor_execute", lambda conn, cur, sql, *rest: sent.append(sql)
)
if backend == "sqlite":

    @event.listens_for(cascading, "connect")
    def foreign_keys_on(dbapi_connection, connection_record):
        dbapi_connection.execute("PRAGMA foreign_keys=ON")


reset()
with Session(cascading) as session:
    folder, file = session.get(Folder, 1), session.get(File, 1)
    sent.clear()
    session.delete(folder)
    session.commit()
    record("database_cascade", "passive-deletes/sql", statements(), "DELETE")
    with engine.connect() as check:
        rows = check.scalar(select(func.count()).select_from(files))
    verdict = "deleted by the database" if rows == 0 else "kept"
    record("database_cascade", "passive-deletes/rows", verdict, "deleted by the database")
    state = "persistent" if inspect(file).persistent else "deleted"
    record("database_cascade", "passive-deletes/file", state, "persistent")
    try:
        file.folder_id  # noqa: B018 - expired by the commit: the SELECT finds no row
        verdict = "loaded"
    except ObjectDeletedError as error:
        verdict = type(error).__name__
    record("database_cascade", "passive-deletes/read", verdict, "ObjectDeletedError")
cascading.dispose()

# %%
# .. _questions_measured_transactions:
#
# Transactions and the pool
# -------------------------
#
# After a failed flush the session refuses every query with ``PendingRollbackError`` until
# ``rollback()``. The first query begins a transaction, so ``session.begin()`` after it
# raises. A read-only session sends its ``SELECT`` and keeps its transaction open and its
# connection checked out of the pool until it ends.

del file, folder  # done with the last cell's objects: each table shows its own
reset()
with Session(engine) as session:
    session.add(Wallet(id=1, balance=0))
    try:
        session.flush()
    except IntegrityError as error:
        print("the flush failed:", type(error).__name__)
    try:
        session.execute(select(Wallet))
        verdict = "runs"
    except PendingRollbackError as error:
        verdict = type(error).__name__
    record("transactions", "failed-flush/next-query", verdict, "PendingRollbackError")
    session.rollback()
    try:
        session.execute(select(Wallet))
        verdict = "runs"
    except PendingRollbackError as error:
        verdict = type(error).__name__
    record("transactions", "failed-flush/after-rollback", verdict, "runs")
with Session(engine) as session:
    session.execute(select(Wallet))
    try:
        session.begin()
        verdict = "begins"
    except InvalidRequestError as error:
        verdict = type(error).__name__
    record("transactions", "begin-after-query/begin", verdict, "InvalidRequestError")
with Session(engine) as session:
    sent.clear()
    session.execute(select(Wallet))
    record("transactions", "read-only/sql", statements(), "SELECT")
    verdict = "open" if session.in_transaction() else "none"
    record("transactions", "read-only/transaction", verdict, "open")
    held = "checked out" if engine.pool.checkedout() == 1 else "returned"
    record("transactions", "read-only/connection", held, "checked out")
    session.close()
    held = "checked out" if engine.pool.checkedout() == 1 else "returned"
    record("transactions", "read-only/after-close", held, "returned")

# %%
# .. _questions_measured_tests:
#
# Sessions in tests
# -----------------
#
# A test binds its session to a connection whose transaction it rolls back at the end, with
# ``join_transaction_mode="create_savepoint"``: the code under test commits (a savepoint,
# its INSERT, the savepoint released), the test's rollback removes the row (on SQLite,
# pysqlite's own ``BEGIN`` is replaced by SQLAlchemy's, so that the savepoint nests).
# ``sqlite://`` is one database per connection: another thread finds no table.

testing = create_engine(url.set(drivername=SYNC_DRIVER[backend]))
event.listen(
    testing, "before_cursor_execute", lambda conn, cur, sql, *rest: sent.append(sql)
)
if backend == "sqlite":

    @event.listens_for(testing, "connect")
    def no_driver_transactions(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None  # pysqlite sends no BEGIN of its own

    @event.listens_for(testing, "begin")
    def send_begin(connection):
        connection.exec_driver_sql("BEGIN")


reset()
with testing.connect() as connection:
    transaction = connection.begin()
    with Session(connection, join_transaction_mode="create_savepoint") as session:
        session.add(Member(id=3, name="cy"))
        sent.clear()
        session.commit()  # the code under test
        record(
            "tests", "test-fixture/commit-sql", statements(), "SAVEPOINT, INSERT, RELEASE"
        )
    transaction.rollback()  # the test's fixture
with engine.connect() as check:
    found = check.scalar(select(func.count()).where(members.c.id == 3))
verdict = "removed" if found == 0 else "kept"
record("tests", "test-fixture/after-rollback", verdict, "removed")
testing.dispose()

memory = create_engine("sqlite://", connect_args={"check_same_thread": False})
Base.metadata.create_all(memory)
found = []


def in_another_thread():
    try:
        with Session(memory) as session:
            session.execute(select(Wallet))
        found.append("a table")
    except OperationalError as error:
        found.append("no such table" if "no such table" in str(error) else str(error))


worker = threading.Thread(target=in_another_thread)
worker.start()
worker.join(timeout=10)
record("tests", "sqlite-memory/other-thread", found[0], "no such table")
# sphinx_gallery_start_ignore
memory.dispose()
# sphinx_gallery_end_ignore
