# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Collecting a transaction's changes
==================================

``session.new``, ``session.dirty`` and attribute history only hold what has not been flushed
yet, and every flush (an autoflush before a query included) empties them, so code that reads
them at commit time misses changes; collect them in ``before_flush``, which sees the changes
the code made before each flush, and use the list once ``after_commit`` fires for the whole
transaction (it also fires when a savepoint is released). ``before_flush`` does not see what
the flush decides itself: an orphan it deletes (``delete-orphan``) is not in
``session.deleted``, while mapper events (``after_delete``) fire for each object the flush
writes. An ORM ``update()`` or ``delete()`` run by ``session.execute()`` is no flush, and
``before_flush`` never sees it.
"""

# %%
# Users with addresses, two users committed, and a session.

import os

from sqlalchemy import ForeignKey, String, create_engine, event, inspect, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    addresses: Mapped[list["Address"]] = relationship(cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    email: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"Address(id={self.id!r}, email={self.email!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
with Session(engine) as setup:
    setup.add_all(
        [
            User(id=1, name="alice", addresses=[Address(email="alice@home")]),
            User(id=2, name="bob"),
        ]
    )
    setup.commit()

session = Session(engine)

# %%
# Reading ``session.dirty`` at commit time misses changes
# -------------------------------------------------------
#
# A ``before_commit`` listener records what ``session.new`` and ``session.dirty`` hold. The
# code renames alice, adds carol, then loads bob (``get()`` of a key the session does not
# hold runs a ``SELECT``, so it :doc:`autoflushes <../session_lifecycle/autoflush>` first) and
# renames him. At commit the listener sees only bob: alice's ``UPDATE`` and carol's
# ``INSERT`` went out with the autoflush, and the flush emptied both collections. Alice's
# attribute history shows no change either.

seen_at_commit = []


def look_at_commit(session):
    seen_at_commit.extend(sorted(map(repr, session.new | session.dirty)))


event.listen(session, "before_commit", look_at_commit)
alice = session.get(User, 1)
alice.name = "Alice"
session.add(User(id=3, name="carol"))
bob = session.get(User, 2)
print("after the autoflush:", list(session.new), list(session.dirty))
alice_history = inspect(alice).attrs.name.history
print("alice's history:", alice_history)
bob.name = "Bob"
session.commit()
print("seen at commit:", seen_at_commit)
# sphinx_gallery_start_ignore
assert not alice_history.has_changes(), (
    "after the autoflush alice's history shows no change"
)
assert not session.new and not session.dirty, "the commit's flush emptied both"
assert seen_at_commit == ["User(id=2, name='Bob')"], (
    "at commit time only bob's change was still unflushed"
)
# sphinx_gallery_end_ignore
event.remove(session, "before_commit", look_at_commit)

# %%
# The same holds for an explicit ``flush()``, and for attribute history: after the flush
# alice's change is no longer "added", it is the value the session believes the row holds.

alice.name = "ALICE"
print("before the flush:", inspect(alice).attrs.name.history)
dirty_before = list(session.dirty)
session.flush()
print("after the flush: ", inspect(alice).attrs.name.history, list(session.dirty))
# sphinx_gallery_start_ignore
assert dirty_before == [alice], "before the flush alice was dirty"
assert not session.dirty, "after it she is not"
history = inspect(alice).attrs.name.history
assert history.unchanged == ["ALICE"] and not history.added and not history.deleted, (
    "the flush reset alice's history: the new value is now 'unchanged'"
)
# sphinx_gallery_end_ignore
session.rollback()

# %%
# Collect them in ``before_flush``
# --------------------------------
#
# ``before_flush`` runs before every flush that has something to write, an autoflush
# included, while ``new``, ``dirty``, ``deleted`` and each attribute's history still hold
# that flush's changes. The listener appends them to a list in ``session.info``, one list
# per savepoint (``begin_nested()``) and one, under ``None``, for the whole transaction.
# ``after_commit`` fires when either ends well: a released savepoint's list joins the one
# around it; the transaction's own is handed on (here: printed). ``after_transaction_end``
# drops what is left, a list whose savepoint or transaction rolled back. A dirty object whose
# history shows no change (set to the value it had) is skipped; the old value is known only
# if the attribute was loaded.


def collect(session, flush_context, instances):
    lists = session.info.setdefault("changes", {})
    changes = lists.setdefault(session.get_nested_transaction(), [])
    for obj in session.new:
        changes.append(f"added {obj!r}")
    for obj in session.dirty:
        history = inspect(obj).attrs.name.history
        if history.has_changes():
            old = repr(history.deleted[0]) if history.deleted else "(not loaded)"
            changes.append(f"renamed {old} to {history.added[0]!r}")
    for obj in session.deleted:
        changes.append(f"deleted {obj!r}")


committed = []


def publish(session):
    lists = session.info.get("changes", {})
    savepoint = session.get_nested_transaction()  # None: the transaction itself committed
    done = lists.pop(savepoint, [])
    if savepoint is None:
        committed.extend(done)
        return
    outer = savepoint.parent
    while outer is not None and not outer.nested:
        outer = outer.parent
    lists.setdefault(outer, []).extend(done)


def forget(session, transaction):
    key = transaction if transaction.nested else None
    if transaction.nested or transaction.parent is None:  # not a flush's inner one
        session.info.get("changes", {}).pop(key, None)


event.listen(session, "before_flush", collect)
event.listen(session, "after_commit", publish)
event.listen(session, "after_transaction_end", forget)

# %%
# The same steps as above, plus a delete and an assignment that changes nothing. This time
# every change the code made is in the list, though two flushes (the autoflush, then the
# commit's) sent them.

alice = session.get(User, 1)
alice.name = "Ally"
session.add(User(id=4, name="dan"))
bob = session.get(User, 2)
bob.name = "Bobby"
session.delete(session.get(User, 3))
alice.name = alice.name
# sphinx_gallery_start_ignore
assert alice in session.dirty and not session.is_modified(alice), (
    "alice is dirty again, with no net change"
)
# sphinx_gallery_end_ignore
session.commit()
for change in committed:
    print(change)
# sphinx_gallery_start_ignore
assert committed == [
    "added User(id=4, name='dan')",
    "renamed 'Alice' to 'Ally'",
    "renamed 'Bob' to 'Bobby'",
    "deleted User(id=3, name='carol')",
], "before_flush collected every change of the transaction, across both flushes"
assert not session.info["changes"], "after_commit emptied the list"
# sphinx_gallery_end_ignore

# %%
# A change that is flushed and then rolled back is never published: the autoflush below
# collects it, ``after_transaction_end`` throws it away, and the next commit publishes
# nothing. (``commit()`` had expired bob, so his old name was not loaded.)

committed.clear()
bob.name = "Robert"
session.scalars(select(User)).all()
collected = list(session.info["changes"][None])
session.rollback()
session.commit()
print("collected:", collected, "| published:", committed)
# sphinx_gallery_start_ignore
assert collected == ["renamed (not loaded) to 'Robert'"], (
    "the autoflush collected the rename, without the expired old value"
)
assert committed == [] and not session.info["changes"], (
    "rollback() discarded it; nothing was published"
)
# sphinx_gallery_end_ignore

# %%
# Savepoints: a savepoint rolled back drops its own changes only; one released is published
# only if the transaction around it commits. Below, alice's rename is committed and carol's
# insert rolled back with its savepoint; then bob's rename, released with its savepoint but
# rolled back with the transaction, is never published. (``after_commit`` fired for that
# release too: a listener that published there would have announced it.)

# sphinx_gallery_start_ignore
releases = []
event.listen(
    session,
    "after_commit",
    lambda s: releases.append(s.get_nested_transaction() is not None),
)
# sphinx_gallery_end_ignore
committed.clear()
alice.name = "Alicia"
session.flush()  # the transaction's own change, before any savepoint
savepoint = session.begin_nested()
session.add(User(id=5, name="carol"))
session.flush()
savepoint.rollback()
session.commit()
print("published:", committed)
first = list(committed)
committed.clear()
alice.name = "Al"
session.flush()
with session.begin_nested():
    bob.name = "Bobbie"
session.rollback()
print("published after the released savepoint and the rollback:", committed)
bob_in_database = session.scalar(select(User.name).where(User.id == 2))
# sphinx_gallery_start_ignore
assert first == ["renamed (not loaded) to 'Alicia'"], (
    "only the change outside the rolled-back savepoint was published"
)
assert committed == [], "a released savepoint's change rolled back with its transaction"
assert bob_in_database == "Bobby", "bob's rename was rolled back"
assert not session.info["changes"], "nothing was left over"
assert releases == [False, True], "after_commit also fired for the released savepoint"
# sphinx_gallery_end_ignore

# %%
# What ``before_flush`` does not see
# ----------------------------------
#
# What the flush decides itself. Alice's address, removed from her ``delete-orphan``
# collection, is not in ``session.deleted`` when ``before_flush`` runs, so the list has no
# entry for it, yet the same flush sends its ``DELETE``. A mapper event (``after_insert``,
# ``after_update``, ``after_delete``) fires for each object the flush writes, this one too.

deleted_rows = []


def row_deleted(mapper, connection, target):
    deleted_rows.append(repr(target))


event.listen(Address, "after_delete", row_deleted)
committed.clear()
alice.addresses.clear()
deleted_before = list(session.deleted)
print("session.deleted before the flush:", deleted_before)
session.commit()
addresses_left = session.scalars(select(Address)).all()
print("published:", committed, "| after_delete saw:", deleted_rows)
print("addresses in the database:", addresses_left)
# sphinx_gallery_start_ignore
assert deleted_before == [], "the orphan was not in session.deleted"
assert committed == [], "before_flush collected nothing for the orphan"
assert deleted_rows == ["Address(id=1, email='alice@home')"], (
    "after_delete saw the orphan the flush deleted"
)
assert addresses_left == [], "the same flush deleted the address"
# sphinx_gallery_end_ignore
event.remove(Address, "after_delete", row_deleted)

# %%
# An ORM-enabled ``update()`` run by ``session.execute()`` is no flush: it writes the row,
# and ``before_flush`` never sees it (a ``do_orm_execute`` listener does).

session.execute(update(User).where(User.id == 2).values(name="B."))
session.commit()
bob_in_database = session.scalar(select(User.name).where(User.id == 2))
print("published:", committed, "| bob in the database:", bob_in_database)
# sphinx_gallery_start_ignore
assert committed == [], "the statement run by session.execute() was not collected"
assert bob_in_database == "B.", "though it changed the row"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session and the engine's connections.

session.close()
engine.dispose()
