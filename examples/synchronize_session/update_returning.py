# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0.36",
# ]
# ///
"""
``UPDATE .. RETURNING`` with ORM entities
=========================================

``update(...).returning(User)`` returns the session's identity-map objects: with the default
synchronization they hold a SET expression Python can evaluate computed from their loaded
values (one it cannot, the returned row's value); with ``synchronize_session=False`` a
loaded, unexpired object keeps its old values (an expired one is filled in from the returned
row); with ``populate_existing=True`` every returned object holds the row the database
returned, from SQLAlchemy 2.0.36 (up to 2.0.35 a loaded object kept the SET value computed
in Python: :ref:`measured on every release <version-differences-measured>`).
"""

# %%
# Setup
# -----
#
# Three users; ``ann`` is loaded before any UPDATE. RETURNING on UPDATE needs the database's
# support: SQLite 3.35+ and PostgreSQL have it; MariaDB answers the same statement with a
# syntax error. ``on_this_database()`` runs a cell's statement and, where UPDATE..RETURNING
# is missing, checks that refusal instead.

import os

from sqlalchemy import String, create_engine, func, inspect, select, update
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20))

    def __repr__(self):
        return f"User(id={self.id!r}, name={self.name!r}, status={self.status!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
session = Session(engine)
seed = [(1, "Ann", "new"), (2, "Bob", "new"), (3, "Cy", "vip")]
session.add_all([User(id=i, name=name, status=status) for i, name, status in seed])
session.commit()
ann = session.get(User, 1)
has_returning = engine.dialect.update_returning
print("UPDATE..RETURNING supported:", has_returning)
stmt = update(User).where(User.status == "new").values(status="old").returning(User)


def on_this_database(run):
    """run() where UPDATE..RETURNING exists; elsewhere, check that the database
    refuses it."""
    if has_returning:
        return run()
    try:
        run()
    except ProgrammingError as error:
        session.rollback()
        print(
            f"{engine.dialect.name} refused UPDATE..RETURNING: error {error.orig.args[0]}"
        )
        # sphinx_gallery_start_ignore
        assert error.orig.args[0] == 1064, "MariaDB rejects RETURNING as a syntax error"
        # sphinx_gallery_end_ignore
        return None
    raise AssertionError("a database without UPDATE..RETURNING ran it")


# %%
# At a glance
# -----------
#
# Row 1 is changed behind the session's back (``status='gold'``), then
# ``update(User).where(User.id == 1).values(status=User.status + "!").returning(User)`` runs
# with each option, in a fresh session that had ``ann`` loaded: which object comes back, what
# it says, and what the row says.


def returned_for(options):
    with Session(engine) as fresh:
        loaded_ann = fresh.get(User, 1)
        table = User.__table__
        fresh.connection().execute(
            update(table).where(table.c.id == 1).values(status="gold")
        )
        exclaim = update(User).where(User.id == 1).values(status=User.status + "!")
        (user,) = fresh.scalars(exclaim.returning(User), execution_options=options).all()
        in_db = fresh.scalar(select(User.status).where(User.id == 1))
        return "ann" if user is loaded_ann else "another", user.status, in_db


OPTIONS = {
    "(default)": {},
    "synchronize_session=False": {"synchronize_session": False},
    "populate_existing=True": {"populate_existing": True},
}
glance = {
    label: on_this_database(lambda options=options: returned_for(options))
    for label, options in OPTIONS.items()
}
if has_returning:
    print(f"{'execution option':<26} {'object':<7} {'its status':<11} the row")
    for label, (which, status, in_db) in glance.items():
        print(f"{label:<26} {which:<7} {status!r:<11} {in_db!r}")
    # sphinx_gallery_start_ignore
    assert glance == {
        "(default)": ("ann", "new!", "gold!"),
        "synchronize_session=False": ("ann", "new", "gold!"),
        "populate_existing=True": ("ann", "gold!", "gold!"),
    }, (
        "with SET status || '!' on a stale loaded object, only populate_existing=True "
        "gives it the row the database returned"
    )
    # sphinx_gallery_end_ignore

# %%
# The returned objects are the identity-map objects
# -------------------------------------------------
#
# With the default :doc:`synchronize_session <four_strategies>` the session updates the loaded
# ``ann`` in Python,
# and the returned entity for row 1 *is* ``ann``, with the value the session computed (here a
# constant, so the row's value too; a later cell shows when the two differ). Bob was not
# loaded; he comes back as a new persistent object that the identity map now holds.

returned = on_this_database(lambda: {user.id: user for user in session.scalars(stmt)})
if returned is not None:
    print(returned)
    # sphinx_gallery_start_ignore
    assert returned[1] is ann, "row 1 comes back as the already loaded object"
    assert ann.status == "old", "with the new value"
    # sphinx_gallery_end_ignore
    bob = returned[2]
    # sphinx_gallery_start_ignore
    assert bob.status == "old" and session.get(User, 2) is bob, "Bob is now in the map"
    # sphinx_gallery_end_ignore
    session.rollback()

# %%
# ``synchronize_session=False``: the stale object comes back
# ----------------------------------------------------------
#
# Now the session is not synchronized. RETURNING sends back ``status='old'`` for row 1, but
# row 1 is already in the identity map, and like any SELECT the ORM does not overwrite a
# loaded object. So the result contains ``ann`` with the *old* value. Bob's object is in the
# map too, but the rollback above expired it, so the returned row fills it in: correct.

