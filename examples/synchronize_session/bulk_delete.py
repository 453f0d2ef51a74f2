# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Bulk DELETE and the loaded object it matches
============================================

A bulk DELETE with ``'auto'``, ``'evaluate'`` or ``'fetch'`` marks matched loaded, unexpired
objects deleted (out of the session, detached after commit, restored to persistent by
rollback), while ``False`` leaves them persistent with the values of a row that no longer
exists. A fully expired object is marked deleted only by ``'fetch'``; ``'auto'`` and
``'evaluate'`` leave it persistent.

``session.execute(delete(User).where(...))`` removes rows without going through
``session.delete()``. What happens to an already loaded object for that row depends on
``synchronize_session``, and a rollback has to bring it back.
"""

# %%
# Setup
# -----
#
# Two users, committed. ``state()`` prints the ``inspect()`` flags of an object and whether the
# session still contains it.

import os

from sqlalchemy import String, create_engine, delete, func, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.orm.exc import ObjectDeletedError


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self):
        return f"User(id={self.id!r}, name={self.name!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
with Session(engine) as session:
    session.add_all([User(id=1, name="Ann"), User(id=2, name="Bob")])
    session.commit()


def state(obj, session):
    st = inspect(obj)
    flags = ["persistent", "deleted", "detached"]
    print({f: getattr(st, f) for f in flags}, "in session:", obj in session)


def rows(session):
    return session.scalar(select(func.count()).select_from(User))


# %%
# ``'auto'``, ``'evaluate'`` and ``'fetch'``: the object is marked deleted
# ------------------------------------------------------------------------
#
# Each strategy finds the loaded ``User(id=1)`` among the matched rows and marks it
# *deleted*: not persistent, not yet detached, and no longer in the session or its identity
# map. (Leaving the ``with`` block rolls each run back.)

for strategy in ["auto", "evaluate", "fetch"]:
    with Session(engine) as session:
        ann = session.get(User, 1)
        session.execute(
            delete(User)
            .where(User.name == "Ann")
            .execution_options(synchronize_session=strategy)
        )
        print(f"{strategy!r:11}", end="")
        state(ann, session)
        st = inspect(ann)
        left = rows(session)
        print("    rows left in the transaction:", left)
        # sphinx_gallery_start_ignore
        assert st.deleted and not st.persistent, f"{strategy}: object is marked deleted"
        assert not st.detached, f"{strategy}: deleted, but not detached before commit"
        assert ann not in session, f"{strategy}: the session no longer contains it"
        assert st.key not in session.identity_map, (
            f"{strategy}: gone from the identity map"
        )
        assert left == 1, f"{strategy}: the row is deleted in the transaction"
        # sphinx_gallery_end_ignore

# %%
# ``False``: the object stays persistent, and stale
# -------------------------------------------------
#
# With :doc:`synchronize_session=False <../myths/false_is_just_faster>` the session is not told.
# The object is still persistent,
# still in the identity map, and still shows its old values, although its row is gone.

with Session(engine) as session:
    ann = session.get(User, 1)
    session.execute(
        delete(User)
        .where(User.name == "Ann")
        .execution_options(synchronize_session=False)
    )
    state(ann, session)
    left = rows(session)
    print("name:", ann.name, "| rows left in the transaction:", left)
    # sphinx_gallery_start_ignore
    assert inspect(ann).persistent and ann in session, (
        "False: still persistent in session"
    )
    assert session.get(User, 1) is ann, "False: the identity map still returns it"
    assert ann.name == "Ann", "False: the old value is still readable"
    assert left == 1, "False: yet the row is deleted in the transaction"
    # sphinx_gallery_end_ignore

# %%
# An expired object is not evaluated
# ----------------------------------
#
# :doc:`'evaluate' <../myths/evaluate_reads_database>` (picked by ``'auto'`` here) only judges
# objects whose attributes are loaded.
# After ``commit()`` everything is expired, so the bulk DELETE with ``'auto'`` or
# ``'evaluate'`` leaves ``ann`` persistent and the next access fails. ``'fetch'`` matches by
# primary key and still marks her deleted.
# SQLAlchemy's ORM DML chapter says that ``'auto'`` picks ``'fetch'`` where RETURNING exists,
# and that ``'evaluate'`` SELECTs expired objects. Not so: this database has DELETE ..
# RETURNING, yet ``'auto'`` did not do what ``'fetch'`` does, nor load ``ann`` to judge her
# (:ref:`the four strategies <sphx_glr_auto_examples_synchronize_session_four_strategies.py>`
# also count the statements).

for strategy in ["auto", "evaluate", "fetch"]:
    with Session(engine) as session:
        ann = session.get(User, 1)
        session.commit()  # expires ann
        session.execute(
            delete(User)
            .where(User.name == "Ann")
            .execution_options(synchronize_session=strategy)
        )
        print(f"{strategy!r:11}", end="")
        state(ann, session)
        if strategy == "fetch":
            # sphinx_gallery_start_ignore
            assert inspect(ann).deleted, "'fetch' marks the expired object deleted"
            # sphinx_gallery_end_ignore
            continue
        # sphinx_gallery_start_ignore
        assert inspect(ann).persistent and ann in session, (
            f"{strategy!r} skipped the expired object"
        )
        assert engine.dialect.delete_returning, (
            "although DELETE .. RETURNING was available"
        )
        assert "name" in inspect(ann).expired_attributes, (
            f"{strategy!r} did not load her to judge her"
        )
        # sphinx_gallery_end_ignore
        error = None
        try:
            ann.name
        except ObjectDeletedError as exc:
            error = exc
            message = str(exc).split("' ", 1)[1]  # drop the object's address
            print(f"  {type(exc).__name__}: Instance ... {message}")
        # sphinx_gallery_start_ignore
        assert isinstance(error, ObjectDeletedError), "reloading the deleted row fails"
        # sphinx_gallery_end_ignore

# %%
# Rollback brings the deleted object back
# ---------------------------------------
#
# ``session.rollback()`` undoes the DELETE in the database and restores the object to
# persistent, back in the session. Its attributes are expired, as after any rollback, and
# reload on access.

session = Session(engine)
ann = session.get(User, 1)
session.execute(delete(User).where(User.name == "Ann"))
# sphinx_gallery_start_ignore
assert inspect(ann).deleted, "deleted before the rollback"
# sphinx_gallery_end_ignore
session.rollback()
state(ann, session)
again = session.get(User, 1)  # ann is expired: get() reloads her row
name = ann.name
count = rows(session)
print("get() returns ann:", again is ann, "| name:", name, "| rows:", count)
# sphinx_gallery_start_ignore
assert inspect(ann).persistent and ann in session, "rollback restores it to persistent"
assert again is ann, "and back in the identity map"
assert count == 2, "the row exists again"
assert name == "Ann", "its values reload from the restored row"
# sphinx_gallery_end_ignore

# %%
# Commit makes it detached
# ------------------------
#
# The *deleted* state lasts until the transaction ends. After ``commit()`` the object is
# detached, and ``inspect()`` remembers it was deleted.

session.execute(delete(User).where(User.name == "Ann"))
session.commit()
state(ann, session)
count = rows(session)
print("rows:", count)
# sphinx_gallery_start_ignore
assert inspect(ann).detached and inspect(ann).was_deleted, "commit detaches it"
assert count == 1, "the row stays deleted"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session.

session.close()
