# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Moving objects between sessions
===============================

``add()`` takes only objects no other session holds and whose row this session has not
loaded, ``merge()`` returns the session's own instance with every loaded value of the copy
written onto it as a pending change (stale ones too), and ``merge(load=False)`` skips the
``SELECT`` by trusting a clean copy's values as the database's.

An object belongs to at most one ``Session``, and a session holds at most one object per row.
``add()`` refuses an object another session owns, and a copy of a row the session already
holds. ``merge()`` accepts both, but returns *its own* instance and copies every loaded value
onto it, stale ones included, which the next flush writes back. Close the first session
(or ``expunge()`` the object) before you ``add()`` it to another. Merging a *new* object
built from a request's data (an INSERT or an UPDATE, and what a ``None`` in it overwrites)
is the next page: :ref:`sphx_glr_auto_examples_session_lifecycle_merge_input_data.py`.
"""

# %%
# Two users, a statement recorder, and ``scrub()``, which removes memory addresses and the
# "Background on this error" link from error messages, and replaces session numbers
# (``Session.hash_key``, a counter) with the variable names used here. Several sessions use
# the database at once, each on its own connection, so the in-memory SQLite default becomes
# a file.

import os
import re
import tempfile

from sqlalchemy import String, create_engine, event, inspect, make_url, select, update
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    email: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r}, email={self.email!r})"


url = make_url(os.environ.get("DATABASE_URL", "sqlite://"))
tmp = tempfile.TemporaryDirectory()
if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
    url = url.set(database=os.path.join(tmp.name, "sessions.db"))
engine = create_engine(url)
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
with Session(engine) as setup:
    setup.add_all(
        [
            User(id=1, name="alice", email="alice@old"),
            User(id=2, name="bob", email="bob@old"),
        ]
    )
    setup.commit()

sent = []


def record(conn, cursor, sql, *rest):
    sent.append(sql)


event.listen(engine, "before_cursor_execute", record)


def scrub(error, **sessions):
    message = re.sub(r" at 0x[0-9a-fA-F]+", "", str(error))
    message = re.split(r"\s*\(Background on this error", message)[0]
    for name, session in sessions.items():
        message = message.replace(f"'{session.hash_key}'", f"'{name}'")
    return f"{type(error).__name__}: {message}"


def database_row(user_id):
    with engine.connect() as conn:
        row = conn.execute(select(User.name, User.email).where(User.id == user_id))
        return tuple(row.one())


def change_elsewhere(user_id, **values):
    with Session(engine) as other:
        other.execute(update(User).where(User.id == user_id).values(**values))
        other.commit()


# %%
# "is already attached to session"
# --------------------------------
#
# ``session_a`` loaded alice; ``session_b.add(alice)`` refuses, because alice is still
# persistent in ``session_a``. The message names both sessions by number.

session_a = Session(engine)
session_b = Session(engine)
alice = session_a.get(User, 1)
error = None
try:
    session_b.add(alice)
except InvalidRequestError as exc:
    error = exc
    print(scrub(error, session_a=session_a, session_b=session_b))
# sphinx_gallery_start_ignore
assert type(error) is InvalidRequestError, "add() of another session's object raises"
assert f"is already attached to session '{session_a.hash_key}'" in str(error), (
    "the error names session A"
)
assert f"(this is '{session_b.hash_key}')" in str(error), "and the session we called"
assert inspect(alice).session is session_a, "alice stays in session_a"
# sphinx_gallery_end_ignore

# %%
# ``merge()`` does not mind: a third session merges alice and hands back *its own* object
# for her row, while alice herself stays in ``session_a``.

with Session(engine) as session_c:
    alice_c = session_c.merge(alice)
    print("alice_c is alice:", alice_c is alice)
    # sphinx_gallery_start_ignore
    assert alice_c is not alice, "merge() returned session_c's own object"
    assert inspect(alice_c).session is session_c, "which belongs to session_c"
    # sphinx_gallery_end_ignore
# sphinx_gallery_start_ignore
assert inspect(alice).session is session_a, "alice is still in session_a"
# sphinx_gallery_end_ignore

# %%
# Once ``session_a`` lets go of alice (``close()`` or ``expunge()``), she is
# :doc:`detached <five_states>`, and
# ``session_b.add()`` takes her: she is persistent there, with no SQL sent.

session_a.close()
sent.clear()
session_b.add(alice)
print("in session_b:", alice in session_b, "| persistent:", inspect(alice).persistent)
# sphinx_gallery_start_ignore
assert inspect(alice).session is session_b, "session_b owns her now"
assert inspect(alice).persistent, "as a persistent object"
assert not sent, "add() of a detached object sends no SQL"
# sphinx_gallery_end_ignore
session_b.close()

# %%
# "another instance with key ... is already present"
# --------------------------------------------------
#
# ``session_b`` loaded its own alice; a detached copy of the same row (from a closed session)
# cannot join it, because the :doc:`identity map <identity_map>` holds one object per row.
# ``add()`` raises at
# once, not at flush.

with Session(engine) as session_a:
    alice_copy = session_a.get(User, 1)
session_b = Session(engine)
alice_b = session_b.get(User, 1)
error = None
try:
    session_b.add(alice_copy)
except InvalidRequestError as exc:
    error = exc
    print(scrub(error))
# sphinx_gallery_start_ignore
assert type(error) is InvalidRequestError, "add() of a second object for one row raises"
assert "another instance with key" in str(error), "the message names the identity key"
assert "is already present in this session" in str(error), "and the conflict"
assert inspect(alice_copy).detached, "the copy stays detached"
# sphinx_gallery_end_ignore

# %%
# ``merge()`` returns the session's own instance
# ----------------------------------------------
#
# ``merge()`` does not attach its argument. It finds the session's object for that key (here
# in the identity map, so no ``SELECT``), copies the argument's loaded values onto it and
# returns it. The copy stays detached: go on with the return value. Copying equal values
# puts the object in the optimistic ``session.dirty`` collection, but
# :meth:`~sqlalchemy.orm.Session.is_modified` finds no net change, and no UPDATE will be sent.

sent.clear()
merged = session_b.merge(alice_copy)
print(
    "merged is alice_b:",
    merged is alice_b,
    "| merged is alice_copy:",
    merged is alice_copy,
)
# sphinx_gallery_start_ignore
assert merged is alice_b, "merge() returns the session's own object"
assert inspect(alice_copy).detached, "its argument stays detached"
# sphinx_gallery_end_ignore
print(
    "in session_b.dirty:",
    merged in session_b.dirty,
    "| is_modified:",
    session_b.is_modified(merged),
)
# sphinx_gallery_start_ignore
assert not sent, "the key was in the identity map: no SELECT"
assert not session_b.is_modified(merged), "equal values: no net change"
# sphinx_gallery_end_ignore
session_b.close()

# %%
# ``merge()`` copies stale values, and the flush writes them back
# ----------------------------------------------------------------
#
# Bob was loaded, then his session closed. Another session renames him and changes his email.
# Merging the old copy loads the current row, then copies *every loaded value* of the copy
# onto it: the old name and email become pending changes, and ``commit()`` sends an UPDATE
# that undoes the other session's work.

with Session(engine) as old:
    bob_copy = old.get(User, 2)
change_elsewhere(2, name="Robert", email="robert@new")
session = Session(engine)
sent.clear()
bob = session.merge(bob_copy)
print(bob, "| pending:", inspect(bob).attrs.name.history)
# sphinx_gallery_start_ignore
assert len(sent) == 1 and sent[0].startswith("SELECT"), "merge() loaded the row"
assert session.is_modified(bob), "the stale values are pending changes"
assert inspect(bob).attrs.name.history.deleted == ["Robert"], "over the current name"
# sphinx_gallery_end_ignore
session.commit()
# sphinx_gallery_start_ignore
assert sent[-1].startswith("UPDATE users SET name="), "commit() sent the UPDATE"
# sphinx_gallery_end_ignore
row = database_row(2)
print("database now:", row)
# sphinx_gallery_start_ignore
assert row == ("bob", "bob@old"), "the stale copy overwrote the new row"
# sphinx_gallery_end_ignore

# %%
# Only loaded attributes are copied
# ---------------------------------
#
# An attribute the copy does not hold (here ``email``, expired before its session closed) is
# not copied: the merged object keeps the database's value for it.

with Session(engine) as old:
    alice_copy = old.get(User, 1)
    old.expire(alice_copy, ["email"])
change_elsewhere(1, email="alice@new")
print("not loaded in the copy:", inspect(alice_copy).unloaded)
alice = session.merge(alice_copy)
print(alice)
# sphinx_gallery_start_ignore
assert inspect(alice_copy).unloaded == {"email"}, "the copy holds no email"
assert alice.email == "alice@new", "merge() kept the database's email"
assert not session.is_modified(alice), "the loaded name was equal: nothing to write"
# sphinx_gallery_end_ignore
session.close()

# %%
# ``merge(load=False)``: no ``SELECT``, and the copy is trusted
# --------------------------------------------------------------
#
# With ``load=False``, ``merge()`` builds the session's object from the copy alone, as if
# its values were the database's: no SQL, nothing modified, no UPDATE at commit. The copy
# says ``alice@new``; the database now says ``alice@newer``; the merged object believes the
# copy.

with Session(engine) as old:
    alice_copy = old.get(User, 1)
change_elsewhere(1, email="alice@newer")
session = Session(engine)
sent.clear()
alice = session.merge(alice_copy, load=False)
print(alice, "| is_modified:", session.is_modified(alice))
# sphinx_gallery_start_ignore
assert not sent, "merge(load=False) sent no SQL"
assert alice is not alice_copy and inspect(alice).persistent, "a new persistent object"
assert alice.email == "alice@new", "the copy's stale value"
assert not session.is_modified(alice), "taken as the database's value, not as a change"
# sphinx_gallery_end_ignore
session.commit()
row = database_row(1)
print("database now:", row)
# sphinx_gallery_start_ignore
assert not [sql for sql in sent if sql.startswith("UPDATE")], "commit() wrote nothing"
assert row[1] == "alice@newer", "the database keeps its value"
# sphinx_gallery_end_ignore
session.close()

# %%
# ``merge(load=False)`` refuses a modified copy
# ---------------------------------------------
#
# Since it cannot compare with the database, ``load=False`` accepts only clean objects. A
# copy with an unflushed change raises :class:`~sqlalchemy.exc.InvalidRequestError`.

with Session(engine) as old:
    alice_copy = old.get(User, 1)
alice_copy.name = "Alicia"
session = Session(engine)
error = None
try:
    session.merge(alice_copy, load=False)
except InvalidRequestError as exc:
    error = exc
    print(scrub(error))
# sphinx_gallery_start_ignore
assert type(error) is InvalidRequestError, "merge(load=False) of a dirty object raises"
assert "does not support objects marked as 'dirty'" in str(error), "and says why"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session and the engine's connections, and remove the temporary
# database file.

session.close()
engine.dispose()
tmp.cleanup()
