# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
``ON DELETE CASCADE`` with ``passive_deletes=True``: what the session still holds
=================================================================================

With ``passive_deletes=True``, deleting a parent whose collection is not loaded sends one
``DELETE`` and the database removes the children; a child the session loaded otherwise stays
*persistent* in the identity map, after the flush and after ``commit()``. With the default
``expire_on_commit=True`` every read of it then raises ``ObjectDeletedError`` and leaves it
there (``session.get()`` returns ``None`` and drops it); with ``False`` it stays readable,
stale. Children in a
loaded collection are still deleted by the ORM, in one ``DELETE`` statement with a row of
parameters per child. SQLite cascades only with
``PRAGMA foreign_keys=ON``, set on each connection by a ``connect`` event.
"""

# %%
# Setup
# -----
#
# ``Child.parent_id`` has ``ondelete="CASCADE"``, and ``Parent.children`` has
# ``cascade="all, delete-orphan"`` and ``passive_deletes=True``: the ORM leaves the
# children it has not loaded to the database. SQLite enforces foreign keys, and so cascades,
# only on a connection that ran ``PRAGMA foreign_keys=ON``: the ``connect`` event runs it on
# every new connection (without it the child rows would stay). ``load()`` starts a cell in a
# new session with the parent and child 1 loaded, the collection too when asked.
# ``state()`` names an object's state; ``rows()`` counts the child rows in the database.

import os
import re

from sqlalchemy import ForeignKey, create_engine, event, func, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.exc import ObjectDeletedError


class Base(DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "parents"

    id: Mapped[int] = mapped_column(primary_key=True)
    children: Mapped[list["Child"]] = relationship(
        back_populates="parent", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Parent(id={self.id!r})"


class Child(Base):
    __tablename__ = "children"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"))
    parent: Mapped[Parent] = relationship(back_populates="children")

    def __repr__(self) -> str:
        return f"Child(id={self.id!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
if engine.dialect.name == "sqlite":

    @event.listens_for(engine, "connect")
    def foreign_keys_on(dbapi_connection, connection_record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
statements: list[str] = []  # every statement sent, for the asserts
event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))


def load(with_children: bool = False) -> tuple[Session, Parent, "Child"]:
    with Session(engine) as setup:
        setup.add(Parent(id=1, children=[Child(id=1), Child(id=2)]))
        setup.commit()
    session = Session(engine)
    parent = session.get(Parent, 1)
    if with_children:
        for loaded in parent.children:  # loads the collection, child 1 with it,
            loaded.parent  # and each child's parent (no SQL: it is in the identity map)
    child = session.get(Child, 1)
    statements.clear()
    return session, parent, child


def state(obj) -> str:
    flags = ("transient", "pending", "persistent", "deleted", "detached")
    return next(flag for flag in flags if getattr(inspect(obj), flag))


def rows(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Child))


# sphinx_gallery_start_ignore
if engine.dialect.name == "sqlite":
    import sqlite3  # not through SQLAlchemy: the page's SQL boxes stay the page's

    from sqlalchemy.schema import CreateTable

    plain = sqlite3.connect(":memory:")
    for table in Base.metadata.sorted_tables:
        plain.execute(str(CreateTable(table).compile(engine)))
    plain.execute("INSERT INTO parents (id) VALUES (1)")
    plain.execute("INSERT INTO children (id, parent_id) VALUES (1, 1)")
    plain.execute("DELETE FROM parents")
    left = plain.execute("SELECT count(*) FROM children").fetchone()[0]
    plain.close()
    assert left == 1, "without PRAGMA foreign_keys=ON, SQLite left the child row in place"
# sphinx_gallery_end_ignore

# %%
# The collection not loaded: one DELETE, and a child left in the map
# ------------------------------------------------------------------
#
# ``session.delete(parent)`` marks the parent only. The flush sends ``DELETE FROM parents``
# and nothing for the children; the database deletes both child rows. Child 1, loaded on
# its own, is still *persistent*: the session was never told. ``session.get(Child, 1)``
# returns it from the identity map without any SQL, with its old values.

session, parent, child = load()
session.delete(parent)
before_flush = state(child)
session.flush()
after_flush = state(child)
print("child before the flush:", before_flush, "| after:", after_flush)
remaining = rows(session)
print("child rows in the database:", remaining)
statements.clear()
again = session.get(Child, 1)
print("session.get(Child, 1):", again, "| parent_id:", again.parent_id)
# sphinx_gallery_start_ignore
assert before_flush == after_flush == "persistent", "the child stayed persistent"
assert remaining == 0, "the database deleted both child rows"
assert again is child and statements == [], "get() returned it from the map, with no SQL"
assert again.parent_id == 1, "with its old values"
# sphinx_gallery_end_ignore

# %%
# After ``commit()``: still *persistent*, even once a read fails
# --------------------------------------------------------------
#
# The commit expires the child but leaves it in the identity map, still *persistent*.
# Reading an attribute reloads it, finds no row and raises ``ObjectDeletedError``, and the
# child stays *persistent*, in the session: the next read raises again, and a ``select()``
# that finds no row leaves it there too. ``session.get(Child, 1)`` returns ``None`` and
# drops it from the session (``inspect()`` then reports it *deleted*, as it does for an
# object whose DELETE was flushed).

session.commit()
after_commit = state(child)
errors = []
for _ in range(2):  # read it twice
    try:
        child.parent_id
    except ObjectDeletedError as caught:
        errors.append(re.sub(r" at 0x[0-9a-f]+", "", str(caught).splitlines()[0]))
after_reads = state(child), child in session
print("child after commit():", after_commit)
print("ObjectDeletedError:", errors[0])
print("after", len(errors), "reads:", after_reads[0], "| in the session:", after_reads[1])
found = session.scalars(select(Child)).all()
after_select = state(child)
print("select(Child):", found, "| child:", after_select)
gone = session.get(Child, 1)
print(
    "session.get(Child, 1):",
    gone,
    "| child:",
    state(child),
    "| in session:",
    child in session,
)
# sphinx_gallery_start_ignore
assert after_commit == "persistent" and inspect(child).expired, (
    "after commit() the child was still persistent, expired"
)
assert (
    errors
    == ["Instance '<Child>' has been deleted, or its row is otherwise not present."] * 2
), "each read raised ObjectDeletedError"
assert after_reads == ("persistent", True), (
    "after the reads it stayed persistent, in session"
)
assert found == [] and after_select == "persistent", (
    "select() found no row and left the child persistent"
)
assert gone is None and child not in session, "get() returned None and dropped it"
assert state(child) == "deleted", "inspect() then reported it deleted"
# sphinx_gallery_end_ignore
session.close()

# %%
# That is the default ``expire_on_commit=True`` at work. With ``expire_on_commit=False`` the
# commit expires nothing: the child stays readable with its old values, and
# ``session.get(Child, 1)`` returns it without any SQL.

session, parent, child = load()
session.expire_on_commit = False
session.delete(parent)
session.commit()
statements.clear()
again = session.get(Child, 1)
print(
    "session.get(Child, 1):", again, "| parent_id:", child.parent_id, "| SQL:", statements
)
# sphinx_gallery_start_ignore
assert again is child and child.parent_id == 1, "the child stayed readable, stale"
assert statements == [], "without any SQL"
# sphinx_gallery_end_ignore
session.close()

# %%
# The collection loaded: the ORM deletes the children itself
# ----------------------------------------------------------
#
# ``passive_deletes=True`` only spares the ORM loading children it has not loaded. With
# ``parent.children`` loaded, the flush deletes them itself: one ``DELETE`` statement for
# the children, sent with a row of parameters per child, then the parent's; the children go
# *deleted*, then *detached* at the commit, as without the option.

session, parent, child = load(with_children=True)
# sphinx_gallery_start_ignore
rows_per_delete = []


def count_rows(conn, cursor, sql, parameters, context, executemany):
    if sql.startswith("DELETE"):
        rows_per_delete.append(len(parameters) if executemany else 1)


event.listen(engine, "before_cursor_execute", count_rows)
# sphinx_gallery_end_ignore
session.delete(parent)
session.flush()
after_flush = state(child)
session.commit()
print("child after the flush:", after_flush, "| after commit():", state(child))
# sphinx_gallery_start_ignore
deletes = [s.split()[2] for s in statements if s.startswith("DELETE")]
assert deletes == ["children", "parents"], (
    "one DELETE for the children, then the parent's"
)
assert rows_per_delete == [2, 1], "the children's DELETE carried a row per child"
event.remove(engine, "before_cursor_execute", count_rows)
assert after_flush == "deleted" and state(child) == "detached", "deleted, then detached"
# sphinx_gallery_end_ignore
session.close()

# %%
# In one sentence
# ---------------
#
# A database cascade deletes rows the session does not hear about: objects loaded before it
# stay *persistent*, and after a commit every read of them raises ``ObjectDeletedError``,
# so after deleting a parent with ``passive_deletes=True``, expunge (or stop using) the
# children you hold, or load the collection so the ORM deletes them itself; without the
# option the ORM loads and deletes them all (:doc:`deleting a child
# <../relationships/relationships_on_delete>`).
#
# Clean up: close the engine's connections.

engine.dispose()
