# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
``'evaluate'`` meets criteria it cannot run in Python
=====================================================

``'evaluate'`` raises on WHERE criteria with no Python equivalent (SQL functions, subqueries)
before sending its UPDATE (but after the autoflush, which sends a pending change first),
``'auto'`` falls back to ``'fetch'`` for them, and a SET value
computed by SQL is expired on the matched objects and reloaded on next access. Criteria it
does run can still disagree with the database: ``startswith()`` runs as Python's
``str.startswith``, blind to LIKE's ``_`` and ``%`` wildcards and to ``autoescape=True``.

``synchronize_session="evaluate"`` re-runs your WHERE clause in Python against every loaded
object.
"""

# %%
# Setup: two users and a statement recorder
# -----------------------------------------
#
# The listener keeps every SQL string the engine sends, so the cells below can assert which
# statements ran.

import os

from sqlalchemy import String, create_engine, event, func, inspect, select, update
from sqlalchemy.exc import InvalidRequestError
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
sent = []


@event.listens_for(engine, "before_cursor_execute")
def record(conn, cursor, statement, parameters, context, executemany):
    sent.append(statement)


# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
session = Session(engine)
session.add_all(
    [User(id=1, name="Ann", status="new"), User(id=2, name="Bob", status="new")]
)
session.commit()
ann = session.get(User, 1)
print(ann)

# %%
# A SQL function in the WHERE clause
# ----------------------------------
#
# ``lower()`` runs in the database; the evaluator has no Python version of it. The error is
# raised before the UPDATE is sent, and with nothing pending in the session nothing at all is
# sent: the database is untouched.

by_lower_name = (
    update(User)
    .where(func.lower(User.name) == "ann")
    .values(status="active")
    .execution_options(synchronize_session="evaluate")
)
sent.clear()
error = None
try:
    session.execute(by_lower_name)
except InvalidRequestError as exc:
    error = exc
    message = str(exc).split("\n(Background")[0]
    print(f"{type(exc).__name__}: {message}")
# sphinx_gallery_start_ignore
assert isinstance(error, InvalidRequestError), "'evaluate' refuses a SQL function"
assert "Cannot evaluate Function" in str(error), "the message names the function"
assert not sent, "nothing was sent"
# sphinx_gallery_end_ignore

# %%
# With a change pending, the autoflush comes first
# ------------------------------------------------
#
# The bulk UPDATE :doc:`autoflushes <autoflush_before_bulk>` before ``'evaluate'`` looks at
# the criteria. With an unflushed ``ann.status = "pending"``, the flush's own UPDATE is sent
# first, then ``'evaluate'`` raises: the bulk UPDATE is never sent, but the flushed change is
# in the transaction. The rollback drops it.

ann.status = "pending"
sent.clear()
error = None
try:
    session.execute(by_lower_name)
except InvalidRequestError as exc:
    error = exc
    print(f"{type(exc).__name__}, after {len(sent)} statement(s) sent")
flushed = sent[:]
in_transaction = session.scalar(select(User.status).where(User.id == 1))
print("in the transaction, ann's row says:", in_transaction)
session.rollback()
print("after the rollback:", ann)
# sphinx_gallery_start_ignore
assert isinstance(error, InvalidRequestError), "'evaluate' still refuses the function"
assert len(flushed) == 1 and flushed[0].startswith("UPDATE"), "one UPDATE went first"
assert "lower(" not in flushed[0], "it was the autoflush's UPDATE, not the bulk UPDATE"
assert in_transaction == "pending", "the flushed change is in the transaction"
assert ann.status == "new", "the rollback dropped it"
# sphinx_gallery_end_ignore

# %%
# An IN subquery
# --------------
#
# ``User.id.in_(select(...))`` needs the database to run the SELECT; the evaluator cannot.

error = None
try:
    session.execute(
        update(User)
        .where(User.id.in_(select(User.id).where(User.name == "Ann")))
        .values(status="active")
        .execution_options(synchronize_session="evaluate")
    )
except InvalidRequestError as exc:
    error = exc
    message = str(exc).split("\n(Background")[0]
    print(f"{type(exc).__name__}: {message}")
# sphinx_gallery_start_ignore
assert isinstance(error, InvalidRequestError), "'evaluate' refuses an IN subquery"
assert "Cannot evaluate Select" in str(error), "the message names the subquery"
# sphinx_gallery_end_ignore

# %%
# ``'auto'`` falls back to ``'fetch'``
# ------------------------------------
#
# The default, ``'auto'``, tries :doc:`'evaluate' <../myths/evaluate_reads_database>` and on this
# error uses ``'fetch'``: the database
# reports which rows matched (:doc:`RETURNING <update_returning>` where supported, otherwise a
# SELECT first), and
# the matched loaded object receives the new value.

sent.clear()
session.execute(
    update(User).where(func.lower(User.name) == "ann").values(status="active")
)
update_sql = next(s for s in sent if s.startswith("UPDATE"))
# sphinx_gallery_start_ignore
if engine.dialect.update_returning:
    assert "RETURNING" in update_sql, "'fetch' asks the UPDATE to return matched keys"
else:
    assert sent[0].startswith("SELECT"), (
        "without RETURNING, 'fetch' SELECTs matches first"
    )
assert inspect(ann).dict["status"] == "active", "the loaded object got the new value"
assert "status" not in inspect(ann).expired_attributes, "set in place, not expired"
# sphinx_gallery_end_ignore
print(ann.status)

# %%
# A SET value it cannot compute is expired
# ----------------------------------------
#
# Here the WHERE clause is simple, so ``'auto'`` does evaluate it, but the new value
# ``upper(name)`` exists only in the database. The ORM cannot copy it, so it expires
# ``name`` on the matched object.

session.execute(update(User).where(User.id == 1).values(name=func.upper(User.name)))
print(inspect(ann).expired_attributes)
# sphinx_gallery_start_ignore
assert "name" in inspect(ann).expired_attributes, "a SQL-computed value is expired"
assert "name" not in inspect(ann).dict, "the old value is gone from the object"
# sphinx_gallery_end_ignore

# %%
# The next access reloads it
# --------------------------
#
# Reading ``ann.name`` sends a SELECT and returns what the database computed.

sent.clear()
print(ann.name)
# sphinx_gallery_start_ignore
assert ann.name == "ANN", "the reload returns the database's value"
assert len(sent) == 1 and sent[0].startswith("SELECT"), (
    "one SELECT reloaded the attribute"
)
# sphinx_gallery_end_ignore

# %%
# ``startswith()``: evaluated, but not as LIKE
# --------------------------------------------
#
# ``startswith()`` is one of the operators the evaluator does run, so ``'auto'`` uses it
# too, with no fallback. It runs Python's ``str.startswith`` on the bound value, where the
# database runs ``LIKE``: ``_`` and ``%`` are wildcards to the database and plain characters
# to Python. Two users, Jo_Ann and Joann: ``startswith("Jo_")`` matches both in the
# database (``_`` is any one character), and only Jo_Ann in memory, so Joann keeps a stale
# status. ``autoescape=True`` makes the bound value ``Jo/_`` with ``ESCAPE '/'``: the
# database matches Jo_Ann only, and Python, comparing with ``Jo/_`` as it is, matches
# nobody, so Jo_Ann is stale. ``'fetch'`` asks the database, and gets both right. Each run
# is rolled back.

session.add_all(
    [User(id=3, name="Jo_Ann", status="new"), User(id=4, name="Joann", status="new")]
)
session.commit()


def mark_active(where, strategy):
    """Bulk UPDATE the loaded users; their status in memory and in the database."""
    users = session.scalars(select(User).where(User.id > 2).order_by(User.id)).all()
    session.execute(
        update(User).where(where).values(status="active"),
        execution_options={"synchronize_session": strategy},
    )
    in_memory = {user.name: inspect(user).dict["status"] for user in users}
    query = select(User.name, User.status).where(User.id > 2).order_by(User.id)
    rows = session.execute(query).all()
    session.rollback()
    return in_memory, dict(rows)


criteria = {
    "startswith('Jo_')": User.name.startswith("Jo_"),
    "startswith('Jo_', autoescape=True)": User.name.startswith("Jo_", autoescape=True),
}
print("bound values:", [where.compile().params for where in criteria.values()])
outcomes = {}
for label, where in criteria.items():
    for strategy in ("evaluate", "auto", "fetch"):
        in_memory, in_db = outcomes[label, strategy] = mark_active(where, strategy)
        print(f"{label}, {strategy!r}: memory {in_memory}, database {in_db}")
# sphinx_gallery_start_ignore
assert [list(where.compile().params.values()) for where in criteria.values()] == [
    ["Jo_"],
    ["Jo/_"],
], "autoescape=True binds Jo/_"
both, one, none = (
    {"Jo_Ann": "active", "Joann": "active"},
    {"Jo_Ann": "active", "Joann": "new"},
    {"Jo_Ann": "new", "Joann": "new"},
)
for strategy in ("evaluate", "auto"):
    assert outcomes["startswith('Jo_')", strategy] == (one, both), (
        f"{strategy!r}: the database matched Joann too, memory only Jo_Ann"
    )
    assert outcomes["startswith('Jo_', autoescape=True)", strategy] == (none, one), (
        f"{strategy!r} with autoescape: the database matched Jo_Ann, memory nobody"
    )
assert outcomes["startswith('Jo_')", "fetch"] == (both, both), "'fetch' got both"
assert outcomes["startswith('Jo_', autoescape=True)", "fetch"] == (one, one), (
    "'fetch' with autoescape: Jo_Ann in memory and in the database"
)
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session.

session.close()
