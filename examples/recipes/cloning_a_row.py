# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Cloning a row: ``make_transient()`` and the primary key
=======================================================

``make_transient(obj)`` (which also takes it out of its session), ``obj.id = None`` and
``session.add(obj)`` make the flush INSERT a copy of the row; keep the old primary key and the
INSERT fails with ``IntegrityError``. Only the *loaded* columns are copied (load them first:
``refresh(obj)`` skips a deferred column unless it is named), no child row is, and a loaded
collection still lists the original's children: the flush moves those with a change of their
own to the copy (all of them, with ``passive_updates=False``). Don't clone an object whose
collection is loaded.
"""

# %%
# Setup
# -----
#
# An order with two lines and a deferred column (``notes``, loaded only when read).
# ``load()`` starts each cell in a new session, with order 1 loaded (and its lines, when
# asked). ``rows()`` reads which order each line row belongs to in the database.
# ``message_of()`` keeps an error's first line.

import os

from sqlalchemy import ForeignKey, String, create_engine, inspect, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    make_transient,
    mapped_column,
    relationship,
)


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    notes: Mapped[str | None] = mapped_column(String(50), deferred=True)
    lines: Mapped[list["Line"]] = relationship(back_populates="order", order_by="Line.id")

    def __repr__(self) -> str:
        return f"Order(id={self.id!r}, title={self.title!r})"


class Line(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column("line_id", primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    item: Mapped[str] = mapped_column(String(50))
    order: Mapped[Order] = relationship(back_populates="lines")

    def __repr__(self) -> str:
        return f"Line(id={self.id!r}, order_id={self.order_id!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
with Session(engine) as setup:
    lines = [Line(item="cup"), Line(item="pot")]
    setup.add(Order(title="tea", notes="fragile", lines=lines))
    setup.commit()


def load(with_lines: bool = False) -> tuple[Session, Order]:
    session = Session(engine)
    order = session.get(Order, 1)
    if with_lines:
        order.lines  # loads the collection
    return session, order


def rows(session: Session) -> list[tuple[int, int]]:
    statement = select(Line.id, Line.order_id).order_by(Line.id)
    return [tuple(row) for row in session.execute(statement)]


def message_of(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0]}"


# %%
# The primary key kept: ``IntegrityError``
# ----------------------------------------
#
# ``make_transient()`` takes the order out of the session (no ``expunge()`` needed) and
# makes it an object the ORM has never saved, with its loaded values kept, the primary key
# among them. Added back, it is *pending*, and the flush INSERTs it with ``id`` 1, which
# the table holds already.

session, order = load()
make_transient(order)
# sphinx_gallery_start_ignore
assert order not in session and inspect(order).transient, "make_transient() expunged it"
# sphinx_gallery_end_ignore
session.add(order)
try:
    session.flush()
    error = None
except IntegrityError as caught:
    error = message_of(caught)
print(error)
session.rollback()
session.close()
# sphinx_gallery_start_ignore
if engine.dialect.name == "sqlite":
    assert (
        error
        == "IntegrityError: (sqlite3.IntegrityError) UNIQUE constraint failed: orders.id"
    ), "the INSERT with the old primary key failed: UNIQUE constraint failed"
else:
    assert error is not None and error.startswith("IntegrityError"), (
        "the INSERT with the old primary key raised IntegrityError"
    )
# sphinx_gallery_end_ignore

# %%
# The recipe: clear the primary key
# ---------------------------------
#
# With ``order.id = None`` the flush INSERTs without an id and the database gives the copy a
# new one. The Python object *is* the copy now (of its loaded columns: the next cell): the
# original row is still there, and ``session.get(Order, 1)`` loads it as another object.

session, order = load()
make_transient(order)
order.id = None
session.add(order)
session.flush()
original = session.get(Order, 1)
print("the copy:", order, "| the original:", original)
# sphinx_gallery_start_ignore
assert order.id not in (None, 1) and order.title == "tea", "the copy got a new id"
assert original is not order and original.title == "tea", (
    "the original row is still there"
)
# sphinx_gallery_end_ignore
session.rollback()
session.close()

# %%
# Only loaded columns are copied: after ``commit()`` (which expires every attribute)
# ``make_transient()`` drops them all and the INSERT goes without them, so a ``NOT NULL``
# column fails it. A deferred column is not loaded either: the copy goes in without
# ``notes``, with no error, and its ``notes`` is ``NULL``.

session, order = load()
session.commit()
make_transient(order)
order.id = None
session.add(order)
try:
    session.flush()
    error = None
except DBAPIError as caught:
    error = message_of(caught)
print(error)
session.rollback()
session.close()
session, order = load()
make_transient(order)
order.id = None
session.add(order)
session.flush()
original_notes = session.get(Order, 1).notes
print("the copy's notes:", order.notes, "| the original's:", original_notes)
# sphinx_gallery_start_ignore
if engine.dialect.name == "sqlite":
    assert error == (
        "IntegrityError: (sqlite3.IntegrityError) NOT NULL constraint failed: orders.title"
    ), "the expired title was not copied: NOT NULL constraint failed"
else:
    assert error is not None, "the INSERT without the expired title failed"
assert order.notes is None, "the deferred notes were not copied: NULL, with no error"
assert original_notes == "fragile", "the original has its notes"
# sphinx_gallery_end_ignore
session.rollback()
session.close()

# %%
# ``session.refresh(order)`` loads the expired columns but leaves a deferred one unloaded.
# Name every column attribute and it loads them all; then the copy has each value.

session, order = load()
session.commit()
columns = [attr.key for attr in inspect(Order).column_attrs]
session.refresh(order)
refreshed = sorted(inspect(order).unloaded & set(columns))
print("not loaded after refresh(order):", refreshed)
session.refresh(order, columns)
left = sorted(inspect(order).unloaded & set(columns))
print("after refresh(order, columns):", left)
make_transient(order)
order.id = None
session.add(order)
session.flush()
print("the copy:", order, "| notes:", order.notes)
# sphinx_gallery_start_ignore
assert refreshed == ["notes"], "refresh(order) left the deferred column unloaded"
assert left == [], "naming every column loaded them all"
assert order.id not in (None, 1) and order.title == "tea", "refreshed first, it copied"
assert order.notes == "fragile", "the deferred notes were copied too"
# sphinx_gallery_end_ignore
session.rollback()
session.close()

# %%
# No child is copied, and a loaded collection misleads
# ----------------------------------------------------
#
# ``make_transient()`` copies nothing: the object keeps what it had loaded. Here the lines
# were loaded first, so the copy's ``lines`` still lists the original's two ``Line``
# objects, and the first has a change of its own. The flush INSERTs the order and sets
# each line's ``order_id`` to the copy's id in memory; the changed line is UPDATEd with it
# and moves to the copy, the unchanged one is not (with the relationship's default,
# ``passive_updates=True``: the next cell). After ``commit()`` everything reloads: the copy
# has the first line, and the second says ``order_id`` 1 again. Don't clone an object whose
# collection is loaded.

session, order = load(with_lines=True)
lines = list(order.lines)
lines[0].item = "mug"
make_transient(order)
order.id = None
session.add(order)
session.flush()
in_memory = [line.order_id for line in lines]
in_database = rows(session)
print("copy.lines:", order.lines, "| in the database:", in_database)
session.commit()
print("after commit():", order.lines, "| the lines:", lines)
# sphinx_gallery_start_ignore
assert in_memory == [order.id] * 2, "after the flush the lines said the copy's id"
assert in_database == [(1, order.id), (2, 1)], (
    "the changed line was UPDATEd to the copy; the other row still belongs to order 1"
)
assert order.lines == [lines[0]], "after commit() the copy has the changed line"
assert lines[1].order_id == 1, "and the other line says order_id 1 again"
# sphinx_gallery_end_ignore
session.close()

# %%
# With ``passive_updates=False`` on the relationship the flush UPDATEs every loaded line with
# the copy's id, changed or not, and both move. ``OrderEager`` maps the same table that way;
# the same steps on a new order with two lines:


class OrderEager(Base):
    __table__ = Order.__table__
    lines: Mapped[list[Line]] = relationship(
        passive_updates=False, order_by=Line.id, overlaps="lines,order"
    )

    def __repr__(self) -> str:
        return f"OrderEager(id={self.id!r}, title={self.title!r})"


session = Session(engine)
order = OrderEager(title="coffee", lines=[Line(item="cup"), Line(item="pot")])
session.add(order)
session.flush()  # the order and its lines are in the database, the collection loaded
lines = list(order.lines)
lines[0].item = "mug"
make_transient(order)
order.id = None
session.add(order)
session.flush()
moved = [row for row in rows(session) if row[0] in {line.id for line in lines}]
print("the copy:", order, "| its old lines in the database:", moved)
# sphinx_gallery_start_ignore
assert [order_id for _, order_id in moved] == [order.id] * 2, (
    "with passive_updates=False the flush UPDATEd every loaded line to the copy"
)
# sphinx_gallery_end_ignore
session.rollback()
session.close()

# %%
# Copy what you mean: a new object, and new children
# --------------------------------------------------
#
# Building the copy as a new object from the column values leaves the original as it was
# (still *persistent*, in the session) and says which children are copied: here each line,
# made anew. The flush INSERTs the order, then its lines with the new ``order_id``. The
# keys to leave out are the primary key's *attribute* names: ``Line.id`` is the column
# ``line_id``, and skipping ``column.key`` would copy it. (Order 1 has one line left: the
# cell above moved the other to its copy.)


def copy_columns(obj, **changes):
    """A new, transient object with obj's column values, except its primary key."""
    mapper = inspect(obj).mapper
    keys = {mapper.get_property_by_column(column).key for column in mapper.primary_key}
    values = {
        a.key: getattr(obj, a.key) for a in mapper.column_attrs if a.key not in keys
    }
    values.update(changes)
    return mapper.class_(**values)


session, order = load(with_lines=True)
copy = copy_columns(order, title="tea, again")
copy.lines = [copy_columns(line, order_id=None) for line in order.lines]
session.add(copy)
session.commit()
print("the copy:", copy, copy.lines)
print("the original:", order, order.lines)
# sphinx_gallery_start_ignore
assert [line.order_id for line in copy.lines] == [copy.id], "a new line for the copy"
assert [line.id for line in order.lines] == [2], "the original kept its line"
assert copy.lines[0].id not in (1, 2), "the copied line got a new id"
assert inspect(order).persistent, "the original stayed persistent"
# sphinx_gallery_end_ignore
session.close()

# %%
# In one sentence
# ---------------
#
# ``make_transient()`` plus a cleared primary key INSERTs a copy of the loaded columns and
# nothing else; copy children yourself, and prefer a new object built from the column values, which
# leaves the original :doc:`persistent <../session_lifecycle/five_states>`.
#
# Clean up: close the engine's connections.

engine.dispose()
