# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Deleting a child: ``session.delete()``, delete-orphan and a bulk DELETE
=======================================================================

``session.delete(child)`` and a bulk ``DELETE`` remove the row but not the child from a
loaded collection, even after the flush, until the collection is expired (a commit expires
it); with ``cascade="all, delete-orphan"``, ``parent.children.remove(child)`` updates the
collection at once and the flush deletes the row.
"""

# %%
# Setup
# -----
#
# A parent with two children; ``Parent.children`` has ``cascade="all, delete-orphan"``.
# ``load()`` starts each cell from that data in a new session, with the collection and
# ``child.parent`` loaded. ``ids()`` lists the loaded collection's members, ``rows()`` the
# children the database holds (in the session's transaction).

import os

from sqlalchemy import ForeignKey, create_engine, delete, insert, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    children: Mapped[list["Child"]] = relationship(
        back_populates="parent",
        cascade="all, delete-orphan",
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


def load():
    with Session(engine) as setup, setup.begin():
        setup.execute(delete(Child))
        setup.execute(delete(Parent))
        setup.execute(insert(Parent), [{"id": 1}])
        setup.execute(insert(Child), [{"id": i, "parent_id": 1} for i in (1, 2)])
    session = Session(engine)
    parent, child = session.get(Parent, 1), session.get(Child, 1)
    members = list(parent.children)  # loads the collection
    owner = child.parent  # loads child.parent: from the identity map, with no SQL
    # sphinx_gallery_start_ignore
    assert owner is parent and child in members, "both sides loaded"
    # sphinx_gallery_end_ignore
    return session, parent, child


def ids(parent):
    return [c.id for c in parent.children]


def rows(session):
    return session.scalars(select(Child.id).order_by(Child.id)).all()


# %%
# ``session.delete(child)`` leaves it in the collection
# -----------------------------------------------------
#
# ``delete()`` only marks the child. After the flush sends the DELETE, the child is in the
# *deleted* state and the row is gone, yet the loaded collection still holds it (and
# ``child.parent`` still points at the parent).

session, parent, child = load()
session.delete(child)
# sphinx_gallery_start_ignore
assert child in session.deleted and ids(parent) == [1, 2], "marked, still listed"
# sphinx_gallery_end_ignore
session.flush()
remaining, listed = rows(session), ids(parent)
print("rows:", remaining, "| parent.children:", listed)
# sphinx_gallery_start_ignore
assert inspect(child).deleted and remaining == [2], "the DELETE was sent"
assert listed == [1, 2] and child.parent is parent, "still listed after the flush"
# sphinx_gallery_end_ignore

# %%
# It leaves the collection when the collection is expired
# -------------------------------------------------------
#
# Expiring ``parent.children`` reloads it from the database, without the child; so does
# reading it after the commit, which expires everything (and detaches the deleted child).
# Closing the first session without a commit rolls its flushed DELETE back: the row is there
# again, yet ``inspect(child)`` still reports *deleted*, not detached, which is what the
# state table shows for it after ``close()``.

session.expire(parent, ["children"])
members = ids(parent)
print("parent.children:", members)
# sphinx_gallery_start_ignore
assert members == [2], "reloaded without the deleted child"
# sphinx_gallery_end_ignore
session.close()
with Session(engine) as other:
    back = rows(other)
print("rows after close():", back, "| child deleted:", inspect(child).deleted)
# sphinx_gallery_start_ignore
assert back == [1, 2], "close() rolled the flushed DELETE back: the row is there again"
assert inspect(child).deleted and not inspect(child).detached, (
    "yet after close() the child is still reported deleted, not detached"
)
# sphinx_gallery_end_ignore
session, parent, child = load()
session.delete(child)
session.commit()
members = ids(parent)
print("parent.children:", members)
# sphinx_gallery_start_ignore
assert members == [2] and inspect(child).detached, "after commit it is gone"
# sphinx_gallery_end_ignore
session.close()

# %%
# Expired before the flush: autoflush deletes first
# -------------------------------------------------
#
# Expiring the parent's collection does not undo a pending ``delete()``: reading the expired
# collection :doc:`autoflushes <../session_lifecycle/autoflush>` the DELETE, then reloads the
# collection without the child.

session, parent, child = load()
session.delete(child)
session.expire(parent, ["children"])
members = ids(parent)
print("parent.children:", members)
# sphinx_gallery_start_ignore
assert members == [2] and inspect(child).deleted, "autoflush sent the DELETE first"
# sphinx_gallery_end_ignore
session.close()  # the child stays reported deleted, as above
# sphinx_gallery_start_ignore
assert inspect(child).deleted, "after close() the child is still reported deleted"
# sphinx_gallery_end_ignore

# %%
# delete-orphan: remove it from the collection
# --------------------------------------------
#
# With ``cascade="all, delete-orphan"``, removing the child from the collection is the
# delete: memory agrees at once (the collection no longer lists it, ``child.parent`` is
# ``None``), and the flush deletes the row.

session, parent, child = load()
parent.children.remove(child)
listed = ids(parent)
print("parent.children:", listed, "| child.parent:", child.parent)
# sphinx_gallery_start_ignore
assert listed == [2] and child.parent is None, "memory agrees at once"
assert inspect(child).persistent and child not in session.deleted, "not marked yet"
# sphinx_gallery_end_ignore
session.flush()
remaining = rows(session)
print("rows:", remaining)
# sphinx_gallery_start_ignore
assert inspect(child).deleted and remaining == [2], "the flush deleted the orphan"
# sphinx_gallery_end_ignore
session.commit()
members = ids(parent)
print("parent.children:", members)
# sphinx_gallery_start_ignore
assert members == [2] and inspect(child).detached, "and the commit kept it deleted"
# sphinx_gallery_end_ignore
session.close()

# %%
# A bulk DELETE never touches the loaded collection
# -------------------------------------------------
#
# ``session.execute(delete(Child)...)`` with each
# :doc:`synchronize_session <../synchronize_session/four_strategies>` value: ``"auto"``,
# ``"evaluate"`` and ``"fetch"`` mark the loaded child deleted (``False`` leaves it
# persistent), and none of them removes it from ``parent.children``. Expiring the collection
# does.

for strategy in ("auto", "evaluate", "fetch", False):
    session, parent, child = load()
    bulk = delete(Child).where(Child.id == 1)
    session.execute(bulk.execution_options(synchronize_session=strategy))
    remaining, listed = rows(session), ids(parent)
    deleted = inspect(child).deleted
    print(
        f"{strategy!r}: deleted={deleted}, rows: {remaining}, parent.children: {listed}"
    )
    # sphinx_gallery_start_ignore
    assert deleted is (strategy is not False), "deleted, unless False"
    assert inspect(child).persistent is (strategy is False), "False: still persistent"
    assert listed == [1, 2] and remaining == [2], "row gone, still listed"
    # sphinx_gallery_end_ignore
    session.expire(parent, ["children"])
    members = ids(parent)
    print(f"{strategy!r} after expire: parent.children: {members}")
    # sphinx_gallery_start_ignore
    assert members == [2], "the reloaded collection drops it"
    # sphinx_gallery_end_ignore
    session.close()  # a child marked deleted stays reported deleted
    # sphinx_gallery_start_ignore
    assert inspect(child).deleted is (strategy is not False), (
        "after close() a child marked deleted is still reported deleted"
    )
    # sphinx_gallery_end_ignore
# sphinx_gallery_start_ignore
engine.dispose()
# sphinx_gallery_end_ignore
