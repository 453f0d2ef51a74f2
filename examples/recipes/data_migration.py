# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
#     "alembic",
# ]
# ///
"""
Alembic data migrations with the ORM: models of their own, ``Session(bind=op.get_bind())``
==========================================================================================

A data migration that imports the application's models breaks whenever it runs on a
database that predates a column the models have gained since (a fresh install, CI built
from scratch, a stale environment): the ORM selects every mapped column, and the database
does not have it yet ("no such column: users.email"). Define the few models the migration
needs inside the migration, as the tables are at that revision; open the session on the
migration's connection with ``Session(bind=op.get_bind())``, and ``flush()``: the changes
go out in the migration's transaction. That needs Alembic's online mode: ``upgrade
--sql`` has no connection to run a session on.
"""

# %%
# Setup: an Alembic folder written by the page
# --------------------------------------------
#
# A temporary folder holds ``env.py``, a ``versions/`` folder and ``app_models.py``, the
# application's models as they are today: ``User`` has ``display_name`` (added by
# migration 0002) and ``email`` (added by 0003). ``env.py`` runs the migrations on the
# connection the page hands it in ``config.attributes``, so the page sees their SQL, and
# ``prepend_sys_path`` lets a migration import ``app_models``.
# ``upgrade()`` runs ``alembic.command.upgrade`` in one transaction; ``fresh_database()``
# starts from an empty database brought to revision 0001: a ``users`` table with two rows.

import io
import os
import re
import tempfile
import textwrap
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError

engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
tmpdir = tempfile.TemporaryDirectory()
folder = Path(tmpdir.name)


def write(name: str, source: str) -> None:
    (folder / name).parent.mkdir(exist_ok=True)
    (folder / name).write_text(textwrap.dedent(source))


write(
    "env.py",
    """
    from alembic import context

    context.configure(connection=context.config.attributes["connection"])
    with context.begin_transaction():
        context.run_migrations()
    """,
)
write(
    "app_models.py",
    """
    from sqlalchemy import String
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


    class Base(DeclarativeBase):
        pass


    class User(Base):
        __tablename__ = "users"

        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))
        display_name: Mapped[str | None] = mapped_column(String(50))  # since 0002
        email: Mapped[str | None] = mapped_column(String(100))  # since 0003
    """,
)
write(
    "versions/0001_users.py",
    """
    import sqlalchemy as sa
    from alembic import op

    revision, down_revision = "0001", None


    def upgrade():
        users = op.create_table(
            "users",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(50), nullable=False),
        )
        op.bulk_insert(users, [{"id": 1, "name": "ada"}, {"id": 2, "name": "alan"}])
    """,
)
write(
    "versions/0003_email.py",
    """
    import sqlalchemy as sa
    from alembic import op

    revision, down_revision = "0003", "0002"


    def upgrade():
        op.add_column("users", sa.Column("email", sa.String(100)))
    """,
)
config = Config()
config.set_main_option("script_location", str(folder))
config.set_main_option("path_separator", "os")
# A migration can import app_models:
config.set_main_option("prepend_sys_path", str(folder))


def upgrade(revision: str = "head") -> None:
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def fresh_database() -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS users"))
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade("0001")


def revision_now() -> str:
    with engine.connect() as connection:
        return connection.scalar(text("SELECT version_num FROM alembic_version"))


def first_line(error: DBAPIError) -> str:
    return re.sub(r" at 0x[0-9a-f]+", "", str(error).splitlines()[0])


# sphinx_gallery_start_ignore
statements: list[str] = []  # every statement sent, for the asserts
commits: list[int] = []  # how many statements had been sent at each commit
event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
event.listen(engine, "commit", lambda connection: commits.append(len(statements)))
# sphinx_gallery_end_ignore

# %%
# A data migration that imports the application's model
# ------------------------------------------------------
#
# Migration 0002 adds ``display_name`` and fills it from ``name``, with the ORM and the
# ``User`` of ``app_models``, which has gained ``email`` since. Run today on a database at
# 0001, its SELECT asks for every column ``User`` maps, ``users.email`` too, which
# migration 0003 has not added yet, and the upgrade fails. The database stays at revision
# 0001, but on SQLite and MariaDB with the column 0002 added before it failed: Python's
# ``sqlite3`` sends no ``BEGIN`` before DDL, and MariaDB commits each DDL statement
# (PostgreSQL rolls it back); ``fresh_database()`` starts the next run clean.

write(
    "versions/0002_display_name.py",
    """
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from app_models import User  # the application's model, as it is today

    revision, down_revision = "0002", "0001"


    def upgrade():
        op.add_column("users", sa.Column("display_name", sa.String(50)))
        session = Session(bind=op.get_bind())
        for user in session.scalars(select(User)):
            user.display_name = user.name.title()
        session.flush()
    """,
)
fresh_database()
try:
    upgrade()
    error = None
except DBAPIError as caught:
    error = first_line(caught)
revision = revision_now()
columns = [column["name"] for column in inspect(engine).get_columns("users")]
print("upgrade failed:", error)
print("revision:", revision, "| columns:", columns)
# sphinx_gallery_start_ignore
expected = {  # the driver's own prefix and format left out: any driver
    "sqlite": "(sqlite3.OperationalError) no such column: users.email",
    "postgresql": "column users.email does not exist",
    "mysql": "Unknown column 'users.email'",
}[engine.dialect.name.replace("mariadb", "mysql")]
assert expected in error, f"the upgrade failed: {expected}"
assert revision == "0001", "the database stayed at revision 0001"
if engine.dialect.name == "postgresql":
    assert columns == ["id", "name"], "PostgreSQL rolled the ALTER TABLE back"
else:
    assert columns == ["id", "name", "display_name"], (
        f"{engine.dialect.name} kept the column the failed migration added"
    )
