# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Autoflush
=========

Before every ORM query, lazy load, or ``get()`` that has to reach the database (on 2.1 before
``text()`` and Core statements in ``session.execute()`` too), the session flushes pending
changes (unless ``no_autoflush`` or ``autoflush=False`` says not to), so queries see your
unsaved objects, and flush errors such as an ``IntegrityError`` surface at
the query, "as a result of Query-invoked autoflush".
"""

# %%
# A table with a unique name, one committed user, and a session. ``Session`` is created with
# the default ``autoflush=True``. ``kinds()`` lists the first word of each statement sent.

import os

import sqlalchemy
from sqlalchemy import (
    ForeignKey,
    String,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, PendingRollbackError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    addresses: Mapped[list["Address"]] = relationship()

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
sent = []
event.listen(
    engine, "before_cursor_execute", lambda conn, cursor, sql, *a: sent.append(sql)
)


def kinds():
    return [sql.split()[0] for sql in sent]


session = Session(engine)
session.add(User(name="alice"))
session.commit()

# %%
# A query sees pending changes
# ----------------------------
#
# ``bob`` is only pending, yet a ``SELECT`` for him finds him: the session sent the ``INSERT``
# first (look at the SQL order), then the ``SELECT``, which found the new row.

bob = User(name="bob")
session.add(bob)
# sphinx_gallery_start_ignore
assert inspect(bob).pending, "add() only makes the object pending"
# sphinx_gallery_end_ignore

found = session.scalars(select(User).where(User.name == "bob")).one_or_none()
print("found:", found)
# sphinx_gallery_start_ignore
assert found is bob, "autoflush inserted bob before the SELECT, which found him"
assert inspect(bob).persistent, "the autoflush made bob persistent"
# sphinx_gallery_end_ignore

# %%
# ``no_autoflush`` turns it off for a block
# -----------------------------------------
#
# Inside ``with session.no_autoflush:`` queries run without flushing first. ``carol`` stays
# pending, the ``SELECT`` only sees the database, and it does not find her.

carol = User(name="carol")
with session.no_autoflush:
    session.add(carol)
    found = session.scalars(select(User).where(User.name == "carol")).one_or_none()
    print("found inside no_autoflush:", found)
    # sphinx_gallery_start_ignore
    assert found is None, "without autoflush the query does not see the pending object"
    assert inspect(carol).pending, "carol was not flushed"
    # sphinx_gallery_end_ignore

# %%
# After the block, the next query autoflushes again and finds her.

found = session.scalars(select(User).where(User.name == "carol")).one_or_none()
print("found after the block:", found)
# sphinx_gallery_start_ignore
assert found is carol, "outside the block the query flushed carol first"
# sphinx_gallery_end_ignore

# %%
# Lazy loads and ``get()`` flush too
# ----------------------------------
#
# Loading a relationship on first access runs a query, so it flushes first: ``dan`` is
# inserted before alice's addresses are selected.

alice = session.scalars(select(User).where(User.name == "alice")).one()
dan = User(name="dan")
session.add(dan)
sent.clear()
print("alice's addresses:", alice.addresses)
# sphinx_gallery_start_ignore
assert kinds() == ["INSERT", "SELECT"], "the lazy load flushed dan, then selected"
assert inspect(dan).persistent, "dan was flushed by the lazy load"
# sphinx_gallery_end_ignore

# %%
# ``session.get()`` of a key already in the identity map needs no SQL and flushes nothing;
# for a key that is not there it must ask the database, and flushes first.

erin = User(name="erin")
session.add(erin)
sent.clear()
in_map = session.get(User, alice.id)
print("get(alice.id) is alice:", in_map is alice, "| sent:", kinds())
# sphinx_gallery_start_ignore
assert in_map is alice and not sent, "a key in the map: no SQL at all"
assert inspect(erin).pending, "so erin was not flushed"
# sphinx_gallery_end_ignore
missing = session.get(User, 999)
print("get(999):", missing, "| sent:", kinds())
# sphinx_gallery_start_ignore
assert missing is None, "no such user"
assert kinds() == ["INSERT", "SELECT"], "a key not in the map: flush, then SELECT"
assert inspect(erin).persistent, "erin was flushed by get()"
# sphinx_gallery_end_ignore

# %%
# .. _autoflush-core:
#
# ``text()`` and Core statements: 2.1 only
# ----------------------------------------
#
# ``session.execute()`` of a :doc:`text() <../untracked_changes/raw_sql_text>` statement, or of a
# ``select()`` on the ``Table`` rather
# than the mapped class, autoflushes on SQLAlchemy 2.1 but not on 2.0 (SQLAlchemy issue 9809):
# on 2.0 they miss the pending ``frank``. A statement sent through ``session.connection()``
# flushes on neither; a ``select()`` naming ``User`` flushes on both.

users = User.__table__
frank = User(name="frank")
session.add(frank)
core_flushes = sqlalchemy.__version__.split(".")[:2] != ["2", "0"]
session.connection().scalar(select(func.count()).select_from(users))
# sphinx_gallery_start_ignore
assert inspect(frank).pending, "session.connection().execute() never autoflushes"
# sphinx_gallery_end_ignore
by_text = session.scalar(text("SELECT count(*) FROM users WHERE name = 'frank'"))
by_table = session.scalar(
    select(func.count()).select_from(users).where(users.c.name == "frank")
)
print(f"SQLAlchemy {sqlalchemy.__version__}: text() {by_text}, Table {by_table}")
# sphinx_gallery_start_ignore
assert (by_text, by_table) == ((1, 1) if core_flushes else (0, 0)), (
    "only 2.1 flushed first"
)
assert inspect(frank).persistent == core_flushes, "on 2.0 frank is still pending"
# sphinx_gallery_end_ignore
by_entity = session.scalar(select(func.count(User.id)).where(User.name == "frank"))
# sphinx_gallery_start_ignore
assert by_entity == 1 and inspect(frank).persistent, "a select() of User flushes on both"
# sphinx_gallery_end_ignore

# %%
# A flush error raised by a query
# -------------------------------
#
# A second ``alice`` violates the unique constraint. Nothing fails at ``add()``; the error
# comes from the next query, because the query is what triggers the flush. SQLAlchemy says so
# in the first line of the message.

session.add(User(name="alice"))
error = None
try:
    session.scalars(select(User).where(User.name == "bob")).one()
except IntegrityError as exc:
    error = exc
    first_line = str(exc).split("\n")[0]
    print(f"{type(exc).__name__}: {first_line}")
# sphinx_gallery_start_ignore
assert error is not None, "the query raised the flush's IntegrityError"
assert "raised as a result of Query-invoked autoflush" in str(error), (
    "the message says why"
)
# sphinx_gallery_end_ignore

# %%
# The failed flush rolled back the database transaction, and the session refuses further work
# until you call ``session.rollback()`` yourself.

error = None
try:
    session.scalars(select(User)).all()
except PendingRollbackError as exc:
    error = exc
    print(f"{type(exc).__name__}: {str(exc).split(' To begin')[0]}")
# sphinx_gallery_start_ignore
assert error is not None, "the session needs rollback() after a failed flush"
assert "due to a previous exception during flush" in str(error), (
    "the message names the cause"
)
# sphinx_gallery_end_ignore

# %%
# Roll back. That discards ``bob``, ``carol``, ``dan``, ``erin`` and ``frank`` too: they were
# flushed but never committed, so they are transient again.

session.rollback()
names = session.scalars(select(User.name).order_by(User.name)).all()
print(names)
# sphinx_gallery_start_ignore
assert names == ["alice"], "only the committed alice is left"
# sphinx_gallery_end_ignore
flushed = (bob, carol, dan, erin, frank)
# sphinx_gallery_start_ignore
assert all(inspect(user).transient for user in flushed), "the flushed users are transient"
# sphinx_gallery_end_ignore

# %%
# ``Session(engine, autoflush=False)`` turns autoflush off for the whole session: queries no
# longer flush. Your changes are sent by :doc:`flush() <../myths/flush_commits>`,
# ``commit()``, and ``begin_nested()``, which flushes before its ``SAVEPOINT`` whatever
# ``autoflush`` says.

with Session(engine, autoflush=False) as quiet:
    dave = User(name="dave")
    quiet.add(dave)
    found = quiet.scalars(select(User).where(User.name == "dave")).one_or_none()
    print("found with autoflush=False:", found)
    # sphinx_gallery_start_ignore
    assert found is None, "an autoflush=False session does not flush before queries"
    # sphinx_gallery_end_ignore
    quiet.begin_nested()
    print("dave pending after begin_nested():", inspect(dave).pending)
    # sphinx_gallery_start_ignore
    assert inspect(dave).persistent, "begin_nested() flushes even with autoflush=False"
    # sphinx_gallery_end_ignore
    quiet.rollback()

# %%
# Clean up: close the session and the engine's connections.

session.close()
engine.dispose()
