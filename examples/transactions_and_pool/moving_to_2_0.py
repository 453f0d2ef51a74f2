# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=1.4.24",
# ]
# ///
"""
Moving from 1.x to 2.0: what the session no longer does
=======================================================

In 2.x, ``child.parent = parent`` no longer puts the child in the parent's session: the
child is left out, and the flush only warns ("Object of type <Child> not in session, add
operation along 'Parent.children' will not proceed"; before 2.0.19, only when
``parent.children`` was loaded before the assignment). ``Session(autocommit=True)`` raises
``ArgumentError`` and ``session.begin(subtransactions=True)`` raises ``TypeError``. In 1.4
and 2.x alike, the first query begins a transaction, so a later ``session.begin()`` raises
"A transaction is already begun on this Session.", and ``rollback()`` with no transaction
open does nothing. The page runs on 1.4.54 as well, where the first three still work; with
``SQLALCHEMY_WARN_20=1`` (which the page sets) each warns with a ``RemovedIn20Warning``;
without it, 1.4.46 and later warn once, with a generic "Deprecated API features detected"
(unless ``SQLALCHEMY_SILENCE_UBER_WARNING=1``), and 1.4.0 to 1.4.45 say nothing.
"""

# %%
# Setup: a page that runs on 1.4 too
# ----------------------------------
#
# The models use ``declarative_base()`` and ``Column``, which 1.4 has, and the session is
# 1.4's default one (not ``future=True``), the one 1.x code was written for.
# ``SQLALCHEMY_WARN_20=1`` makes 1.4 warn at each use of a behaviour 2.0 removes, each
# with its own ``RemovedIn20Warning`` (2.x ignores it). Without it, 1.4.46 and later warn
# once per process, "Deprecated API features detected!", whatever the use, and not at all
# with ``SQLALCHEMY_SILENCE_UBER_WARNING=1``; 1.4.0 to 1.4.45 give no warning (checked
# when this page runs on 1.4, in child processes without the variable). ``attempt()``
# runs a step and returns its outcome and the warnings it raised, first sentence each.
# What changed for bulk ``update()`` statements from 1.4 to 2.x is on :doc:`its own page
# <../synchronize_session/version_differences>`.

import os

os.environ.setdefault("SQLALCHEMY_WARN_20", "1")

import re  # noqa: E402
import warnings  # noqa: E402

import sqlalchemy  # noqa: E402
from sqlalchemy import (  # noqa: E402
    Column,
    ForeignKey,
    Integer,
    String,
    create_engine,
    inspect,
    select,
)
from sqlalchemy.orm import Session, declarative_base, relationship  # noqa: E402

SA_VERSION = tuple(int(p) for p in sqlalchemy.__version__.split(".")[:2])
RELEASE = tuple(int(p) for p in re.findall(r"\d+", sqlalchemy.__version__)[:3])
print("SQLAlchemy", sqlalchemy.__version__)

Base = declarative_base()


class Parent(Base):
    __tablename__ = "parent"
    id = Column(Integer, primary_key=True)
    name = Column(String(50), nullable=False)
    children = relationship("Child", back_populates="parent")

    def __repr__(self) -> str:
        return f"Parent(id={self.id!r}, name={self.name!r})"


class Child(Base):
    __tablename__ = "child"
    id = Column(Integer, primary_key=True)
    name = Column(String(50), nullable=False)
    parent_id = Column(ForeignKey("parent.id"))
    parent = relationship("Parent", back_populates="children")

    def __repr__(self) -> str:
        return f"Child(id={self.id!r}, name={self.name!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
with Session(engine) as setup:
    setup.add(Parent(id=1, name="parent"))
    setup.commit()


