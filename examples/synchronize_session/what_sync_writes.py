# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
What synchronization writes into your objects
=============================================

After a bulk ``update()``, ``'auto'``, ``'evaluate'`` and ``'fetch'`` write into your loaded
objects the value of each SET expression that Python can evaluate, computed from what the objects
hold, not from the database (one it cannot, such as ``func.upper()``, they expire instead); and
``'auto'`` and ``'evaluate'`` also decide in Python which objects matched. Stale memory, partly
loaded objects and comparisons the database makes differently (case, trailing spaces) make both
go wrong. What holds on every database:
let the database send the rows back (``returning(User)`` with ``populate_existing``, and
``'fetch'``), or expire the attributes the UPDATE sets.
"""

# %%
# Setup
# -----
#
# Ann and Bob, counter 5. ``name`` compares case-insensitively on SQLite (``COLLATE NOCASE``)
# and MariaDB (its default collation), not on PostgreSQL. Another connection must change rows
# behind the session (``elsewhere()``), so SQLite uses a file; MariaDB runs in READ COMMITTED,
# so that the session sees those commits.

import os
import tempfile

from sqlalchemy import String, create_engine, func, inspect, make_url, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, load_only, mapped_column


class Base(DeclarativeBase):
    pass


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmp = tempfile.TemporaryDirectory()
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmp.name, "example.db"))
sqlite = url.get_backend_name() == "sqlite"


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50, collation="NOCASE" if sqlite else None))
    status: Mapped[str] = mapped_column(String(20))
    counter: Mapped[int]


mariadb = url.get_backend_name() in ("mysql", "mariadb")
engine = create_engine(url, **({"isolation_level": "READ COMMITTED"} if mariadb else {}))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
case_insensitive = (
    engine.dialect.name != "postgresql"
)  # for == on name, and for LIKE on status
users = User.__table__


ROWS = [(1, "Ann", "new"), (2, "Bob", "vip")]


def elsewhere(statement):  # on another connection, committed
    with engine.begin() as other:
        other.execute(statement)


def loaded(*options):
    """A new session with both users loaded (with these loader options), after a reset."""
    with engine.begin() as other:
        other.execute(users.delete())
        other.execute(users.insert().values([(i, n, s, 5) for i, n, s in ROWS]))
    session = Session(engine)
    return session, *session.scalars(select(User).order_by(User.id).options(*options))


def in_db(session, column, user_id):  # a column query: it leaves the objects alone
    return session.scalar(select(column).where(User.id == user_id))


# %%
# SET expressions are computed from memory
# ----------------------------------------
#
# Ann is loaded with 5; another connection sets 10. ``SET counter = counter + 1``, which Python
# can evaluate: the database makes 11, ``'auto'`` and
# :doc:`'evaluate' <../myths/evaluate_reads_database>` write 5 + 1 into the
# object, held as loaded.

bump = update(User).where(User.id == 1).values(counter=User.counter + 1)
to_ten = users.update().where(users.c.id == 1).values(counter=10)


def bump_stale_ann(strategy):
    session, ann, bob = loaded()
    elsewhere(to_ten)
    session.execute(bump, execution_options={"synchronize_session": strategy})
    database = in_db(session, User.counter, 1)
    print(f"{strategy!r}: in memory {ann.counter}, in the database {database}")
    # sphinx_gallery_start_ignore
    assert (ann.counter, database) == (6, 11), f"{strategy}: computed from memory"
    assert not inspect(ann).expired_attributes, f"{strategy}: held as loaded, not expired"
    # sphinx_gallery_end_ignore
    session.close()


for strategy in ("auto", "evaluate"):
    bump_stale_ann(strategy)

# %%
# ``'fetch'`` asks the database which rows matched (``UPDATE .. RETURNING``; on MariaDB a
# ``SELECT`` first), and then computes the SET in Python all the same.

bump_stale_ann("fetch")

# %%
# A SET expression Python cannot evaluate is expired
# --------------------------------------------------
#
# ``SET name = upper(name)`` has no Python equivalent here, so every strategy expires ``name``
# instead of computing it, and the next access SELECTs the database's value.

shout = update(User).where(User.id == 1).values(name=func.upper(User.name))
for strategy in ("auto", "evaluate", "fetch"):
    session, ann, bob = loaded()
    session.execute(shout, execution_options={"synchronize_session": strategy})
    expired = "name" in inspect(ann).expired_attributes
    print(f"{strategy!r}: name expired {expired}, then read as {ann.name!r}")
    # sphinx_gallery_start_ignore
    assert expired and ann.name == "ANN", f"{strategy}: expired, then loaded from the row"
    # sphinx_gallery_end_ignore
    session.close()

# %%
# False matches: a criteria column not loaded
# -------------------------------------------
#
# Only Ann's row has ``status = 'new'``. With Bob's ``status`` expired, or never loaded
# (``load_only``), ``'auto'`` and ``'evaluate'`` count him as matching and set his counter in
# memory, though his row was not updated. ``'fetch'`` asks the database and leaves him alone.
# (Fully expired objects are skipped instead, as
# :ref:`sphx_glr_auto_examples_synchronize_session_four_strategies.py` shows.)

reset_all = update(User).where(User.status == "new").values(counter=0)


def reset_with_bob_partly_loaded(how, strategy):
    if how == "expire":
        session, ann, bob = loaded()
        session.expire(bob, ["status"])
    else:
        session, ann, bob = loaded(load_only(User.name, User.counter))
    result = session.execute(
        reset_all, execution_options={"synchronize_session": strategy}
    )
    bob_row = in_db(session, User.counter, 2)
    print(
        f"{how}, {strategy!r}: Bob in memory {bob.counter}, in his row {bob_row}, "
        f"rows updated {result.rowcount}"
    )
    # sphinx_gallery_start_ignore
    assert result.rowcount == 1 and bob_row == 5, "Bob's row: as is"
    assert bob.counter == (5 if strategy == "fetch" else 0), f"{how}, {strategy}: Bob"
    # sphinx_gallery_end_ignore
    session.close()


for strategy in ("auto", "evaluate", "fetch"):
    reset_with_bob_partly_loaded("expire", strategy)

# %%
# The same with ``load_only``:

for strategy in ("auto", "evaluate", "fetch"):
    reset_with_bob_partly_loaded("load_only", strategy)

# %%
# Collations: the database and Python disagree on a match
# -------------------------------------------------------
#
# ``name == "ann"`` matches "Ann" where the collation ignores case, and SQLite's ``LIKE`` (from
# ``startswith``) ignores case for ASCII; MariaDB's follows the collation. Python compares
# exactly: ``'auto'`` updates the row and leaves the object stale. PostgreSQL agrees with Python.

for criteria in (User.name == "ann", User.status.startswith("N")):
    session, ann, bob = loaded()
    result = session.execute(update(User).where(criteria).values(counter=7))
    ann_row = in_db(session, User.counter, 1)
    print(
        f"rows updated {result.rowcount}, "
        f"Ann in memory {ann.counter}, in her row {ann_row}"
    )
    # sphinx_gallery_start_ignore
    assert result.rowcount == (1 if case_insensitive else 0), "the database's comparison"
    assert ann.counter == 5, "'auto' compared in Python: no match"
    assert (ann_row == 7) == case_insensitive, "stale where they differ"
    # sphinx_gallery_end_ignore
    session.close()

# %%
# What holds: the database's rows, or expiry
# ------------------------------------------
#
# Where UPDATE..RETURNING exists, ``returning(User)`` with
# :doc:`populate_existing=True <../myths/requery_refreshes>` writes the
# returned rows into the objects, and ``'fetch'`` keeps objects matched only in Python untouched.
# Everywhere (MariaDB has no UPDATE..RETURNING), ``'fetch'`` then expiring the SET attributes of
# the loaded users works: the next access SELECTs them. Stale memory first, both ways:


def returning_rows(session, stmt):
    options = {"synchronize_session": "fetch", "populate_existing": True}
    session.scalars(stmt.returning(User), execution_options=options).all()


def then_expire(session, stmt):
    session.execute(stmt, execution_options={"synchronize_session": "fetch"})
    for user in [obj for obj in session.identity_map.values() if isinstance(obj, User)]:
        session.expire(user, ["counter"])


scenarios = {
    "stale memory": (bump, lambda session, bob: elsewhere(to_ten)),
    "partial expiry": (reset_all, lambda session, bob: session.expire(bob, ["status"])),
    "collation": (update(User).where(User.name == "ann").values(counter=7), None),
}
ways = [returning_rows, then_expire] if engine.dialect.update_returning else [then_expire]


def both_ways(scenario):
    stmt, prepare = scenarios[scenario]
    for way in ways:
        session, ann, bob = loaded()
        if prepare:
            prepare(session, bob)
        way(session, stmt)
        held = [ann.counter, bob.counter]
        print(f"{way.__name__}, {scenario}: in memory {held}")
        in_database = session.scalars(select(User.counter).order_by(User.id)).all()
        # sphinx_gallery_start_ignore
        assert held == in_database, (
            f"{way.__name__}, {scenario}: memory holds the rows' values"
        )
        # sphinx_gallery_end_ignore
        session.close()


both_ways("stale memory")

# %%
# Partial expiry, both ways:

both_ways("partial expiry")

# %%
# The collation mismatch, both ways:

both_ways("collation")
# sphinx_gallery_start_ignore
engine.dispose()
tmp.cleanup()
# sphinx_gallery_end_ignore

# %%
# Checked by
# ----------
#
# - ``SET counter = counter + 1`` on stale memory: 6 in the object, 11 in the database, with
#   ``'auto'``, ``'evaluate'`` and ``'fetch'`` alike.
# - ``SET name = upper(name)``: all three expired ``name``; the next access loaded the row's.
# - A partly expired or ``load_only`` criteria column: ``'auto'``/``'evaluate'`` set Bob's counter
#   in memory, his row untouched; ``'fetch'`` did not.
# - ``==`` on a case-insensitive collation, and ``startswith`` (LIKE) on SQLite and MariaDB: the
#   row updated, the object left stale; on PostgreSQL both agree.
# - ``returning(User)`` + ``'fetch'`` + ``populate_existing`` (where RETURNING exists), and
#   ``'fetch'`` + expiring ``counter`` (everywhere): objects equal to the rows in all three cases.
