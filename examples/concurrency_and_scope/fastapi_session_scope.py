# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
#     "fastapi>=0.133.0",
#     "starlette>=1.2.0",
#     "pydantic>=2",
#     "httpx2",
# ]
# ///
"""
A session per request in FastAPI, run with its ``TestClient``
=============================================================

A dependency with ``yield`` gives each request one session, and FastAPI resolves it once per
request: two dependencies asking for it with the same ``Depends`` options share it
(``use_cache=False`` or another ``scope=`` makes a second one). By default, on FastAPI
0.118.0 and later (and before 0.106.0), its code after ``yield`` runs after the response is
sent: a commit that fails there leaves the client with a 200 for a row that was never
written. With ``Depends(..., scope="function")`` (FastAPI 0.121.0 and later) it runs after
the response body is made but before it is sent: the client gets the 500. A background task
runs before the default scope's commit, which waits for it: its own session does not see the
request's work, and a write that needs a lock the request holds waits for a commit that
cannot come (on PostgreSQL, without end unless ``lock_timeout`` is set), so commit first.

:ref:`sphx_glr_auto_examples_concurrency_and_scope_session_per_request.py` drives the same
kind of generator without FastAPI; this page runs it in FastAPI, through the test client
that sends each request to the app as a browser would.
"""

# %%
# Setup: the app, its session dependency, and a log
# -------------------------------------------------
#
# FastAPI runs ``def`` endpoints in worker threads, so SQLite gets a file (why not
# ``StaticPool``: :doc:`the page without FastAPI <session_per_request>`).
# ``get_session()`` is the usual dependency: open a session, ``yield`` it, commit, and on
# an error roll back; every step goes into ``log``, with a number per session.
# ``TestClient(app, raise_server_exceptions=False)`` turns an error in the app into what a
# client gets, a 500, instead of raising it here. The page runs the FastAPI release printed
# below; the order it shows holds on 0.118.0 and later.

import logging
import os
import tempfile
from typing import Annotated

import fastapi
import pydantic
from fastapi import BackgroundTasks, Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import String, create_engine, make_url, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmp = tempfile.TemporaryDirectory()
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmp.name, "app.db"))
sqlite = url.get_backend_name() == "sqlite"
# How long a connection waits for another's lock: SQLite 5 s by default, PostgreSQL
# without end (lock_timeout 0). This page waits 1 s; on PostgreSQL 2 s, past the 1 s
# after which it checks for a deadlock.
LOCK_WAIT = {
    "sqlite": {"timeout": 1},
    "postgresql": {"options": "-c lock_timeout=2s"},
    "mysql": {"init_command": "SET innodb_lock_wait_timeout = 1"},
}
engine = create_engine(url, connect_args=LOCK_WAIT[url.get_backend_name()])
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
SessionLocal = sessionmaker(engine)
log = []
opened = [0]


def get_session():
    opened[0] += 1
    number = opened[0]
    log.append(f"session {number} opened")
    with SessionLocal() as session:
        try:
            yield session
            session.commit()
            log.append(f"session {number} committed")
        except Exception as error:
            session.rollback()
            log.append(f"session {number} rolled back after {type(error).__name__}")
            raise


def names_in_database():
    with SessionLocal() as reader:
        return reader.scalars(select(User.name).order_by(User.id)).all()


class LogWhenSent:  # an ASGI middleware: logs once the response's last part is sent
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def send_and_log(message):
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                log.append("response sent")

        await self.app(scope, receive, send_and_log)


# sphinx_gallery_start_ignore
# The site's build logs at INFO; the test client's HTTP library logs every request there.
logging.getLogger("httpx2").setLevel(logging.WARNING)
# sphinx_gallery_end_ignore
app = FastAPI()
app.add_middleware(LogWhenSent)
client = TestClient(app, raise_server_exceptions=False)
print("FastAPI", fastapi.__version__)
# sphinx_gallery_start_ignore
fastapi_release = tuple(int(part) for part in fastapi.__version__.split(".")[:3])
assert fastapi_release >= (0, 121, 0), "a FastAPI with Depends(scope=...)"
# sphinx_gallery_end_ignore

# %%
# The endpoint returns, the response goes out, then the dependency commits
# ------------------------------------------------------------------------
#
# The endpoint adds a user and returns. A small ASGI middleware (``LogWhenSent``) logs when
# the last byte of the response has gone to the client. The log shows the order: the
# response was sent before the dependency's ``commit()`` ran. (On FastAPI 0.106.0 to
# 0.117.x the commit ran before the response, as ``scope="function"`` below does: we ran
# this page's requests on 0.106.0 and 0.117.1; 0.105.0 and 0.118.0 behave as here.)


@app.post("/users")
def create_user(name: str, session: Annotated[Session, Depends(get_session)]):
    session.add(User(name=name))
    log.append("endpoint returned")
    return {"created": name}


