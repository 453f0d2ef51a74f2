# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Savepoints: ``begin_nested()``
==============================

``begin_nested()`` flushes, then brackets what its block sends with ``SAVEPOINT`` and
``RELEASE`` (or ``ROLLBACK TO SAVEPOINT``, which expires the objects the session modified
inside, not those only loaded there, and makes the objects added inside transient), the
outer transaction still needs its own ``commit()``, and on SQLite a transaction that starts
with a savepoint needs the pysqlite ``BEGIN`` workaround.
"""

# %%
# Five users. ``sent`` records every statement, and ``COMMIT`` / ``ROLLBACK`` (which the
# driver sends by its own ``commit()`` / ``rollback()`` calls); ``state()`` reads an
# object's state and expired attributes without loading anything.

import os

from sqlalchemy import String, create_engine, event, func, inspect, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


def record(conn, cursor, sql, *rest):
    sent.append(sql)


def make_engine(url):
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as setup:
        setup.add_all([User(id=i, name=n) for i, n in enumerate("abcde", start=1)])
        setup.commit()
    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine, "commit", lambda conn: sent.append("COMMIT"))
    event.listen(engine, "rollback", lambda conn: sent.append("ROLLBACK"))
    return engine


def names_in_database():
    with engine.connect() as conn:
        return dict(conn.execute(select(User.id, User.name).order_by(User.id)).all())


STATES = ("transient", "pending", "persistent", "deleted", "detached")


def state(obj):
    insp = inspect(obj)
    flag = next(name for name in STATES if getattr(insp, name))
    return flag, sorted(insp.expired_attributes)


sent = []
engine = make_engine(os.environ.get("DATABASE_URL", "sqlite://"))
session = Session(engine)
a, b, c, d = session.scalars(select(User).where(User.id < 5).order_by(User.id)).all()

# %%
# The SQL of a savepoint that is released
# ---------------------------------------
#
# ``begin_nested()`` first flushes what is pending (``a``'s new name), so the savepoint only
# covers what comes after. The ``SAVEPOINT`` itself is sent when the block first needs the
# database; leaving the ``with`` block flushes and sends ``RELEASE SAVEPOINT``. A block that
# never needs the database sends neither.

a.name = "a, changed before"
sent.clear()
with session.begin_nested():
    c.name = "c, released"
kinds = [" ".join(sql.split()[:2]) for sql in sent]
# sphinx_gallery_start_ignore
assert kinds[0].startswith("UPDATE"), "begin_nested() flushed the earlier change first"
assert kinds[1] == "SAVEPOINT sa_savepoint_1", "then the SAVEPOINT"
assert kinds[2:] == ["UPDATE users", "RELEASE SAVEPOINT"], "the block's UPDATE, RELEASE"
assert state(c) == ("persistent", []), "a released savepoint expires nothing"
# sphinx_gallery_end_ignore
sent.clear()
with session.begin_nested():
    pass
# sphinx_gallery_start_ignore
assert not sent, "an empty block: no SAVEPOINT, no RELEASE"
# sphinx_gallery_end_ignore

# %%
# Rolling a savepoint back
# ------------------------
#
# Now a savepoint that fails: inside it we rename ``b``, delete ``d``, load ``e`` and add two
# new users (one flushed, one not), then roll back. The rollback itself sends one statement:
# ``ROLLBACK TO SAVEPOINT``.

nested = session.begin_nested()
b.name = "b, inside"
session.delete(d)
e = session.get(User, 5)
f = User(id=6, name="f")
session.add(f)
session.flush()
g = User(id=7, name="g")
session.add(g)
sent.clear()
nested.rollback()
# sphinx_gallery_start_ignore
assert sent == ["ROLLBACK TO SAVEPOINT sa_savepoint_2"], "one ROLLBACK TO SAVEPOINT"
assert not session.in_nested_transaction(), "the savepoint is over"
assert session.in_transaction(), "the outer transaction goes on"
# sphinx_gallery_end_ignore

# %%
# What the rollback expired, and what survived
# --------------------------------------------
#
# Only ``b``, the object *modified* inside the savepoint, is expired. ``a`` (changed and
# flushed before it), ``c`` (untouched since the release), ``d`` (deleted inside: persistent
# again) and ``e`` (loaded inside) keep their values, with no SQL: right here, as nothing
# inside changed their rows behind the ORM (a later cell shows the opposite case). The
# two users added inside are transient again: out of the session, with no identity.

for name, obj in {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "g": g}.items():
    print(name, *state(obj))
sent.clear()
print(a.name, "|", c.name, "|", d.name, "|", e.name)
# sphinx_gallery_start_ignore
assert not sent, "the objects not modified inside were not expired: read without SQL"
assert state(b) == ("persistent", ["id", "name"]), "the object modified inside: expired"
for obj in (a, c, d, e):
    assert state(obj) == ("persistent", []), "the others keep their loaded values"
assert state(f) == state(g) == ("transient", []), "added inside: transient again"
assert f not in session and inspect(f).identity is None, "out, no identity"
# sphinx_gallery_end_ignore
print(b.name)
# sphinx_gallery_start_ignore
assert b.name == "b" and len(sent) == 1, "b reloads the savepoint's value: one SELECT"
# sphinx_gallery_end_ignore

# %%
# Unflushed changes are rolled back too
# -------------------------------------
#
# An exception leaving the ``with`` block rolls the savepoint back. Here the block changed
# ``c`` without flushing; the savepoint had sent nothing, so there is no SQL at all, yet ``c``
# is expired and its change discarded: the next read loads the released value.

sent.clear()
try:
    with session.begin_nested():
        c.name = "c, never flushed"
        raise ValueError("something failed")
except ValueError as error:
    print("caught:", error)
# sphinx_gallery_start_ignore
assert not sent, "a savepoint that never reached the database sends no SQL"
assert state(c) == ("persistent", ["id", "name"]), "the object changed inside: expired"
# sphinx_gallery_end_ignore
print(c.name)
# sphinx_gallery_start_ignore
assert c.name == "c, released", "its unflushed change is gone"
# sphinx_gallery_end_ignore

# %%
# An object loaded inside keeps the rolled-back values
# ----------------------------------------------------
#
# The rollback expires only what the session changed through its objects. Here a bulk
# UPDATE with :doc:`synchronize_session=False <../myths/false_is_just_faster>` renames ``e`` inside
# a savepoint and
# :doc:`refresh() <refresh_after_commit>` loads the new name: after the rollback ``e`` is not
# expired and still shows
# the name the database no longer has. Expire such objects yourself.

nested = session.begin_nested()
rename = update(User).where(User.id == 5).values(name="e, rolled back")
session.execute(rename.execution_options(synchronize_session=False))
session.refresh(e)
nested.rollback()
print(e.name, *state(e))
# sphinx_gallery_start_ignore
assert state(e) == ("persistent", []), "e, refreshed inside, is not expired"
assert e.name == "e, rolled back", "and keeps a value the rollback undid"
# sphinx_gallery_end_ignore
session.expire(e)
print("after expire():", e.name)
# sphinx_gallery_start_ignore
assert e.name == "e", "expired by hand, it reloads the row"
# sphinx_gallery_end_ignore

# %%
# ``commit()`` after the nested blocks
# ------------------------------------
#
# The outer transaction is still open. ``commit()`` sends ``COMMIT``: what was flushed before
# the savepoints and inside the released one is now in the database; the rolled-back
# savepoints' renames, deletion and inserts are not.

sent.clear()
session.commit()
# sphinx_gallery_start_ignore
assert sent == ["COMMIT"], "commit() sends COMMIT and nothing else"
# sphinx_gallery_end_ignore
names = names_in_database()
print(names)
# sphinx_gallery_start_ignore
assert names == {
    1: "a, changed before",
    2: "b",
    3: "c, released",
    4: "d",
    5: "e",
}, "flushed before or released: committed; rolled back: gone"
# sphinx_gallery_end_ignore
session.close()

# %%
# SQLite: a released savepoint can commit by itself
# -------------------------------------------------
#
# Python's ``sqlite3`` driver (pysqlite), in its default mode, begins transactions itself,
# before an INSERT, UPDATE or DELETE, and not before a ``SAVEPOINT``. In a transaction whose
# first statement is the ``SAVEPOINT``, no ``BEGIN`` was sent, so SQLite treats the savepoint
# as the transaction, and ``RELEASE`` commits it: the outer ``rollback()`` then undoes
# nothing. PostgreSQL and MariaDB roll the insert back. (``BEGIN (implicit)`` in the SQL box
# is SQLAlchemy's note that it left the beginning to the driver: no ``BEGIN`` statement.)


def insert_in_savepoint_then_roll_back(engine):
    """The session's statements, and the rows with id 8 left after its rollback."""
    sent.clear()
    with Session(engine) as session:
        with session.begin_nested():  # the transaction's first statement is SAVEPOINT
            session.add(User(id=8, name="h"))
        session.rollback()
    statements = [" ".join(sql.split()[:2]) for sql in sent]
    with engine.connect() as conn:
        return statements, conn.scalar(select(func.count()).where(User.id == 8))


