# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0.2",
# ]
# ///
"""
``StaleDataError`` from bulk UPDATEs by primary key, and drivers that cannot count rows
=======================================================================================

An ORM ``UPDATE`` by primary key (a flush, ``session.execute(update(User), [dicts])``,
``bulk_update_mappings()``) counts the rows it matched and raises ``StaleDataError`` when a
row is missing or was deleted meanwhile, but only where the driver reports that count: an
executemany is counted only when ``engine.dialect.supports_sane_multi_rowcount`` is true
after the first connection (false for asyncpg, pyodbc, aioodbc and cymysql, and for
psycopg2 with ``executemany_mode="values_plus_batch"``; there a missing row passes in
silence). With extra criteria, ``update(User).where(...)`` and a list of dicts (SQLAlchemy
2.0.11 and later), the count is not checked at all, whatever the driver: a missing row
passes in silence. From SQLAlchemy 2.0.2 a versioned ``UPDATE`` is always counted, and with
no usable row count at all it only warns.

:ref:`sphx_glr_auto_examples_concurrency_and_scope_stale_data_error.py` covers the other
causes (a changed primary key, a versioned ``DELETE``, ``merge()`` of an old version) and
what to do after the error; this page is about the count itself.
"""

# %%
# Setup
# -----
#
# Three users, and a document with a version counter (``version_id_col``). ``start()`` puts
# them back and opens a new session; ``delete_behind(id)`` deletes a row with plain SQL on
# the session's connection, which the session does not hear about, as if another writer had
# deleted it. ``attempt()`` runs a step, prints the ``StaleDataError`` or the warning it
# raised, and rolls back.

import os
import re
import warnings

import sqlalchemy
from sqlalchemy import String, create_engine, delete, insert, select, update
from sqlalchemy.dialects import registry
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.orm.exc import StaleDataError


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


class Document(Base):
    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    version: Mapped[int] = mapped_column()
    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"Document(id={self.id!r}, version={self.version!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)


def start():
    with Session(engine) as setup, setup.begin():
        setup.execute(delete(User))
        setup.execute(delete(Document))
        setup.execute(insert(User), [{"id": i, "name": f"user{i}"} for i in (1, 2, 3)])
        setup.execute(insert(Document), [{"id": 1, "title": "draft", "version": 1}])
    return Session(engine)


def delete_behind(session, user_id):
    table = User.__table__
    session.connection().execute(table.delete().where(table.c.id == user_id))


def attempt(session, step):
    """Run ``step``; print and return the error's or the warning's text, or None."""
    outcome = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            step()
        except (StaleDataError, InvalidRequestError) as error:
            outcome = f"{type(error).__name__}: {error}"
    outcome = outcome or next((f"SAWarning: {w.message}" for w in caught), None)
    print(f"{step.__name__}: {outcome or 'no error, no warning'}")
    session.rollback()
    return outcome


# %%
# A bulk UPDATE by primary key naming a missing row
# -------------------------------------------------
#
# ``session.execute(update(User), [dicts])`` (:doc:`its page
# <../synchronize_session/bulk_update_by_primary_key>`) expects each dictionary to match one
# row. Id 9 does not exist: three expected, two matched.


def bulk_by_primary_key():
    changes = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 9, "name": "c"}]
    session.execute(update(User), changes)


session = start()
outcome = attempt(session, bulk_by_primary_key)
# sphinx_gallery_start_ignore
assert outcome == (
    "StaleDataError: UPDATE statement on table 'users' "
    "expected to update 3 row(s); 2 were matched."
), "three dictionaries, two rows matched"
# sphinx_gallery_end_ignore

# %%
# The same with an extra WHERE: not counted at all
# ------------------------------------------------
#
# ``update(User).where(...)`` with the same dicts adds the criteria to each row's
# ``UPDATE`` (it needs ``synchronize_session=None``: :doc:`its page
# <../synchronize_session/bulk_update_by_primary_key>`). A row the criteria leave out is
# not an error, so SQLAlchemy does not count the rows at all: id 9 is missing and nothing
# is raised, even on SQLite, whose driver counts. (SQLAlchemy 2.0.2 to 2.0.10 refused the
# WHERE: the ``InvalidRequestError`` prints instead.)


