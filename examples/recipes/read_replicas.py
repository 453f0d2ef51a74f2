# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Read replicas: a routing ``get_bind()`` and the stale read after a write
========================================================================

A ``Session`` subclass whose ``get_bind()`` sends flushes and writes to the primary and reads
to a replica reads its own writes back stale, or not at all: a query right after the flush
(not committed yet, the write can be on no replica), and the reload after ``commit()`` until
the replica catches up. Route ``FOR UPDATE`` reads to the primary; read from the primary once
the session has written (by a flush or by ``session.execute()``), or per statement with
``bind_arguments={"bind": primary}``. ``get_bind()`` sees ``execution_options`` only when set
on the statement itself; a ``do_orm_execute`` listener sees those given to ``execute()`` too,
and routes by setting ``orm_context.bind_arguments["bind"]``.
"""

# %%
# Setup: a primary, a replica, and a lag you can see
# --------------------------------------------------
#
# Two databases stand in for a primary and its replica: the primary is the page's database
# (a SQLite file unless ``DATABASE_URL`` names another), the replica always a second SQLite
# file. There is no real replication here: the lag is simulated. ``replicate()`` copies the
# primary's rows to the replica when the page calls it, and not before, as a replica that
# is behind would. ``routes`` records which database each statement went to.

import os
import re
import tempfile

from sqlalchemy import String, create_engine, delete, event, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.orm.exc import ObjectDeletedError


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


tmpdir = tempfile.TemporaryDirectory()
url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmpdir.name, "primary.db"))
primary = create_engine(url)
replica = create_engine("sqlite:///" + os.path.join(tmpdir.name, "replica.db"))
routes: list[str] = []
for name, engine in (("primary", primary), ("replica", replica)):
    # sphinx_gallery_start_ignore
    Base.metadata.drop_all(engine)
    # sphinx_gallery_end_ignore
    Base.metadata.create_all(engine)
    event.listen(
        engine,
        "before_cursor_execute",
        lambda conn, cursor, sql, *rest, name=name: routes.append(
            f"{name}: {sql.split()[0]}"
        ),
    )


def replicate() -> None:
    """The replica catches up: it gets a copy of every row of the primary."""
    with primary.connect() as source, replica.begin() as target:
        rows = [row._asdict() for row in source.execute(select(User.__table__))]
        target.execute(delete(User.__table__))
        target.execute(insert(User.__table__), rows)
    routes.clear()


def went() -> list[str]:
    """Where the statements since the last call went."""
    sent = list(routes)
    routes.clear()
    return sent


with Session(primary) as setup:
    setup.add(User(id=1, name="ann"))
    setup.commit()
replicate()

# %%
# The routing session
# -------------------
#
# SQLAlchemy asks ``Session.get_bind()`` which engine each statement goes to. This override
# sends the flush (``self._flushing``), any statement that is not a SELECT (an
# ``update()``, a ``delete()``) and a SELECT that locks rows (``with_for_update()``, or
# ``get(..., with_for_update=True)``: a ``clause._for_update_arg``, which is not public API)
# to the primary, and every other read to the replica. The session holds a transaction on
# each engine it used, and ``commit()`` commits both.


class RoutingSession(Session):
    def get_bind(self, mapper=None, *, clause=None, bind=None, **kw):
        if bind is not None:  # bind_arguments={"bind": ...} chose already
            return bind
        if self._flushing or (
            clause is not None
            and (
                not clause.is_select
                or getattr(clause, "_for_update_arg", None) is not None
            )
        ):
            return primary
        return replica


with RoutingSession() as session:
    session.get(User, 1, with_for_update=True)
    by_get = went()
    session.scalars(select(User).with_for_update()).all()
    by_select = went()
print(
    "get(..., with_for_update=True):", by_get, "| select().with_for_update():", by_select
)
# sphinx_gallery_start_ignore
assert by_get == by_select == ["primary: SELECT"], "FOR UPDATE reads went to the primary"
# sphinx_gallery_end_ignore


# %%
# The stale read: your own write, read back from the replica
# ----------------------------------------------------------
#
# The session loads the user from the replica, renames it, and flushes: the UPDATE goes to
# the primary. A query for the name right after goes to the replica and answers ``'ann'``,
# and not only because the replica is behind: one that caught up this instant
# (``replicate()``) still has ``'ann'``, since the UPDATE is not committed, and no other
# connection sees it yet. After ``commit()`` the user is expired and its reload goes to the
# replica too: the object itself now says ``'ann'``, the write undone in memory while the
# primary holds ``'bea'``.

session = RoutingSession()
user = session.get(User, 1)
user.name = "bea"
session.flush()
flushed = went()
print("the get() and the flush:", flushed)
replicate()
right_after = session.scalar(select(User.name).where(User.id == 1))
print("queried right after, the replica caught up:", right_after, went())
session.commit()
reloaded = user.name
print("user.name after commit():", reloaded, went())
with primary.connect() as connection:
    on_primary = connection.scalar(select(User.name).where(User.id == 1))
print("the primary holds:", on_primary, went())
# sphinx_gallery_start_ignore
assert flushed == ["replica: SELECT", "primary: UPDATE"], "the UPDATE went to the primary"
assert right_after == "ann", (
    "the query right after the flush read the old name, from a replica that caught up"
)
assert reloaded == "ann", "the reload after commit() read the old name from the replica"
assert on_primary == "bea", "while the primary holds the new name"
# sphinx_gallery_end_ignore

# %%
# Once the replica catches up, the same reload reads the new name. How long that takes is up
# to the replication; the code cannot count on it.

replicate()
session.expire(user)
caught_up = user.name
print("after the replica caught up:", caught_up, went())
session.close()
# sphinx_gallery_start_ignore
assert caught_up == "bea", "after the replica caught up, the reload read the new name"
# sphinx_gallery_end_ignore

# %%
# A row the session inserted is not stale but missing: the replica has no such row, so the
# reload after ``commit()`` raises ``ObjectDeletedError`` and ``session.get()`` returns
# ``None``.

session = RoutingSession()
new = User(id=2, name="eve")
session.add(new)
session.commit()
try:
    new.name
    error = None
except ObjectDeletedError as caught:
    error = re.sub(r" at 0x[0-9a-fA-F]+", "", str(caught).splitlines()[0])
print("ObjectDeletedError:", error)
missing = session.get(User, 2)
print("session.get(User, 2):", missing, went())
session.close()
# sphinx_gallery_start_ignore
assert (
    error == "Instance '<User>' has been deleted, or its row is otherwise not present."
), "the reload of the inserted row raised ObjectDeletedError"
assert missing is None, "get() of the inserted row returned None"
# sphinx_gallery_end_ignore

# %%
# Fix 1: choose the primary per statement
# ---------------------------------------
#
# ``bind_arguments={"bind": primary}`` on ``execute()``, ``scalar()`` or ``get()`` is passed to
# ``get_bind()``, which returns it (the override must honour it, as the first line of
# ``get_bind()`` above does). An option set on the statement,
# ``select(...).execution_options(primary=True)``, reaches ``get_bind()`` too, as
# ``clause.get_execution_options()``. The same option passed to ``session.execute(...,
# execution_options=...)`` does not: ``get_bind()`` never sees it, and the read goes to the
# replica (the next cell routes it).

seen_options: list[dict] = []


class OptionRoutingSession(RoutingSession):
    def get_bind(self, mapper=None, *, clause=None, bind=None, **kw):
        options = clause.get_execution_options() if clause is not None else {}
        seen_options.append(dict(options))
        if options.get("primary"):
            return primary
        return super().get_bind(mapper, clause=clause, bind=bind, **kw)


with OptionRoutingSession() as session:
    user = session.get(User, 1)
    user.name = "cy"
    session.flush()
    went()
    by_bind = session.scalar(
        select(User.name).where(User.id == 1), bind_arguments={"bind": primary}
    )
    print("bind_arguments:", by_bind, went())
    by_statement = session.scalar(
        select(User.name).where(User.id == 1).execution_options(primary=True)
    )
    print("statement's execution_options:", by_statement, went())
    seen_options.clear()
    by_execute = session.scalar(
        select(User.name).where(User.id == 1), execution_options={"primary": True}
    )
    print("execute(..., execution_options=...):", by_execute, went())
    session.commit()
# sphinx_gallery_start_ignore
assert by_bind == by_statement == "cy", (
    "bind_arguments and the statement's own option read the new name from the primary"
)
assert by_execute == "bea", (
    "execute(..., execution_options=...) read the replica's old name"
)
assert seen_options == [{}], "get_bind() did not see the options passed to execute()"
# sphinx_gallery_end_ignore
replicate()

# %%
# A ``do_orm_execute`` listener sees every execution option, those given to ``execute()``
# included, and runs before ``get_bind()``: setting ``orm_context.bind_arguments["bind"]``
# there routes the statement, through the first line of ``get_bind()``.


def primary_when_asked(orm_context):
    if orm_context.execution_options.get("primary"):
        orm_context.bind_arguments["bind"] = primary


with RoutingSession() as session:
    event.listen(session, "do_orm_execute", primary_when_asked)
    session.scalar(select(User.name), execution_options={"primary": True})
    asked = went()
    session.scalar(select(User.name))
    not_asked = went()
print(
    "execute(..., execution_options={'primary': True}):", asked, "| without:", not_asked
)
# sphinx_gallery_start_ignore
assert asked == ["primary: SELECT"], (
    "the listener routed execute()'s option to the primary"
)
assert not_asked == ["replica: SELECT"], "without the option the read went to the replica"
# sphinx_gallery_end_ignore

# %%
# Fix 2: a session that has written reads from the primary
# --------------------------------------------------------
#
# "Read your own writes": once a session has sent anything to the primary (a flush, an
# ``update()`` run by ``session.execute()``, a ``FOR UPDATE`` read), route all its reads
# there, for the rest of the session (a session per request: the request that wrote).
# Setting the flag on a flush only would miss ``session.execute(update(...))``. The reload
# after ``commit()`` now reads the name just written. A session that only reads still
# reads from the replica.


class ReadYourWritesSession(RoutingSession):
    wrote = False

    def get_bind(self, mapper=None, *, clause=None, bind=None, **kw):
        if self.wrote and bind is None:
            return primary
        chosen = super().get_bind(mapper, clause=clause, bind=bind, **kw)
        if chosen is primary and bind is None:
            self.wrote = True
        return chosen


with ReadYourWritesSession() as session:
    user = session.get(User, 1)
    user.name = "dee"
    session.commit()
    went()
    reloaded = user.name
    print("user.name after commit():", reloaded, went())
with ReadYourWritesSession() as reader:
    still_replica = reader.scalar(select(User.name).where(User.id == 1))
    print("a session that only reads:", still_replica, went())
with ReadYourWritesSession() as session:
    user = session.get(User, 1)
    session.execute(update(User).where(User.id == 1).values(name="eli"))
    session.commit()
    went()
    by_statement = user.name
    route = went()
    print("after session.execute(update(...)):", by_statement, route)
# sphinx_gallery_start_ignore
assert by_statement == "eli" and route == ["primary: SELECT"], (
    "a write by session.execute() also sent the reads to the primary"
)
assert reloaded == "dee", "the session that wrote reloaded its write from the primary"
assert still_replica == "cy", "a session that only reads still reads the replica"
# sphinx_gallery_end_ignore

# %%
# In one sentence
# ---------------
#
# A replica answers with what it has, so a session that routes reads to it reads its own
# writes stale, the reload after ``commit()`` included: send a session that has written to
# the primary, or pick the primary per statement with ``bind_arguments`` (or an option
# your ``get_bind()`` or a ``do_orm_execute`` listener reads). The identity map is no help
# here: it is why a loaded object keeps its value, and :doc:`re-querying does not refresh
# it <../myths/requery_refreshes>`.
#
# Clean up: close both engines' connections and remove the files.

primary.dispose()
replica.dispose()
tmpdir.cleanup()
