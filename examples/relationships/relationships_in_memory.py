# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Relationships in memory: a foreign key change, ``back_populates``, a bulk UPDATE
================================================================================

With ``back_populates`` linking the two sides (as on this page; ``backref`` does the
same), move a child through its relationship (``child.parent = p2`` or ``append()``), which
updates both sides in memory at once; a foreign key assigned by hand or by a bulk
``UPDATE`` leaves a ``child.parent`` and collections already loaded stale until each is
expired (a commit expires them all), and expiring the child (or the key) before the flush
throws that change away.
Deleting a child is the next page:
:ref:`sphx_glr_auto_examples_relationships_relationships_on_delete.py`; the same move with
no ``back_populates`` on either side:
:ref:`sphx_glr_auto_examples_relationships_without_back_populates.py`.
"""

# %%
# Setup
# -----
#
# Two parents and two children, both children under parent 1. ``load()`` starts each cell from
# that data in a new session, with both collections and ``child.parent`` loaded (unless told
# otherwise). ``view()`` prints what memory says: the child's foreign key, its parent and each
# parent's collection (loading whichever is not loaded); ``row_parent_id()`` prints what the
# row says.

import os

from sqlalchemy import ForeignKey, String, create_engine, delete, insert, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    children: Mapped[list["Child"]] = relationship(
        back_populates="parent",
        order_by="Child.id",
    )

    def __repr__(self) -> str:
        return f"Parent(id={self.id!r})"


class Child(Base):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("parents.id"))
    parent: Mapped[Parent | None] = relationship(back_populates="children")

    def __repr__(self) -> str:
        return f"Child(id={self.id!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)


def load(relationships=True):
    with Session(engine) as setup, setup.begin():
        setup.execute(delete(Child))
        setup.execute(delete(Parent))
        names = [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}]
        setup.execute(insert(Parent), names)
        setup.execute(insert(Child), [{"id": i, "parent_id": 1} for i in (1, 2)])
    session = Session(engine)
    p1, p2 = session.get(Parent, 1), session.get(Parent, 2)
    child = session.get(Child, 1)
    if relationships:  # load both sides now
        parent, children = child.parent, [[c.id for c in p.children] for p in (p1, p2)]
        # sphinx_gallery_start_ignore
        assert parent is p1 and children == [[1, 2], []], (
            "both sides loaded: the child is parent 1's"
        )
        # sphinx_gallery_end_ignore
    return session, p1, p2, child


def view(child, p1, p2, label=""):
    ids = [[c.id for c in p1.children], [c.id for c in p2.children]]
    parent_id, parent = child.parent_id, child.parent
    print(f"{label}child.parent_id={parent_id}, child.parent={parent},", end=" ")
    print(f"p1.children={ids[0]}, p2.children={ids[1]}")
    return parent_id, parent, ids


def row_parent_id(session):  # what the database says, in the session's transaction
    parent_id = session.scalar(select(Child.parent_id).where(Child.id == 1))
    print(f"the row: parent_id={parent_id}")
    return parent_id


# %%
# ``child.parent_id = 2`` changes only the column
# ------------------------------------------------
#
# Nothing in memory follows the new foreign key: ``child.parent`` is still parent 1, which
# still lists the child, and parent 2's collection is still empty. The flush sends the UPDATE
# and changes nothing in memory either.

session, p1, p2, child = load()
child.parent_id = 2
shown = view(child, p1, p2)
# sphinx_gallery_start_ignore
assert shown == (2, p1, [[1, 2], []]), "only the column changed"
# sphinx_gallery_end_ignore
session.flush()
shown = view(child, p1, p2)
row = row_parent_id(session)
# sphinx_gallery_start_ignore
assert shown == (2, p1, [[1, 2], []]), "the flush did not touch them"
assert row == 2, "while the row says parent 2"
# sphinx_gallery_end_ignore

# %%
# What refreshes them: expiring each one
# --------------------------------------
#
# Each relationship is correct again only once it is expired and reloaded: ``child.parent``,
# then each parent's collection, one at a time.

session.expire(child, ["parent"])
shown = view(child, p1, p2)
# sphinx_gallery_start_ignore
assert shown == (2, p2, [[1, 2], []]), "child.parent was reloaded from the row: parent 2"
# sphinx_gallery_end_ignore
session.expire(p1, ["children"])
shown = view(child, p1, p2)
# sphinx_gallery_start_ignore
assert shown == (2, p2, [[2], []]), "parent 1's collection reloaded"
# sphinx_gallery_end_ignore
session.expire(p2, ["children"])
shown = view(child, p1, p2)
# sphinx_gallery_start_ignore
assert shown == (2, p2, [[2], [1]]), "and parent 2's: all in sync"
# sphinx_gallery_end_ignore
session.close()

# %%
# Or a commit, which expires everything
# -------------------------------------

session, p1, p2, child = load()
child.parent_id = 2
session.commit()
shown = view(child, p1, p2)
# sphinx_gallery_start_ignore
assert shown == (2, p2, [[2], [1]]), "after commit every side reloads"
# sphinx_gallery_end_ignore
session.close()

# %%
# Expire the child before the flush and the change is lost
# --------------------------------------------------------
#
# ``expire()`` discards the unflushed changes of what it expires: expiring the whole child
# (or its ``parent_id``) to "refresh" its parent throws the new foreign key away, and no
# UPDATE is ever sent.

for attributes in (None, ["parent_id"]):  # the whole child, then the key alone
    session, p1, p2, child = load()
    child.parent_id = 2
    session.expire(child, attributes)
    shown = view(child, p1, p2)
    row = row_parent_id(session)
    # sphinx_gallery_start_ignore
    assert shown == (1, p1, [[1, 2], []]), "the change is gone"
    assert row == 1, "and the row was never updated"
    # sphinx_gallery_end_ignore
    session.close()

# %%
# A relationship not loaded follows the new key
# ---------------------------------------------
#
# Only relationships already loaded lag. Never loaded, or expired before the flush (the key
# kept), each loads from the new key on its first read: ``child.parent`` is parent 2, and
# the collections' load :doc:`autoflushes <../session_lifecycle/autoflush>` the UPDATE first, so
# they are in sync too.

for loaded in (False, True):
    session, p1, p2, child = load(relationships=loaded)
    child.parent_id = 2
    if loaded:  # loaded, then expired: the relationships only, not the key
        session.expire(child, ["parent"])
        session.expire(p1, ["children"])
        session.expire(p2, ["children"])
    shown = view(child, p1, p2)
    # sphinx_gallery_start_ignore
    assert shown == (2, p2, [[2], [1]]), "each read used the new key"
    assert not session.dirty, "the collections' load flushed the UPDATE"
    # sphinx_gallery_end_ignore
    session.close()

# %%
# ``child.parent = p2``: both collections follow at once
# ------------------------------------------------------
#
# Assigning the relationship moves the child in memory, before any flush: ``back_populates``
# appends it to parent 2's collection and removes it from parent 1's. The foreign key column
# is what lags now: it is written by the flush.

session, p1, p2, child = load()
child.parent = p2
shown = view(child, p1, p2)
# sphinx_gallery_start_ignore
assert shown == (1, p2, [[2], [1]]), "both lists moved, not the key"
# sphinx_gallery_end_ignore
session.flush()
shown = view(child, p1, p2)
row = row_parent_id(session)
# sphinx_gallery_start_ignore
assert shown == (2, p2, [[2], [1]]), "the flush set parent_id"
assert row == 2, "and wrote it to the row"
# sphinx_gallery_end_ignore
session.close()

# %%
# Appending to the other collection does the same
# -----------------------------------------------
#
# ``p2.children.append(child)`` is the other side of the same move: ``child.parent`` and
# parent 1's collection follow at once.

session, p1, p2, child = load()
p2.children.append(child)
shown = view(child, p1, p2)
# sphinx_gallery_start_ignore
assert shown == (1, p2, [[2], [1]]), "both sides moved"
# sphinx_gallery_end_ignore
session.commit()
shown = view(child, p1, p2)
# sphinx_gallery_start_ignore
assert shown == (2, p2, [[2], [1]]), "the flush wrote it"
# sphinx_gallery_end_ignore
session.close()

# %%
# A bulk UPDATE never touches the loaded relationships
# ----------------------------------------------------
#
# ``session.execute(update(Child)...)`` with each
# :doc:`synchronize_session <../synchronize_session/four_strategies>` value: ``"auto"``,
# ``"evaluate"`` and ``"fetch"`` set the loaded child's ``parent_id`` (``False`` not even
# that), and none of them moves ``child.parent`` or either collection. ``expire_all()`` then
# makes each one reload from the row on its next read.

for strategy in ("auto", "evaluate", "fetch", False):
    session, p1, p2, child = load()
    move = update(Child).where(Child.id == 1).values(parent_id=2)
    session.execute(move.execution_options(synchronize_session=strategy))
    parent_id = 1 if strategy is False else 2
    shown = view(child, p1, p2, f"{strategy!r}: ")
    row = row_parent_id(session)
    # sphinx_gallery_start_ignore
    assert shown == (parent_id, p1, [[1, 2], []]), "no side of the relationship moved"
    assert row == 2, "the row moved"
    # sphinx_gallery_end_ignore
    session.expire_all()
    shown = view(child, p1, p2, "after expire_all(): ")
    # sphinx_gallery_start_ignore
    assert shown == (2, p2, [[2], [1]]), "expire_all() brings all in sync"
    # sphinx_gallery_end_ignore
    session.close()
# sphinx_gallery_start_ignore
engine.dispose()
# sphinx_gallery_end_ignore
