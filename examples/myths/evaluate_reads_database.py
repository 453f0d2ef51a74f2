# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0.36",
# ]
# ///
"""
Myth: ``'evaluate'`` looks the rows up in the database
======================================================

``synchronize_session='evaluate'`` never asks the database which rows an UPDATE matched. It runs
the WHERE clause in Python against the objects already loaded, using their in-memory values. When
those values are stale, the session and the database part ways. ``'fetch'`` does ask the database
which rows matched, but it too computes from memory any SET expression that Python can evaluate:
the cure is to let the database send the values back (``returning(User)`` with
``populate_existing``, from SQLAlchemy 2.0.36) or to expire them.
"""

# %%
# The claim
# ---------
#
# "With ``synchronize_session='evaluate'`` SQLAlchemy updates exactly the objects whose rows the
# UPDATE changed."
#
# A second connection will change a row behind the session's back, so the in-memory SQLite
# default is swapped for a SQLite file in a temporary directory.

import os
import tempfile

from sqlalchemy import (
    String,
    create_engine,
    event,
    func,
    inspect,
    make_url,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmp = tempfile.TemporaryDirectory()
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmp.name, "example.db"))
# MariaDB's default REPEATABLE READ would pin each transaction to its first snapshot.
mariadb = url.get_backend_name() in ("mysql", "mariadb")
engine = create_engine(url, **({"isolation_level": "READ COMMITTED"} if mariadb else {}))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
users = User.__table__

sql = []  # every statement sent, so we can count them
event.listen(engine, "before_cursor_execute", lambda *args: sql.append(args[2]))

with Session(engine) as setup:
    setup.add(User(id=1, name="alice"))
    setup.commit()


def load_then_rename(session, new_name):
    """Load user 1 into the session, then rename it on another connection (committed)."""
    user = session.get(User, 1)
    with engine.begin() as other:
        other.execute(update(users).where(users.c.id == 1).values(name=new_name))
    return user


def name_in_db():  # asked on another connection
    with engine.connect() as other:
        return other.scalar(select(users.c.name).where(users.c.id == 1))


# %%
# Run it
# ------
#
# The session loads alice; then another connection renames her to ``"alicia"``.

session = Session(engine)
alice = load_then_rename(session, "alicia")
in_db = name_in_db()
print("in memory:", alice.name, "| in the database:", in_db)
# sphinx_gallery_start_ignore
assert (alice.name, in_db) == ("alice", "alicia"), "the loaded object is now stale"
# sphinx_gallery_end_ignore

# %%
# Now the session capitalizes every user still called ``"alice"``, with ``'evaluate'``.

stmt = update(User).where(User.name == "alice").values(name="Alice")
result = session.execute(stmt, execution_options={"synchronize_session": "evaluate"})
in_db = name_in_db()
print("rows:", result.rowcount, "| in memory:", alice.name, "| in the database:", in_db)
# sphinx_gallery_start_ignore
assert result.rowcount == 0, "no row in the database was called 'alice' any more"
assert in_db == "alicia", "the database row was not changed"
assert alice.name == "Alice", "the object got a value the database never had"
assert not inspect(alice).expired_attributes and alice not in session.dirty, (
    "held as if committed"
)
# sphinx_gallery_end_ignore

# %%
# The default, ``'auto'``, tries ``'evaluate'`` first, so it does the same (in a new session:
# closing the old one discards the invented value).

session.close()
session = Session(engine)
alice = load_then_rename(session, "alicia2")
session.execute(update(User).where(User.name == "alicia").values(name="Alicia"))
in_db = name_in_db()
print("in memory:", alice.name, "| in the database:", in_db)
# sphinx_gallery_start_ignore
assert alice.name == "Alicia" and in_db == "alicia2", "'auto' evaluated in Python too"
# sphinx_gallery_end_ignore

# %%
# What actually happens
# ---------------------
#
# ``'evaluate'`` compiles the WHERE clause into a Python function run over every loaded ``User``
# in the identity map: the database answers "which rows match?" with its data, the evaluator with
# yours. Here the database matched nothing, while the stale object matched and got the new value,
# recorded as if from the database (not dirty, not expired) until the transaction ends.

# %%
# ``'fetch'`` gets the match right, not the value
# -----------------------------------------------
#
# :doc:`'fetch' <../synchronize_session/four_strategies>` asks the database which rows it updated
# (RETURNING where supported, elsewhere a
# SELECT first), so a stale object whose row did not match is left alone.

