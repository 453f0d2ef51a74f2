# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0.11",
# ]
# ///
"""
Bulk UPDATE by primary key: what the session learns
===================================================

Bulk UPDATE by primary key copies the new values into loaded objects in place, refuses
``'fetch'``, and with extra WHERE criteria runs only with ``synchronize_session=None`` (or
``False``; from SQLAlchemy 2.0.11), after which loaded objects may be stale until you
refresh them.

In 2.x, ``session.execute(update(User), [{"id": 1, ...}, ...])`` runs one UPDATE per
parameter set, keyed by primary key. The keys are in your parameters, so the ORM knows which
loaded objects changed; add your own WHERE and it no longer does. Without such a WHERE, a
parameter set whose row is missing raises ``StaleDataError``, with the other rows' UPDATEs
still in the transaction, where the dialect can count the rows of an executemany
(``dialect.supports_sane_multi_rowcount``); asyncpg's cannot, and there nothing is raised
and the other rows are updated: :ref:`run on the StaleDataError page
<stale_data_error_without_flush>`.
"""

# %%
# Setup
# -----
#
# Three users, committed; the listener records every statement and whether it was sent as an
# ``executemany``.

import os

from sqlalchemy import String, create_engine, event, inspect, select, update
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
    sent.append((statement, executemany))


# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
session = Session(engine)
seed = [(1, "Ann", "new"), (2, "Bob", "new"), (3, "Cy", "vip")]
session.add_all([User(id=i, name=name, status=status) for i, name, status in seed])
session.commit()
ann, cy = session.get(User, 1), session.get(User, 3)


def db_names():
    return dict(session.execute(select(User.id, User.name).order_by(User.id)).all())


# %%
# Loaded objects are updated in place
# -----------------------------------
#
# One UPDATE statement, executed for both parameter sets. The loaded ``ann`` receives the
# new name directly: not :doc:`expired <../session_lifecycle/expire_on_commit>`, so reading it
# sends no SQL. ``Bob`` is not loaded, so there
# is nothing to synchronize. The result is an empty ORM result, not a cursor result: it has no
# ``.rowcount``, so do not count rows with it.

sent.clear()
result = session.execute(
    update(User), [{"id": 1, "name": "Ann B."}, {"id": 2, "name": "Bob B."}]
)
updates = [(s, many) for s, many in sent if s.startswith("UPDATE")]
# sphinx_gallery_start_ignore
assert len(updates) == 1 and updates[0][1], "one UPDATE, run as executemany"
assert "WHERE user_account.id = " in updates[0][0], "keyed by the primary key"
assert inspect(ann).dict["name"] == "Ann B.", "the loaded object got the new value"
assert "name" not in inspect(ann).expired_attributes, "updated in place, not expired"
# sphinx_gallery_end_ignore
sent.clear()
print(ann.name)
# sphinx_gallery_start_ignore
assert not sent, "reading the new value sends no SQL"
assert not hasattr(result, "rowcount"), "the result carries no rowcount"
# sphinx_gallery_end_ignore
in_db = db_names()
print(in_db)
# sphinx_gallery_start_ignore
assert in_db == {1: "Ann B.", 2: "Bob B.", 3: "Cy"}, "both rows changed"
# sphinx_gallery_end_ignore

# %%
# ``'fetch'`` is refused
# ----------------------
#
# :doc:`'fetch' <four_strategies>` would ask the database which rows matched; here the primary keys
# already say
# so, and the ORM rejects the option before sending anything.

sent.clear()
error = None
try:
    session.execute(
        update(User).execution_options(synchronize_session="fetch"),
        [{"id": 1, "name": "Ann C."}],
    )
except InvalidRequestError as exc:
    error = exc
    message = str(exc).split("\n(Background")[0]
    print(f"{type(exc).__name__}: {message}")
# sphinx_gallery_start_ignore
assert isinstance(error, InvalidRequestError), "'fetch' is refused for bulk by PK"
assert "'fetch' synchronization strategy is not available" in str(error), (
    "the error says 'fetch' is not available"
)
assert not any(s.startswith("UPDATE") for s, _ in sent), "nothing was sent"
# sphinx_gallery_end_ignore

# %%
# An extra WHERE: the default refuses
# -----------------------------------
#
# ``update(User).where(User.status == "new")`` plus a list of dicts means: update these
# keys, but only if the row also matches. Which ones did? The ORM cannot tell, so the default
# strategy raises and points to ``synchronize_session=None``, which runs it from SQLAlchemy
# 2.0.11 on.

rows = [{"id": 1, "name": "Ann D."}, {"id": 3, "name": "Cy D."}]
error = None
try:
    session.execute(update(User).where(User.status == "new"), rows)
except InvalidRequestError as exc:
    error = exc
    message = str(exc).split("\n(Background")[0]
    print(f"{type(exc).__name__}: {message}")
# sphinx_gallery_start_ignore
assert isinstance(error, InvalidRequestError), "extra WHERE is refused by default"
assert "synchronize_session=None" in str(error), "the message names the way out"
# sphinx_gallery_end_ignore

# %%
# ``synchronize_session=None``: the session knows nothing
# -------------------------------------------------------
#
# Now it runs. The WHERE became ``status = ? AND id = ?``: Ann (``new``) matched, Cy (``vip``)
# did not, and that raises nothing: with a WHERE of yours the rows matched are not counted
# (:doc:`nor is a missing row <../concurrency_and_scope/stale_data_rowcount>`). No loaded
# object was touched, so ``ann`` keeps a stale name while ``cy`` happens to be right.
# Refresh or expire what you loaded yourself.

sent.clear()
session.execute(
    update(User).where(User.status == "new").execution_options(synchronize_session=None),
    rows,
)
# sphinx_gallery_start_ignore
assert "user_account.status = " in next(s for s, _ in sent if s.startswith("UPDATE")), (
    "the WHERE criteria became part of the UPDATE by primary key"
)
# sphinx_gallery_end_ignore
in_db = db_names()
print(in_db)
# sphinx_gallery_start_ignore
assert in_db == {1: "Ann D.", 2: "Bob B.", 3: "Cy"}, "only Ann's row matched"
# sphinx_gallery_end_ignore
print(ann.name, "|", cy.name)
# sphinx_gallery_start_ignore
assert ann.name == "Ann B.", "ann is stale: the session was not told"
assert cy.name == "Cy", "cy is correct only because its row did not match"
# sphinx_gallery_end_ignore
session.refresh(ann)
print(ann.name)
# sphinx_gallery_start_ignore
assert ann.name == "Ann D.", "refresh() loads the database's value"
# sphinx_gallery_end_ignore

# %%
# ``synchronize_session=False`` is accepted too
# ---------------------------------------------
#
# The same UPDATE with ``False`` runs as well, and again the loaded ``ann`` is not told.

session.execute(
    update(User).where(User.status == "new").execution_options(synchronize_session=False),
    [{"id": 1, "name": "Ann E."}],
)
in_db = db_names()
print(in_db, "|", ann.name)
# sphinx_gallery_start_ignore
assert in_db[1] == "Ann E.", "False: the bulk UPDATE with extra WHERE ran"
assert ann.name == "Ann D.", "False: the loaded object was not told"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session.

session.close()
