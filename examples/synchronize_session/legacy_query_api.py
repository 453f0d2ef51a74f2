# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Legacy ``Query.update()`` / ``Query.delete()`` and their 2.0-style twins
========================================================================

``session.query(User).filter(...).update(...)`` / ``.delete(...)`` and
``session.execute(update(User)...)`` / ``delete(User)...`` with the same
``synchronize_session`` send the same SQL and leave loaded objects in the same state, with
no warning in 2.x; the legacy form returns a plain row count.

Older code calls ``session.query(User).filter(...).update({...})``. The 2.0 style is
``session.execute(update(User).where(...).values(...))``.
"""

# %%
# Setup
# -----
#
# ``run()`` loads ``User(id=1)`` in a fresh session, runs one operation, and returns its
# result, the UPDATE/DELETE statements sent (with parameters), any warnings, and what became
# of the loaded object. The session is rolled back afterwards, so every run starts equal.

import os
import warnings

from sqlalchemy import String, create_engine, delete, event, inspect, update
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
    sent.append((statement, parameters))


# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
with Session(engine) as session:
    seed = [(1, "Ann", "new"), (2, "Bob", "new"), (3, "Cy", "vip")]
    session.add_all([User(id=i, name=name, status=status) for i, name, status in seed])
    session.commit()


def run(action):
    with Session(engine) as session:
        ann = session.get(User, 1)
        sent.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = action(session)
        dml = [(s, p) for s, p in sent if s.startswith(("UPDATE", "DELETE"))]
        ann_now = "deleted" if inspect(ann).deleted else ann.status
        return value, dml, caught, ann_now


# %%
# UPDATE, both ways
# -----------------
#
# Same WHERE, same values, same ``synchronize_session="fetch"``
# (:doc:`the four strategies <four_strategies>`). The legacy call returns the
# matched row count as a plain ``int``; ``session.execute()`` returns a result whose
# ``.rowcount`` holds the same number. Even with every warning switched on, the legacy
# ``Query`` emits none.

legacy, legacy_sql, legacy_warnings, legacy_ann = run(
    lambda s: (
        s.query(User)
        .filter(User.status == "new")
        .update({"status": "old"}, synchronize_session="fetch")
    )
)
modern, modern_sql, modern_warnings, modern_ann = run(
    lambda s: (
        s.execute(
            update(User)
            .where(User.status == "new")
            .values(status="old")
            .execution_options(synchronize_session="fetch")
        ).rowcount
    )
)
print("legacy:", legacy, type(legacy).__name__, "| 2.0 style:", modern)
print("loaded object's status:", legacy_ann, "|", modern_ann)
# sphinx_gallery_start_ignore
assert type(legacy) is int and legacy == 2, "Query.update() returns the rowcount int"
assert modern == legacy, "the 2.0 result's rowcount is the same number"
assert legacy_sql == modern_sql and len(legacy_sql) == 1, "the same UPDATE was sent"
assert legacy_ann == modern_ann == "old", "the loaded object got the new value both ways"
assert not legacy_warnings and not modern_warnings, "no warning, not even a deprecation"
# sphinx_gallery_end_ignore

# %%
# DELETE, both ways
# -----------------
#
# The same holds for ``Query.delete()``: identical DELETE, and the loaded object is marked
# deleted either way.

legacy, legacy_sql, legacy_warnings, legacy_ann = run(
    lambda s: (
        s.query(User).filter(User.status == "new").delete(synchronize_session="fetch")
    )
)
modern, modern_sql, modern_warnings, modern_ann = run(
    lambda s: (
        s.execute(
            delete(User)
            .where(User.status == "new")
            .execution_options(synchronize_session="fetch")
        ).rowcount
    )
)
print("legacy:", legacy, type(legacy).__name__, "| 2.0 style:", modern)
print("loaded object:", legacy_ann, "|", modern_ann)
# sphinx_gallery_start_ignore
assert type(legacy) is int and legacy == modern == 2, (
    "Query.delete() returns the rowcount"
)
assert legacy_sql == modern_sql and len(legacy_sql) == 1, "the same DELETE was sent"
assert legacy_ann == modern_ann == "deleted", "the loaded object is marked deleted"
assert not legacy_warnings and not modern_warnings, "no warning here either"
# sphinx_gallery_end_ignore