# sphinx_gallery_start_ignore
if SA_VERSION < (2, 0):
    import subprocess
    import sys

    two_uses_twice = """
import warnings
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
engine = create_engine("sqlite://")
with warnings.catch_warnings(record=True) as recorded:
    warnings.simplefilter("always")
    for _ in range(2):
        Session(engine, autocommit=True).close()
        Session(engine).begin(subtransactions=True)
for w in recorded:
    print(w.category.__name__, str(w.message).split("!")[0])
"""
    variables = ("SQLALCHEMY_WARN_20", "SQLALCHEMY_SILENCE_UBER_WARNING")
    without_variable = {k: v for k, v in os.environ.items() if k not in variables}

    def child_warned(**env: str) -> list[str]:
        return subprocess.run(
            [sys.executable, "-c", two_uses_twice],
            env={**without_variable, **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()

    if RELEASE >= (1, 4, 46):
        assert child_warned() == [
            "RemovedIn20Warning Deprecated API features detected"
        ], (
            "1.4.46 and later, without SQLALCHEMY_WARN_20: one generic warning for four "
            "removed uses"
        )
        assert child_warned(SQLALCHEMY_SILENCE_UBER_WARNING="1") == [], (
            "1.4.46 and later: SQLALCHEMY_SILENCE_UBER_WARNING=1 silences it"
        )
    else:
        assert child_warned() == [], (
            "1.4.0 to 1.4.45, without SQLALCHEMY_WARN_20: no warning for the removed uses"
        )
# sphinx_gallery_end_ignore


def first_sentence(text) -> str:
    text = re.split(r"\s*\(Background on ", str(text))[0]
    return re.sub(r" at 0x[0-9a-f]+", "", text).split(".  ")[0]


def attempt(step):
    """Run step(); return ("ok" or the error, [the warnings it raised])."""
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        try:
            step()
            outcome = "ok"
        except Exception as error:
            outcome = f"{type(error).__name__}: {first_sentence(error)}"
    return outcome, [
        f"{w.category.__name__}: {first_sentence(w.message)}" for w in recorded
    ]


# %%
# The backref cascade is gone: ``child.parent = parent`` does not add the child
# -----------------------------------------------------------------------------
#
# The parent is in the session; the new child is not. Setting ``child.parent`` also puts
# the child in ``parent.children`` (the backref). In 1.4 that put the child in the session
# too, and the commit saved it. In 2.x the child stays out of the session, without a word
# at the assignment, and is not saved; the commit's flush warns. Before 2.0.19 it warned
# only when ``parent.children`` was loaded before the assignment; from 2.0.19 on it warns
# either way (SQLAlchemy issue #10090). Both cases run below. On 1.4.54 the assignment
# adds the child and warns ``RemovedIn20Warning: "Child" object is being merged into a Session
# along the backref cascade path for relationship "Parent.children"; in SQLAlchemy 2.0,
# this reverse cascade will not take place`` (checked when this page runs on 1.4).

backref_runs = {}
for loaded_first in (False, True):
    with Session(engine) as session:
        parent = session.get(Parent, 1)
        if loaded_first:
            parent.children  # the collection is loaded before the assignment
        child = Child(name=f"set through child.parent, loaded first: {loaded_first}")
        _, warned_at_assignment = attempt(
            lambda c=child, p=parent: setattr(c, "parent", p)
        )
        in_session = child in session
        _, warned_at_flush = attempt(session.commit)
        saved = session.scalars(select(Child.name).order_by(Child.id)).all()
    backref_runs[loaded_first] = (
        warned_at_assignment,
        in_session,
        warned_at_flush,
        saved,
    )
    print("parent.children loaded first:", loaded_first)
    print("  warnings at the assignment:", warned_at_assignment)
    print("  the child in the session:", in_session)
    print("  warnings at the commit:", warned_at_flush)
    print("  children saved:", saved)
# sphinx_gallery_start_ignore
flush_warning = [
    "SAWarning: Object of type <Child> not in session, add operation along "
    "'Parent.children' will not proceed"
]
if SA_VERSION < (2, 0):
    warned_at_assignment, in_session, _, saved = backref_runs[False]
    assert in_session and saved == ["set through child.parent, loaded first: False"], (
        "1.4: the backref cascade added the child to the session, and the commit saved it"
    )
    assert warned_at_assignment == [
        'RemovedIn20Warning: "Child" object is being merged into a Session along the '
        'backref cascade path for relationship "Parent.children"; in SQLAlchemy 2.0, '
        "this reverse cascade will not take place"
    ], "1.4: the assignment warned that 2.0 will not cascade"
    assert backref_runs[True][1] and len(backref_runs[True][3]) == 2, (
        "1.4: with the collection loaded first, the child was saved too"
    )
else:
    for run in backref_runs.values():
        warned_at_assignment, in_session, warned_at_flush, saved = run
        assert not in_session and warned_at_assignment == [], (
            "2.x: the assignment left the child out of the session, without a warning"
        )
        assert saved == [], "2.x: the child was not saved"
    assert backref_runs[True][2] == flush_warning, (
        "2.x: with parent.children loaded first, the commit's flush warned"
    )
    if RELEASE >= (2, 0, 19):
        assert backref_runs[False][2] == flush_warning, (
            "2.0.19 and later: with the collection not loaded, the flush warned too"
        )
    else:
        assert backref_runs[False][2] == [], (
            "2.0.0 to 2.0.18: with the collection not loaded, the flush said nothing"
        )
# sphinx_gallery_end_ignore

# %%
# In 2.x: add the child, or append it to the parent's collection
# --------------------------------------------------------------
#
# ``session.add(child)`` says it. Appending to ``parent.children`` works too: the cascade
# from a parent in the session to the objects it refers to (``save-update``) was never
# removed, only the reverse one, along a backref.

with Session(engine) as session:
    parent = session.get(Parent, 1)
    added = Child(name="added", parent=parent)
    session.add(added)
    appended = Child(name="appended")
    parent.children.append(appended)
    print("both in the session:", added in session and appended in session)
    session.commit()
    saved = session.scalars(select(Child.name).order_by(Child.id)).all()
print("children saved:", saved)
# sphinx_gallery_start_ignore
assert saved[-2:] == ["added", "appended"], "both children were saved"
# sphinx_gallery_end_ignore

# %%
# ``autocommit=True`` is gone
# ---------------------------
#
# A 1.4 session with ``autocommit=True`` begins no transaction for a query: it has none
# between ``begin()`` calls. 2.x refuses the argument (1.4.54 accepts it, with
# ``RemovedIn20Warning: The Session.autocommit parameter is deprecated and will be removed
# in SQLAlchemy version 2.0``). Its replacement: a ``with session.begin():`` block around
# the work, which commits at the end of the block (or rolls back if it raises).

autocommit_in_transaction = []


def autocommit_session() -> None:
    with Session(engine, autocommit=True) as session:
        session.scalars(select(Parent)).all()
        autocommit_in_transaction.append(session.in_transaction())


outcome, warned = attempt(autocommit_session)
print(outcome, warned)
with Session(engine) as session:
    with session.begin():
        session.add(Child(name="in a begin() block"))
    print("after the block, a transaction:", session.in_transaction())
with Session(engine) as check:
    committed = check.scalars(select(Child.name).where(Child.name.like("in a %"))).all()
print("committed:", committed)
# sphinx_gallery_start_ignore
if SA_VERSION < (2, 0):
    assert outcome == "ok" and warned == [
        "RemovedIn20Warning: The Session.autocommit parameter is deprecated and will be "
        "removed in SQLAlchemy version 2.0"
    ], "1.4: autocommit=True is accepted, with a RemovedIn20Warning"
    assert autocommit_in_transaction == [False], "1.4: its query began no transaction"
else:
    assert outcome == "ArgumentError: autocommit=True is no longer supported", (
        "2.x: Session(autocommit=True) raises ArgumentError"
    )
assert "in a begin() block" in committed, "the begin() block committed"
# sphinx_gallery_end_ignore

# %%
# ``begin(subtransactions=True)`` is gone
# ---------------------------------------
#
# 1.x code let a function call ``session.begin(subtransactions=True)`` whether or not its
# caller had begun a transaction. 2.x raises ``TypeError`` (1.4.54 accepts it, with
# ``RemovedIn20Warning: The Session.begin.subtransactions flag is deprecated and will be
# removed in SQLAlchemy version 2.0``). In 2.x such a function begins a transaction only if
# none is open, and leaves the commit to whoever began it.

with Session(engine) as session:
    outcome, warned = attempt(lambda: session.begin(subtransactions=True))
print(outcome, warned)


def save(session: Session, obj) -> None:
    if session.in_transaction():
        session.add(obj)  # the caller's transaction; the caller commits
    else:
        with session.begin():
            session.add(obj)


with Session(engine) as session:
    save(session, Child(name="saved alone"))
    alone = session.in_transaction()
    with session.begin():
        save(session, Child(name="saved inside the caller's transaction"))
        inside = session.in_transaction()
print("after save() alone, a transaction:", alone, "- inside the caller's:", inside)
with Session(engine) as check:
    names = set(check.scalars(select(Child.name)).all())
# sphinx_gallery_start_ignore
if SA_VERSION < (2, 0):
    assert outcome == "ok" and warned == [
        "RemovedIn20Warning: The Session.begin.subtransactions flag is deprecated and will "
        "be removed in SQLAlchemy version 2.0"
    ], "1.4: begin(subtransactions=True) is accepted, with a RemovedIn20Warning"
else:
    assert outcome == (
        "TypeError: Session.begin() got an unexpected keyword argument 'subtransactions'"
    ), "2.x: begin(subtransactions=True) raises TypeError"
assert not alone and inside, "save() committed alone, and joined the caller's transaction"
assert {"saved alone", "saved inside the caller's transaction"} <= names, "both saved"
# sphinx_gallery_end_ignore

# %%
# Autobegin: the first query begins the transaction
# -------------------------------------------------
#
# A plain ``SELECT`` begins a transaction ("autobegin"), so a ``session.begin()`` after it
# finds one open and raises. The same on 1.4 and 2.x. Call ``begin()`` before the first
# query, or end the transaction first (``commit()`` or ``rollback()``).

with Session(engine) as session:
    session.scalars(select(Parent)).all()
    in_transaction = session.in_transaction()
    outcome, _ = attempt(session.begin)
    print("after the SELECT, a transaction:", in_transaction, "-", outcome)
    session.rollback()
    outcome_after_rollback, _ = attempt(session.begin)
    print("after rollback():", outcome_after_rollback)
# sphinx_gallery_start_ignore
assert in_transaction, "the SELECT began a transaction"
assert (
    outcome == "InvalidRequestError: A transaction is already begun on this Session."
), "begin() after the SELECT raised InvalidRequestError"
assert outcome_after_rollback == "ok", "after rollback() begin() began a new transaction"
# sphinx_gallery_end_ignore

# %%
# ``rollback()`` with no transaction open does nothing
# ----------------------------------------------------
#
# After ``commit()`` no transaction is open until the next query. A ``rollback()`` then
# has nothing to roll back: with ``expire_on_commit=False`` the loaded objects keep their
# values, none is expired. Inside a transaction, ``rollback()`` expires every object, with
# ``expire_on_commit=False`` too. The same on 1.4 and 2.x.

with Session(engine, expire_on_commit=False) as session:
    parent = session.get(Parent, 1)
    session.commit()
    open_after_commit = session.in_transaction()
    session.rollback()
    after_idle_rollback = sorted(inspect(parent).expired_attributes)
    session.scalars(select(Parent)).all()
    session.rollback()
    after_rollback = sorted(inspect(parent).expired_attributes)
print("a transaction after commit():", open_after_commit)
print("expired by rollback() with none open:", after_idle_rollback)
print("expired by rollback() of an open one:", after_rollback)
# sphinx_gallery_start_ignore
assert not open_after_commit, "after commit() no transaction is open"
assert after_idle_rollback == [], "rollback() with no transaction open expired nothing"
assert "name" in after_rollback, "rollback() of an open transaction expired the parent"
# sphinx_gallery_end_ignore

# %%
# In one sentence
# ---------------
#
# In 2.x, add every new object to the session yourself (or through a parent's
# collection), replace ``autocommit=True`` and ``subtransactions=True`` with
# ``with session.begin():`` where no transaction is open yet, and expect the first query
# to have begun one.
#
# Clean up: the page closes its engine's connections.

engine.dispose()
