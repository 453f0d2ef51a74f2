# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0.13",
# ]
# ///
"""
Upserts and ``INSERT .. RETURNING``
===================================

An upsert does not synchronize the objects the session holds, not even through
``returning(User)``: expire them afterwards, or upsert with ``returning(User)`` and
``populate_existing=True`` so that the returned rows overwrite them (from SQLAlchemy 2.0.13).

An upsert (``on_conflict_do_update()`` on SQLite and PostgreSQL, ``on_duplicate_key_update()``
on MariaDB) changes rows without touching the objects the session has loaded: they stay stale,
and even ``.returning(User)`` hands back the stale object. Add
:meth:`execution_options(populate_existing=True)
<sqlalchemy.sql.expression.Executable.execution_options>` to the ``returning(User)`` upsert,
and the
returned row overwrites the loaded object.
"""

# %%
# Setup
# -----
#
# Upserts are dialect-specific: ``insert_for`` picks the ``insert()`` of the dialect module
# (:mod:`sqlalchemy.dialects.sqlite`, ``postgresql`` or ``mysql``, which also serves
# MariaDB), and ``upsert()`` adds that dialect's conflict clause: on a duplicate ``id``, take
# the new ``name`` and add one to ``visits``. ann is committed and loaded.

import os

from sqlalchemy import String, create_engine, event, inspect, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    visits: Mapped[int] = mapped_column(default=0)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r}, visits={self.visits!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
insert_for = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
insert_for["mysql"] = mysql.insert  # MariaDB
insert = insert_for[engine.dialect.name]


def upsert():
    stmt = insert(User)
    if engine.dialect.name == "mysql":  # MariaDB
        new = {"name": stmt.inserted.name, "visits": User.visits + 1}
        return stmt.on_duplicate_key_update(new)
    new = {"name": stmt.excluded.name, "visits": User.visits + 1}
    return stmt.on_conflict_do_update(index_elements=[User.id], set_=new)


def in_database(user_id):
    row = session.execute(select(User.name, User.visits).where(User.id == user_id))
    return tuple(row.one())


session = Session(engine)
session.add(User(id=1, name="ann"))
session.commit()
ann = session.get(User, 1)
sent = []


def record(conn, cursor, statement, *rest):
    sent.append(statement)


event.listen(engine, "before_cursor_execute", record)
print(ann)

# %%
# An upsert leaves the loaded object stale
# ----------------------------------------
#
# The upsert hits ann's row and updates it. The session does not synchronize an upsert:
# ann is neither changed nor expired, so she shows her old values without any SQL.

session.execute(upsert().values(id=1, name="Ann"))
row = in_database(1)
print("in memory:", ann, "| in the database:", row)
# sphinx_gallery_start_ignore
assert (ann.name, ann.visits) == ("ann", 0), "the loaded object kept its old values"
assert not inspect(ann).expired_attributes, "and was not even expired"
assert row == ("Ann", 1), "while the row was updated"
# sphinx_gallery_end_ignore

# %%
# ``expire()`` (or :doc:`refresh() <../session_lifecycle/refresh_after_commit>`) after the upsert
# brings her back in sync: the next access
# reloads the row.

session.expire(ann)
reloaded = ann.name  # the first access after expire() reloads the row
print("after expire():", ann)
# sphinx_gallery_start_ignore
assert (ann.name, ann.visits) == ("Ann", 1), "reloaded from the row"
# sphinx_gallery_end_ignore

# %%
# ``.returning(User)`` returns the stale object
# ---------------------------------------------
#
# With ``returning(User)`` the database sends the upserted row back. The ORM turns it into a
# ``User`` through the identity map, like any SELECT: row 1 *is* ann, already loaded, so the
# returned row is ignored and she keeps her old values.

returned = session.scalars(upsert().values(id=1, name="ANN").returning(User)).all()
upsert_sql = sent[-1]
row = in_database(1)
print("returned:", returned, "| in the database:", row)
# sphinx_gallery_start_ignore
assert row == ("ANN", 2), "the row was upserted"
assert returned == [ann] and returned[0] is ann, "the identity-map object came back"
assert (ann.name, ann.visits) == ("Ann", 1), "holding what it had, not the returned row"
assert "RETURNING" in upsert_sql, "although RETURNING sent the new row"
# sphinx_gallery_end_ignore

# %%
# ``populate_existing`` makes the returned row win
# ------------------------------------------------
#
# The :doc:`populate_existing <../myths/requery_refreshes>` execution option tells the ORM to
# overwrite loaded objects with the rows it receives (from SQLAlchemy 2.0.13 for an upsert).
# The same upsert now leaves ann in sync.

refreshing = upsert().values(id=1, name="Annie").returning(User)
refreshing = refreshing.execution_options(populate_existing=True)
returned = session.scalars(refreshing).all()
row = in_database(1)
print("returned:", returned, "| in the database:", row)
# sphinx_gallery_start_ignore
assert returned[0] is ann and (ann.name, ann.visits) == ("Annie", 3), (
    "populate_existing overwrote ann with the returned row"
)
assert row == ("Annie", 3), "with exactly the row's values"
# sphinx_gallery_end_ignore
session.commit()

# %%
# ORM bulk ``INSERT .. RETURNING`` fills the identity map
# -------------------------------------------------------
#
# ``insert(User).returning(User)`` executed with a list of dicts is an ORM bulk INSERT with
# ``RETURNING`` (all three databases have INSERT..RETURNING). ``sort_by_parameter_order=True``
# returns the objects in the order of the dicts, so they can be unpacked by position: one
# INSERT of both rows on PostgreSQL and MariaDB; on SQLite SQLAlchemy sends one INSERT per
# row to keep that order. The returned objects are persistent and sit in the identity map,
# so ``get()`` hands them back without SQL.

new_rows = [{"id": 2, "name": "bob"}, {"id": 3, "name": "cy"}]
sent.clear()
in_order = insert(User).returning(User, sort_by_parameter_order=True)
bob, cy = session.scalars(in_order, new_rows).all()
print(bob, cy)
# sphinx_gallery_start_ignore
assert engine.dialect.insert_returning, "this database has INSERT..RETURNING"
assert all("RETURNING" in sql for sql in sent), "each INSERT returns its row"
if engine.dialect.name == "sqlite":
    assert len(sent) == 2, "SQLite, in parameter order: one INSERT per row"
else:
    assert len(sent) == 1, "one INSERT for both rows"
# sphinx_gallery_end_ignore
sent.clear()
# sphinx_gallery_start_ignore
assert session.get(User, 2) is bob and session.get(User, 3) is cy, "in the identity map"
assert sent == [], "get() found them without SQL"
assert inspect(bob).persistent and (bob.visits, cy.visits) == (0, 0), (
    "the new rows bob and cy have the default visits, 0"
)
# sphinx_gallery_end_ignore

# %%
# A bulk upsert with ``RETURNING``
# --------------------------------
#
# The same bulk form works with the upsert. Of the two rows, ann's exists (an update) and
# dee's is new (an insert). Without ``populate_existing`` the existing ann comes back stale
# again; with it, she is overwritten. dee is a new object either way.

ann = session.get(User, 1)  # loaded again after the commit
rows = [{"id": 1, "name": "A1"}, {"id": 4, "name": "dee"}]
in_order = upsert().returning(User, sort_by_parameter_order=True)
first, dee = session.scalars(in_order, rows).all()
row = in_database(1)
print("returned:", [first, dee], "| ann in the database:", row)
# sphinx_gallery_start_ignore
assert first is ann and ann.name == "Annie", "the loaded ann came back stale"
assert row == ("A1", 4) and dee.name == "dee", "both rows were written"
# sphinx_gallery_end_ignore
rows = [{"id": 1, "name": "A2"}, {"id": 4, "name": "Dee"}]
bulk = in_order.execution_options(populate_existing=True)
returned = session.scalars(bulk, rows).all()
print("with populate_existing:", returned)
# sphinx_gallery_start_ignore
assert returned == [ann, dee] and (ann.name, dee.name) == ("A2", "Dee"), (
    "the returned rows overwrote the loaded objects"
)
# sphinx_gallery_end_ignore
session.commit()

# %%
# Clean up: close the session.

session.close()