# sphinx_gallery_end_ignore

# %%
# The migration's own models, its session on the migration's connection
# ----------------------------------------------------------------------
#
# Rewritten, in a new file, migration 0002 declares a ``Base`` and a ``User`` of its own, with the
# columns ``users`` has at this revision that it uses, and nothing later migrations add:
# what the application's models become no longer matters to it. ``op.get_bind()`` is the
# connection Alembic runs the migration on; ``Session(bind=...)`` joins its transaction
# (as a test's session joins the fixture's: :doc:`../testing_and_concurrency/sessions_in_tests`),
# and ``flush()`` sends the ``UPDATE`` statements there, without committing: the upgrade
# runs to 0003 and SQLAlchemy commits once, at its end.
#
# What that one commit holds depends on the database (next cell). It also depends on
# ``env.py``: this one runs every migration on one connection already in
# ``engine.begin()``. With Alembic's generic ``env.py``, Alembic opens the transactions:
# one per migration on SQLite and MariaDB, one for the whole upgrade on PostgreSQL (one
# per migration with ``transaction_per_migration=True``); counted outside this page with
# Alembic 1.20.1 on SQLite, PostgreSQL 15 and MariaDB 10.11. And it needs online mode: under
# ``alembic upgrade --sql``, ``op.get_bind()`` is a mock connection, and the session
# fails with ``AttributeError``; there, write the change as
# ``op.execute(sa.update(users)...)``, or skip the ORM part when
# ``context.is_offline_mode()``.

(folder / "versions/0002_display_name.py").unlink()
write(
    "versions/0002_own_models.py",
    """
    import sqlalchemy as sa
    from alembic import op
    from sqlalchemy import select
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

    revision, down_revision = "0002", "0001"


    class Base(DeclarativeBase):
        pass


    class User(Base):  # users at revision 0002: what this migration needs
        __tablename__ = "users"

        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(sa.String(50))
        display_name: Mapped[str | None] = mapped_column(sa.String(50))


    def upgrade():
        op.add_column("users", sa.Column("display_name", sa.String(50)))
        session = Session(bind=op.get_bind())
        for user in session.scalars(select(User)):
            user.display_name = user.name.title()
        session.flush()
    """,
)
fresh_database()
# sphinx_gallery_start_ignore
statements.clear()
commits.clear()
# sphinx_gallery_end_ignore
upgrade()
revision = revision_now()
with engine.connect() as connection:
    select_users = text("SELECT id, name, display_name, email FROM users ORDER BY id")
    rows = connection.execute(select_users).all()
print("revision:", revision)
print(rows)
# sphinx_gallery_start_ignore
assert revision == "0003", "the upgrade ran to 0003"
assert rows == [(1, "ada", "Ada", None), (2, "alan", "Alan", None)], (
    "the migration filled display_name, and 0003 added email"
)
updates = [i for i, s in enumerate(statements) if s.startswith("UPDATE users")]
version = [i for i, s in enumerate(statements) if s.startswith("UPDATE alembic_version")]
assert updates, "flush() sent the UPDATE"
assert len(commits) == 1 and max(updates + version) < commits[0], (
    "SQLAlchemy committed once, after the last migration"
)
env = (folder / "env.py").read_text()
# Offline mode (upgrade --sql): op.get_bind() is a mock connection, the session fails.
write(
    "env.py",
    """
    from alembic import context

    context.configure(dialect_name="sqlite", literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
    """,
)
config.output_buffer = io.StringIO()  # the SQL --sql writes
try:
    command.upgrade(config, "0001:head", sql=True)
    offline_error = None
except AttributeError as caught:
    offline_error = str(caught)
(folder / "env.py").write_text(env)
config.output_buffer = None
assert "MockConnection" in offline_error, "offline, the session failed: AttributeError"
# sphinx_gallery_end_ignore

# %%
# What the one commit holds, per database
# ---------------------------------------
#
# The same upgrade, rolled back at its end instead of committed. PostgreSQL rolls it all
# back: DDL, ``UPDATE`` statements, revision. SQLite keeps 0002's ``ALTER TABLE``, sent
# before the first ``UPDATE`` began the transaction. MariaDB (and MySQL) commit before
# and after each DDL statement: 0003's ``ALTER TABLE`` committed 0002's ``UPDATE``
# statements and revision, so a failure after it leaves revision 0002 with 0003's column.

fresh_database()
with engine.connect() as connection:
    config.attributes["connection"] = connection
    connection.begin()
    command.upgrade(config, "head")
    connection.rollback()
with engine.connect() as connection:
    rows = connection.execute(text("SELECT * FROM users ORDER BY id")).all()
revision = revision_now()
print("after the rollback, revision:", revision)
print(rows)
# sphinx_gallery_start_ignore
kept_by = {
    "postgresql": ("0001", [(1, "ada"), (2, "alan")]),
    "sqlite": ("0001", [(1, "ada", None), (2, "alan", None)]),
    "mysql": ("0002", [(1, "ada", "Ada", None), (2, "alan", "Alan", None)]),
}[engine.dialect.name.replace("mariadb", "mysql")]
assert (revision, [tuple(row) for row in rows]) == kept_by, (
    "PostgreSQL rolled all back; SQLite kept 0002's column; MariaDB revision 0002"
)
# sphinx_gallery_end_ignore

# %%
# In one sentence
# ---------------
#
# A migration is frozen at its revision and the application's models are not: give a data
# migration its own small models, a ``Session(bind=op.get_bind())``, and a ``flush()``,
# and leave the commit to the migration's transaction.
#
# Clean up: close the engine's connections and remove the folder.

engine.dispose()
# sphinx_gallery_start_ignore
tmpdir.cleanup()
# sphinx_gallery_end_ignore
