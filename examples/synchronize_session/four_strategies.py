# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
The four ``synchronize_session`` strategies, side by side
=========================================================

``"auto"`` evaluates in Python when it can and fetches when it cannot, ``"evaluate"`` and
``"fetch"`` each force one of those, and ``False`` leaves your loaded objects stale.

A bulk ``update()`` changes rows, not the objects you already loaded: ``synchronize_session``
decides what happens to them. Each strategy here runs the same UPDATE on the same data.
"""

# %%
# Setup
# -----
#
# Three users, two ``"active"``. ``loaded()`` gives each cell a fresh session with them loaded,
# clears ``sent`` (the SQL recorded) and closes without commit, so every cell starts alike.

import os
from contextlib import contextmanager

from sqlalchemy import String, create_engine, event, func, inspect, select, update
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r}, status={self.status!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
rows = [(1, "alice", "active"), (2, "bob", "active"), (3, "carol", "inactive")]
with Session(engine) as session, session.begin():
    session.add_all([User(id=i, name=n, status=s) for i, n, s in rows])

sent = []
event.listen(
    engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: sent.append(sql)
)
stmt = update(User).where(User.status == "active").values(status="archived")
synced = ["archived", "archived", "inactive"]  # the database's statuses after the UPDATE


@contextmanager
def loaded():
    with Session(engine) as session:
        users = session.scalars(select(User).order_by(User.id)).all()
        sent.clear()
        yield session, users


# %%
# At a glance
# -----------
#
# Each strategy runs the UPDATE on the three users loaded fresh: the statements it sent and the
# status alice then has in memory (the database says ``'archived'``); then the same with a WHERE
# clause Python cannot run (``lower(name) == 'alice'``), explained further down.

outcomes = []
for strategy in ("auto", "evaluate", "fetch", False):
    options = {"synchronize_session": strategy}
    with loaded() as (session, (alice, bob, carol)):
        session.execute(stmt, execution_options=options)
        kinds = " + ".join(
            sql.split()[0] + " RETURNING" * ("RETURNING" in sql) for sql in sent
        )
        status = alice.status
    with loaded() as (session, (alice, bob, carol)):
        try:
            session.execute(
                update(User)
                .where(func.lower(User.name) == "alice")
                .values(status="archived"),
                execution_options=options,
            )
            by_lower = repr(alice.status)
        except InvalidRequestError as exc:
            by_lower = f"raises {type(exc).__name__}"
    outcomes.append((repr(strategy), kinds, repr(status), by_lower))
print(
    f"{'strategy':<11} {'SQL sent':<17} {'alice in memory':<16} with lower(name) in WHERE"
)
for row in outcomes:
    print("{:<11} {:<17} {:<16} {}".format(*row))
# sphinx_gallery_start_ignore
assert [row[2] for row in outcomes] == ["'archived'"] * 3 + ["'active'"], (
    "False left it stale"
)
assert [row[3] for row in outcomes] == [
    "'archived'",
    "raises InvalidRequestError",
    "'archived'",
    "'active'",
], "with lower() in the WHERE clause, 'evaluate' raised and 'auto' fetched"
# sphinx_gallery_end_ignore

# %%
# ``"auto"`` (the default)
# ------------------------
#
# ``"auto"`` first tries ``"evaluate"``. ``status == "active"`` can run in Python, so it does:
# one plain UPDATE, and the matching loaded objects get the new value in memory.

with loaded() as (session, (alice, bob, carol)):
    session.execute(stmt, execution_options={"synchronize_session": "auto"})
auto_sql = sent[0]
# sphinx_gallery_start_ignore
assert len(sent) == 1 and "RETURNING" not in auto_sql, (
    "'auto' evaluated: one plain UPDATE"
)
assert [u.status for u in (alice, bob, carol)] == synced, (
    "'auto' updated objects in memory"
)
# sphinx_gallery_end_ignore

# %%
# ``"evaluate"``
# --------------
#
# The same as ``"auto"`` here, but a WHERE clause it cannot run in Python raises instead.

with loaded() as (session, (alice, bob, carol)):
    session.execute(stmt, execution_options={"synchronize_session": "evaluate"})
# sphinx_gallery_start_ignore
assert len(sent) == 1 and "RETURNING" not in sent[0], "'evaluate' sent one plain UPDATE"
assert [u.status for u in (alice, bob, carol)] == synced, (
    "'evaluate' updated objects in memory"
)
# sphinx_gallery_end_ignore

# %%
# ``"fetch"``
# -----------
#
# ``"fetch"`` asks the database which rows matched: the UPDATE returns their keys where it
# supports ``UPDATE ... RETURNING`` (SQLite does), else a ``SELECT`` of the keys runs first.

with loaded() as (session, (alice, bob, carol)):
    session.execute(stmt, execution_options={"synchronize_session": "fetch"})
# sphinx_gallery_start_ignore
if engine.dialect.update_returning:
    assert len(sent) == 1 and "RETURNING" in sent[0], "'fetch' used UPDATE ... RETURNING"
else:
    assert [s.split()[0] for s in sent] == ["SELECT", "UPDATE"], (
        "'fetch' selected keys first"
    )
assert [u.status for u in (alice, bob, carol)] == synced, (
    "'fetch' updated the matched objects"
)
# sphinx_gallery_end_ignore

# %%
# ``False``
# ---------
#
# ``False`` sends the UPDATE and nothing else. The loaded objects keep the old value and are not
# even :doc:`expired <../session_lifecycle/expire_on_commit>` (reading them emits no SQL): stale,
# as a column query of the database shows.

with loaded() as (session, (alice, bob, carol)):
    session.execute(stmt, execution_options={"synchronize_session": False})
    # sphinx_gallery_start_ignore
    assert len(sent) == 1 and "RETURNING" not in sent[0], "False sent one plain UPDATE"
    # sphinx_gallery_end_ignore
    in_db = session.scalar(select(User.status).where(User.id == 1))
    print("alice in memory:", alice.status, "| in the database:", in_db)
# sphinx_gallery_start_ignore
assert (alice.status, bob.status) == ("active", "active"), (
    "False left the loaded objects stale"
)
assert in_db == "archived", "while the database already says 'archived'"
assert not inspect(alice).expired_attributes, "False did not expire them either"
# sphinx_gallery_end_ignore

# %%
# When the WHERE clause cannot run in Python
# ------------------------------------------
#
# SQL functions such as ``lower()`` have no Python version. ``"evaluate"`` then raises before
# sending anything, while ``"auto"`` (the default) falls back to ``"fetch"``.

by_name = update(User).where(func.lower(User.name) == "alice").values(status="archived")
with loaded() as (session, (alice, bob, carol)):
    message = None
    try:
        session.execute(by_name, execution_options={"synchronize_session": "evaluate"})
    except InvalidRequestError as exc:
        message = f"{type(exc).__name__}: " + str(exc).split("\n(Background")[0]
        print(message)
    # sphinx_gallery_start_ignore
    assert message and not sent, "'evaluate' raised before sending the UPDATE"
    # sphinx_gallery_end_ignore
    session.execute(by_name)
fetched = "RETURNING" in sent[-1] if engine.dialect.update_returning else len(sent) == 2
# sphinx_gallery_start_ignore
assert alice.status == "archived" and fetched, (
    "'auto' fell back to 'fetch': asked the database"
)
# sphinx_gallery_end_ignore

# %%
# Where ``"evaluate"`` and ``"fetch"`` differ
# -------------------------------------------
#
# ``"evaluate"`` judges loaded objects by their in-memory values. A Core UPDATE on the session's
# connection makes carol ``"active"`` in the database only; the bulk UPDATE archives her row, but
# ``"evaluate"`` sees ``"inactive"`` in memory and skips her, while ``"fetch"`` updates her.

carol_after = {}
for strategy in ("evaluate", "fetch"):
    with loaded() as (session, (alice, bob, carol)):
        session.connection().execute(
            update(User).where(User.id == 3).values(status="active")
        )
        session.execute(stmt, execution_options={"synchronize_session": strategy})
        in_db = session.scalar(select(User.status).where(User.id == 3))
        carol_after[strategy] = (carol.status, in_db)
        print(
            f"{strategy!r}: carol in memory {carol.status!r}, in the database {in_db!r}"
        )
# sphinx_gallery_start_ignore
assert carol_after["evaluate"] == ("inactive", "archived"), (
    "'evaluate' missed carol's new row"
)
assert carol_after["fetch"] == ("archived", "archived"), (
    "'fetch' used the rows the DB matched"
)
# sphinx_gallery_end_ignore

# %%
# Where SQLAlchemy's own documentation says otherwise
# ---------------------------------------------------
#
# The ORM DML chapter (:external+sqlalchemy:ref:`orm_queryguide_update_delete_sync`) says that
# ``'auto'`` uses ``'fetch'`` on backends with RETURNING and
# :doc:`'evaluate' <../myths/evaluate_reads_database>` elsewhere, and that
# ``'evaluate'`` must refresh expired objects, a SELECT for each. The source
# (``_do_pre_synchronize_auto`` and ``_get_matched_objects_on_criteria`` in
# ``sqlalchemy/orm/bulk_persistence.py``) tries ``'evaluate'`` first and skips fully expired
# objects, and so does this run: on a RETURNING backend ``'auto'`` sent a plain UPDATE (the
# first cell), and ``'evaluate'`` over three expired users sends the UPDATE alone.

with loaded() as (session, users):
    session.expire_all()
    session.execute(stmt, execution_options={"synchronize_session": "evaluate"})
    print("statements:", [sql.split()[0] for sql in sent])
    # sphinx_gallery_start_ignore
    assert len(sent) == 1 and sent[0].startswith("UPDATE"), (
        "no SELECT for the expired objects"
    )
    assert all(inspect(user).expired for user in users), (
        "they were skipped, still expired"
    )
    # sphinx_gallery_end_ignore
    print("on access:", [user.status for user in users])
    # sphinx_gallery_start_ignore
    assert [user.status for user in users] == synced, (
        "and reload the new values on access"
    )
    # sphinx_gallery_end_ignore
# sphinx_gallery_start_ignore
if engine.dialect.update_returning:
    assert "RETURNING" not in auto_sql, "with RETURNING available, 'auto' still evaluated"
# sphinx_gallery_end_ignore

# %%
# Summary
# -------
#
# - ``"auto"``: no extra SQL if it can evaluate, else as ``"fetch"``; objects updated in memory.
# - ``"evaluate"``: no extra SQL, raises if it cannot evaluate; matches by in-memory values.
# - ``"fetch"``: ``RETURNING`` keys, or a ``SELECT`` of the keys first; matches by the database.
# - ``False``: no extra SQL; loaded objects left stale, not expired.
