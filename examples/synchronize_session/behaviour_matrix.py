# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
The behaviour matrix: what each bulk UPDATE does to the objects you loaded
==========================================================================

Only a fresh read of the row (expire, ``refresh()``, or, from SQLAlchemy 2.0.36,
``returning(User)`` with ``populate_existing``) makes a loaded object agree with the database
after a bulk UPDATE whose SET is computed from the row (``counter + 1``) on data that may have
changed: every strategy but ``False`` computes the SET values it can in Python, from memory,
and the evaluator also matches in Python.

Seven ways to run an UPDATE, each in thirteen situations, each run from a fresh state and
measured: alice's ``counter`` in memory against the database afterwards. The answer up front:

- ``'auto'``, ``'evaluate'``, ``'fetch'`` and ``Query.update()`` compute a new value such as
  ``counter + 1`` in Python, from the in-memory value: on stale memory, a wrong value. Python's
  arithmetic is not the database's either: ``counter / 2`` gives 2.5 in memory, 3 in an integer
  column on PostgreSQL and MariaDB; ``(counter - 6) % 7`` gives Python's 6 in memory in
  SQLAlchemy 2.0 up to 2.0.58 and 2.1 up to 2.1.9, and the database's -1 from 2.0.59. A SET
  expression Python cannot run (a SQL function) expires the attribute instead: it reloads the
  database's value.
- ``'auto'`` (which tries ``'evaluate'`` first) and ``'evaluate'`` match objects by their
  in-memory values: a row another connection changed or a case-insensitive (or, on MariaDB,
  trailing-space-blind) comparison fools them. An object whose criteria column is expired or
  never loaded (``load_only``) counts as matching in 2.0 up to 2.0.58 and 2.1 up to 2.1.9, and
  is expired from 2.0.59. ``'fetch'`` asks the database which rows matched.
- Fully expired objects are skipped: they reload. ``False`` and Core leave objects stale.