session.close()
session = Session(engine)
alice = load_then_rename(session, "ali")  # in memory "alicia2", in the database "ali"
stmt = update(User).where(User.name == "alicia2").values(name="Alicia")
session.execute(stmt, execution_options={"synchronize_session": "fetch"})
print("no row matched, in memory:", alice.name)
# sphinx_gallery_start_ignore
assert alice.name == "alicia2", "'fetch' left the object alone: its row was not updated"
# sphinx_gallery_end_ignore

# %%
# For the rows that did match, every strategy but ``False`` computes a SET expression that Python
# can evaluate (a constant, ``name || '!'``) from the object's in-memory value: ``SET name = name
# || '!'`` turns the database's ``"ali"``
# into ``"ali!"``, and the stale object's ``"alicia2"`` into ``"alicia2!"``: a value that no
# one ever wrote, held as if committed. ``'fetch'`` is no cure for a stale object.

sql.clear()
stmt = update(User).where(User.id == 1).values(name=User.name + "!")
session.execute(stmt, execution_options={"synchronize_session": "fetch"})
keys_by = "RETURNING" in sql[0] if engine.dialect.update_returning else len(sql) == 2
in_transaction = session.scalar(select(users.c.name).where(users.c.id == 1))
print("in memory:", alice.name, "| in the database:", in_transaction)
# sphinx_gallery_start_ignore
assert keys_by, "'fetch' learned the keys with RETURNING, or (MariaDB) a SELECT first"
assert in_transaction == "ali!", "the database computed the SET from its own value"
assert alice.name == "alicia2!", "'fetch' computed it from the stale in-memory value"
assert not inspect(alice).expired_attributes, "and did not expire it"
# sphinx_gallery_end_ignore

# %%
# A SET expression Python cannot run, such as ``func.upper(User.name)``, is not computed:
# ``'fetch'`` expires the attribute instead (so do ``'auto'`` and ``'evaluate'``:
# :ref:`sphx_glr_auto_examples_synchronize_session_what_sync_writes.py`), and the next access
# SELECTs the database's value. Here the stale object ends up right, because of the expression.

stmt = update(User).where(User.id == 1).values(name=func.upper(User.name))
session.execute(stmt, execution_options={"synchronize_session": "fetch"})
# sphinx_gallery_start_ignore
assert "name" in inspect(alice).expired_attributes, "'fetch' expired the SET attribute"
# sphinx_gallery_end_ignore
sql.clear()
print("in memory:", alice.name)
# sphinx_gallery_start_ignore
assert alice.name == "ALI!" and sql[0].startswith("SELECT"), "the access reloaded the row"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# Do this instead
# ---------------
#
# Let the database send the values back: ``returning(User)`` with
# :doc:`populate_existing=True <requery_refreshes>`
# overwrites each updated object with its row (from SQLAlchemy 2.0.36: up to 2.0.35 the
# object kept the value computed in Python, :ref:`measured on every release
# <version-differences-measured>`). Keep ``'fetch'`` with it, so that an object
# matched only in Python gets nothing. Without UPDATE..RETURNING (MariaDB), expire the SET
# attributes after the UPDATE: the next access SELECTs them.

alice = load_then_rename(session, "al")  # in memory "ali", in the database "al"
stmt = update(User).where(User.id == 1).values(name=User.name + "!")
sql.clear()
if engine.dialect.update_returning:
    options = {"synchronize_session": "fetch", "populate_existing": True}
    returned = session.scalars(stmt.returning(User), execution_options=options).all()
    # sphinx_gallery_start_ignore
    assert returned == [alice] and "RETURNING" in sql[0], "the updated row came back"
    # sphinx_gallery_end_ignore
else:
    session.execute(stmt, execution_options={"synchronize_session": "fetch"})
    session.expire(alice, ["name"])
print("in memory:", alice.name)
# sphinx_gallery_start_ignore
assert alice.name == "al!", "the object holds the database's value"
# sphinx_gallery_end_ignore

# %%
# Commit, and the database agrees.

session.commit()
in_db = name_in_db()
print("in the database:", in_db)
# sphinx_gallery_start_ignore
assert in_db == "al!", "the committed row holds the object's value"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session and the engine's connections.

session.close()
engine.dispose()
tmp.cleanup()


# %%
# Checked by
# ----------
#
# - ``'evaluate'`` (and the default ``'auto'``): an UPDATE matching 0 rows still gave the stale
#   object the new value, held as if committed (not dirty, not expired).
# - ``'fetch'``: no matched row, stale object left untouched; but for a matched row it computed
#   ``name || '!'`` from the stale memory (``"alicia2!"`` against the database's ``"ali!"``).
# - ``SET name = upper(name)``, which Python cannot run: ``'fetch'`` expired ``name``, and the
#   next access loaded the database's value.
# - ``returning(User)`` with ``populate_existing`` (or, on MariaDB, expiring ``name``) gave the
#   object the database's value.