def bulk_with_where():
    changes = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 9, "name": "c"}]
    statement = update(User).where(User.name != "banned")
    session.execute(statement.execution_options(synchronize_session=None), changes)
    print("rows renamed:", session.scalars(select(User.name).order_by(User.id)).all())


outcome = attempt(session, bulk_with_where)
# sphinx_gallery_start_ignore
release = tuple(int(part) for part in re.findall(r"\d+", sqlalchemy.__version__)[:3])
if release >= (2, 0, 11):
    assert outcome is None, "with an extra WHERE the missing row passed in silence"
else:
    assert outcome.startswith("InvalidRequestError: WHERE clause with bulk ORM UPDATE"), (
        "2.0.2 to 2.0.10 refused the WHERE"
    )
# sphinx_gallery_end_ignore

# %%
# ``bulk_update_mappings()`` on a row deleted meanwhile
# -----------------------------------------------------
#
# The same count, with the legacy method: user 2 was there when we read the ids, and is
# gone when the ``UPDATE`` runs.


def legacy_mappings():
    ids = session.scalars(select(User.id)).all()
    delete_behind(session, 2)
    session.bulk_update_mappings(User, [{"id": i, "name": "renamed"} for i in ids])


outcome = attempt(session, legacy_mappings)
# sphinx_gallery_start_ignore
assert outcome == (
    "StaleDataError: UPDATE statement on table 'users' "
    "expected to update 3 row(s); 2 were matched."
), "bulk_update_mappings() counted two of three"
# sphinx_gallery_end_ignore

# %%
# A flush of several objects: one executemany, counted
# ----------------------------------------------------
#
# Three loaded users renamed alike: the flush sends one ``UPDATE`` with three parameter
# sets (an executemany), and checks the total it matched.


def flush_of_three():
    users = session.scalars(select(User)).all()
    delete_behind(session, 2)
    for user in users:
        user.name = "renamed"
    session.flush()


outcome = attempt(session, flush_of_three)
# sphinx_gallery_start_ignore
assert outcome == (
    "StaleDataError: UPDATE statement on table 'users' "
    "expected to update 3 row(s); 2 were matched."
), "the flush's executemany counted two of three"
# sphinx_gallery_end_ignore

# %%
# Which drivers report the count
# ------------------------------
#
# Whether the ORM may trust a driver's row count is a flag of its dialect:
# ``supports_sane_rowcount`` for one statement, ``supports_sane_multi_rowcount`` for an
# executemany. Below are the defaults each dialect class declares (read without a
# connection: importing a dialect needs no driver). A dialect may change them when it first
# connects: psycopg2's class says false, and on connecting it sets ``True`` unless
# ``executemany_mode="values_plus_batch"``. So check your engine's own flag after its first
# connection, as the last line does for this page's engine. (aioodbc's dialect, from
# SQLAlchemy 2.0.23, says false like pyodbc's.)

for name in (
    "sqlite.pysqlite",
    "postgresql.psycopg",
    "postgresql.psycopg2",
    "postgresql.asyncpg",
    "mysql.pymysql",
    "mysql.cymysql",
    "oracle.oracledb",
    "mssql.pyodbc",
):
    dialect = registry.load(name)
    flags = (dialect.supports_sane_rowcount, dialect.supports_sane_multi_rowcount)
    print(f"{name:20} one statement: {flags[0]!s:5}  executemany: {flags[1]}")
print("this engine, connected:", engine.dialect.supports_sane_multi_rowcount)
# sphinx_gallery_start_ignore
class_false = {
    name
    for name in (
        "postgresql.psycopg2",
        "postgresql.asyncpg",
        "mysql.cymysql",
        "mssql.pyodbc",
    )
    if registry.load(name).supports_sane_multi_rowcount is False
}
assert len(class_false) == 4, "these four classes say false"
if release >= (2, 0, 23):  # the release that added aioodbc's dialect
    assert registry.load("mssql.aioodbc").supports_sane_multi_rowcount is False, "aioodbc"
