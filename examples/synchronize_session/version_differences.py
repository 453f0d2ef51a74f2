# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=1.4",
# ]
# ///
"""
``synchronize_session`` in SQLAlchemy 1.4 and 2.x
=================================================

Moving from 1.4 to 2.x, the default becomes ``"auto"`` (falling back to ``"fetch"`` instead
of raising), ``"fetch"`` uses ``RETURNING`` on more databases, and ``update(User)`` with a list
of dicts becomes a safe bulk UPDATE by primary key instead of an UPDATE of every row, while
an object whose criteria column is unloaded is no longer SELECTed: 2.0 up to 2.0.58 and 2.1 up
to 2.1.9 count it as matching, 2.0.59 expires it; 2.1 also autoflushes before Core statements
and ``text()``.

Code that runs bulk ``update()`` statements can behave differently after an upgrade from 1.4.
This page runs the same statements and asserts what the *running* version does, so it is built
on 1.4, 2.0 and 2.1 alike.
"""

# %%
# Setup
# -----
#
# The model uses ``declarative_base()`` with ``Column`` rather than ``DeclarativeBase`` and
# ``Mapped``: 1.4 has neither, and this page must run on 1.4 as well as 2.x. ``future=True``
# gives 1.4 the 2.0-style engine and session. ``sent`` records the SQL strings.

import os
import re

