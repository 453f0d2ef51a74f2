# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Myth: ``'evaluate'`` looks the rows up in the database
======================================================

``synchronize_session='evaluate'`` never asks the database which rows an UPDATE matched. It runs
the WHERE clause in Python against the objects already loaded, using their in-memory values. When
those values are stale, the session and the database part ways.
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

from sqlalchemy import String, create_engine, event, inspect, make_url, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmp = tempfile.TemporaryDirectory()
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmp.name, "example.db"))
# MariaDB's default REPEATABLE READ would pin each transaction to its first snapshot.
mariadb = url.get_backend_name() in ("mysql", "mariadb")
engine = create_engine(url, **({"isolation_level": "READ COMMITTED"} if mariadb else {}))
Base.metadata.drop_all(engine)
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
print("in memory:", alice.name, "| in the database:", name_in_db())
assert (alice.name, name_in_db()) == ("alice", "alicia"), "the loaded object is now stale"

# %%
# Now the session capitalizes every user still called ``"alice"``, with ``'evaluate'``.

stmt = update(User).where(User.name == "alice").values(name="Alice")
result = session.execute(stmt, execution_options={"synchronize_session": "evaluate"})
print("rows:", result.rowcount, "| in memory:", alice.name, "| in the database:", name_in_db())
assert result.rowcount == 0, "no row in the database was called 'alice' any more"
assert name_in_db() == "alicia", "the database row was not changed"
assert alice.name == "Alice", "the object got a value the database never had"
assert not inspect(alice).expired_attributes and alice not in session.dirty, "held as if committed"
session.rollback()  # expires everything, so the invented value is gone
session.close()

# %%
# The default, ``'auto'``, tries ``'evaluate'`` first, so it does the same.

with Session(engine) as session:
    alice = load_then_rename(session, "alicia2")
    session.execute(update(User).where(User.name == "alicia").values(name="Alicia"))
    print("in memory:", alice.name, "| in the database:", name_in_db())
    assert alice.name == "Alicia" and name_in_db() == "alicia2", "'auto' evaluated in Python too"
    session.rollback()

# %%
# What actually happens
# ---------------------
#
# ``'evaluate'`` compiles the WHERE clause into a Python function run over every loaded ``User``
# in the identity map: the database answers "which rows match?" with its data, the evaluator with
# yours. Here the database matched nothing, while the stale object matched and got the new value,
# recorded as if from the database (not dirty, not expired) until the transaction ends.

# %%
# Do this instead
# ---------------
#
# Use ``synchronize_session='fetch'``: the database reports which rows it updated, and only those
# objects are synchronized. We make alice stale again and run the same kind of statement.

session = Session(engine)
alice = load_then_rename(session, "ali")  # in memory "alicia2", in the database "ali"
stmt = update(User).where(User.name == "alicia2").values(name="Alicia")
session.execute(stmt, execution_options={"synchronize_session": "fetch"})
print("no row matched, in memory:", alice.name)
assert alice.name == "alicia2", "'fetch' left the object alone: its row was not updated"

# %%
# When the database does match the row, ``'fetch'`` synchronizes the object, although its
# in-memory value did not match the WHERE clause. The cost: it must learn the matched primary
# keys, with RETURNING on the UPDATE where supported (SQLite, PostgreSQL), elsewhere (MariaDB)
# with a SELECT first. And it syncs only the rows the statement touched: as above, an object made
# stale by another transaction stays stale until you refresh it.

sql.clear()
stmt = update(User).where(User.name == "ali").values(name="Ali")
session.execute(stmt, execution_options={"synchronize_session": "fetch"})
print("the row matched, in memory:", alice.name)
assert alice.name == "Ali", "'fetch' synchronized the object whose row the database updated"
if engine.dialect.update_returning:
    assert len(sql) == 1 and "RETURNING" in sql[0], "'fetch' added RETURNING"
else:
    assert len(sql) == 2 and sql[0].lstrip().startswith("SELECT"), "SELECT first"
session.commit()
assert name_in_db() == "Ali", "and the database agrees"
session.close()
engine.dispose()
tmp.cleanup()

# %%
# Checked by
# ----------
#
# - ``'evaluate'`` (and the default ``'auto'``): an UPDATE matching 0 rows still gave the stale
#   object the new value, held as if committed (not dirty, not expired).
# - ``'fetch'``: no matched row, stale object left untouched; matched row, object synchronized
#   although its in-memory value did not match.
# - ``'fetch'`` costs RETURNING where ``update_returning`` is supported, else an extra SELECT.
