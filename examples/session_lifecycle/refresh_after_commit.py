# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Do I need ``refresh()`` after ``commit()``?
===========================================

After a default ``commit()`` the first read costs the same one ``SELECT`` as ``refresh()``,
so skip ``refresh()`` while the session is open, except in three cases where you need it:
with ``expire_on_commit=False`` when the row changed elsewhere; when the object outlives its
session (returned from a function that commits and closes: refresh, or read, before the
session closes; after it, reading raises and only a session you ``add()`` it to again can
load it); and under asyncio, where an expired attribute
cannot load itself (``await session.refresh(obj)``, :ref:`run on the asyncio page
<sphx_glr_auto_examples_asyncio_missing_greenlet.py>`). Read an attribute before you
serialize ``__dict__``, and expect ``InvalidRequestError`` from ``refresh()`` when the row is
gone.
"""

# %%
# A ``users`` table whose ``edits`` column is computed by the database on every UPDATE
# (``onupdate`` with a SQL expression). ``sent`` records every statement, so the cells can
# count them. Other sessions change rows behind ours on their own connections, so the
# in-memory SQLite default becomes a file.

import os
import re
import tempfile

from sqlalchemy import (
    String,
    create_engine,
    event,
    inspect,
    literal_column,
    make_url,
    update,
)
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.orm.exc import DetachedInstanceError, ObjectDeletedError


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    edits: Mapped[int] = mapped_column(default=0, onupdate=literal_column("edits") + 1)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r}, edits={self.edits!r})"


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmp = tempfile.TemporaryDirectory()
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmp.name, "refresh.db"))
engine = create_engine(url)
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)

sent = []


def record(conn, cursor, sql, *rest):
    sent.append(sql)


event.listen(engine, "before_cursor_execute", record)


def without_labels(sql):
    """2.0 labels the columns of a load (``users.id AS users_id``); 2.1 does not."""
    return re.sub(r" AS \w+", "", sql)


def scrub(error):
    message = re.sub(r" at 0x[0-9a-fA-F]+", "", str(error))
    return re.split(r"\s*\(Background on this error", message)[0]


def rename(user_id, name):
    """Another session renames a user and commits."""
    with Session(engine) as other:
        other.execute(update(User).where(User.id == user_id).values(name=name))
        other.commit()


session = Session(engine)

# %%
# add, commit, ``refresh()``: one ``SELECT``
# -------------------------------------------
#
# The habit copied from many tutorials. After ``commit()`` the object is expired;
# ``refresh()`` loads all its columns by primary key.

alice = User(id=1, name="alice")
session.add(alice)
session.commit()
sent.clear()
session.refresh(alice)
print(alice)
refresh_sql = sent[:]
# sphinx_gallery_start_ignore
assert len(refresh_sql) == 1, "refresh() after commit sent one statement"
assert refresh_sql[0].lstrip().startswith("SELECT"), "that statement is a SELECT"
# sphinx_gallery_end_ignore

# %%
# add, commit, read: the same one ``SELECT``
# -------------------------------------------
#
# Skip ``refresh()`` and just read an attribute. The expired object loads itself with the
# same query: the same columns, the same ``WHERE users.id = ...``. Reading more attributes
# afterwards is free, because the load filled them all.

bob = User(id=2, name="bob")
session.add(bob)
session.commit()
sent.clear()
print(bob.name)
access_sql = sent[:]
print(bob.id, bob.edits)
# sphinx_gallery_start_ignore
assert len(access_sql) == 1 and len(sent) == 1, "one SELECT, later reads none"
assert without_labels(access_sql[0]) == without_labels(refresh_sql[0]), (
    "the read and refresh() send the same SELECT"
)
# sphinx_gallery_end_ignore

# %%
# Why ``obj.__dict__`` is empty after ``commit()``
# --------------------------------------------------
#
# Expiring an object removes its loaded values from the instance dictionary. A serializer
# that reads ``__dict__`` (``vars(obj)``, or a helper that dumps it) sees nothing but
# SQLAlchemy's ``_sa_instance_state``, and no ``SELECT`` runs to fill it. Reading any
# attribute loads the row and fills the dictionary again.


def dump(obj):
    return {key: value for key, value in vars(obj).items() if not key.startswith("_")}


session.commit()
sent.clear()
print("after commit:", dump(bob), list(vars(bob)))
# sphinx_gallery_start_ignore
assert dump(bob) == {} and not sent, "__dict__ empty, no SQL"
assert inspect(bob).expired_attributes == {"id", "name", "edits"}, (
    "the commit expired all of bob's attributes"
)
# sphinx_gallery_end_ignore
bob.id  # any attribute: one SELECT loads the whole row
print("after one read:", dict(sorted(dump(bob).items())))
# sphinx_gallery_start_ignore
assert dump(bob) == {"id": 2, "name": "bob", "edits": 0}, "one read filled every column"
assert len(sent) == 1, "filling it cost one SELECT"
# sphinx_gallery_end_ignore

# %%
# When you do need ``refresh()``: ``expire_on_commit=False``
# -----------------------------------------------------------
#
# With :doc:`expire_on_commit=False <../myths/expire_on_commit_false_fixes_detached>` nothing is
# expired, so nothing reloads. If another session
# changes the row after our commit, our object keeps the old value until ``refresh()``.

session.close()
kept = Session(engine, expire_on_commit=False)
carol = User(id=3, name="carol")
kept.add(carol)
kept.commit()
rename(3, "Caroline")
sent.clear()
print("without refresh:", carol.name)
# sphinx_gallery_start_ignore
assert carol.name == "carol" and not sent, "stale, read without SQL"
# sphinx_gallery_end_ignore
kept.refresh(carol)
print("after refresh:  ", carol.name)
# sphinx_gallery_start_ignore
assert carol.name == "Caroline" and len(sent) == 1, "refresh(): one SELECT"
# sphinx_gallery_end_ignore

# %%
# Values the database computes are expired for you
# -------------------------------------------------
#
# ``edits`` is set by the database (``edits + 1``) in the UPDATE. The ORM cannot know the
# result, so the flush expires that attribute, even in this ``expire_on_commit=False``
# session, and the next read loads it: no ``refresh()`` is needed for a value that the model
# declares as computed by the database, like this ``onupdate`` expression. (Under asyncio
# this answer changes: an implicit load is what asyncio forbids; see the asyncio section.)
#
# Carol's row has had two UPDATEs now: the other session's rename and this one.

carol.name = "Carol"
kept.commit()
print("expired after the UPDATE:", sorted(inspect(carol).expired_attributes))
# sphinx_gallery_start_ignore
assert inspect(carol).expired_attributes == {"edits"}, "only the computed column"
# sphinx_gallery_end_ignore
sent.clear()
print(carol.edits)
# sphinx_gallery_start_ignore
assert carol.edits == 2 and len(sent) == 1, "loaded: one SELECT"
# sphinx_gallery_end_ignore
kept.close()

# %%
# When you do need it: the object outlives its session
# -----------------------------------------------------
#
# A function that adds, commits and returns the object (a repository method, a request
# handler) hands back an object its commit expired, and its session closes on the way out:
# reading it then raises ``DetachedInstanceError``, and another session's ``refresh()``
# refuses it, since no session holds it. Adding it to another session (``other.add(erin)``)
# makes it persistent there, and a read then loads it with one ``SELECT``, at the cost of a
# session to open. Simpler: refresh it (or read what you need) before the session closes,
# and the returned object reads without SQL.


def add_user(user_id, name, refresh):
    with Session(engine) as short:
        user = User(id=user_id, name=name)
        short.add(user)
        short.commit()
        if refresh:
            short.refresh(user)
    return user


erin = add_user(5, "erin", refresh=False)
detached_error = None
try:
    print(erin.name)
except DetachedInstanceError as error:
    detached_error = error
    print(f"{type(error).__name__}: {scrub(error)}")
with Session(engine) as other:
    try:
        other.refresh(erin)
    except InvalidRequestError as error:
        refused = error
        print(f"{type(error).__name__}: {scrub(error)}")
# sphinx_gallery_start_ignore
assert inspect(erin).detached and "name" in inspect(erin).expired_attributes, (
    "returned detached and expired"
)
assert detached_error is not None, "reading it raises DetachedInstanceError"
assert "is not persistent within this Session" in str(refused), (
    "another session refuses to refresh it"
)
# sphinx_gallery_end_ignore
with Session(engine) as other:
    other.add(erin)
    sent.clear()
    print("added to another session:", erin.name)
    # sphinx_gallery_start_ignore
    assert inspect(erin).persistent, "add() made it persistent in the other session"
    assert erin.name == "erin" and len(sent) == 1, "then a read loaded it: one SELECT"
    # sphinx_gallery_end_ignore
sent.clear()
frank = add_user(6, "frank", refresh=True)
print(frank)
# sphinx_gallery_start_ignore
assert inspect(frank).detached and not inspect(frank).expired_attributes, (
    "refreshed before the close: detached, nothing expired"
)
assert [sql.split()[0] for sql in sent] == ["INSERT", "SELECT"], (
    "the INSERT, one SELECT by refresh(), and no SQL to read it after"
)
# sphinx_gallery_end_ignore

# %%
# "Could not refresh instance": the row is gone
# ---------------------------------------------
#
# ``refresh()`` of an object whose row :doc:`another session <two_sessions>` deleted raises
# :class:`~sqlalchemy.exc.InvalidRequestError`. When does our session see the deletion? On
# PostgreSQL (READ COMMITTED) at once, and on SQLite with the driver's default behaviour
# (pysqlite sends no ``BEGIN`` before a ``SELECT``, so each read sees the latest commit). On
# MariaDB (REPEATABLE READ) not inside the transaction that already read the row:
# ``refresh()`` there returns the old row from the snapshot, and the error comes only in a
# new transaction.

session = Session(engine)
dave = User(id=4, name="dave")
session.add(dave)
session.commit()
print(dave)  # the new transaction reads the row
if engine.dialect.name == "sqlite":
    dbapi_connection = session.connection().connection.dbapi_connection
    # sphinx_gallery_start_ignore
    assert not dbapi_connection.in_transaction, "pysqlite: no BEGIN before that SELECT"
    # sphinx_gallery_end_ignore
with Session(engine) as other:
    other.delete(other.get(User, 4))
    other.commit()


def try_refresh(obj):
    try:
        session.refresh(obj)
    except InvalidRequestError as error:
        print(f"{type(error).__name__}: {scrub(error)}")
        return error
    print("refreshed:", obj)


error = try_refresh(dave)
snapshot = engine.dialect.name in ("mysql", "mariadb")
# sphinx_gallery_start_ignore
assert (error is None) == snapshot, "only MariaDB's snapshot has the row"
# sphinx_gallery_end_ignore
session.commit()  # a new transaction sees the deletion everywhere
error = try_refresh(dave)
# sphinx_gallery_start_ignore
assert type(error) is InvalidRequestError, "refresh() of a gone row raises"
assert "Could not refresh instance" in str(error), "with this message"
# sphinx_gallery_end_ignore

# %%
# Reading an expired attribute instead of calling ``refresh()`` fails too, with a subclass of
# the same error, :class:`~sqlalchemy.orm.exc.ObjectDeletedError`.

session.expire(dave)
try:
    print(dave.name)
except ObjectDeletedError as deleted:
    error = deleted
    print(f"{type(error).__name__}: {scrub(error)}")
# sphinx_gallery_start_ignore
assert isinstance(error, ObjectDeletedError), "reading an expired, deleted row raises"
assert isinstance(error, InvalidRequestError), "a subclass of InvalidRequestError"
assert "has been deleted, or its row is otherwise not present" in str(error), (
    "the error says the row is gone"
)
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session and the engine's connections.

session.close()
engine.dispose()
tmp.cleanup()
