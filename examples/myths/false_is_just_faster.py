# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Myth: ``synchronize_session=False`` is just the fast option
===========================================================

``synchronize_session=False`` does skip work, but the work it skips is keeping the objects you
already loaded correct. This page runs a bulk UPDATE and a bulk DELETE with it and looks at what
the session holds afterwards.
"""

# %%
# The claim
# ---------
#
# "Pass ``synchronize_session=False`` to bulk updates, it's just the fast option: no SELECT, no
# Python evaluation." It can save that work. But it also skips keeping your objects right.

import os
import re

from sqlalchemy import String, create_engine, delete, event, func, inspect, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.orm.exc import StaleDataError


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
users = User.__table__

sql = []  # every statement sent, so we can count them
event.listen(engine, "before_cursor_execute", lambda *args: sql.append(args[2]))

with Session(engine) as setup:
    setup.add_all([User(id=1, name="alice"), User(id=2, name="bob")])
    setup.commit()

session = Session(engine)
alice, bob = session.scalars(select(User).order_by(User.id)).all()
print(alice, bob)

# %%
# Run it
# ------
#
# A bulk UPDATE with ``synchronize_session=False``. We ask the database directly (a Core
# ``select`` on the session's own connection, which bypasses the
# :doc:`identity map <../session_lifecycle/identity_map>`) what it holds.

session.execute(
    update(User).where(User.id == 1).values(name="alice2"),
    execution_options={"synchronize_session": False},
)
in_db = session.connection().scalar(select(users.c.name).where(users.c.id == 1))
print("expired attributes:", inspect(alice).expired_attributes)
print("in memory:", alice.name, "| in the database:", in_db)
# sphinx_gallery_start_ignore
assert inspect(alice).expired_attributes == set(), "False does not even expire the object"
assert alice.name == "alice", "the loaded object keeps the old value"
assert in_db == "alice2", "the database has the new value"
# sphinx_gallery_end_ignore

# %%
# Now a bulk DELETE with ``False``. The row is gone; the object still claims to be persistent.

session.execute(
    delete(User).where(User.id == 2), execution_options={"synchronize_session": False}
)
rows = session.connection().scalar(select(func.count()).where(users.c.id == 2))
print("rows with id=2:", rows, "| bob persistent:", inspect(bob).persistent)
# sphinx_gallery_start_ignore
assert rows == 0, "the row was deleted in the database"
assert inspect(bob).persistent and bob in session, (
    "the deleted row's object is still persistent"
)
# sphinx_gallery_end_ignore

# %%
# Change that object and commit. The flush sends an UPDATE for a row that no longer exists.

bob.name = "robert"
error = None
try:
    session.commit()
except StaleDataError as exc:
    error = exc
    message = re.split(r"\s\(Background on this error", str(exc))[0]
    print(f"{type(exc).__name__}: {re.sub(r' at 0x[0-9a-f]+', '', message)}")
# sphinx_gallery_start_ignore
assert isinstance(error, StaleDataError), (
    "flushing the deleted object raises StaleDataError"
)
assert "0 were matched" in str(error), "the UPDATE matched no row"
# sphinx_gallery_end_ignore
session.rollback()
session.close()

# %%
# What actually happens
# ---------------------
#
# :doc:`synchronize_session <../synchronize_session/four_strategies>` decides what the session does
# to the objects in its identity map after
# a bulk statement. ``False`` means "nothing": the attributes keep their loaded values and are not
# expired, so no later access reloads them; a deleted row's object stays persistent, and the unit
# of work later writes to it as if the row existed. The database is right; your objects are not,
# and nothing tells you so until a flush fails (or never, for the stale UPDATE).

# %%
# Do this instead
# ---------------
#
# Keep the default, ``'auto'``: for simple criteria it evaluates the WHERE clause in Python
# against the loaded objects, so it sends exactly the same single statement as ``False``. (When it
# cannot evaluate, it falls back to ``'fetch'``, which costs a RETURNING clause or one SELECT.)
# The failed commit above rolled everything back, so we start again from alice and bob.

with Session(engine) as session:
    alice, bob = session.scalars(select(User).order_by(User.id)).all()
    sql.clear()
    session.execute(update(User).where(User.id == 1).values(name="alice2"))
    # sphinx_gallery_start_ignore
    assert len(sql) == 1, "'auto' sent one statement, just like False"
    assert alice.name == "alice2", "'auto' updated the loaded object"
    # sphinx_gallery_end_ignore
    session.execute(delete(User).where(User.id == 2))
    print("bob deleted:", inspect(bob).deleted, "| in session:", bob in session)
    # sphinx_gallery_start_ignore
    assert inspect(bob).deleted and bob not in session, "'auto' marked the object deleted"
    # sphinx_gallery_end_ignore
    session.commit()

# %%
# If you must use ``False`` (say, for a huge statement you cannot evaluate), expire what you
# loaded afterwards. The next access then reloads from the database: one SELECT per object, paid
# only for the objects you touch.

with Session(engine) as session:
    alice = session.get(User, 1)
    session.execute(
        update(User).where(User.id == 1).values(name="alice3"),
        execution_options={"synchronize_session": False},
    )
    session.expire_all()
    # sphinx_gallery_start_ignore
    assert "name" in inspect(alice).expired_attributes, "expire_all() expired the object"
    # sphinx_gallery_end_ignore
    sql.clear()
    print(alice.name)
    # sphinx_gallery_start_ignore
    assert alice.name == "alice3", "the next access loaded the new value"
    assert len(sql) == 1 and sql[0].lstrip().startswith("SELECT"), "it cost one SELECT"
    # sphinx_gallery_end_ignore
    session.commit()

# %%
# Checked by
# ----------
#
# - After a bulk UPDATE with ``False`` the loaded object keeps its old value, is not expired, and
#   the database holds the new value.
# - After a bulk DELETE with ``False`` the object stays persistent and in the session; changing and
#   committing it raises ``StaleDataError`` (0 rows matched).
# - ``'auto'`` sends the same single UPDATE, updates the loaded object, and marks the bulk-deleted
#   object deleted.
# - ``False`` followed by ``expire_all()`` reloads the new value with one SELECT on next access.
