# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "sqlalchemy[asyncio]>=2.0",
#     "aiosqlite",
# ]
# ///
"""
Server-generated values under asyncio
=====================================

Under asyncio a server-generated value must be fetched before it is read: ``"auto"`` does
that for INSERT (with ``RETURNING``), ``eager_defaults=True`` for UPDATE too, and otherwise
``await session.refresh(obj)`` loads it; a plain read of the expired value raises
``MissingGreenlet``, bare or inside a ``StatementError`` (catch both: the form depends on the
release, the driver and, for a read that must first open or ping a connection, the pool).
"""

# %%
# A note with two columns the database fills in: ``status`` (``server_default``) and
# ``edits``, a counter that starts at 0 and that every UPDATE increments in SQL
# (``onupdate=edits + 1``). Three mappings of the same columns differ only in
# ``eager_defaults``. ``sent`` records each statement. The sessions keep their values at
# commit (:doc:`expire_on_commit=False <../myths/expire_on_commit_false_fixes_detached>`), so each
# cell's state table shows the note as the
# flush left it. ``missing_greenlet()`` prints the error of a read that needs SQL and
# finds the :doc:`MissingGreenlet <missing_greenlet>` in it: it catches
# ``(MissingGreenlet, StatementError)`` and keeps the error itself or the ``.orig`` of a
# ``StatementError``. Each read here follows a flush, in the transaction that holds the
# session's connection, so no pool setting changes its form (the pool matters for a read
# that must first open or ping a connection: :doc:`missing_greenlet`): the runs of this page
# found (and it checks) a ``StatementError`` on 2.1 with aiosqlite, psycopg and aiomysql
# (MariaDB) and on 2.0 with aiomysql, the ``MissingGreenlet`` itself on 2.1 with asyncpg and
# on 2.0 with aiosqlite, psycopg and asyncpg.

import asyncio
import os
import re

import sqlalchemy
from sqlalchemy import String, event, exc, inspect, literal_column, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class NoteColumns:
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(10), server_default=text("'draft'"))
    edits: Mapped[int] = mapped_column(
        server_default=text("0"), onupdate=literal_column("edits") + 1
    )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, title={self.title!r})"


class Note(NoteColumns, Base):  # eager_defaults="auto", the default
    __tablename__ = "notes"


class EagerNote(NoteColumns, Base):
    __tablename__ = "eager_notes"
    __mapper_args__ = {"eager_defaults": True}


class PlainNote(NoteColumns, Base):
    __tablename__ = "plain_notes"
    __mapper_args__ = {"eager_defaults": False}


runner = asyncio.Runner()
engine = create_async_engine(os.environ.get("DATABASE_URL", "sqlite+aiosqlite://"))
async_session = async_sessionmaker(engine, expire_on_commit=False)
sent = []


@event.listens_for(engine.sync_engine, "before_cursor_execute")
def record(connection, cursor, statement, *args):
    sent.append(statement)


def statements(verb):
    return [sql for sql in sent if sql.lstrip().upper().startswith(verb)]


# What the runs of this page found for a read on the session's connection: the
# ``(release, driver)`` pairs that raise the ``MissingGreenlet`` inside a
# ``StatementError``, and those that raise it bare.
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
    except (exc.MissingGreenlet, exc.StatementError) as error:
        found = getattr(error, "orig", error)  # the error itself, or the one it wraps
        if not isinstance(found, exc.MissingGreenlet):
            raise  # a StatementError about something else
        message = re.split(r"\s*\(Background on", str(error).splitlines()[0])[0]
        print(f"{type(error).__name__}: {message}")
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


async def create_tables():
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.run_sync(Base.metadata.create_all)


runner.run(create_tables())

# %%
# After INSERT: ``"auto"`` fetches the server defaults
# ----------------------------------------------------
#
# With the default ``eager_defaults="auto"`` and a database that has ``INSERT ...
# RETURNING`` (SQLite, PostgreSQL and MariaDB here), the INSERT itself returns ``status`` and
# ``edits``: after the flush they are loaded, and reading them sends nothing.


async def insert_auto():
    async with async_session() as session:
        note = Note(id=1, title="first")
        session.add(note)
        await session.flush()
        (insert,) = statements("INSERT")
        # sphinx_gallery_start_ignore
        assert "RETURNING" in insert, "the INSERT returned the server values"
        # sphinx_gallery_end_ignore
        sent.clear()
        print(note.status, note.edits)
        # sphinx_gallery_start_ignore
        assert (note.status, note.edits) == ("draft", 0) and not sent, "loaded, no SQL"
        # sphinx_gallery_end_ignore
        await session.commit()
        return note


