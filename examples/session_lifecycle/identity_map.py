# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
The identity map: one object per row
====================================

Within one ``Session`` each row is one object, found by its identity key
``(class, primary key, token)``: queries return it again, ``get()`` returns a loaded, unexpired
object without SQL, while after ``expunge()``, or in another session, the same row is a
different object.
"""

# %%
# Setup: a table, three rows and a statement counter
# --------------------------------------------------
#
# The counter listens to ``before_cursor_execute`` on the engine, so it sees every SQL
# statement sent to the database, whoever sends it.

import os

from sqlalchemy import String, create_engine, event, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)

with Session(engine) as setup:
    setup.add_all(
        [User(id=1, name="alice"), User(id=2, name="bob"), User(id=3, name="carol")]
    )
    setup.commit()

statements: list[str] = []


def count_statement(conn, cursor, statement, parameters, context, executemany):
    statements.append(statement)


event.listen(engine, "before_cursor_execute", count_statement)
session = Session(engine)

# %%
# Two queries, one object
# -----------------------
#
# Both queries run their SELECT, but for a row whose key is already in the session the ORM
# returns the object it has instead of building a new one.

statements.clear()
by_name = session.scalars(select(User).where(User.name == "alice")).one()
by_id = session.scalars(select(User).where(User.id == 1)).one()
print(by_name, by_id, "- same object:", by_name is by_id)
# sphinx_gallery_start_ignore
assert len(statements) == 2, "both queries sent their SELECT"
assert by_name is by_id, "two queries for the same row return the same Python object"
# sphinx_gallery_end_ignore

# %%
# ``get()`` of a loaded key sends no SQL
# --------------------------------------
#
# ``Session.get()`` looks in the identity map first. The object is there and not expired,
# so the database is not asked at all.

statements.clear()
got = session.get(User, 1)
print(got, "- statements sent:", len(statements))
# sphinx_gallery_start_ignore
assert got is by_id, "get() returns the object already in the identity map"
assert len(statements) == 0, "get() of a loaded, unexpired object emits no SQL"
# sphinx_gallery_end_ignore

# %%
# ``get()`` of a key not loaded yet sends one SELECT
# --------------------------------------------------
#
# Row 2 exists in the database but this session has never loaded it, so ``get()`` has to
# run a SELECT by primary key.

statements.clear()
bob = session.get(User, 2)
print(bob, "- statements sent:", len(statements))
# sphinx_gallery_start_ignore
assert len(statements) == 1, "get() of a key not in the identity map emits one statement"
assert statements[0].lstrip().upper().startswith("SELECT"), "that statement is a SELECT"
# sphinx_gallery_end_ignore

# %%
# What is in the identity map
# ---------------------------
#
# ``Session.identity_map`` is keyed by identity keys: the mapped class, the primary key
# tuple and an identity token (``None`` unless you use horizontal sharding).
# ``inspect(obj).identity_key`` gives the key of one object.

for key, obj in sorted(session.identity_map.items(), key=lambda item: item[0][1]):
    cls, pk, token = key
    print(f"({cls.__name__}, {pk!r}, {token!r}) -> {obj!r}")

key = inspect(bob).identity_key
print("identity_key of bob:", (key[0].__name__, *key[1:]))
# sphinx_gallery_start_ignore
assert key == (User, (2,), None), "the identity key is (class, primary key tuple, token)"
assert session.identity_map[key] is bob, "the identity map maps that key to the object"
assert sorted(k[1] for k in session.identity_map.keys()) == [(1,), (2,)], (
    "only the rows this session loaded are in its identity map; row 3 is not"
)
# sphinx_gallery_end_ignore

# %%
# After ``expunge()``: a different object
# ---------------------------------------
#
# ``Session.expunge()`` removes the object from the identity map; it becomes
# :doc:`detached <five_states>`.
# Loading the same row again builds a new object.

session.expunge(bob)
print("bob detached:", inspect(bob).detached)
# sphinx_gallery_start_ignore
assert inspect(bob).detached, "an expunged object is detached"
assert inspect(bob).identity_key not in session.identity_map, "its key left the map"
# sphinx_gallery_end_ignore

statements.clear()
bob_again = session.get(User, 2)
print(
    bob_again, "- statements sent:", len(statements), "- same object:", bob_again is bob
)
# sphinx_gallery_start_ignore
assert bob_again is not bob, "after expunge, the same row loads as a different object"
assert len(statements) == 1, "the row is no longer in the identity map, so get() selects"
# sphinx_gallery_end_ignore

# %%
# A new session: a different object
# ---------------------------------
#
# Each ``Session`` has its own identity map. The same row loaded in
# :doc:`another session <two_sessions>` is
# another object, even while the first session is still open.

with Session(engine) as other:
    alice_elsewhere = other.get(User, 1)
    print(
        alice_elsewhere,
        "- same object as in the first session:",
        alice_elsewhere is by_id,
    )
    # sphinx_gallery_start_ignore
    assert alice_elsewhere is not by_id, "another session has its own object for the row"
    assert alice_elsewhere.name == by_id.name, "same row, same values"
    # sphinx_gallery_end_ignore

# %%
# Clean up: close the session.

session.close()
