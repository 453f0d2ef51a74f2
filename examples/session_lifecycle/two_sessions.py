# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Two sessions: who sees whose writes, and when
=============================================

A flushed row is visible only to its own session until commit; after that another session's
new queries see it (at once on SQLite and PostgreSQL, from its next transaction on
REPEATABLE READ), but objects it already loaded keep their values until expired.

Two sessions are two connections with two transactions. What one sees of the other's work
depends on whether the other has committed, on the isolation of its own transaction, and on
the objects already in its identity map.
"""

# %%
# Setup: one database, two sessions
# ---------------------------------
#
# An in-memory SQLite database belongs to a single connection, so by default we use a SQLite
# file in a temporary directory (or ``DATABASE_URL``). A short ``timeout`` turns a lock wait
# into a quick error instead of a hang. Each session checks out its own connection.

import os
import tempfile

from sqlalchemy import String, create_engine, inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmpdir = None
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    tmpdir = tempfile.TemporaryDirectory()
    url = url.set(database=os.path.join(tmpdir.name, "example.db"))
is_sqlite = url.get_backend_name() == "sqlite"
engine = create_engine(url, connect_args={"timeout": 2} if is_sqlite else {})
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)

with Session(engine) as setup:
    setup.add(User(id=1, name="alice"))
    setup.commit()

session_a = Session(engine)
session_b = Session(engine)


def b_finds_bob() -> bool:
    return (
        session_b.scalars(select(User).where(User.name == "bob")).one_or_none()
        is not None
    )


# %%
# B loads a user and keeps its transaction open
# ---------------------------------------------
#
# What B's open transaction sees later depends on its isolation level. PostgreSQL's default,
# READ COMMITTED, lets every statement see what was committed before it started. MySQL and
# MariaDB default to REPEATABLE READ: the first read fixes a snapshot for the whole
# transaction. SQLite reports SERIALIZABLE, but Python's ``sqlite3`` driver only sends
# ``BEGIN`` before a write, so a session that only reads has no SQLite transaction at all:
# each SELECT sees the latest commit.

alice_b = session_b.get(User, 1)
level = session_b.connection().get_isolation_level()
snapshot = not is_sqlite and level in ("REPEATABLE READ", "SERIALIZABLE")
print(alice_b, "- B's isolation level:", level, "- B reads from a snapshot:", snapshot)
if is_sqlite:
    dbapi_connection = session_b.connection().connection.driver_connection
    # sphinx_gallery_start_ignore
    assert not dbapi_connection.in_transaction, (
        "a reading pysqlite connection sent no BEGIN"
    )
    # sphinx_gallery_end_ignore

# %%
# A adds a row and flushes: A sees it, B does not
# -----------------------------------------------
#
# The flush sent the INSERT inside A's transaction. A's queries see it; nobody else does
# until A commits (none of these databases allows dirty reads by default). On SQLite, A
# now holds a write lock, which does not stop B from reading.

session_a.add(User(id=2, name="bob"))
session_a.flush()
a_sees = session_a.scalars(select(User).where(User.name == "bob")).one_or_none()
b_sees = b_finds_bob()
print("A sees:", a_sees, "- B sees bob:", b_sees)
# sphinx_gallery_start_ignore
assert a_sees is not None and inspect(a_sees).persistent, "A sees its own flushed row"
assert not b_sees, "B does not see a row that A flushed but did not commit"
# sphinx_gallery_end_ignore

# %%
# A commits: B sees the row on its next query (unless B reads a snapshot)
# -----------------------------------------------------------------------

session_a.commit()
b_sees = b_finds_bob()
print("B, still in its first transaction, sees bob:", b_sees)
# sphinx_gallery_start_ignore
assert b_sees == (not snapshot), "B's new query sees A's commit, unless in a snapshot"
# sphinx_gallery_end_ignore

# %%
# A renames alice: B's loaded object stays old
# --------------------------------------------
#
# B's query returns its own ``alice_b`` from the :doc:`identity map <identity_map>` and does not
# overwrite its
# loaded attributes, whatever the row now says. Asking for the column shows the row.

session_a.execute(update(User).where(User.id == 1).values(name="alicia"))
session_a.commit()

again = session_b.scalars(select(User).where(User.id == 1)).one()
in_row = session_b.scalar(select(User.name).where(User.id == 1))
print(again, "- same object:", again is alice_b, "- name in B's view of the row:", in_row)
# sphinx_gallery_start_ignore
assert again is alice_b and alice_b.name == "alice", (
    "B's loaded object keeps the old value"
)
assert in_row == ("alice" if snapshot else "alicia"), "B's SELECT reads what B may see"
# sphinx_gallery_end_ignore

# %%
# ``expire()``: B reloads the row, as B's transaction sees it
# -----------------------------------------------------------
#
# An :doc:`expired <expire_on_commit>` object loads its row again on next access, in B's current
# transaction: you get
# the new value, unless that transaction reads from a snapshot taken before A's commit.

session_b.expire(alice_b)
print(alice_b)
# sphinx_gallery_start_ignore
assert alice_b.name == ("alice" if snapshot else "alicia"), (
    "the reload reads B's view of it"
)
# sphinx_gallery_end_ignore

# %%
# B's next transaction sees everything committed
# ----------------------------------------------
#
# ``commit()`` ends B's transaction and (``expire_on_commit=True``, the default) expires its
# objects, so the next access loads from a new transaction, on every isolation level.

session_b.commit()
print("expired after commit:", sorted(inspect(alice_b).expired_attributes))
# sphinx_gallery_start_ignore
assert inspect(alice_b).expired_attributes == {"id", "name"}, "commit expired the object"
# sphinx_gallery_end_ignore
b_sees = b_finds_bob()
print(alice_b, "- B sees bob:", b_sees)
# sphinx_gallery_start_ignore
assert alice_b.name == "alicia", "the new transaction sees A's committed rename"
assert b_sees, "and A's committed row"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the sessions and the engine's connections.

session_a.close()
session_b.close()
engine.dispose()
if tmpdir is not None:
    tmpdir.cleanup()