response = client.post("/users", params={"name": "alice"})
print(response.status_code, response.json(), log)
# sphinx_gallery_start_ignore
assert response.status_code == 200, "the client got a 200"
assert log == [
    "session 1 opened",
    "endpoint returned",
    "response sent",
    "session 1 committed",
], "the commit ran after the response was sent"
# sphinx_gallery_end_ignore
names = names_in_database()
print("database:", names)
# sphinx_gallery_start_ignore
assert names == ["alice"], "alice was committed"
# sphinx_gallery_end_ignore

# %%
# A commit that fails after the response: the client saw a success
# ----------------------------------------------------------------
#
# Alice again: the name is unique, so the ``INSERT`` the commit flushes fails. The client
# already has its 200 and the body; the dependency rolls back; the database has one alice.
# What the client was told and what the database holds disagree.

log.clear()
response = client.post("/users", params={"name": "alice"})
print(response.status_code, response.json(), log)
names = names_in_database()
print("database:", names)
# sphinx_gallery_start_ignore
assert response.status_code == 200, "the client got a 200"
assert response.json() == {"created": "alice"}, "and the body"
assert log[-2:] == ["response sent", "session 2 rolled back after IntegrityError"], (
    "the commit failed after the response was sent, and the dependency rolled back"
)
assert names == ["alice"], "the second alice was never written"
# sphinx_gallery_end_ignore

# %%
# ``scope="function"``: the commit before the response
# -----------------------------------------------------
#
# ``Depends(get_session, scope="function")`` runs the code after ``yield`` once the endpoint
# has returned and its return value has been turned into the response body (validated by
# ``response_model``), before the response is sent: the same failing commit now reaches the
# client as a 500. (That 500 comes from Starlette's ``ServerErrorMiddleware``, which FastAPI
# installs outermost, outside ``LogWhenSent``, so the log has no "response sent" line.)