import sqlalchemy
from sqlalchemy import (
    Column,
    Integer,
    String,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import ArgumentError, IntegrityError, InvalidRequestError
from sqlalchemy.orm import Session, declarative_base, load_only

SA_VERSION = tuple(int(p) for p in sqlalchemy.__version__.split(".")[:2])
FUTURE = {"future": True} if SA_VERSION < (2, 0) else {}
print("SQLAlchemy", sqlalchemy.__version__)
# sphinx_gallery_start_ignore
# SQLAlchemy 2.0.59 changed the evaluator; 1.4, 2.0 up to 2.0.58 and 2.1 up to 2.1.9 have not.
RELEASE = tuple(int(part) for part in re.findall(r"\d+", sqlalchemy.__version__)[:3])
EVALUATOR_2_0_59 = (2, 0, 59) <= RELEASE < (2, 1)
# sphinx_gallery_end_ignore

Base = declarative_base()


class User(Base):
    __tablename__ = "users"
    id = Column(Integer, primary_key=True)
    name = Column(String(50), nullable=False)
    status = Column(String(20), nullable=False)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r}, status={self.status!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"), **FUTURE)
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
with Session(engine, **FUTURE) as session:
    session.add_all(
        [User(id=i, name=n, status="active") for i, n in [(1, "alice"), (2, "bob")]]
    )
    session.commit()

sent = []
event.listen(
    engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: sent.append(sql)
)
# Can an UPDATE return the matched keys? 1.4 calls this "full_returning".
flag = "update_returning" if SA_VERSION >= (2, 0) else "full_returning"
RETURNING = getattr(engine.dialect, flag)


# What each section measured, by key: the version page compares it release by release.
MEASURED = {}
LABELS = {}


def load(session):
    """Load both users into the session, then start recording SQL afresh."""
    users = session.scalars(select(User).order_by(User.id)).all()
    sent.clear()
    return users


def judged(in_memory):
    """Bob's row did not match: 'vip' in memory is wrong, 'active' right, or expired."""
    return {"'vip'": "wrong", "'active'": "right"}.get(in_memory, in_memory)


def error_text(exc):
    return f"{type(exc).__name__}: " + str(exc).split("\n(Background")[0]


# %%
# .. _version_differences_default:
#
# The default strategy
# --------------------
#
# SQL functions such as ``lower()`` cannot be evaluated in Python. With no
# :doc:`synchronize_session <four_strategies>`
# given, 1.4's default ``"evaluate"`` raises; 2.x's ``"auto"`` falls back to ``"fetch"``.

by_name = update(User).where(func.lower(User.name) == "alice").values(status="vip")
with Session(engine, **FUTURE) as session:
    alice, bob = load(session)
    try:
        session.execute(by_name)
        outcome = f"updated, alice is now {alice.status!r}"
    except InvalidRequestError as exc:
        outcome = error_text(exc)
    print(outcome)
    MEASURED["versions-default/sql-function"] = {
        "verdict": "raises" if outcome.startswith("InvalidRequestError") else "falls back"
    }
    LABELS["versions-default/sql-function"] = "version_differences_default"
# sphinx_gallery_start_ignore
if SA_VERSION < (2, 0):
    assert "Could not evaluate" in outcome and not sent, (
        "1.4's 'evaluate' raised, sent nothing"
    )
else:
    fetched = (
        "RETURNING" in sent[-1] if RETURNING else len(sent) == 2
    )  # asked for matched keys
    assert outcome == "updated, alice is now 'vip'" and fetched, (
        "2.x 'auto' fell back to 'fetch'"
    )
# sphinx_gallery_end_ignore

# %%
# .. _version_differences_auto:
#
# ``"auto"`` itself is new in 2.0: 1.4 rejects the value.

with Session(engine, **FUTURE) as session:
    alice, bob = load(session)
    try:
        session.execute(by_name, execution_options={"synchronize_session": "auto"})
        outcome = "accepted"
    except ArgumentError as exc:
        print(error_text(exc))
        outcome = "rejected"
print("'auto' was", outcome)
MEASURED["versions-auto/accepted"] = {"verdict": outcome}
LABELS["versions-auto/accepted"] = "version_differences_auto"
# sphinx_gallery_start_ignore
assert outcome == ("rejected" if SA_VERSION < (2, 0) else "accepted"), (
    "'auto' exists from 2.0"
)
# sphinx_gallery_end_ignore

# %%
# .. _version_differences_fetch:
#
# How ``"fetch"`` finds the matched rows
# --------------------------------------
#
# 2.x adds ``RETURNING`` to the UPDATE wherever the dialect supports it, SQLite included. 1.4
# uses ``RETURNING`` only on dialects with "full returning" (PostgreSQL), so on SQLite it sends a
# SELECT of the keys first.

with Session(engine, **FUTURE) as session:
    alice, bob = load(session)
    session.execute(by_name, execution_options={"synchronize_session": "fetch"})
    print("alice:", alice.status, "| statements sent:", [sql.split()[0] for sql in sent])
    MEASURED["versions-fetch/sql"] = {
        "verdict": ", ".join(
            sql.split()[0] + (" RETURNING" if "RETURNING" in sql else "") for sql in sent
        )
    }
    LABELS["versions-fetch/sql"] = "version_differences_fetch"
# sphinx_gallery_start_ignore
assert alice.status == "vip", "'fetch' updated the matched loaded object"
if RETURNING:
    assert len(sent) == 1 and "RETURNING" in sent[0], "one UPDATE ... RETURNING"
else:
    assert [sql.split()[0] for sql in sent] == ["SELECT", "UPDATE"], (
        "SELECT keys, then UPDATE"
    )
# sphinx_gallery_end_ignore

# %%
# .. _version_differences_by_primary_key:
#
# Bulk UPDATE by primary key
# --------------------------
#
# In 2.x, ``update(User)`` plus a list of dicts that include the primary key is a bulk UPDATE
# by primary key: one ``UPDATE ... WHERE users.id = ?`` per dict. 1.4 has no such mode: the
# same call sends the primary key as a SET value with *no WHERE clause*, so it targets every row.
# With two rows it collides on the primary key; we roll back either way and check the data.

rows = [{"id": 1, "status": "gold"}, {"id": 2, "status": "silver"}]
with Session(engine, **FUTURE) as session:
    alice, bob = load(session)
    try:
        session.execute(update(User), rows)
        outcome, in_memory = "updated", (alice.status, bob.status)
        print("in memory before rollback:", in_memory)
    except IntegrityError as exc:
        outcome = "IntegrityError"
        print(f"{type(exc).__name__}: {str(exc.orig).splitlines()[0]}")
    update_sql = next(sql for sql in sent if sql.startswith("UPDATE"))
    print(update_sql)
    session.rollback()
    in_db = session.scalars(select(User.status).order_by(User.id)).all()
print("after rollback:", in_db)
MEASURED["versions-by-primary-key/where"] = {
    "verdict": "WHERE by key" if "WHERE" in update_sql else "no WHERE",
}
MEASURED["versions-by-primary-key/outcome"] = {"verdict": outcome}
LABELS["versions-by-primary-key/where"] = "version_differences_by_primary_key"
LABELS["versions-by-primary-key/outcome"] = "version_differences_by_primary_key"
# sphinx_gallery_start_ignore
if SA_VERSION < (2, 0):
    assert "WHERE" not in update_sql, "1.4 sent the UPDATE without a WHERE clause"
    assert outcome == "IntegrityError", "1.4 tried to give every row the same primary key"
else:
    assert "WHERE" in update_sql and outcome == "updated", (
        "2.x: one UPDATE per dict, by its key"
    )
    assert in_memory == ("gold", "silver"), "2.x also synchronized the loaded objects"
assert in_db == ["active", "active"], "the rollback left the data unchanged"
# sphinx_gallery_end_ignore

# %%
# .. _versions-partial-expiry:
# .. _version_differences_partial:
#
# A partially expired criteria column
# -----------------------------------
#
# Bob is loaded, then only his ``name`` is expired. The UPDATE matches ``name == "alice"``,
# which bob's row does not. ``'evaluate'`` needs bob's name to judge him. 1.4 SELECTs the
# expired column first and judges him correctly. 2.x does not load it, and cannot judge him:
#
# - 2.0 up to 2.0.58 and 2.1 up to 2.1.9 count him as matching, and apply the SET to bob in
#   memory, though the database left his row alone.
# - from 2.0.59, 2.x expires bob instead: his next access loads his row.
#
# The default (``'auto'`` in 2.x) does the same, since it evaluates first. ``'fetch'`` asks the
# database which rows matched, and gets bob right in every version.

by_alice = update(User).where(User.name == "alice").values(status="vip")
strategies = (
    ["evaluate", "fetch"] if SA_VERSION < (2, 0) else ["evaluate", "auto", "fetch"]
)
for strategy in strategies:
    with Session(engine, **FUTURE) as session:
        alice, bob = load(session)
        session.expire(bob, ["name"])
        session.execute(by_alice, execution_options={"synchronize_session": strategy})
        statements = [sql.split()[0] for sql in sent]
        # Read without loading anything:
        in_memory = (
            repr(bob.__dict__["status"]) if "status" in bob.__dict__ else "expired"
        )
        in_db = session.scalars(select(User.status).where(User.id == 2)).one()
        print(
            f"{strategy}: bob.status in memory {in_memory}, in the database {in_db!r};",
            "statements:",
            statements,
        )
        key = f"versions-partial/{strategy}"
        MEASURED[key] = {
            "verdict": judged(in_memory),
            "statements": ", ".join(statements),
        }
        LABELS[key] = "version_differences_partial"
        # sphinx_gallery_start_ignore
        if strategy == "fetch":
            assert in_memory == "'active'" and in_db == "active", (
                "'fetch' judged bob correctly: not matched"
            )
        elif SA_VERSION < (2, 0):
            assert statements == ["SELECT", "UPDATE"] and "users.name" in sent[0], (
                "1.4 SELECTed the expired name before evaluating"
            )
            assert in_memory == "'active'" and in_db == "active", (
                "1.4 judged bob correctly: not matched"
            )
        else:
            assert statements == ["UPDATE"], (
                "2.x sent the UPDATE alone: no SELECT of the name"
            )
            if EVALUATOR_2_0_59:
                assert (in_memory, in_db) == ("expired", "active"), (
                    f"{sqlalchemy.__version__} '{strategy}' expired bob: 'active' in the row"
                )
            else:
                assert (in_memory, in_db) == ("'vip'", "active"), (
                    f"{sqlalchemy.__version__} '{strategy}' counted bob as matching: "
                    "'vip' in memory, 'active' in the row"
                )
        # sphinx_gallery_end_ignore
        session.rollback()

# %%
# .. _versions-load-only:
# .. _version_differences_load_only:
#
# The same with ``load_only()``
# -----------------------------
#
# A column left out by ``load_only()`` is unloaded in the same way: bob is loaded with his
# ``status`` only, and 2.x again does not load his ``name``: in 2.0 up to 2.0.58 and 2.1 up to
# 2.1.9 it applies the SET to him in memory; from 2.0.59 it expires him.

with Session(engine, **FUTURE) as session:
    bob = session.scalars(
        select(User).options(load_only(User.status)).where(User.id == 2)
    ).one()
    sent.clear()
    session.execute(by_alice, execution_options={"synchronize_session": "evaluate"})
    statements = [sql.split()[0] for sql in sent]
    in_memory = repr(bob.__dict__["status"]) if "status" in bob.__dict__ else "expired"
    in_db = session.scalars(select(User.status).where(User.id == 2)).one()
    print(
        f"bob.status in memory {in_memory}, in the database {in_db!r}; statements:",
        statements,
    )
    MEASURED["versions-load-only/evaluate"] = {
        "verdict": judged(in_memory),
        "statements": ", ".join(statements),
    }
    LABELS["versions-load-only/evaluate"] = "version_differences_load_only"
    # sphinx_gallery_start_ignore
    if SA_VERSION < (2, 0):
        assert statements == ["SELECT", "UPDATE"], "1.4 SELECTed the unloaded name first"
        assert in_memory == "'active'" and in_db == "active", (
            "1.4 judged bob correctly: not matched"
        )
    else:
        assert statements == ["UPDATE"], "2.x did not load the name"
        if EVALUATOR_2_0_59:
            assert (in_memory, in_db) == ("expired", "active"), (
                f"{sqlalchemy.__version__} expired bob"
            )
        else:
            assert (in_memory, in_db) == ("'vip'", "active"), (
                f"{sqlalchemy.__version__} counted bob as matching"
            )
    # sphinx_gallery_end_ignore
    session.rollback()

# %%
# .. _versions-core-autoflush:
# .. _version_differences_autoflush:
#
# Autoflush before Core statements
# --------------------------------
#
# ``Session.execute()`` autoflushes before an ORM statement in every version. Before a Core
# statement on a ``Table``, or a :doc:`text() <../untracked_changes/raw_sql_text>` string, 1.4 and
# 2.0 do not: the UPDATE below looks
# for the row with ``status = 'pending'`` while that change is still only in memory, and
# matches nothing. 2.1 autoflushes first (SQLAlchemy issue 9809), and the UPDATE finds the row.
# A statement sent through ``session.connection()`` bypasses the session: no version flushes.

users = User.__table__
in_21 = SA_VERSION >= (2, 1)
core_update = update(users).where(users.c.status == "pending").values(status="seen")
orm_update = update(User).where(User.status == "pending").values(status="seen")
raw_update = text("UPDATE users SET status = 'seen' WHERE status = 'pending'")
cases = [  # (label, how it is sent, does this version flush first?)
    ("ORM update(User)", lambda s: s.execute(orm_update), True),
    ("Core update(users)", lambda s: s.execute(core_update), in_21),
    ("text()", lambda s: s.execute(raw_update), in_21),
    (
        "text() on session.connection()",
        lambda s: s.connection().execute(raw_update),
        False,
    ),
]
for label, send, flushes in cases:
    with Session(engine, **FUTURE) as session:
        alice, bob = load(session)
        alice.status = "pending"
        matched = send(session).rowcount
        flushed = alice not in session.dirty
        print(
            f"{label}: rows matched {matched}, "
            f"the change to alice flushed first: {flushed}"
        )
        key = "versions-autoflush/" + re.sub(r"\W+", "-", label.lower()).strip("-")
        MEASURED[key] = {"verdict": "flushed first" if flushed else "not flushed"}
        LABELS[key] = "version_differences_autoflush"
        # sphinx_gallery_start_ignore
        assert (matched, flushed) == ((1, True) if flushes else (0, False)), (
            f"SQLAlchemy {sqlalchemy.__version__} {'flushed' if flushes else 'did not flush'}"
            f" before {label}"
        )
        # sphinx_gallery_end_ignore
        session.rollback()
