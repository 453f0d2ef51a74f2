# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Myth: ``session.commit(synchronize_session=True)`` makes the session synchronous
================================================================================

``Session.commit()`` has no ``synchronize_session`` parameter: the call raises a
``TypeError``. What ``commit()`` does to loaded objects is expire them (with the default
``expire_on_commit=True``), so each reloads its row at the next access; it never keeps them
equal to the database between commits.

Believe one keyword keeps loaded objects equal to the database and you stop looking for stale
data. We run the keyword, show its error, and show what ``Session.commit()`` really does.
"""

# %%
# The claim
# ---------
#
# A popular blog post says:
#
#     "Call ``session.commit(synchronize_session=True)`` and the session becomes synchronous:
#     your objects always match the database."
#
# A second connection must later see the session's commits, so in-memory SQLite is swapped for a
# SQLite file in a temporary directory. ``sent`` records every SQL string for the asserts.

import os
import tempfile

from sqlalchemy import String, create_engine, event, inspect, make_url, select, update
from sqlalchemy.exc import ArgumentError
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


tmpdir = tempfile.TemporaryDirectory()
url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmpdir.name, "myth.db"))
engine = create_engine(url)
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)

sent = []
event.listen(
    engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: sent.append(sql)
)

with Session(engine) as setup:
    setup.add_all(
        [
            User(id=1, name="alice", status="active"),
            User(id=2, name="bob", status="active"),
        ]
    )
    setup.commit()

session = Session(engine)
alice = session.get(User, 1)
print(alice)

# %%
# Run it
# ------
#
# ``Session.commit()`` takes no arguments, so Python rejects the keyword.

message = None
try:
    session.commit(synchronize_session=True)
except TypeError as exc:
    message = f"{type(exc).__name__}: {exc}"
    print(message)
# sphinx_gallery_start_ignore
assert message is not None, "commit() refuses synchronize_session"
assert "unexpected keyword argument 'synchronize_session'" in message, (
    "it is not a parameter"
)
# sphinx_gallery_end_ignore

# %%
# :doc:`synchronize_session <../synchronize_session/four_strategies>` is real, but as an execution
# option of an ORM-enabled bulk
# ``update()``/``delete()``. ``True`` is not an accepted value there either; nothing is sent.

sent.clear()
message = None
try:
    session.execute(
        update(User).where(User.id == 1).values(status="vip"),
        execution_options={"synchronize_session": True},
    )
except ArgumentError as exc:
    message = f"{type(exc).__name__}: " + str(exc).split("\n(Background")[0]
    print(message)
# sphinx_gallery_start_ignore
assert message is not None, "synchronize_session=True is rejected"
assert "Valid strategies for session synchronization" in message, "True is not a strategy"
assert not any(sql.startswith("UPDATE") for sql in sent), "the UPDATE was never sent"
# sphinx_gallery_end_ignore

# %%
# What actually happens
# ---------------------
#
# ``commit()`` keeps you fresh by *forgetting*: with the default ``expire_on_commit=True`` it
# expires every attribute of every loaded object. Nothing is reloaded yet.

session.commit()
expired = inspect(alice).expired_attributes
print("expired after commit:", sorted(expired))
# sphinx_gallery_start_ignore
assert expired == {"id", "name", "status"}, "commit expires every loaded attribute"
# sphinx_gallery_end_ignore

# %%
# The next attribute access emits a SELECT for that row and repopulates the object.

sent.clear()
print("status:", alice.status)
# sphinx_gallery_start_ignore
assert len(sent) == 1 and sent[0].startswith("SELECT"), (
    "the first access after commit reloads"
)
assert not inspect(alice).expired_attributes, "the reload filled every attribute again"
# sphinx_gallery_end_ignore

# %%
# So a change made elsewhere shows up once the loaded value is thrown away. A Core UPDATE on a
# second connection bans alice; the loaded object keeps its value until ``commit()`` expires it
# and it reloads.

with engine.begin() as other:
    other.execute(update(User).where(User.id == 1).values(status="banned"))
print("before commit:", alice.status)
# sphinx_gallery_start_ignore
assert alice.status == "active", (
    "another connection's change is invisible to loaded objects"
)
# sphinx_gallery_end_ignore
session.commit()
print("after commit:", alice.status)
# sphinx_gallery_start_ignore
assert alice.status == "banned", "commit + reload shows the other connection's change"
# sphinx_gallery_end_ignore

# %%
# ``commit()`` is not the only way in: ``refresh()`` reloads now, ``expire()`` at the next
# access, and a query with :doc:`populate_existing <requery_refreshes>` overwrites the loaded
# object. Each reads the row
# inside the current transaction, which sees another connection's commit under READ COMMITTED
# (PostgreSQL's default; SQLite, between statements, has no snapshot) but not under REPEATABLE
# READ, MariaDB's default, where a transaction keeps its first snapshot until it ends.

repeatable_read = session.connection().get_isolation_level() == "REPEATABLE READ"
# sphinx_gallery_start_ignore
assert repeatable_read == (engine.dialect.name == "mysql"), (
    "REPEATABLE READ on MariaDB only"
)
# sphinx_gallery_end_ignore
for how, status in [
    ("refresh", "frozen"),
    ("expire", "active"),
    ("populate_existing", "banned"),
]:
    with engine.begin() as other:
        other.execute(update(User).where(User.id == 1).values(status=status))
    before = alice.status  # loaded: no SQL
    if how == "refresh":
        session.refresh(alice)
    elif how == "expire":
        session.expire(alice)
    else:
        query = select(User).where(User.id == 1).execution_options(populate_existing=True)
        session.scalars(query).one()
    print(f"{how}: {before!r} -> {alice.status!r}")
    # sphinx_gallery_start_ignore
    assert alice.status == (before if repeatable_read else status), (
        f"{how} read the row again"
    )
    # sphinx_gallery_end_ignore

# %%
# Do this instead
# ---------------
#
# Commit normally, and for bulk ``update()``/``delete()`` pick a real ``synchronize_session``:
#
# - ``"auto"`` (default in 2.x): ``"evaluate"`` if possible, else ``"fetch"``.
# - ``"evaluate"``: run the WHERE clause in Python on loaded objects' in-memory values.
# - ``"fetch"``: ask the database which rows matched (``RETURNING``, or a SELECT first).
# - ``False``: leave loaded objects alone, stale until expired or refreshed.
#
# Here ``"auto"`` evaluates ``status == "active"`` in Python: bob matches, alice (``"banned"``)
# does not, and no extra SQL is sent.

bob = session.get(User, 2)
sent.clear()
session.execute(update(User).where(User.status == "active").values(status="archived"))
print("alice:", alice.status, "| bob:", bob.status)
# sphinx_gallery_start_ignore
assert bob.status == "archived", "'auto' updated the matching loaded object in memory"
assert alice.status == "banned", "'auto' left the non-matching object alone"
assert len(sent) == 1 and "RETURNING" not in sent[0], "'evaluate' needs no extra SQL"
# sphinx_gallery_end_ignore
session.commit()
print("after commit:", bob.status)
# sphinx_gallery_start_ignore
assert bob.status == "archived", "the database agrees after commit"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session and the engine's connections.

session.close()
engine.dispose()
tmpdir.cleanup()


# %%
# Checked by
# ----------
#
# - ``session.commit(synchronize_session=True)`` raises ``TypeError``: no such parameter.
# - ``synchronize_session=True`` on a bulk ``update()`` raises ``ArgumentError``, sends nothing.
# - ``commit()`` expires every loaded attribute; the next access emits one SELECT.
# - A change committed by another connection is invisible to the loaded object until it is read
#   again: after ``commit()``, or within the transaction by ``refresh()``, ``expire()`` or
#   ``populate_existing`` (except under MariaDB's REPEATABLE READ, whose snapshot hides it).
# - The default ``"auto"`` strategy updates matching loaded objects in memory with one UPDATE.
