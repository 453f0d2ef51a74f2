# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
``synchronize_session`` on SQLite, PostgreSQL and MariaDB
=========================================================

``'fetch'`` costs one ``UPDATE ... RETURNING`` on SQLite and PostgreSQL but a ``SELECT`` and
an ``UPDATE`` on MariaDB (and on MySQL, for deletes too); a multi-table DELETE runs as written
with the default strategy only on PostgreSQL (MariaDB runs it with ``synchronize_session=False``
or ``is_delete_using=True``, SQLite not at all); where the database ignores case or trailing
spaces, as MariaDB does by default, ``'auto'`` leaves a matched object stale; and a value Python
computes (``5 / 2``) need not be the one an INTEGER column stores.

The same bulk statements send different SQL to different databases: ``'fetch'`` is one
``UPDATE ... RETURNING`` where the database can return rows from an UPDATE, and a ``SELECT``
followed by the ``UPDATE`` where it cannot. This page asserts, for whichever database
``DATABASE_URL`` names (SQLite in memory by default), what that database is sent, and where the
session ends up differently: a multi-table DELETE that only PostgreSQL accepts as written with
the default strategy, comparisons on MariaDB (case, trailing spaces) that Python does not
reproduce, and arithmetic whose result the database stores differently from what Python
computed.
"""

# %%
# Setup
# -----
#
# Two teams, and two users, one in each. ``sent`` records the first word of every statement, to
# check the shape of the SQL without depending on each driver's placeholders (``?``, ``%s``,
# ``%(name)s``). ``kind`` tells MariaDB from MySQL: both use SQLAlchemy's ``mysql`` dialect, and
# only ``dialect.is_mariadb`` (set from the server's version string on connecting) separates
# them.

import os

from sqlalchemy import (
    ForeignKey,
    String,
    create_engine,
    delete,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import CompileError, InvalidRequestError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    counter: Mapped[int] = mapped_column(default=5)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r}, status={self.status!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
with Session(engine) as session:
    session.add_all([Team(id=1, name="red"), Team(id=2, name="blue")])
    session.flush()
    session.add_all(
        [
            User(id=1, name="Alice", status="active", team_id=1),
            User(id=2, name="bob", status="active", team_id=2),
        ]
    )
    session.commit()

dialect = engine.dialect
kind = "mariadb" if getattr(dialect, "is_mariadb", False) else dialect.name
print("database:", kind)

sent: list[str] = []
event.listen(
    engine,
    "before_cursor_execute",
    lambda conn, cursor, sql, *rest: sent.append(sql.split()[0].upper()),
)

# %%
# What this database can return
# -----------------------------
#
# SQLAlchemy knows, per dialect, whether ``UPDATE`` and ``DELETE`` can have a ``RETURNING``
# clause. SQLite (3.35 and later) and PostgreSQL can do both; MariaDB can return rows from a
# ``DELETE`` but not from an ``UPDATE``; MySQL from neither (next cell).

print(
    f"{kind}: UPDATE..RETURNING={dialect.update_returning}, "
    f"DELETE..RETURNING={dialect.delete_returning}"
)
expected = {
    "sqlite": (True, True),
    "postgresql": (True, True),
    "mariadb": (False, True),
    "mysql": (False, False),
}
# sphinx_gallery_start_ignore
if kind in expected:
    assert (dialect.update_returning, dialect.delete_returning) == expected[kind], (
        f"{kind} returns rows from UPDATE / DELETE as the text says"
    )
# sphinx_gallery_end_ignore

# %%
# .. _dialects-mysql:
#
# MySQL is not MariaDB
# --------------------
#
# No MySQL server runs while this site is built, so what follows is derived from SQLAlchemy's
# MySQL dialect, not run against MySQL. The dialect is built here without connecting: as MySQL
# it says "no" to both kinds of ``RETURNING``; told it is MariaDB, it says "yes" to ``DELETE ...
# RETURNING``. On connecting, the dialect sets these again from the server's version
# (``sqlalchemy/dialects/mysql/``, 2.0 and 2.1): ``DELETE ... RETURNING`` for MariaDB
# 10.0.5 and later, and nothing for any MySQL version. So on MySQL :doc:`'fetch' <four_strategies>`
# is a ``SELECT``
# and then the statement for deletes as well as updates. SQLAlchemy does not refuse to compile
# an explicit ``.returning()`` for either: the server is left to reject it (MariaDB's refusal of
# ``UPDATE ... RETURNING`` is run on the ``update().returning()`` page).

explicit = update(User).where(User.id == 1).values(status="x").returning(User.id)
for label, offline in [
    ("MySQL", mysql.dialect()),
    ("MariaDB", mysql.dialect(is_mariadb=True)),
]:
    print(
        f"{label} (not connected): is_mariadb={offline.is_mariadb}, "
        f"UPDATE..RETURNING={offline.update_returning}, "
        f"DELETE..RETURNING={offline.delete_returning}"
    )
    compiled = " ".join(str(explicit.compile(dialect=offline)).split())
    print("   ", compiled)
    # sphinx_gallery_start_ignore
    assert compiled.endswith("RETURNING users.id"), (
        "an explicit RETURNING is compiled, not refused"
    )
    # sphinx_gallery_end_ignore
# sphinx_gallery_start_ignore
assert (mysql.dialect().update_returning, mysql.dialect().delete_returning) == (
    False,
    False,
), "SQLAlchemy's MySQL dialect has neither UPDATE nor DELETE ... RETURNING"
assert mysql.dialect(is_mariadb=True).delete_returning, (
    "its MariaDB variant has DELETE RETURNING"
)
# sphinx_gallery_end_ignore

# %%
# ``'fetch'`` on an UPDATE
# ------------------------
#
# With ``RETURNING`` the database tells which rows it changed in the same statement. Without
# it, SQLAlchemy first SELECTs the primary keys of the matching rows, then sends the UPDATE:
# two statements, and between them another transaction may change which rows match (under
# MariaDB's default REPEATABLE READ the SELECT even reads the transaction's snapshot while the
# UPDATE changes the latest rows). The objects updated in the session are those the SELECT
# found.

with Session(engine) as session:
    alice = session.get(User, 1)
    sent.clear()
    session.execute(
        update(User).where(User.status == "active").values(status="archived"),
        execution_options={"synchronize_session": "fetch"},
    )
    print(sent)
    print(alice)
    # sphinx_gallery_start_ignore
    if dialect.update_returning:
        assert sent == ["UPDATE"], "one UPDATE ... RETURNING"
    else:
        assert sent == ["SELECT", "UPDATE"], "a SELECT of the keys, then the UPDATE"
    assert alice.status == "archived", "on every database the loaded object is updated"
    # sphinx_gallery_end_ignore
    session.rollback()

# %%
# ``'auto'`` falling back to ``'fetch'``
# --------------------------------------
#
# ``lower()`` cannot run in Python, so ``'auto'`` (the default) does what ``'fetch'`` does:
# the same split between one statement and two.

with Session(engine) as session:
    alice = session.get(User, 1)
    sent.clear()
    session.execute(
        update(User).where(func.lower(User.name) == "alice").values(status="away")
    )
    print(sent)
    # sphinx_gallery_start_ignore
    assert sent == (["UPDATE"] if dialect.update_returning else ["SELECT", "UPDATE"]), (
        "'auto' fell back to 'fetch'"
    )
    assert alice.status == "away", "and the loaded object is updated"
    # sphinx_gallery_end_ignore
    session.rollback()

# %%
# ``'fetch'`` on a DELETE
# -----------------------
#
# All three databases can return rows from a ``DELETE``, so here the SQL has the same shape
# everywhere: one statement (on MySQL it would be a ``SELECT`` and the ``DELETE``).

with Session(engine) as session:
    bob = session.get(User, 2)
    sent.clear()
    session.execute(
        delete(User).where(User.name == "bob"),
        execution_options={"synchronize_session": "fetch"},
    )
    print(sent)
    # sphinx_gallery_start_ignore
    if dialect.delete_returning:
        assert sent == ["DELETE"], "one DELETE ... RETURNING"
    else:
        assert sent == ["SELECT", "DELETE"], "a SELECT of the keys, then the DELETE"
    assert bob not in session, "the matched object left the session"
    # sphinx_gallery_end_ignore
    session.rollback()

# %%
# .. _dialects-multi-table-delete:
#
# A DELETE with criteria on another table
# ---------------------------------------
#
# ``delete(User).where(User.team_id == Team.id)`` names two tables. PostgreSQL renders it as
# ``DELETE FROM users USING teams ...`` and can add ``RETURNING``, so the default strategy
# works as written. MariaDB has the ``DELETE ... USING`` form but no ``RETURNING`` on it, and
# the default (``'auto'`` falls back to ``'fetch'``, since
# :doc:`'evaluate' <../myths/evaluate_reads_database>` cannot judge a
# ``Team`` criterion) raises a ``CompileError`` asking for ``is_delete_using=True``, which makes
# ``'fetch'`` SELECT the keys first. SQLite has no multi-table DELETE at all: the same advice
# leads to a ``NotImplementedError``. (MySQL, derived from its dialect's flags and not run: it
# has no ``DELETE ... RETURNING`` of any kind, so ``'fetch'`` SELECTs first anyway and nothing
# raises.) Each strategy, and the option, run here:

multi_table = delete(User).where(User.team_id == Team.id).where(Team.name == "red")
NO_USING = "NotImplementedError: This backend does not support multiple-table criteria"
ASKS_FOR_USING = (
    'CompileError: Dialect "{}" does not support RETURNING with DELETE..USING'
)
NO_EVALUATE = "InvalidRequestError: Could not evaluate current criteria in Python"
trials = [
    ("default", {}),
    ("default, is_delete_using", {"is_delete_using": True}),
    ("'evaluate'", {"synchronize_session": "evaluate"}),
    ("'fetch'", {"synchronize_session": "fetch"}),
    (
        "'fetch', is_delete_using",
        {"synchronize_session": "fetch", "is_delete_using": True},
    ),
    ("False", {"synchronize_session": False}),
]
outcomes = {}
for label, options in trials:
    with Session(engine) as session:
        alice = session.get(User, 1)
        sent.clear()
        try:
            session.execute(multi_table, execution_options=options)
            where = "left" if alice not in session else "stays in"
            outcome = f"{sent}, alice {where} the session"
        except (CompileError, InvalidRequestError, NotImplementedError) as exc:
            outcome = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        print(f"{label}: {outcome}")
        outcomes[label] = outcome
        session.rollback()

asks = ASKS_FOR_USING.format(dialect.name)
expected_by_kind = {
    "postgresql": {
        "default": "['DELETE'], alice left",
        "default, is_delete_using": "['DELETE'], alice left",
        "'fetch'": "['DELETE'], alice left",
        "'fetch', is_delete_using": "['DELETE'], alice left",
        "False": "['DELETE'], alice stays in",
    },
    "mariadb": {
        "default": asks,
        "default, is_delete_using": "['SELECT', 'DELETE'], alice left",
        "'fetch'": asks,
        "'fetch', is_delete_using": "['SELECT', 'DELETE'], alice left",
        "False": "['DELETE'], alice stays in",
    },
    "sqlite": {
        "default": asks,
        "default, is_delete_using": NO_USING,
        "'fetch'": asks,
        "'fetch', is_delete_using": NO_USING,
        "False": NO_USING,
    },
}
# Derived, not run: MySQL has no DELETE ... RETURNING at all, so 'fetch' SELECTs the keys
# first whatever the option says, and nothing raises.
expected_by_kind["mysql"] = {
    label: "['SELECT', 'DELETE'], alice left"
    for label in [
        "default",
        "default, is_delete_using",
        "'fetch'",
        "'fetch', is_delete_using",
    ]
} | {"False": "['DELETE'], alice stays in"}
# sphinx_gallery_start_ignore
for label, start in expected_by_kind.get(kind, {}).items():
    assert outcomes[label].startswith(start), f"on {kind}, {label} gives {start}"
assert outcomes["'evaluate'"].startswith(NO_EVALUATE), (
    "'evaluate' cannot judge Team criteria"
)
if "CompileError" in outcomes["default"]:
    assert (
        "add the additional execution option 'is_delete_using=True'"
        in outcomes["default"]
    ), "the CompileError says to add is_delete_using=True"
# sphinx_gallery_end_ignore

# %%
# A subquery is portable: ``User.team_id.in_(select(Team.id)...)`` keeps the DELETE on one
# table. ``'evaluate'`` cannot run a subquery either, so the default falls back to ``'fetch'``,
# which every database here answers with one ``DELETE ... RETURNING``.

red_team = select(Team.id).where(Team.name == "red")
with Session(engine) as session:
    alice = session.get(User, 1)
    sent.clear()
    session.execute(delete(User).where(User.team_id.in_(red_team)))
    print(sent, "| alice in the session:", alice in session)
    # sphinx_gallery_start_ignore
    assert sent == (["DELETE"] if dialect.delete_returning else ["SELECT", "DELETE"]), (
        "the default fell back to 'fetch'"
    )
    assert alice not in session, "on every database the deleted object left the session"
    # sphinx_gallery_end_ignore
    session.rollback()

# %%
# .. _dialects-collation:
#
# A case-insensitive comparison
# -----------------------------
#
# The row says ``'Alice'``; the UPDATE asks for ``name == 'alice'``. SQLite's and PostgreSQL's
# default comparison is case-sensitive, as Python's ``==`` is: no row matches, and the session
# agrees. MariaDB compares with the column's collation, and its default collations
# (``..._ci``) ignore case: the database updates Alice's row, while ``'auto'`` (the default)
# evaluates ``'Alice' == 'alice'`` in Python, finds no match, and leaves the loaded object
# stale, not even expired. ``'fetch'`` asks the database and gets it right.

if kind in ("mariadb", "mysql"):
    with engine.connect() as connection:
        collation = connection.scalar(
            text(
                "SELECT collation_name FROM information_schema.columns"
                " WHERE table_schema = DATABASE() AND table_name = 'users'"
                " AND column_name = 'name'"
            )
        )
    print("collation of users.name:", collation)
    ignores_case = collation.endswith("_ci")
    # sphinx_gallery_start_ignore
    if kind == "mariadb":
        assert ignores_case, "MariaDB's default collation is case-insensitive"
    # sphinx_gallery_end_ignore
else:
    ignores_case = False  # SQLite's and PostgreSQL's defaults compare case-sensitively

by_lowercase = update(User).where(User.name == "alice").values(status="vip")
for strategy in ["auto", "fetch"]:
    with Session(engine) as session:
        alice = session.get(User, 1)
        matched = session.execute(
            by_lowercase, execution_options={"synchronize_session": strategy}
        ).rowcount
        in_memory = alice.status
        in_db = session.scalar(select(User.status).where(User.id == 1))
        print(
            f"{strategy}: rows matched {matched}; "
            f"alice in memory {in_memory!r}, row {in_db!r}"
        )
        # sphinx_gallery_start_ignore
        if not ignores_case:
            assert (matched, in_memory, in_db) == (0, "active", "active"), (
                "no match anywhere"
            )
        elif strategy == "auto":
            assert (matched, in_memory, in_db) == (1, "active", "vip"), (
                "the database matched 'Alice', Python did not: the object is stale"
            )
        else:
            assert (matched, in_memory, in_db) == (1, "vip", "vip"), (
                "'fetch' followed the database"
            )
        # sphinx_gallery_end_ignore
        session.rollback()

# %%
# .. _dialects-pad-space:
#
# Trailing spaces
# ---------------
#
# MariaDB's collations (all but the ``..._nopad_...`` ones) are also ``PAD SPACE``: a comparison
# ignores trailing spaces, so ``'bob '`` equals ``'bob'``, no case involved. SQLite and PostgreSQL
# (``VARCHAR``) compare the spaces, as Python does. Bob's name gets a trailing space (flushed),
# then the UPDATE asks for ``name == 'bob'``.

if kind == "mariadb":
    pads = "nopad" not in collation
    # sphinx_gallery_start_ignore
    assert pads, "MariaDB's default collation pads with spaces"
    # sphinx_gallery_end_ignore
else:
    pads = False if kind != "mysql" else None  # MySQL: depends on the collation; not run

with Session(engine) as session:
    bob = session.get(User, 2)
    bob.name = "bob "
    session.flush()
    matched = session.execute(
        update(User).where(User.name == "bob").values(status="vip")
    ).rowcount
    in_db = session.scalar(select(User.status).where(User.id == 2))
    print(f"rows matched {matched}; bob in memory {bob.status!r}, row {in_db!r}")
    # sphinx_gallery_start_ignore
    if pads is True:
        assert (matched, bob.status, in_db) == (1, "active", "vip"), (
            "the database matched 'bob ', Python did not: the object is stale"
        )
    elif pads is False:
        assert (matched, bob.status, in_db) == (0, "active", "active"), (
            "no match anywhere"
        )
    # sphinx_gallery_end_ignore
    session.rollback()

# %%
# .. _dialects-division:
#
# Arithmetic the database stores differently
# ------------------------------------------
#
# Fresh objects, nobody else writing: ``SET counter = counter / 2`` on Alice's 5. SQLAlchemy
# sends a true division, and ``'auto'`` and ``'fetch'`` both put Python's 2.5 into the object.
# SQLite stores 2.5 (a column declared INTEGER keeps a REAL with a fraction); PostgreSQL and
# MariaDB store the INTEGER column's rounded 3. The object is wrong there though nothing was
# stale.

expected_row = {"sqlite": 2.5, "postgresql": 3, "mariadb": 3}.get(kind)  # MySQL: not run
for strategy in ["auto", "fetch"]:
    with Session(engine) as session:
        alice = session.get(User, 1)
        session.execute(
            update(User).where(User.id == 1).values(counter=User.counter / 2),
            execution_options={"synchronize_session": strategy},
        )
        in_db = session.scalar(select(User.counter).where(User.id == 1))
        print(f"{strategy}: alice in memory {alice.counter!r}, row {in_db!r}")
        # sphinx_gallery_start_ignore
        assert alice.counter == 2.5, f"{strategy}: Python's 5 / 2 went into the object"
        if expected_row is not None:
            assert in_db == expected_row, f"on {kind} the row holds {expected_row}"
        # sphinx_gallery_end_ignore
        session.rollback()

# %%
# What stays the same
# -------------------
#
# Where the database compares and computes values as Python does (not for the cells above),
# and the statement compiles, the session's view afterwards is the same on every database
# however many statements were sent: the objects that matched carry the new values. And after
# each rollback the rows are as they were.

with Session(engine) as session:
    rows = session.execute(select(User.id, User.status).order_by(User.id)).all()
    print(rows)
# sphinx_gallery_start_ignore
assert [tuple(row) for row in rows] == [(1, "active"), (2, "active")], (
    "rollbacks undid it all"
)
# sphinx_gallery_end_ignore
