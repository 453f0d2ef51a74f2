# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0.36",
# ]
# ///
"""
What synchronization writes into your objects
=============================================

After a bulk ``update()``, ``'auto'``, ``'evaluate'`` and ``'fetch'`` write into your loaded
objects the value of each SET expression that Python can evaluate, computed from what the objects
hold, not from the database (one it cannot, such as ``func.upper()``, they expire instead); and
``'auto'`` and ``'evaluate'`` also decide in Python which objects matched. Stale memory and
comparisons the database makes differently (case, trailing spaces) make both go wrong. So do,
in SQLAlchemy 2.0 up to 2.0.58 and 2.1 up to 2.1.9, a negative number's ``%``, SET values that
read each other, and a partly loaded object, in its SET values or its criteria; from 2.0.59 the
ORM computes the first two as SQL does and expires the object it cannot judge. What holds on
every database: expire the attributes the UPDATE sets. Where UPDATE..RETURNING exists, and
from SQLAlchemy 2.0.36, letting the database send the rows back holds too
(``returning(User)`` with ``populate_existing``, and ``'fetch'``); up to 2.0.35 the objects
kept the values computed in Python, as :ref:`measured on every release
<version-differences-measured>`.
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
import re
import tempfile

from sqlalchemy import String, create_engine, func, inspect, make_url, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, load_only, mapped_column


class Base(DeclarativeBase):
    pass


# sphinx_gallery_start_ignore
import sqlalchemy

# SQLAlchemy 2.0.59 changed what synchronization writes; 2.1 up to 2.1.9 has not.
RELEASE = tuple(int(part) for part in re.findall(r"\d+", sqlalchemy.__version__)[:3])
EVALUATOR_2_0_59 = (2, 0, 59) <= RELEASE < (2, 1)
# sphinx_gallery_end_ignore


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
    return session.scalar(select(column).where(column.table.c.id == user_id))


def held(obj, key="counter"):
    """What the object holds, read without loading anything: a value, or why not."""
    state = inspect(obj)
    if key in state.dict:
        return state.dict[key]
    return "expired" if key in state.expired_attributes else "not loaded"


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
# Python's ``%``, or SQL's
# ------------------------
#
# Ann is loaded with 5, as in her row. ``SET counter = (counter - 6) % 7``: 5 - 6 is -1, and the
# remainder of -1 by 7 is -1 in SQL, whose ``%`` takes the sign of the dividend (SQLite,
# PostgreSQL and MariaDB alike), but 6 in Python, whose ``%`` takes the sign of the divisor.
# SQLAlchemy 2.0 up to 2.0.58 and 2.1 up to 2.1.9 write Python's 6 into Ann; from 2.0.59 the ORM
# follows SQL's sign and writes -1.

wrap_back = update(User).where(User.id == 1).values(counter=(User.counter - 6) % 7)


def wrap_back_ann(strategy):
    session, ann, bob = loaded()
    session.execute(wrap_back, execution_options={"synchronize_session": strategy})
    database = in_db(session, User.counter, 1)
    print(f"{strategy!r}: in memory {ann.counter}, in the database {database}")
    # sphinx_gallery_start_ignore
    assert database == -1, "the database computed (5 - 6) % 7 = -1"
    if EVALUATOR_2_0_59:
        assert ann.counter == -1, (
            f"{strategy}, {sqlalchemy.__version__}: SQL's sign, -1 in memory"
        )
    else:
        assert ann.counter == 6, (
            f"{strategy}, {sqlalchemy.__version__}: Python's sign, 6 in memory"
        )
    # sphinx_gallery_end_ignore
    session.close()


for strategy in ("auto", "evaluate", "fetch"):
    wrap_back_ann(strategy)

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
# SET values that read each other
# -------------------------------
#
# A setting keeps its ``value`` and the ``previous`` one; undoing a change swaps them:
# ``SET value = previous, previous = value``. Setting 1 holds 3, previously 8. SQL computes
# every SET value from the row as it was before the UPDATE: SQLite and PostgreSQL store 8 and 3.
# MariaDB assigns from left to right (unless its ``SIMULTANEOUS_ASSIGNMENT`` mode is on): 8 and
# 8. What the ORM writes into the loaded setting depends on the release:
#
# - SQLAlchemy 2.0 up to 2.0.58 and 2.1 up to 2.1.9 apply the SET values to the object one by
#   one, each computed from the object as the one before left it: ``value`` and ``previous``
#   end up equal, both 3 or both 8, whichever came first.
# - From 2.0.59 each is computed from the object as it was before the UPDATE: 8 and 3 (on
#   MariaDB, not what its row holds).


class Setting(Base):
    __tablename__ = "settings"
    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int]
    previous: Mapped[int]


# sphinx_gallery_start_ignore
Setting.__table__.drop(engine, checkfirst=True)
# sphinx_gallery_end_ignore
Setting.__table__.create(engine)


def setting_loaded(*options):
    """A new session with setting 1 (3, previously 8) loaded, after a reset."""
    with engine.begin() as other:
        other.execute(Setting.__table__.delete())
        other.execute(Setting.__table__.insert().values(id=1, value=3, previous=8))
    session = Session(engine)
    return session, session.scalars(select(Setting).options(*options)).one()


swap = (
    update(Setting)
    .where(Setting.id == 1)
    .values(value=Setting.previous, previous=Setting.value)
)


def undo_by_swap(strategy):
    session, setting = setting_loaded()
    session.execute(swap, execution_options={"synchronize_session": strategy})
    row = tuple(session.execute(select(Setting.value, Setting.previous)).one())
    pair = (setting.value, setting.previous)
    in_memory = "value == previous" if pair[0] == pair[1] else f"{pair}"
    print(f"{strategy!r}: in the row {row}, in memory {in_memory}")
    # sphinx_gallery_start_ignore
    assert row == ((8, 8) if mariadb else (8, 3)), (
        "the row: 8 and 3, on MariaDB (left to right) 8 and 8"
    )
    if EVALUATOR_2_0_59:
        assert pair == (8, 3), (
            f"{strategy}, {sqlalchemy.__version__}: both from the object as it was"
        )
    else:
        assert pair[0] == pair[1] and pair[0] in (3, 8), (
            f"{strategy}, {sqlalchemy.__version__}: applied one by one, value and previous equal"
        )
    # sphinx_gallery_end_ignore
    session.close()


for strategy in ("auto", "evaluate", "fetch"):
    undo_by_swap(strategy)

# %%
# A SET value that reads a column not loaded
# ------------------------------------------
#
# Setting 1 loaded with ``load_only(Setting.value)``, then an undo that only restores:
# ``SET value = previous``. The object has no ``previous`` to compute the value from; the row
# gets 8. What the object gets depends on the release:
#
# - SQLAlchemy 2.0 up to 2.0.58 and 2.1 up to 2.1.9 write SQLAlchemy's internal placeholder for
#   a value it could not read (``_ExpiredObject``) into ``value``, as if it were the value:
#   ``value`` is not expired, reading it returns the placeholder, and so do arithmetic and
#   comparisons on it: ``value == 3`` is neither ``True`` nor ``False``.
# - From 2.0.59 ``value`` is expired instead: reading it loads the row's 8.

restore = update(Setting).where(Setting.id == 1).values(value=Setting.previous)


def restore_partly_loaded(strategy):
    session, setting = setting_loaded(load_only(Setting.value))
    session.execute(restore, execution_options={"synchronize_session": strategy})
    expired = "value" in inspect(setting).expired_attributes
    row_value = in_db(session, Setting.value, 1)
    print(f"{strategy!r}: in the row {row_value}; in memory, value expired {expired}")
    value = setting.value
    read = {"value": value, "value + 1": value + 1, "value == 3": value == 3}
    for expression, result in read.items():
        print(f"    {expression}: {re.sub(r' at 0x[0-9a-fA-F]+', '', repr(result))}")
    # sphinx_gallery_start_ignore
    assert row_value == 8, "the row's value: 8"
    if EVALUATOR_2_0_59:
        assert expired and value == 8, (
            f"{strategy}, {sqlalchemy.__version__}: expired, then loaded 8"
        )
    else:
        assert not expired and type(value).__name__ == "_ExpiredObject", (
            f"{strategy}, {sqlalchemy.__version__}: the placeholder written in as the value"
        )
        assert read["value + 1"] is value and read["value == 3"] is value, (
            "arithmetic and comparisons on the placeholder return the placeholder"
        )
    # sphinx_gallery_end_ignore
    session.close()


for strategy in ("auto", "evaluate", "fetch"):
    restore_partly_loaded(strategy)

# %%
# False matches: a criteria column not loaded
# -------------------------------------------
#
# Only Ann's row has ``status = 'new'``. With Bob's ``status`` expired, or never loaded
# (``load_only``), ``'auto'`` and ``'evaluate'`` cannot tell from memory whether he matches:
#
# - SQLAlchemy 2.0 up to 2.0.58 and 2.1 up to 2.1.9 count him as matching and set his counter
#   to 0 in memory, though his row was not updated: a false match.
# - From 2.0.59 they expire him, every attribute: his next access loads his row. With
#   ``load_only`` Ann's ``status`` is not loaded either, and she is expired too, though her row
#   matched.
#
# ``'fetch'`` asks the database and leaves him alone. (Fully expired objects are skipped, as
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
        f"{how}, {strategy!r}: in memory Ann {held(ann)}, Bob {held(bob)}; "
        f"Bob's row {bob_row}, rows updated {result.rowcount}"
    )
    # sphinx_gallery_start_ignore
    assert result.rowcount == 1 and bob_row == 5, "Bob's row: as is"
    unsure = strategy != "fetch"
    if unsure and EVALUATOR_2_0_59:
        assert set(inspect(bob).attrs.keys()) <= inspect(bob).expired_attributes, (
            f"{how}, {strategy}, {sqlalchemy.__version__}: Bob expired, every attribute"
        )
        assert (held(ann) == "expired") == (how == "load_only"), (
            f"{how}, {strategy}: Ann expired only where her status was not loaded"
        )
    else:
        assert held(bob) == (0 if unsure else 5), (
            f"{how}, {strategy}: Bob {'counted as matching' if unsure else 'left alone'}"
        )
    if not (unsure and EVALUATOR_2_0_59 and how == "load_only"):
        assert held(ann) == 0, f"{how}, {strategy}: Ann's counter set to 0 in memory"
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
# returned rows into the objects (from SQLAlchemy 2.0.36: up to 2.0.35 they kept the SET
# values computed in Python), and ``'fetch'`` keeps objects matched only in Python untouched.
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
# - ``SET counter = (counter - 6) % 7``: -1 in the database; in the object, 6 in SQLAlchemy 2.0
#   up to 2.0.58 and 2.1 up to 2.1.9, -1 from 2.0.59.
# - The swap ``SET value = previous, previous = value``: in the row 8 and 3 (on MariaDB 8 and 8);
#   in the object, two equal values in 2.0 up to 2.0.58 and 2.1 up to 2.1.9, 8 and 3 from 2.0.59.
# - ``SET value = previous`` with ``previous`` not loaded: the ``_ExpiredObject`` placeholder
#   written into ``value`` in 2.0 up to 2.0.58 and 2.1 up to 2.1.9; from 2.0.59 ``value``
#   expired, then loaded as 8.
# - A partly expired or ``load_only`` criteria column: ``'auto'``/``'evaluate'`` set Bob's counter
#   in memory in 2.0 up to 2.0.58 and 2.1 up to 2.1.9, and expired him from 2.0.59, his row
#   untouched; ``'fetch'`` did neither.
# - ``==`` on a case-insensitive collation, and ``startswith`` (LIKE) on SQLite and MariaDB: the
#   row updated, the object left stale; on PostgreSQL both agree.
# - ``returning(User)`` + ``'fetch'`` + ``populate_existing`` (where RETURNING exists; from
#   SQLAlchemy 2.0.36, the page's oldest release), and ``'fetch'`` + expiring ``counter``
#   (everywhere): objects equal to the rows in all three cases.
