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
them at commit time misses changes; collect them in ``before_flush``, which sees each flush's
changes, into ``session.info``, and use the list in ``after_commit``.
"""

# %%
# Users, two of them committed, and a session.

import os

from sqlalchemy import String, create_engine, event, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
with Session(engine) as setup:
    setup.add_all([User(id=1, name="alice"), User(id=2, name="bob")])
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
# ``before_flush`` runs before every flush, an autoflush included, while ``new``, ``dirty``,
# ``deleted`` and each attribute's history still hold that flush's changes. The listener
# appends them to a list in ``session.info``; ``after_commit`` hands the whole list on (here:
# prints it) and empties it, and ``after_rollback`` empties it without using it, since
# nothing it lists was committed. A dirty object whose history shows no change (set to the
# value it had) is skipped; the old value is known only if the attribute was loaded.


def collect(session, flush_context, instances):
    changes = session.info.setdefault("changes", [])
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
    committed.extend(session.info.pop("changes", []))


def forget(session):
    session.info.pop("changes", None)


event.listen(session, "before_flush", collect)
event.listen(session, "after_commit", publish)
event.listen(session, "after_rollback", forget)

# %%
# The same steps as above, plus a delete and an assignment that changes nothing. This time
# every change is in the list, though two flushes (the autoflush, then the commit's) sent
# them.

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
assert "changes" not in session.info, "after_commit emptied the list"
# sphinx_gallery_end_ignore

# %%
# A change that is flushed and then rolled back never reaches ``after_commit``: the
# autoflush below collects it, ``after_rollback`` throws it away, and the next commit
# publishes nothing. (``commit()`` had expired bob, so his old name was not loaded.)

committed.clear()
bob.name = "Robert"
session.scalars(select(User)).all()
collected = list(session.info["changes"])
session.rollback()
session.commit()
print("collected:", collected, "| published:", committed)
# sphinx_gallery_start_ignore
assert collected == ["renamed (not loaded) to 'Robert'"], (
    "the autoflush collected the rename, without the expired old value"
)
assert committed == [] and "changes" not in session.info, (
    "rollback() discarded it; nothing was published"
)
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session and the engine's connections.

session.close()
engine.dispose()