statements, rows = insert_in_savepoint_then_roll_back(engine)
print("rows with id 8 after the outer rollback:", rows)
expected = ["SAVEPOINT sa_savepoint_1", "INSERT INTO", "RELEASE SAVEPOINT", "ROLLBACK"]
# sphinx_gallery_start_ignore
assert statements == expected, "SAVEPOINT, INSERT, RELEASE, then the outer ROLLBACK"
if engine.dialect.name == "sqlite":
    assert rows == 1, "pysqlite: RELEASE committed; the rollback undid nothing"
else:
    assert rows == 0, f"{engine.dialect.name}: the outer rollback undid the insert"
# sphinx_gallery_end_ignore

# %%
# The pysqlite workaround
# -----------------------
#
# SQLAlchemy's SQLite documentation gives the fix: turn off the driver's own transaction
# handling and send ``BEGIN`` yourself when SQLAlchemy begins a transaction. With these two
# listeners the same code leaves no row on SQLite either.

if engine.dialect.name == "sqlite":
    fixed = create_engine("sqlite://")

    @event.listens_for(fixed, "connect")
    def do_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None  # pysqlite sends no BEGIN of its own

    @event.listens_for(fixed, "begin")
    def do_begin(conn):
        conn.exec_driver_sql("BEGIN")

    Base.metadata.create_all(fixed)
    event.listen(fixed, "before_cursor_execute", record)
    statements, rows = insert_in_savepoint_then_roll_back(fixed)
    print("rows with id 8 after the outer rollback:", rows)
    # sphinx_gallery_start_ignore
    assert statements[:2] == ["BEGIN", "SAVEPOINT sa_savepoint_1"], (
        "BEGIN is sent before the SAVEPOINT"
    )
    assert rows == 0, "with the workaround the outer rollback undid the insert"
    # sphinx_gallery_end_ignore
    fixed.dispose()
# sphinx_gallery_start_ignore
engine.dispose()
# sphinx_gallery_end_ignore
