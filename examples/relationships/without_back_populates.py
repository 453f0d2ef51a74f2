# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Two relationships without ``back_populates``
============================================

Without ``back_populates`` the two sides are strangers in memory: after
``child.parent = p`` a ``p.children`` already loaded stays as it was, through the flush
too, until it is expired (``expire()``, ``refresh()``, or the ``commit()`` or
``rollback()`` that expires everything) and reloads from the row; ``overlaps=`` only
silences the warning about it. Linked with ``back_populates`` both sides agree at once.

The relationship on :ref:`sphx_glr_auto_examples_relationships_relationships_in_memory.py`
is linked with ``back_populates``; this page takes the link away, and SQLAlchemy warns about
it before anything else.
"""

# %%
# Setup, and the warning
# ----------------------
#
# ``Parent.children`` and ``Child.parent`` both write ``children.parent_id``, and nothing
# tells SQLAlchemy they are the two sides of one link. When the mappers are configured (at
# the first use of a mapped class: here constructing a ``Parent``; a query, or
# ``configure_mappers()``) it warns, and names the ways out: ``back_populates`` to link
# them, ``viewonly=True`` on one that is only read, the ``foreign()`` annotation when
# foreign keys overlap only in part, or ``overlaps="children"``, which only silences the
# warning: the collection still lags (a cell below shows it).

import os
import re
import warnings

from sqlalchemy import ForeignKey, create_engine, event, insert, inspect, select
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
)


class Base(DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    children: Mapped[list["Child"]] = relationship(order_by="Child.id")

    def __repr__(self) -> str:
        return f"Parent(id={self.id!r})"


class Child(Base):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("parents.id"))
    parent: Mapped[Parent | None] = relationship()  # no back_populates on either side

    def __repr__(self) -> str:
        return f"Child(id={self.id!r})"


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    Parent()  # the first use of a mapped class configures all the mappers
for warning in caught:
    text = re.split(r"\s*\(Background on this warning", str(warning.message))[0]
    print(f"{warning.category.__name__}: {text}")
# sphinx_gallery_start_ignore
assert [w.category.__name__ for w in caught] == ["SAWarning"], "one SAWarning"
assert "relationship 'Child.parent' will copy column parents.id" in str(
    caught[0].message
), "it names Child.parent and the column it writes"
assert "linked with back_populates" in str(caught[0].message), (
    "it suggests back_populates"
)
assert 'overlaps="children"' in str(caught[0].message), "or overlaps='children'"
assert "viewonly=True" in str(caught[0].message), "or viewonly=True"
assert "orm.foreign() annotation" in str(caught[0].message), "or foreign()"
# sphinx_gallery_end_ignore

engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
sent = []
event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))


def load(children=True):
    """Parent 1 with no children, child 1 with no parent, in a new session."""
    with Session(engine) as setup, setup.begin():
        setup.execute(insert(Parent), [{"id": 1}])
        setup.execute(insert(Child), [{"id": 1, "parent_id": None}])
    session = Session(engine)
    parent, child = session.get(Parent, 1), session.get(Child, 1)
    if children:  # load the collection now, while it is empty
        print("p.children loaded:", parent.children)
    sent.clear()
    return session, parent, child


def clear():
    with Session(engine) as setup, setup.begin():
        setup.execute(Child.__table__.delete())
        setup.execute(Parent.__table__.delete())


def row_parent_id(session):  # what the row says, in the session's transaction
    return session.scalar(select(Child.parent_id).where(Child.id == 1))


# %%
# ``child.parent = p``: the collection does not move
# --------------------------------------------------
#
# The child now names its parent; the parent's loaded collection, which no link tells, is
# still empty. No SQL yet.

session, p, child = load()
child.parent = p
print("child.parent:", child.parent, "| p.children:", p.children)
# sphinx_gallery_start_ignore
assert child.parent is p, "the child names its parent"
assert p.children == [], "the loaded collection did not move"
assert not sent, "no SQL yet"
# sphinx_gallery_end_ignore

# %%
# The flush writes the row, and the collection still does not move
# -----------------------------------------------------------------
#
# The flush sends the ``UPDATE`` of ``parent_id``. The row now says the child is parent 1's;
# ``p.children`` is loaded, so the session does not read it again: still empty.

session.flush()
row = row_parent_id(session)
print("the row: parent_id =", row, "| p.children:", p.children)
# sphinx_gallery_start_ignore
assert sent[0].startswith("UPDATE children SET parent_id"), "the flush sent the UPDATE"
assert row == 1, "the row says parent 1"
assert p.children == [], "the loaded collection is still empty"
# sphinx_gallery_end_ignore

# %%
# Expiring the collection makes it reload from the row
# ----------------------------------------------------
#
# ``expire()`` marks it unloaded; the next read loads it. (``refresh(p)`` does the same for
# the collection, while it reloads ``p``'s columns at once: the ``overlaps=`` cell below
# uses it.)

sent.clear()
session.expire(p, ["children"])
print("p.children:", p.children)
# sphinx_gallery_start_ignore
assert p.children == [child], "reloaded: the child is there"
assert len(sent) == 1 and sent[0].startswith("SELECT"), "one SELECT loaded it"
# sphinx_gallery_end_ignore
session.close()
clear()

# %%
# Or ``commit()``, which expires everything
# -----------------------------------------
#
# With the default ``expire_on_commit=True`` the commit expires ``p`` and its collection;
# the next read loads them again, and the collection is right. Until that commit (or an
# ``expire()``), the session serves the empty list it loaded. ``rollback()`` expires
# everything too, but it also undoes the ``UPDATE``: both sides then read the row's
# "no parent".

session, p, child = load()
child.parent = p
session.commit()
print("p.children:", p.children)
# sphinx_gallery_start_ignore
assert sent[0].startswith("UPDATE children SET parent_id"), (
    "the commit flushed the UPDATE"
)
assert p.children == [child], "after the commit the collection reloaded with the child"
assert any(s.startswith("SELECT") and "FROM children" in s for s in sent), (
    "a SELECT of the children loaded it"
)
# sphinx_gallery_end_ignore
session.close()
clear()

session, p, child = load()
child.parent = p
session.flush()
session.rollback()
print("after rollback: p.children:", p.children, "| child.parent:", child.parent)
# sphinx_gallery_start_ignore
assert p.children == [] and child.parent is None, "rolled back and reloaded: no parent"
# sphinx_gallery_end_ignore
session.close()
clear()

# %%
# A collection not loaded yet is right
# ------------------------------------
#
# A collection never loaded loads on its first read, and that load
# :doc:`autoflushes <../session_lifecycle/autoflush>` the ``UPDATE`` first: the child is
# there. That takes autoflush and a persistent parent: under ``no_autoflush`` (or
# ``autoflush=False``) the load reads the row before the ``UPDATE``, and a pending parent's
# collection is not loaded at all: empty, with no SQL.

session, p, child = load(children=False)
child.parent = p
print("p.children:", p.children)
# sphinx_gallery_start_ignore
assert p.children == [child], "loaded after the autoflush: the child is there"
assert sent[0].startswith("UPDATE children SET parent_id"), "the load autoflushed first"
# sphinx_gallery_end_ignore
session.close()
clear()

session, p, child = load(children=False)
child.parent = p
with session.no_autoflush:
    print("under no_autoflush: p.children:", p.children)
# sphinx_gallery_start_ignore
assert p.children == [], "no autoflush: the load read the row before the UPDATE"
# sphinx_gallery_end_ignore
new_parent = Parent(id=2)
session.add(new_parent)
child.parent = new_parent
sent.clear()
print("pending parent: new_parent.children:", new_parent.children, "| SQL:", sent)
# sphinx_gallery_start_ignore
assert new_parent.children == [] and sent == [], "pending: empty, no SQL"
# sphinx_gallery_end_ignore
session.close()
clear()

# %%
# ``overlaps=`` silences the warning, not the lag
# -----------------------------------------------
#
# The same two classes with ``overlaps="children"`` on ``Child.parent``: no warning, and
# the loaded collection lags exactly as above, through the flush, until ``refresh(p)``
# expires it and the next read loads it again.


class QuietBase(DeclarativeBase):
    pass


class QuietParent(QuietBase):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    children: Mapped[list["QuietChild"]] = relationship()


class QuietChild(QuietBase):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("parents.id"))
    parent: Mapped[QuietParent | None] = relationship(overlaps="children")

    def __repr__(self) -> str:
        return f"QuietChild(id={self.id!r})"


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with Session(engine) as setup, setup.begin():
        setup.execute(insert(QuietParent), [{"id": 1}])
        setup.execute(insert(QuietChild), [{"id": 1, "parent_id": None}])
session = Session(engine)
p, child = session.get(QuietParent, 1), session.get(QuietChild, 1)
p.children  # loaded, empty
child.parent = p
session.flush()
print("warnings:", len(caught), "| after the flush: p.children:", p.children)
# sphinx_gallery_start_ignore
assert caught == [], "no warning"
assert p.children == [], "the loaded collection still lags"
# sphinx_gallery_end_ignore
session.refresh(p)
# sphinx_gallery_start_ignore
assert "children" in inspect(p).unloaded, "refresh() left the collection expired"
# sphinx_gallery_end_ignore
print("after refresh(p): p.children:", p.children)
# sphinx_gallery_start_ignore
assert p.children == [child], "read again, it loaded with the child"
# sphinx_gallery_end_ignore
session.close()
clear()

# %%
# With ``back_populates``, both sides agree at once
# -------------------------------------------------
#
# The same two classes, linked: ``back_populates`` appends the child to the parent's loaded
# collection as ``child.parent`` is assigned, before any flush, with no SQL.


class Base2(DeclarativeBase):
    pass


class LinkedParent(Base2):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    children: Mapped[list["LinkedChild"]] = relationship(back_populates="parent")

    def __repr__(self) -> str:
        return f"LinkedParent(id={self.id!r})"


class LinkedChild(Base2):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("parents.id"))
    parent: Mapped[LinkedParent | None] = relationship(back_populates="children")

    def __repr__(self) -> str:
        return f"LinkedChild(id={self.id!r})"


with Session(engine) as setup, setup.begin():
    setup.execute(insert(LinkedParent), [{"id": 1}])
    setup.execute(insert(LinkedChild), [{"id": 1, "parent_id": None}])
session = Session(engine)
p, child = session.get(LinkedParent, 1), session.get(LinkedChild, 1)
print("p.children loaded:", p.children)
sent.clear()
child.parent = p
print("child.parent:", child.parent, "| p.children:", p.children)
# sphinx_gallery_start_ignore
assert p.children == [child], "back_populates moved the collection at once"
assert not sent, "with no SQL"
# sphinx_gallery_end_ignore

# %%
# Clean up.

session.close()
engine.dispose()