note = runner.run(insert_auto())

# %%
# ``eager_defaults=False``: the INSERT leaves them expired
# --------------------------------------------------------
#
# Without eager defaults (1.4's default) the INSERT sends only the columns we set. ``status``
# and ``edits`` are expired after the flush, and the first read needs a ``SELECT``: under
# asyncio, ``MissingGreenlet`` (bare or wrapped, as above).


async def insert_plain():
    async with async_session() as session:
        note = PlainNote(id=1, title="first")
        session.add(note)
        sent.clear()
        await session.flush()
        # sphinx_gallery_start_ignore
        assert "RETURNING" not in statements("INSERT")[0], "nothing was returned"
        # sphinx_gallery_end_ignore
        print("expired:", sorted(inspect(note).expired_attributes))
        error = missing_greenlet(lambda: note.status)
        # sphinx_gallery_start_ignore
        assert session.in_transaction(), "the read comes inside the flush's transaction"
        assert isinstance(error, exc.MissingGreenlet), "the read raises"
        # sphinx_gallery_end_ignore
        await session.commit()
        return note


note = runner.run(insert_plain())

# %%
# After UPDATE: ``"auto"`` does not fetch
# ---------------------------------------
#
# ``"auto"`` covers INSERT only. Changing the title sends an UPDATE that sets ``edits =
# edits + 1`` in SQL; the new count is not returned, so ``edits`` is expired after the
# flush, and reading it raises ``MissingGreenlet``.


async def update_auto():
    async with async_session() as session:
        note = await session.get(Note, 1)
        note.title = "renamed"
        sent.clear()
        await session.flush()
        (update,) = statements("UPDATE")
        # sphinx_gallery_start_ignore
        assert "RETURNING" not in update, "the UPDATE returned nothing"
        # sphinx_gallery_end_ignore
        print("expired:", sorted(inspect(note).expired_attributes))
        error = missing_greenlet(lambda: note.edits)
        # sphinx_gallery_start_ignore
        assert session.in_transaction(), "the read comes inside the flush's transaction"
        assert isinstance(error, exc.MissingGreenlet), "reading the new count raises"
        # sphinx_gallery_end_ignore
        await session.commit()
        return note


note = runner.run(update_auto())

# %%
# Fix 1: ``eager_defaults=True`` fetches after UPDATE too
# -------------------------------------------------------
#
# Mapped with ``eager_defaults=True``, the flush fetches the new ``edits`` itself, behind the
# ``await`` of ``flush()``: with ``UPDATE ... RETURNING`` on SQLite and PostgreSQL; MariaDB
# has no ``UPDATE ... RETURNING``, so the flush sends a ``SELECT`` right after the UPDATE.


async def update_eager():
    async with async_session() as session:
        session.add(EagerNote(id=1, title="first"))
        await session.commit()
        note = await session.get(EagerNote, 1)
        note.title = "renamed"
        sent.clear()
        await session.flush()
        (update,) = statements("UPDATE")
        # sphinx_gallery_start_ignore
        if engine.dialect.name in ("mysql", "mariadb"):
            assert "RETURNING" not in update, "MariaDB: no UPDATE ... RETURNING"
            assert len(statements("SELECT")) == 1, "MariaDB: a SELECT inside the flush"
        else:
            assert "RETURNING" in update, "the UPDATE returned the new count"
            assert not statements("SELECT"), "no SELECT needed"
        # sphinx_gallery_end_ignore
        sent.clear()
        print(note.edits)
        # sphinx_gallery_start_ignore
        assert note.edits == 1 and not sent, "the new count is loaded: no SQL"
        # sphinx_gallery_end_ignore
        await session.commit()
        return note


note = runner.run(update_eager())

# %%
# Fix 2: ``await session.refresh()`` before reading
# -------------------------------------------------
#
# With the default mapping, an awaited ``refresh()`` after the flush loads the new count
# (named here; without names it reloads every column).


async def update_then_refresh():
    async with async_session() as session:
        note = await session.get(Note, 1)
        note.title = "renamed again"
        await session.flush()
        await session.refresh(note, ["edits"])
        print(note.edits)
        # sphinx_gallery_start_ignore
        assert note.edits == 2, "refresh() loaded the count after two UPDATEs"
        # sphinx_gallery_end_ignore
        await session.commit()
        return note


note = runner.run(update_then_refresh())
# sphinx_gallery_start_ignore
runner.run(engine.dispose())
runner.close()
# sphinx_gallery_end_ignore
