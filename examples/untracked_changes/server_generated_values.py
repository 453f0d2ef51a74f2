# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Values the database generates
=============================

Server defaults on INSERT arrive with the INSERT's ``RETURNING`` by default; values the
database writes on UPDATE are expired and cost a SELECT on first access, unless
``eager_defaults=True`` fetches them in the flush (``UPDATE..RETURNING`` on SQLite and
PostgreSQL, a SELECT after the UPDATE on MariaDB; SQLite's ``RETURNING`` misses what an
``AFTER`` trigger writes). A trigger's column not marked ``FetchedValue()`` stays stale
until it is loaded again (a ``refresh()``, or a read after an expiry such as a commit).
"""

# %%
# Setup
# -----
#
# One table, mapped three times so each class can carry its own ``eager_defaults``:
# ``User`` keeps the default ``"auto"``, ``LazyUser`` says ``False``, ``EagerUser`` says
# ``True``. ``status`` has a server default; ``revision`` has a SQL
# ``onupdate`` that SQLAlchemy writes into each UPDATE; a trigger (written per database) adds
# one to ``edits`` and to ``edits_unmarked`` on every UPDATE, and only ``edits`` is marked
# ``server_onupdate=FetchedValue()``. ``Stamp`` has the classic
# ``server_default=func.now()``; its clock value would change this page on every build, so
# only a helper function's short-lived object ever holds it. ``sent`` records the SQL strings.

import datetime
import os

from sqlalchemy import (
    DateTime,
    FetchedValue,
    String,
    create_engine,
    event,
    func,
    inspect,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), server_default=text("'new'"))
    revision: Mapped[int] = mapped_column(
        default=1,
        onupdate=literal_column("revision") + 1,
    )
    edits: Mapped[int] = mapped_column(
        server_default=text("0"),
        server_onupdate=FetchedValue(),
    )
    edits_unmarked: Mapped[int] = mapped_column(server_default=text("0"))


class Stamp(Base):
    __tablename__ = "stamps"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTime,
        server_default=func.now(),
    )


class LazyUser(Base):
    __table__ = User.__table__
    __mapper_args__ = {"eager_defaults": False}


class EagerUser(Base):
    __table__ = User.__table__
    __mapper_args__ = {"eager_defaults": True}


TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER count_edits AFTER UPDATE OF name ON users BEGIN UPDATE users"
        " SET edits = edits + 1, edits_unmarked = edits_unmarked + 1"
        " WHERE id = NEW.id; END"
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION count_edits() RETURNS trigger AS 'BEGIN"
        " NEW.edits := OLD.edits + 1; NEW.edits_unmarked := OLD.edits_unmarked + 1;"
        " RETURN NEW; END' LANGUAGE plpgsql",
        "CREATE TRIGGER count_edits BEFORE UPDATE ON users"
        " FOR EACH ROW EXECUTE FUNCTION count_edits()",
    ],
    "mysql": [  # MariaDB
        "CREATE TRIGGER count_edits BEFORE UPDATE ON users FOR EACH ROW"
        " SET NEW.edits = OLD.edits + 1, NEW.edits_unmarked = OLD.edits_unmarked + 1"
    ],
}
engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
with engine.begin() as connection:
    for ddl in TRIGGER[engine.dialect.name]:
        connection.execute(text(ddl))
sent = []


def record(conn, cursor, statement, *rest):
    sent.append(statement)


event.listen(engine, "before_cursor_execute", record)


def unloaded(obj):
    """The attributes a first access would SELECT (read without loading anything)."""
    return sorted(inspect(obj).expired_attributes)


# %%
# At a glance
# -----------
#
# Each mapping inserts a row and flushes, then changes its name and flushes, in a transaction
# that is rolled back. The table shows, from this run, the statements a read of ``status``
# costs after the INSERT, the statements the UPDATE's flush sends, the statements a read of
# ``edits`` (changed by the trigger) then costs, and whether the ``edits`` read equals the
# database's.


def statements_to_read(model):
    with Session(engine) as session:
        row = model(id=99, name="probe")
        session.add(row)
        session.flush()
        sent.clear()
        row.status
        after_insert = len(sent)
        row.name = "probe, renamed"
        sent.clear()
        session.flush()
        in_flush = ", ".join(
            "UPDATE..RETURNING" if " RETURNING " in sql else sql.split()[0]
            for sql in sent
        )
        sent.clear()
        edits = row.edits
        after_update = len(sent)
        in_db = session.scalar(select(User.edits).where(User.id == 99))
        return after_insert, in_flush, after_update, edits == in_db


glance = {mode: statements_to_read(model) for mode, model in
          [("auto", User), ("False", LazyUser), ("True", EagerUser)]}  # fmt: skip
print(
    f"{'eager_defaults':<15} {'read status':<12} {'UPDATE flush sends':<19}"
    " read edits  edits = database's"
)
for mode, (after_insert, in_flush, after_update, right) in glance.items():
    print(f"{mode:<15} {after_insert:<12} {in_flush:<19} {after_update:<11} {right}")
# sphinx_gallery_start_ignore
without = {"auto": (0, "UPDATE", 1, True), "False": (1, "UPDATE", 1, True)}
assert {mode: glance[mode] for mode in without} == without, (
    "without eager_defaults=True the UPDATE's flush sends the UPDATE alone and the first read "
    "of edits costs one SELECT that loads the database's value; status after the INSERT costs "
    'no SELECT under "auto" and one under False'
)
if engine.dialect.name == "sqlite":
    assert glance["True"] == (0, "UPDATE..RETURNING", 0, False), (
        "on SQLite, eager_defaults=True fetches edits with UPDATE..RETURNING and the read sends "
        "nothing, but the value read is not the database's (RETURNING ran before the AFTER "
        "trigger)"
    )
elif engine.dialect.name == "postgresql":
    assert glance["True"] == (0, "UPDATE..RETURNING", 0, True), (
        "on PostgreSQL, eager_defaults=True fetches edits with UPDATE..RETURNING: the read "
        "sends nothing and gives the database's value"
    )
else:
    assert glance["True"] == (0, "UPDATE, SELECT", 0, True), (
        "on MariaDB, eager_defaults=True sends a SELECT right after the UPDATE, inside the "
        "flush: the read sends nothing and gives the database's value"
    )
# sphinx_gallery_end_ignore

# %%
# Server defaults on INSERT: fetched by ``RETURNING``
# ---------------------------------------------------
#
# Under the default ``eager_defaults="auto"`` the INSERT asks for the primary key *and* the
# server defaults with :doc:`RETURNING <../synchronize_session/update_returning>`, on all three
# databases (MariaDB 10.11 included).
# Nothing is expired, and reading ``status`` sends nothing (the table shows ann after the
# flush; the commit comes in a later cell). A ``func.now()`` default comes back the same
# way (checked first by ``now_is_returned()``, whose object does not outlive the call).


def now_is_returned():
    with Session(engine) as other:
        stamp = Stamp()
        other.add(stamp)
        other.flush()
        fetched = "created_at" in sent[-1].split("RETURNING")[1]
        loaded = not inspect(stamp).expired_attributes
        return fetched and loaded and isinstance(stamp.created_at, datetime.datetime)


now_fetched = now_is_returned()
print("func.now() value returned by the INSERT:", now_fetched)
# sphinx_gallery_start_ignore
assert now_fetched, "a func.now() default is fetched by the INSERT too"
# sphinx_gallery_end_ignore

session = Session(engine)
ann = User(name="ann")
session.add(ann)
sent.clear()
session.flush()
insert_sql = sent[-1]
print("unloaded after the flush:", unloaded(ann))
sent.clear()
print("status:", ann.status)
# sphinx_gallery_start_ignore
assert "status" in insert_sql.split("RETURNING")[1], "the INSERT fetched the default"
assert unloaded(ann) == [] and sent == [] and ann.status == "new", (
    "status was returned by the INSERT: no SELECT"
)
# sphinx_gallery_end_ignore

# %%
# Without eager defaults: expired, then one SELECT
# ------------------------------------------------
#
# With ``eager_defaults=False`` the INSERT does not ask for them: the flush leaves the three
# columns with server defaults expired, and the first access loads them all with one SELECT.

bob = LazyUser(name="bob")
session.add(bob)
sent.clear()
session.flush()
print("unloaded after the flush:", unloaded(bob))
# sphinx_gallery_start_ignore
assert "status" not in sent[-1], "the INSERT did not fetch the server defaults"
assert unloaded(bob) == ["edits", "edits_unmarked", "status"], (
    "the flush left the server-default columns expired"
)
# sphinx_gallery_end_ignore
sent.clear()
print("status:", bob.status)
# sphinx_gallery_start_ignore
assert len(sent) == 1 and sent[0].startswith("SELECT"), "first access: one SELECT"
assert unloaded(bob) == [], "and loaded them all at once"
# sphinx_gallery_end_ignore

# %%
# On UPDATE, ``"auto"`` fetches nothing
# -------------------------------------
#
# ``"auto"`` covers INSERT only. ann's UPDATE carries ``revision = (revision + 1)``, a value
# only the database computes, and the trigger changes ``edits``: the flush expires both
# (``edits`` because of ``FetchedValue()``) and the first access SELECTs them. (The
# commit of the two INSERTs expires ann first; reading ``revision`` reloads her.)

session.commit()
print("ann before the UPDATE: revision", ann.revision, "| edits", ann.edits)
# sphinx_gallery_start_ignore
assert (ann.revision, ann.edits) == (1, 0), "ann before the UPDATE"
# sphinx_gallery_end_ignore
ann.name = "Ann"
sent.clear()
session.flush()
print("UPDATE sent:", [sql.split()[0] for sql in sent], "| unloaded:", unloaded(ann))
# sphinx_gallery_start_ignore
assert len(sent) == 1 and "RETURNING" not in sent[0], "a plain UPDATE, nothing fetched"
assert unloaded(ann) == ["edits", "revision"], "the database-written columns expired"
# sphinx_gallery_end_ignore
sent.clear()
print("revision:", ann.revision, "| edits:", ann.edits)
# sphinx_gallery_start_ignore
assert (ann.revision, ann.edits) == (2, 1), "loaded with the database's new values"
assert len(sent) == 1 and sent[0].startswith("SELECT"), "by one extra SELECT"
# sphinx_gallery_end_ignore

# %%
# A trigger column without ``FetchedValue()`` stays stale
# -------------------------------------------------------
#
# The same trigger also added one to ``edits_unmarked``, but nothing told SQLAlchemy: it is
# not expired and shows the old value with no SQL.
# :doc:`refresh() <../session_lifecycle/refresh_after_commit>` of that attribute reads it.

sent.clear()
in_memory = ann.edits_unmarked
in_db = session.scalar(select(User.edits_unmarked).where(User.id == ann.id))
print("edits_unmarked in memory:", in_memory, "| in the database:", in_db)
# sphinx_gallery_start_ignore
assert (in_memory, in_db) == (0, 1), "memory kept the value from before the UPDATE"
# sphinx_gallery_end_ignore
session.refresh(ann, ["edits_unmarked"])
# sphinx_gallery_start_ignore
assert ann.edits_unmarked == 1, "refresh() read the trigger's value"
# sphinx_gallery_end_ignore
session.commit()

# %%
# ``eager_defaults=True`` also fetches on UPDATE
# ----------------------------------------------
#
# ``EagerUser`` asks for the database-written columns right in the flush. SQLite and
# PostgreSQL add ``RETURNING`` to the UPDATE. MariaDB has no UPDATE..RETURNING, so
# SQLAlchemy sends a SELECT right after the UPDATE. Either way nothing is left expired.

cy = EagerUser(name="cy")
session.add(cy)
session.flush()
cy.name = "Cy"
sent.clear()
session.flush()
print("flush sent:", [sql.split()[0] for sql in sent], "| unloaded:", unloaded(cy))
# sphinx_gallery_start_ignore
assert unloaded(cy) == [], "nothing is left for a first access to load"
if engine.dialect.update_returning:
    assert len(sent) == 1 and "RETURNING" in sent[0], "one UPDATE .. RETURNING"
else:
    assert [sql.split()[0] for sql in sent] == ["UPDATE", "SELECT"], "then a SELECT"
# sphinx_gallery_end_ignore
print("revision:", cy.revision, "| edits:", cy.edits)
# sphinx_gallery_start_ignore
assert cy.revision == 2, "the onupdate's value came back with the flush"
# sphinx_gallery_end_ignore

# %%
# SQLite's ``RETURNING`` does not see an ``AFTER`` trigger
# --------------------------------------------------------
#
# SQLite's trigger here is an ``AFTER`` trigger that updates the row a second time, and the
# UPDATE's ``RETURNING`` produced its row before that: the fetched ``edits`` is the value
# from before the trigger. PostgreSQL's and
# MariaDB's ``BEFORE`` triggers change the row first, so their fetched value is right.
# ``cy.edits_unmarked`` is stale as well, until the commit expires it and a read loads it.

in_db = session.scalar(select(User.edits).where(User.id == cy.id))
print("edits in memory:", cy.edits, "| in the database:", in_db)
# sphinx_gallery_start_ignore
assert in_db == 1, "the trigger ran once"
if engine.dialect.name == "sqlite":
    assert cy.edits == 0, "on SQLite, RETURNING gave the value before the AFTER trigger"
else:
    assert cy.edits == 1, "a BEFORE trigger's value is what the flush fetched"
assert cy.edits_unmarked == 0, "the unmarked trigger column is stale here too"
# sphinx_gallery_end_ignore
session.commit()
print("edits_unmarked after the commit:", cy.edits_unmarked)
# sphinx_gallery_start_ignore
assert cy.edits_unmarked == 1, "after the commit's expiry, a read loads it"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session.

session.close()


# %%
# Under asyncio, this extra SELECT on first access is a lazy load, and an ``AsyncSession``
# raises ``MissingGreenlet`` for it instead: the asyncio section shows that error and its
# fixes.