class UserOut(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(from_attributes=True)
    id: int | None
    name: str


@app.post("/users-committed-first", response_model=UserOut)
def create_user_committed_first(
    name: str,
    session: Annotated[Session, Depends(get_session, scope="function")],
    flush: bool = False,
):
    user = User(name=name)
    session.add(user)
    if flush:
        session.flush()  # the INSERT now: the database assigns user.id
    log.append("endpoint returned")
    return user


log.clear()
response = client.post("/users-committed-first", params={"name": "alice"})
print(response.status_code, response.text, log)
# sphinx_gallery_start_ignore
assert response.status_code == 500, "the client got a 500"
assert log == [
    "session 3 opened",
    "endpoint returned",
    "session 3 rolled back after IntegrityError",
], "the commit failed before any response was sent"
assert type(app.middleware_stack).__name__ == "ServerErrorMiddleware", "outermost"
# sphinx_gallery_end_ignore

# %%
# The body was made before that commit: it shows no ``id`` unless the endpoint flushed.
# ``carol`` was committed, yet her body says ``"id": null``; ``dave``'s endpoint called
# ``flush()``, so his id was there when the body was made.

for name, flush in [("carol", False), ("dave", True)]:
    log.clear()
    response = client.post(
        "/users-committed-first", params={"name": name, "flush": flush}
    )
    print(response.json(), log)
    # sphinx_gallery_start_ignore
    assert response.json()["id"] is None if not flush else response.json()["id"] > 0, (
        "the body has the id only if the endpoint flushed"
    )
    assert log[-2:] == [f"session {opened[0]} committed", "response sent"], (
        "committed before the response was sent"
    )
    # sphinx_gallery_end_ignore
names = names_in_database()
print("database:", names)
# sphinx_gallery_start_ignore
assert names == ["alice", "carol", "dave"], "both committed"
# sphinx_gallery_end_ignore

# %%
# Asked for twice in one request: one session, unless the options differ
# ----------------------------------------------------------------------
#
# The endpoint asks for ``get_session`` itself and through a repository dependency that
# asks for it too. FastAPI caches a dependency's value for the rest of the request, per
# ``Depends`` options: both get the same session. ``use_cache=False`` runs the generator
# again, and so does ``scope="function"`` next to a plain ``Depends(get_session)``: each a
# session with its own connection and transaction, blind to the others' uncommitted work,
# flushed or not: the request's session flushes frank, and the fresh session finds no frank.


class UserRepository:
    def __init__(self, session: Annotated[Session, Depends(get_session)]):
        self.session = session


def fresh_session(session: Annotated[Session, Depends(get_session, use_cache=False)]):
    return session


@app.get("/sessions")
def which_sessions(
    session: Annotated[Session, Depends(get_session)],
    repository: Annotated[UserRepository, Depends()],
    fresh: Annotated[Session, Depends(fresh_session)],
    function_scoped: Annotated[Session, Depends(get_session, scope="function")],
):
    session.add(User(name="frank"))
    session.flush()  # frank's INSERT is sent; the commit comes after the response
    return {
        "repository_shares": repository.session is session,
        "fresh_shares": fresh is session,
        "function_scoped_shares": function_scoped is session,
        "fresh_sees_frank": fresh.scalar(select(User).filter_by(name="frank"))
        is not None,
    }


log.clear()
response = client.get("/sessions")
print(response.json(), log)
# sphinx_gallery_start_ignore
assert response.json() == {
    "repository_shares": True,
    "fresh_shares": False,
    "function_scoped_shares": False,
    "fresh_sees_frank": False,
}, "the repository got the request's session, use_cache=False and scope= others"
first = opened[0] - 2
assert sorted(entry for entry in log if entry.endswith("opened")) == [
    f"session {number} opened" for number in (first, first + 1, first + 2)
], "three sessions for four requests of the dependency"
# sphinx_gallery_end_ignore

# %%
# A background task runs before the request commits
# --------------------------------------------------
#
# A background task runs after the response is sent, so it opens a session of its own. With
# the default scope it also runs before the request's dependency commits, and that commit
# waits for the task to return. The endpoint flushed bob to get his id, yet the task's
# session finds no such user; this task then creates him (a get-or-create). A lock the
# request holds can never be released while the task waits for it: SQLite locks the whole
# database, and any write gives up after its timeout with "database is locked"; PostgreSQL
# locks bob's unique key, and its deadlock detector does not see a wait that runs through
# Python: only a ``lock_timeout`` ends it (2 s here; none by default, and the task and the
# request hang).


def send_welcome(user_id: int, name: str):
    try:
        with SessionLocal.begin() as task_session:  # commits at the end of the block
            found = task_session.get(User, user_id) is not None
            log.append(f"task found the user: {found}")
            if not found:
                task_session.add(User(name=name))
            task_session.add(User(name=f"welcome bot {user_id}"))
            task_session.flush()
        log.append("task committed")
    except Exception as error:
        log.append(f"task failed: {str(error).splitlines()[0]}")


def signup(name, tasks, session):
    user = User(name=name)
    session.add(user)
    session.flush()  # sends the INSERT; user.id is set, nothing is committed yet
    tasks.add_task(send_welcome, user.id, name)
    log.append("endpoint returned")
    return {"id": user.id}


@app.post("/signup")
def signup_default(
    name: str, tasks: BackgroundTasks, session: Annotated[Session, Depends(get_session)]
):
    return signup(name, tasks, session)


log.clear()
response = client.post("/signup", params={"name": "bob"})
print(response.json(), log)
# sphinx_gallery_start_ignore
assert log[:4] == [
    f"session {opened[0]} opened",
    "endpoint returned",
    "response sent",
    "task found the user: False",
], "the task ran after the response and did not see the request's flushed user"
assert log[-1] == f"session {opened[0]} committed", "the request committed last"
if sqlite:
    assert log[4] == "task failed: (sqlite3.OperationalError) database is locked", (
        "on SQLite the task's write failed on the request's lock"
    )
elif url.get_backend_name() == "postgresql":
    assert log[4].endswith("LockNotAvailable) canceling statement due to lock timeout"), (
        "on PostgreSQL only the lock_timeout ended the task's wait, not a deadlock check"
    )
    with engine.connect() as conn:
        defaults = dict(
            conn.exec_driver_sql(
                "SELECT name, boot_val FROM pg_settings"
                " WHERE name IN ('lock_timeout', 'deadlock_timeout')"
            ).all()
        )
    assert defaults == {"lock_timeout": "0", "deadlock_timeout": "1000"}, (
        "PostgreSQL waits for a lock without end by default; checks deadlocks after 1 s"
    )
else:
    assert log[4].startswith("task failed: "), "the task's wait ended only by a timeout"
# sphinx_gallery_end_ignore

# %%
# Commit first, then hand the task committed ids
# ----------------------------------------------
#
# With ``scope="function"`` the request commits before the response is sent, so the task,
# which runs after it, finds the user and writes freely. (A ``session.commit()`` in the
# endpoint before ``add_task`` does the same.)


@app.post("/signup-committed-first")
def signup_committed_first(
    name: str,
    tasks: BackgroundTasks,
    session: Annotated[Session, Depends(get_session, scope="function")],
):
    return signup(name, tasks, session)


log.clear()
response = client.post("/signup-committed-first", params={"name": "erin"})
print(response.json(), log)
# sphinx_gallery_start_ignore
assert log == [
    f"session {opened[0]} opened",
    "endpoint returned",
    f"session {opened[0]} committed",
    "response sent",
    "task found the user: True",
    "task committed",
], "committed, sent, then the task saw the user and committed its own write"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the test client, the engine's connections, and the temporary database.

client.close()
engine.dispose()
tmp.cleanup()
