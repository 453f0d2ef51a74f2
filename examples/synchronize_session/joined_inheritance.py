# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0.13",
# ]
# ///
"""
Bulk UPDATE and DELETE with joined-table inheritance
====================================================

A bulk ``update(Engineer)`` or ``delete(Engineer)`` targets only ``engineer``: update by primary
key or join the tables yourself; delete through the base table with ``ON DELETE CASCADE`` (or
``session.delete()``) so no half rows remain.

An ``Engineer`` lives in two tables: ``employee`` (base) and ``engineer`` (subclass). A bulk
``update(Engineer)`` or ``delete(Engineer)`` targets one table only; the results range from
an error to silently touching the wrong rows. Each pitfall is followed by a fix.
"""

# %%
# Setup
# -----
#
# ``engineer.id`` references ``employee.id`` with ``ON DELETE CASCADE``, which SQLite ignores
# unless each connection turns foreign keys on: hence the ``connect`` listener. Each cell ends
# with a rollback, which expires ``ann`` and ``bob``: cells that need them loaded read them first.

import os
import warnings

import sqlalchemy
from sqlalchemy import (
    ForeignKey,
    String,
    create_engine,
    delete,
    event,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import CompileError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Employee(Base):
    __tablename__ = "employee"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    type: Mapped[str] = mapped_column(String(20))
    __mapper_args__ = {"polymorphic_on": "type", "polymorphic_identity": "employee"}

    def __repr__(self):
        return f"{type(self).__name__}(id={self.id!r}, name={self.name!r})"


class Engineer(Employee):
    __tablename__ = "engineer"
    id: Mapped[int] = mapped_column(
        ForeignKey("employee.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(20))
    __mapper_args__ = {"polymorphic_identity": "engineer"}


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
if engine.dialect.name == "sqlite":
    event.listen(
        engine, "connect", lambda conn, _: conn.execute("PRAGMA foreign_keys=ON")
    )
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
session = Session(engine)
ann, bob = (
    Engineer(id=1, name="Ann", language="py"),
    Engineer(id=2, name="Bob", language="go"),
)
session.add_all([ann, bob])
session.commit()


def tables():  # the rows of employee and engineer, as the database has them
    return tuple(
        session.execute(select(t).order_by(t.c.id)).all()
        for t in Base.metadata.sorted_tables
    )


# %%
# SET on both tables in one statement fails
# -----------------------------------------
#
# ``name`` is in ``employee``, ``language`` in ``engineer``; the UPDATE targets ``engineer`` and
# does not even compile. SQLite and PostgreSQL cannot SET another table's column at all; MySQL and
# :doc:`MariaDB </dialect-differences>` can (a multi-table UPDATE), but only of tables the WHERE
# clause names: ``engineer`` here. The error says so from SQLAlchemy 2.0.42; before, it said
# only ``Unconsumed column names: name``.

error = None
try:
    session.execute(
        update(Engineer).where(Engineer.id == 1).values(name="A", language="rs")
    )
except CompileError as exc:
    error = exc
    print(f"{type(exc).__name__}: {exc}")
multi_table = engine.dialect.name in ("mysql", "mariadb")
why = "not a multi-table UPDATE" if multi_table else "additional tables in the SET clause"
# sphinx_gallery_start_ignore
RELEASE = tuple(int(part) for part in sqlalchemy.__version__.split(".")[:3])
assert isinstance(error, CompileError), "mixed SET is refused"
if RELEASE >= (2, 0, 42):
    assert "columns from table(s) 'employee' in SET clause" in str(error), (
        "the error names the other table's columns"
    )
    assert why in str(error), (
        f"{engine.dialect.name} refuses it because the UPDATE names one table"
    )
else:
    assert str(error) == "Unconsumed column names: name", (
        "before 2.0.42 the error names only the unconsumed column"
    )
# sphinx_gallery_end_ignore
session.rollback()

# %%
# Fix: bulk UPDATE by primary key
# -------------------------------
#
# With a list of dicts keyed by ``id``, the ORM sends one UPDATE per table.

session.execute(update(Engineer), [{"id": 1, "name": "Ann B.", "language": "rust"}])
updated = ([(1, "Ann B.", "engineer"), (2, "Bob", "engineer")], [(1, "rust"), (2, "go")])
now = tables()
print(now, "| Ann in memory:", ann.name, ann.language)
# sphinx_gallery_start_ignore
assert now == updated, "both tables were updated, for id 1 only"
assert (ann.name, ann.language) == ("Ann B.", "rust"), "the loaded object followed"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# WHERE on a base column: every engineer is updated
# -------------------------------------------------
#
# ``Engineer.name`` is ``employee.name``. The ORM adds ``employee`` to the UPDATE without a
# join condition, so *every* ``engineer`` row is updated as soon as any employee is named Ann.
# SQLAlchemy warns; the session, evaluating the WHERE in Python, believes only Ann changed.

print("Bob loaded:", bob.language)  # the rollback above expired him: this reloads him
# sphinx_gallery_start_ignore
assert inspect(bob).attrs.language.loaded_value == "go", "Bob is loaded"
# sphinx_gallery_end_ignore
with warnings.catch_warnings(record=True, action="always") as caught:
    session.execute(
        update(Engineer).where(Engineer.name == "Ann").values(language="rust")
    )
print(f"{caught[0].category.__name__}: {str(caught[0].message).split(' between')[0]}")
engineer_rows = tables()[1]
print(engineer_rows, "| Bob in memory:", bob.language)
# sphinx_gallery_start_ignore
assert "cartesian product" in str(caught[0].message), (
    "SQLAlchemy warns of a cartesian product"
)
assert engineer_rows == [(1, "rust"), (2, "rust")], "Bob's row was updated too"
assert bob.language == "go", "and the session thinks Bob is unchanged: stale"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# Fix: join the tables yourself
# -----------------------------

joined = update(Engineer).where(Engineer.id == Employee.id, Engineer.name == "Ann")
session.execute(joined.values(language="rust"))
engineer_rows = tables()[1]
print(engineer_rows)
# sphinx_gallery_start_ignore
assert engineer_rows == [(1, "rust"), (2, "go")], "only Ann's row was updated"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# Bulk DELETE of ``Engineer`` leaves half a row
# ---------------------------------------------
#
# ``delete(Engineer)`` deletes from ``engineer`` only. The session marks ``ann`` deleted, but
# her ``employee`` row survives, still typed ``engineer``; loading it back fails. (The first
# line reloads ``ann``, expired by the rollback above.)

print("Ann loaded:", ann.language)
# sphinx_gallery_start_ignore
assert inspect(ann).attrs.language.loaded_value == "py", "Ann is loaded"
# sphinx_gallery_end_ignore
session.execute(delete(Engineer).where(Engineer.language == "py"))
print(half := tables())
# sphinx_gallery_start_ignore
assert half == ([(1, "Ann", "engineer"), (2, "Bob", "engineer")], [(2, "go")]), (
    "half a row"
)
assert inspect(ann).deleted, "the session thinks Ann is gone"
# sphinx_gallery_end_ignore
message = None
try:
    session.get(Employee, 1).language
except KeyError as exc:  # keep only the message, not the exception
    message = f"{type(exc).__name__}: {exc}"
    print(message)
# sphinx_gallery_start_ignore
assert "failed to populate" in str(message), (
    "the orphan base row loads as a broken Engineer"
)
# sphinx_gallery_end_ignore
session.rollback()

# %%
# Fix: delete through the base table, or the unit of work
# -------------------------------------------------------
#
# ``delete(Employee)`` removes the ``employee`` row and ``ON DELETE CASCADE`` the ``engineer``
# row. ``session.delete(ann)`` and a flush also remove both rows.

only_bob = ([(2, "Bob", "engineer")], [(2, "go")])
print("Ann loaded:", ann.language)
# sphinx_gallery_start_ignore
assert inspect(ann).attrs.language.loaded_value == "py", "Ann is loaded"
# sphinx_gallery_end_ignore
session.execute(delete(Employee).where(Employee.name == "Ann"))
after = tables()
print(after, "| Ann deleted:", inspect(ann).deleted)
# sphinx_gallery_start_ignore
assert after == only_bob and inspect(ann).deleted, "the cascade removed both rows; agreed"
# sphinx_gallery_end_ignore
session.rollback()
session.delete(ann)
session.flush()
after = tables()
print(after)
# sphinx_gallery_start_ignore
assert after == only_bob, "the unit of work removed both"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session. Closing it without a commit rolls the flushed DELETE back: both
# rows are there again, yet ``inspect(ann)`` still reports her *deleted*, not detached, which
# is what the state table shows for her after ``close()``.

session.close()
with Session(engine) as other:
    back = other.scalars(select(Employee.id).order_by(Employee.id)).all()
print("employee rows after close():", back, "| Ann deleted:", inspect(ann).deleted)
# sphinx_gallery_start_ignore
assert back == [1, 2], "close() rolled the flushed DELETE back: the rows are there again"
assert inspect(ann).deleted and not inspect(ann).detached, (
    "yet after close() Ann is still reported deleted, not detached"
)
# sphinx_gallery_end_ignore