print("before:", ann.status)
# sphinx_gallery_start_ignore
if has_returning:
    assert "status" in inspect(bob).expired_attributes, "the rollback expired bob"
# sphinx_gallery_end_ignore
stale = stmt.execution_options(synchronize_session=False)
returned = on_this_database(lambda: {user.id: user for user in session.scalars(stale)})
if returned is not None:
    print(returned)
    # sphinx_gallery_start_ignore
    assert returned[1] is ann, "the same loaded object is returned"
    assert ann.status == "new", (
        "still showing the old value; the returned row was ignored"
    )
    assert returned[2] is bob and bob.status == "old", "an expired object is filled in"
    # sphinx_gallery_end_ignore
    real = session.execute(select(User.status).where(User.id == 1)).scalar_one()
    # sphinx_gallery_start_ignore
    assert real == "old", "the database has the new value"
    # sphinx_gallery_end_ignore
    session.rollback()

# %%
# Returned columns are never stale
# --------------------------------
#
# ``session.execute()`` with ``returning(User.id, User.status)`` gives plain rows straight
# from the database; no identity map is involved, so they show the new value even while
# the loaded ``ann`` does not.

print("before:", ann.status)
columns = (
    update(User)
    .where(User.status == "new")
    .values(status="old")
    .returning(User.id, User.status)
    .execution_options(synchronize_session=False)
)
rows = on_this_database(lambda: sorted(session.execute(columns).all()))
if rows is not None:
    print(rows, "| loaded:", ann.status)
    # sphinx_gallery_start_ignore
    assert rows == [(1, "old"), (2, "old")], "the rows carry the database's new values"
    assert ann.status == "new", "while the loaded object stays stale"
    # sphinx_gallery_end_ignore
    session.rollback()

# %%
# Synchronized is not the row's value
# -----------------------------------
#
# The default synchronization computes a SET expression that Python can evaluate in Python,
# from the loaded value.
# ``make_ann_stale()`` loads ``ann`` (the rollback above expired her, so reading
# ``ann.status`` sends a SELECT and prints ``"new"``), then changes her row to ``"gold"`` with a
# Core UPDATE the session does not see. ``SET status = status || '+'``: the database makes
# ``"gold+"``, RETURNING sends it back, and the returned ``ann`` says ``"new+"``.


def make_ann_stale():
    loaded = ann.status  # expired by the last rollback: this SELECT reloads ann
    print("ann loaded:", loaded)
    # sphinx_gallery_start_ignore
    assert loaded == "new", "ann is loaded with the committed value"
    # sphinx_gallery_end_ignore
    session.connection().execute(
        update(User.__table__).where(User.id == 1).values(status="gold")
    )


tagged = update(User).where(User.id == 1).values(status=User.status + "+").returning(User)
make_ann_stale()
returned = on_this_database(lambda: session.scalars(tagged).all())
if returned is not None:
    print(returned)
    real = session.execute(select(User.status).where(User.id == 1)).scalar_one()
    # sphinx_gallery_start_ignore
    assert real == "gold+", "the database computed the SET from its own value"
    assert returned == [ann] and ann.status == "new+", (
        "ann holds the value computed in Python"
    )
    assert not inspect(ann).expired_attributes, "held as loaded, not expired"
    # sphinx_gallery_end_ignore
    session.rollback()

# %%
# A SET expression Python cannot evaluate, ``upper(status)``, is expired by the synchronization
# instead, so the returned row fills it in: the stale ``ann`` gets the database's ``"GOLD"``,
# with no SELECT after the UPDATE.

make_ann_stale()
shouted = (
    update(User)
    .where(User.id == 1)
    .values(status=func.upper(User.status))
    .returning(User)
)
returned = on_this_database(lambda: session.scalars(shouted).all())
if returned is not None:
    loaded_already = "status" in inspect(ann).dict  # before any access could SELECT it
    print(returned)
    # sphinx_gallery_start_ignore
    assert returned == [ann] and loaded_already, (
        "filled in from the returned row, no SELECT"
    )
    assert ann.status == "GOLD", (
        "the database's value, not one computed from the stale memory"
    )
    # sphinx_gallery_end_ignore
    session.rollback()

# %%
# ``populate_existing`` makes returned entities overwrite
# -------------------------------------------------------
#
# The :doc:`populate_existing <../myths/requery_refreshes>` execution option tells the ORM to
# overwrite loaded objects with the returned row (from SQLAlchemy 2.0.36): the same stale
# ``ann``, the same UPDATE, and she holds the row's ``"gold+"``. (Add
# ``synchronize_session="fetch"`` too, so that objects matched only in Python get nothing:
# see :ref:`sphx_glr_auto_examples_synchronize_session_what_sync_writes.py`.)

make_ann_stale()
fresh = tagged.execution_options(populate_existing=True)
returned = on_this_database(lambda: session.scalars(fresh).all())
if returned is not None:
    print(returned)
    # sphinx_gallery_start_ignore
    assert returned == [ann] and ann.status == "gold+", (
        "the loaded object was overwritten"
    )
    # sphinx_gallery_end_ignore
    session.rollback()

# %%
# Clean up: close the session.

session.close()