from unittest import mock  # noqa: E402

psycopg2_dialect = registry.load("postgresql.psycopg2")


def psycopg2_flag_once_connected(**options) -> bool:
    """psycopg2's initialize() as on a first connection, its server-facing part (its
    parent's) left out: no server here."""
    dialect = psycopg2_dialect(use_native_hstore=False, **options)
    parent = psycopg2_dialect.__mro__[1]
    with mock.patch.object(parent, "initialize", lambda self, connection: None):
        dialect.initialize(None)
    return dialect.supports_sane_multi_rowcount


assert psycopg2_flag_once_connected() is True, (
    "psycopg2's dialect sets the flag again when it connects"
)
assert psycopg2_flag_once_connected(executemany_mode="values_plus_batch") is False, (
    "by executemany_mode"
)
assert registry.load("postgresql.asyncpg").supports_sane_multi_rowcount is False, (
    "asyncpg's dialect does not count an executemany"
)
assert registry.load("mssql.pyodbc").supports_sane_multi_rowcount is False, (
    "nor does pyodbc's"
)
assert registry.load("sqlite.pysqlite").supports_sane_multi_rowcount is True, (
    "SQLite's does"
)
# sphinx_gallery_end_ignore

# %%
# A driver that cannot count an executemany: the missing row passes
# -----------------------------------------------------------------
#
# To see what the ORM does on such a driver, this cell sets SQLite's flag to ``False``,
# as asyncpg's dialect has it. The three steps above now raise nothing: the ORM skips the
# check it cannot make, and the rows that exist are updated (until the rollback after each
# step here). A flush that updates one row sends one statement, which is still counted; so
# is a versioned object, whose ``UPDATE`` is always sent one row at a time (from SQLAlchemy
# 2.0.2; 2.0.0 and 2.0.1 only warned "versioning cannot be verified", even on SQLite).


def versioned_update():
    document = session.get(Document, 1)
    table = Document.__table__
    session.connection().execute(table.update().values(version=5))  # another writer
    document.title = "final"
    session.flush()


def one_row_flush():
    user = session.get(User, 2)
    delete_behind(session, 2)
    user.name = "renamed"
    session.flush()


session.close()
flags = (
    engine.dialect.supports_sane_rowcount,
    engine.dialect.supports_sane_multi_rowcount,
)
engine.dialect.supports_sane_multi_rowcount = False
session = start()
steps = (
    bulk_by_primary_key,
    legacy_mappings,
    flush_of_three,
    one_row_flush,
    versioned_update,
)
outcomes = {step.__name__: attempt(session, step) for step in steps}
# sphinx_gallery_start_ignore
assert outcomes["bulk_by_primary_key"] is None, "the bulk UPDATE by primary key passed"
assert outcomes["legacy_mappings"] is None, "bulk_update_mappings() passed"
assert outcomes["flush_of_three"] is None, "the flush of three passed"
assert outcomes["one_row_flush"] == (
    "StaleDataError: UPDATE statement on table 'users' "
    "expected to update 1 row(s); 0 were matched."
), "a one-row flush is still counted"
assert outcomes["versioned_update"] == (
    "StaleDataError: UPDATE statement on table 'documents' "
    "expected to update 1 row(s); 0 were matched."
), "so is a versioned UPDATE"
# sphinx_gallery_end_ignore

# %%
# No usable count at all: a versioned UPDATE only warns
# -----------------------------------------------------
#
# With ``supports_sane_rowcount`` false too, nothing is counted. The version check, which
# rests on the count, cannot be made: the ORM warns, and the stale write goes through. The
# last line puts the dialect's flags back.

engine.dialect.supports_sane_rowcount = False
versioned = attempt(session, versioned_update)
# sphinx_gallery_start_ignore
assert versioned.startswith("SAWarning: Dialect ") and versioned.endswith(
    "does not support updated rowcount - versioning cannot be verified."
), "the versioned UPDATE only warns"
# sphinx_gallery_end_ignore
engine.dialect.supports_sane_rowcount, engine.dialect.supports_sane_multi_rowcount = flags

# %%
# Clean up.

session.close()
engine.dispose()