The table at the end is what the cheat sheet and the decision guide are built from. The site
is built on SQLite; where a verdict differs by database, the cell says so and asserts it on each.
"""

# %%
# Setup
# -----
#
# Two users, alice and bob, each with ``counter = 5``. A second connection will change rows
# behind the session's back, so the in-memory SQLite default becomes a file in a temporary
# directory. ``name`` compares case-insensitively on SQLite (``COLLATE NOCASE``, and its
# ``LIKE`` ignores case anyway) and on MariaDB (its default collation); PostgreSQL's default
# collation is case-sensitive, and the example keeps it.

import os
import re
import tempfile
import warnings

import sqlalchemy
from sqlalchemy import (
    String,
    case,
    create_engine,
    event,
    func,
    inspect,
    make_url,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, load_only, mapped_column
from sqlalchemy.orm.exc import StaleDataError


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(
        String(50).with_variant(String(50, "NOCASE"), "sqlite")
    )
    counter: Mapped[int]

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r}, counter={self.counter!r})"


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmp = tempfile.TemporaryDirectory()
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmp.name, "matrix.db"))
# MariaDB's default REPEATABLE READ would hide the other connection's commits from the
# session.
mariadb = url.get_backend_name() in ("mysql", "mariadb")
engine = create_engine(url, **({"isolation_level": "READ COMMITTED"} if mariadb else {}))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
users = User.__table__
with engine.begin() as connection:
    connection.execute(users.insert(), [{"id": 1, "name": "alice", "counter": 5}])
    connection.execute(users.insert(), [{"id": 2, "name": "bob", "counter": 5}])

sent = []  # every statement, to count what each operation sent
event.listen(
    engine, "before_cursor_execute", lambda conn, cur, sql, *rest: sent.append(sql)
)

# %%
# The operations
# --------------
#
# Each runs the UPDATE a situation gives it: a WHERE clause and the values, plus the key of the
# row meant, for the bulk UPDATE by primary key (it takes keys and plain values, not a WHERE
# or SQL expressions). ``Query.update()`` runs with its default, ``'auto'``.


def orm(strategy):
    def run(session, where, values, key):
        options = {"synchronize_session": strategy}
        session.execute(
            update(User).where(where).values(values), execution_options=options
        )

    return run


def by_primary_key(session, where, values, key):
    session.execute(update(User), [{"id": key, **values}])


def core_other_connection(session, where, values, key):
    with engine.begin() as other:
        other.execute(update(users).where(where).values(values))


def legacy_query(session, where, values, key):
    session.query(User).filter(where).update(values)


OPERATIONS = {
    "'auto'": orm("auto"),
    "'evaluate'": orm("evaluate"),
    "'fetch'": orm("fetch"),
    "False": orm(False),
    "by primary key": by_primary_key,
    "Core, other conn.": core_other_connection,
    "Query.update()": legacy_query,
}
SLUGS = dict(
    zip(
        OPERATIONS,
        ["auto", "evaluate", "fetch", "false", "by-pk", "core", "query"],
        strict=True,
    )
)

# %%
# Measuring one cell
# ------------------
#
# Every cell starts alike: the rows reset, a new session that loads both users (with a
# situation's loader options), the situation set up. After the operation, alice's ``counter``
# is read from ``inspect(alice).dict`` (no SQL) and from the database on the session's own
# connection (its transaction included). Verdicts:
# ``synced`` (memory equals the database), ``expired`` (reloads on next access), ``stale``
# (memory kept its old value), ``wrong`` (memory got a value the database does not have),
# ``refused`` (an error), ``n/a`` (the operation cannot express this UPDATE).

MEASURED = {}  # "fetch/renamed" -> what ran; tools read it with runpy.run_path()


def other_connection_sets(**values):
    with engine.begin() as other:
        other.execute(update(users).where(users.c.id == 1).values(values))


def measure(operation, prepare, where, values, key=1, options=()):
    if operation == "by primary key" and key is None:
        return {"verdict": "n/a"}
    with engine.begin() as other:
        reset = {"name": case((users.c.id == 1, "alice"), else_="bob"), "counter": 5}
        other.execute(update(users).values(reset))
    with Session(engine) as session:
        users_loaded = select(User).options(*options).order_by(User.id)
        alice, bob = session.scalars(users_loaded).all()
        prepare(session, alice)
        before = inspect(alice).dict.get("counter")
        sent.clear()
        error = None
        try:
            OPERATIONS[operation](session, where, values, key)
        except Exception as exc:
            error = type(exc).__name__
        statements = [
            sql.split()[0] + (" RETURNING" if "RETURNING" in sql else "") for sql in sent
        ]
        expired = "counter" in inspect(alice).expired_attributes
        memory = "expired" if expired else inspect(alice).dict["counter"]
        in_db = session.connection().scalar(
            select(users.c.counter).where(users.c.id == 1)
        )
        reloaded = alice.counter if expired and not error else in_db  # SELECT if expired
        # sphinx_gallery_start_ignore
        assert reloaded == in_db, "an expired attribute reloads the database's value"
        # sphinx_gallery_end_ignore
    if error:
        verdict = "refused"
    elif expired:
        verdict = "expired"
    elif memory == in_db:
        verdict = "synced"
    else:
        verdict = "stale" if memory == before else "wrong"
    return {
        "verdict": verdict,
        "memory": memory,
        "database": in_db,
        "statements": statements,
    }


def run_situation(situation, expected, prepare, where, values, key=1, options=()):
    """Measure every operation in one situation, print the details, assert the
    expectations."""
    print(f"{'operation':18} {'verdict':8} {'memory':>7} {'database':>8}  statements")
    for operation, claim in zip(OPERATIONS, expected.split(), strict=True):
        cell = MEASURED[f"{SLUGS[operation]}/{situation}"] = measure(
            operation, prepare, where, values, key, options
        )
        details = [cell.get("memory", ""), cell.get("database", "")]
        statements = ", ".join(cell.get("statements", []))
        verdict = cell["verdict"]
        line = f"{operation:18} {verdict:8} {details[0]:>7} {details[1]:>8}  {statements}"
        print(line.rstrip())
        # sphinx_gallery_start_ignore
        assert cell["verdict"] == claim, f"{operation}, {situation}: alice is {claim}"
        # sphinx_gallery_end_ignore


CASE_INSENSITIVE = engine.dialect.name != "postgresql"
MARIADB = engine.dialect.name in ("mysql", "mariadb")
# SQLAlchemy 2.0.59 changed the evaluator (partly loaded objects, SQL's %); 2.1 up to
# 2.1.9 has not.
RELEASE = tuple(int(part) for part in re.findall(r"\d+", sqlalchemy.__version__)[:3])
EVALUATOR_2_0_59 = (2, 0, 59) <= RELEASE < (2, 1)

# %%
# .. _behaviour_matrix_fresh:
#
# Fresh objects
# -------------
#
# ``WHERE name = 'alice'``, ``SET counter = 9``, right after loading: a plain value, where Python
# and the database cannot disagree. Every synchronizing operation updates alice in memory;
# ``False`` and Core leave her stale. (Fresh objects are not always enough: see
# :ref:`behaviour_matrix_division`.) Expected, in the order of the operations above:

run_situation(
    "fresh", "synced synced synced stale synced stale synced", lambda s, a: None,
    User.name == "alice", {"counter": 9},
)  # fmt: skip

# %%
# .. _behaviour_matrix_expired:
#
# Fully expired (after a commit)
# ------------------------------
#
# After ``session.commit()`` every attribute is expired: all seven leave alice expired, and her
# next access loads the new row. ``'auto'`` and ``'evaluate'`` skip her (the 2.x evaluator does
# not SELECT expired objects); ``'fetch'`` learns her key but does not write into her either.

run_situation(
    "expired",
    "expired " * 7,
    lambda s, a: s.commit(),
    User.name == "alice",
    {"counter": 9},
)

# %%
# .. _behaviour_matrix_partial:
# .. _behaviour_matrix_partial-match:
#
# Partially expired criteria column
# ---------------------------------
#
# ``session.expire(alice, ["name"])``, then ``WHERE name = 'bob'``. The database updates bob
# only. ``'auto'``, ``'evaluate'`` and ``Query.update()`` cannot tell from memory whether alice
# matches, and what they do then depends on the SQLAlchemy release:
#
# - 2.0 up to 2.0.58, and 2.1 up to 2.1.9: they count her as matching and set her counter to 9
#   in memory: wrong. It is wrong only because her row does not match: with
#   ``WHERE name = 'alice'`` (the second run, ``partial-match``, not in the table at the end)
#   the database updates her row too, and the same guess is right.
# - from 2.0.59: they expire her instead, whether her row matched or not (``expired`` in both
#   runs): her next access loads the row.

if EVALUATOR_2_0_59:
    expected = "expired expired synced synced synced synced expired"
else:
    expected = "wrong wrong synced synced synced synced wrong"
run_situation(
    "partial", expected,
    lambda s, alice: s.expire(alice, ["name"]), User.name == "bob", {"counter": 9}, key=2,
)  # fmt: skip
if EVALUATOR_2_0_59:
    expected = "expired expired synced stale synced stale expired"
else:
    expected = "synced synced synced stale synced stale synced"
run_situation(
    "partial-match", expected,
    lambda s, alice: s.expire(alice, ["name"]), User.name == "alice", {"counter": 9},
)  # fmt: skip

# %%
# .. _behaviour_matrix_load-only:
#
# A criteria column never loaded
# ------------------------------
#
# The same UPDATE, ``WHERE name = 'bob'``, with the users loaded by
# ``load_only(User.counter)``: alice's ``name`` was never loaded rather than expired. The
# evaluator treats both alike: counted as matching, ``wrong``, in 2.0 up to 2.0.58 and 2.1 up
# to 2.1.9; ``expired`` from 2.0.59.

if EVALUATOR_2_0_59:
    expected = "expired expired synced synced synced synced expired"
else:
    expected = "wrong wrong synced synced synced synced wrong"
run_situation(
    "load-only", expected, lambda s, a: None, User.name == "bob", {"counter": 9}, key=2,
    options=[load_only(User.counter)],
)  # fmt: skip

# %%
# .. _behaviour_matrix_renamed:
#
# Changed by another connection
# -----------------------------
#
# The other connection renames alice to ``'ally'`` and commits; then ``WHERE name = 'alice'``
# matches no row. The evaluator still sees ``'alice'`` in memory: a false match. ``'fetch'``
# asks the database and leaves alice alone. (By primary key, her key still matches.)

run_situation(
    "renamed", "wrong wrong synced synced synced synced wrong",
    lambda s, a: other_connection_sets(name="ally"), User.name == "alice", {"counter": 9},
)  # fmt: skip

# %%
# .. _behaviour_matrix_relative:
#
# SET relative to the current value, on stale memory
# --------------------------------------------------
#
# The other connection sets alice's counter to 10; alice still says 5. ``SET counter = counter
# + 1``: the database computes 11, the session computes 6 in Python, ``'fetch'`` included: it
# learns which rows matched, not their new values.

run_situation(
    "relative", "wrong wrong wrong stale n/a stale wrong",
    lambda s, a: other_connection_sets(counter=10), User.name == "alice",
    {"counter": User.counter + 1}, key=None,
)  # fmt: skip
# sphinx_gallery_start_ignore
assert MEASURED["fetch/relative"]["memory"] == 6, (
    "'fetch' computed counter + 1 from memory: 6"
)
assert MEASURED["fetch/relative"]["database"] == 11, "while the database computed 11"
# sphinx_gallery_end_ignore

# %%
# .. _behaviour_matrix_function:
#
# A SET expression Python cannot run
# ----------------------------------
#
# Stale memory again (the row says 10, alice 5), but ``SET counter = abs(counter) + 1``: Python
# cannot run the SQL function, so ``'auto'``, ``'evaluate'``, ``'fetch'`` and ``Query.update()``
# compute nothing. They expire ``counter``, and alice's next access loads the database's 11
# (``measure()`` asserts that for every expired cell).

run_situation(
    "function", "expired expired expired stale n/a stale expired",
    lambda s, a: other_connection_sets(counter=10), User.name == "alice",
    {"counter": func.abs(User.counter) + 1}, key=None,
)  # fmt: skip

# %%
# .. _behaviour_matrix_division:
#
# Python's arithmetic, the database's column
# ------------------------------------------
#
# Fresh objects, ``SET counter = counter / 2``. Python computes 2.5 and puts it in memory. SQLite
# stores 2.5 as it is (its columns take any number); PostgreSQL and MariaDB store the 2.5 in
# the integer column as 3. Fresh memory, and still wrong there: what the ORM computes is Python.

if engine.dialect.name == "sqlite":
    expected = "synced synced synced stale n/a stale synced"
else:
    expected = "wrong wrong wrong stale n/a stale wrong"
run_situation(
    "division", expected, lambda s, a: None, User.name == "alice",
    {"counter": User.counter / 2}, key=None,
)  # fmt: skip
# sphinx_gallery_start_ignore
assert MEASURED["auto/division"]["memory"] == 2.5, "Python computed 5 / 2 = 2.5"
# sphinx_gallery_end_ignore

# %%
# .. _behaviour_matrix_modulo:
#
# The remainder of a negative number
# ----------------------------------
#
# Fresh objects, ``SET counter = (counter - 6) % 7``: 5 - 6 is -1, and the remainder of -1 by 7
# is 6 in Python, whose ``%`` takes the sign of the divisor, but -1 in SQL, whose ``%`` takes
# the sign of the dividend (SQLite, PostgreSQL and MariaDB alike). In SQLAlchemy 2.0 up to
# 2.0.58 and 2.1 up to 2.1.9 the ORM computes Python's 6: ``wrong``. From 2.0.59 it follows
# SQL's sign and computes -1: ``synced``.

if EVALUATOR_2_0_59:
    expected = "synced synced synced stale n/a stale synced"
else:
    expected = "wrong wrong wrong stale n/a stale wrong"
run_situation(
    "modulo", expected, lambda s, a: None, User.name == "alice",
    {"counter": (User.counter - 6) % 7}, key=None,
)  # fmt: skip
# sphinx_gallery_start_ignore
assert MEASURED["core/modulo"]["database"] == -1, "the database computed (5 - 6) % 7 = -1"
assert MEASURED["auto/modulo"]["memory"] == (-1 if EVALUATOR_2_0_59 else 6), (
    f"SQLAlchemy {sqlalchemy.__version__} computed (5 - 6) % 7 = "
    f"{'-1, as SQL does' if EVALUATOR_2_0_59 else '6, as Python does'}"
)
# sphinx_gallery_end_ignore

# %%
# .. _behaviour_matrix_unflushed:
#
# An unflushed change
# -------------------
#
# ``alice.counter = 7``, not flushed, then ``SET counter = counter + 1``. Every ORM operation
# flushes first (the first UPDATE of the statements), so both sides say 8; ``False`` leaves 7
# in memory. Core on another connection sees no flush: the database says 6, and the session
# will write its 7 over it.

run_situation(
    "unflushed", "synced synced synced stale n/a stale synced",
    lambda s, alice: setattr(alice, "counter", 7), User.name == "alice",
    {"counter": User.counter + 1}, key=None,
)  # fmt: skip

# %%
# .. _behaviour_matrix_case:
#
# A case-insensitive match
# ------------------------
#
# ``WHERE name = 'ALICE'``. SQLite's ``NOCASE`` column and MariaDB's default collation match
# alice's row; Python's ``==`` does not, so ``'auto'`` and ``'evaluate'`` leave her stale.
# ``LIKE`` (``name.startswith('AL')``) is the same on SQLite, where ``LIKE`` ignores case, and on
# MariaDB, whose default collation makes ``LIKE`` ignore case too. On PostgreSQL neither
# matches: nothing changes anywhere.

if CASE_INSENSITIVE:
    expected = "stale stale synced stale n/a stale stale"
else:
    expected = "synced synced synced synced n/a synced synced"
run_situation(
    "case", expected, lambda s, a: None, User.name == "ALICE", {"counter": 9}, None
)
run_situation(
    "like", expected, lambda s, a: None, User.name.startswith("AL"), {"counter": 9}, None
)

# %%
# .. _behaviour_matrix_padspace:
#
# Trailing spaces
# ---------------
#
# No case involved: alice's name is ``'alice '`` (with a trailing space) in the row and in memory,
# and ``WHERE name = 'alice'``. MariaDB compares with ``PAD SPACE``, ignoring trailing spaces: it
# updates her row, while Python's ``==`` does not match, and ``'auto'`` and ``'evaluate'``
# leave her stale. SQLite (``NOCASE`` keeps spaces) and PostgreSQL match no row.


def trailing_space(session, alice):
    other_connection_sets(name="alice ")
    session.refresh(alice)


if MARIADB:
    expected = "stale stale synced stale n/a stale stale"
else:
    expected = "synced synced synced synced n/a synced synced"
run_situation(
    "padspace", expected, trailing_space, User.name == "alice", {"counter": 9}, None
)

# %%
# .. _behaviour_matrix_table:
#
# The matrix
# ----------
#
# One verdict per cell, as measured above. Where a verdict is ``wrong`` or ``stale``, expire
# the object (or ``refresh()`` it), or, from SQLAlchemy 2.0.36, return the rows with
# ``update(...).returning(User)`` under :doc:`populate_existing <../myths/requery_refreshes>`.

SITUATIONS = [
    "fresh", "expired", "partial", "load-only", "renamed", "relative", "function",
    "division", "modulo", "unflushed", "case", "like", "padspace",
]  # fmt: skip
print((f"{'':18}" + "".join(f"{situation:10}" for situation in SITUATIONS)).rstrip())
for operation, slug in SLUGS.items():
    verdicts = [MEASURED[f"{slug}/{situation}"]["verdict"] for situation in SITUATIONS]
    print((f"{operation:18}" + "".join(f"{verdict:10}" for verdict in verdicts)).rstrip())

# %%
# .. _behaviour_matrix_more:
#
# Beyond bulk UPDATE
# ------------------
#
# Two more summaries the cheat sheet makes, measured the same way. With an unflushed
# ``alice.counter = 7``: a ``populate_existing`` query autoflushes first, so the change is
# kept (and sent); with ``autoflush=False`` nothing is flushed and the reload discards it.
# ``refresh()`` and ``expire()`` discard it. ``refresh(alice)`` still autoflushes the *other*
# pending objects: with a new user added, it sends the INSERT, then the SELECT. When the row
# is already gone (the
# other connection deleted it), flushing a change of alice raises
# :doc:`StaleDataError <../concurrency_and_scope/stale_data_error>`, but
# flushing ``session.delete(alice)`` only warns, unless the mapper has a version counter.


class Versioned(Base):
    __tablename__ = "versioned"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column()
    __mapper_args__ = {"version_id_col": version}


Versioned.__table__.drop(engine, checkfirst=True)
Versioned.__table__.create(engine)
RELOADS = {
    "populate-existing": lambda s, a: s.scalars(
        select(User).execution_options(populate_existing=True)
    ).all(),
    "refresh": lambda s, a: s.refresh(a),
    "expire": lambda s, a: (s.expire(a), a.counter),
}
RELOADS["populate-existing-no-autoflush"] = RELOADS["populate-existing"]
for name, reload in RELOADS.items():
    with Session(engine, autoflush=not name.endswith("no-autoflush")) as session:
        alice = session.get(User, 1)
        alice.counter = 7
        reload(session, alice)
        kept = alice.counter == 7
        MEASURED[f"{name}/unflushed"] = {"verdict": "kept" if kept else "discarded"}
        print(
            f"{name}: the unflushed change is", MEASURED[f"{name}/unflushed"]["verdict"]
        )
# sphinx_gallery_start_ignore
assert MEASURED["populate-existing/unflushed"]["verdict"] == "kept", (
    "autoflush kept the change"
)
assert MEASURED["populate-existing-no-autoflush/unflushed"]["verdict"] == "discarded", (
    "with autoflush=False, populate_existing overwrote the unflushed change"
)
assert MEASURED["refresh/unflushed"]["verdict"] == "discarded", "refresh() discarded it"
assert MEASURED["expire/unflushed"]["verdict"] == "discarded", "expire() discarded it"
# sphinx_gallery_end_ignore
with Session(engine) as session:
    alice = session.get(User, 1)
    session.add(User(id=3, name="cy", counter=5))
    sent.clear()
    session.refresh(alice)
    MEASURED["refresh/sql"] = {"verdict": ", ".join(sql.split()[0] for sql in sent)}
    print(
        "refresh(alice) with another object pending sent:",
        MEASURED["refresh/sql"]["verdict"],
    )
    session.rollback()
# sphinx_gallery_start_ignore
assert MEASURED["refresh/sql"]["verdict"] == "INSERT, SELECT", (
    "refresh() flushed the other one"
)
# sphinx_gallery_end_ignore


def flush_after_row_is_gone(model, change):
    with Session(engine) as session:
        session.add(
            model(
                id=3,
                **(
                    {"version": 1} if model is Versioned else {"name": "cy", "counter": 5}
                ),
            )
        )
        session.commit()
        obj = session.get(model, 3)
        with engine.begin() as other:
            other.execute(model.__table__.delete().where(model.__table__.c.id == 3))
        change(session, obj)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                session.flush()
            except StaleDataError:
                return "raises StaleDataError"
        # sphinx_gallery_start_ignore
        assert not caught or "0 were matched" in str(caught[0].message), (
            "it says: 0 matched"
        )
        # sphinx_gallery_end_ignore
        return "warns" if caught else "silent"


GONE = {
    "change/gone": (User, lambda s, obj: setattr(obj, "counter", 6)),
    "delete/gone": (User, lambda s, obj: s.delete(obj)),
    "delete/gone-versioned": (Versioned, lambda s, obj: s.delete(obj)),
}
for key, (model, change) in GONE.items():
    MEASURED[key] = {"verdict": flush_after_row_is_gone(model, change)}
    print(f"{key}: flushing", MEASURED[key]["verdict"])
# sphinx_gallery_start_ignore
assert MEASURED["change/gone"]["verdict"] == "raises StaleDataError", (
    "an UPDATE of 0 rows raises"
)
assert MEASURED["delete/gone"]["verdict"] == "warns", "a DELETE of 0 rows only warns"
assert MEASURED["delete/gone-versioned"]["verdict"] == "raises StaleDataError", (
    "a versioned DELETE of 0 rows raises StaleDataError"
)
# sphinx_gallery_end_ignore
