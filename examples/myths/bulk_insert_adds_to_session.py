# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Myth: ``bulk_save_objects`` puts the new objects in the session
===============================================================

It does not: ``bulk_save_objects()`` and ``bulk_insert_mappings()`` insert the rows and
leave the session empty: ``obj in session`` is ``False``, and a later ``get()`` sends a
``SELECT``. The primary keys come back only with ``return_defaults=True``, which leaves
the objects detached. For new objects in the session's identity map, use
``session.scalars(insert(User).returning(User), [...])``; it too skips mapper events and
relationship cascades: for those, ``add_all()`` and ``flush()``.

:ref:`sphx_glr_auto_examples_myths_bulk_methods_stay_in_sync.py` shows the ``UPDATE`` side
of the same legacy methods; this page is their ``INSERT`` side.
"""

# %%
# The claim
# ---------
#
# "``session.bulk_save_objects(users)`` is a faster ``add_all(users)`` plus ``flush()``: the
# users are then in the session, with their ids."
#
# One table of users whose ids the database generates, and a list of every statement sent.

import os

import sqlalchemy
from sqlalchemy import String, create_engine, event, func, insert, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
sent = []
event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
session = Session(engine)
release = tuple(int(part) for part in sqlalchemy.__version__.split(".")[:3])
# sphinx_gallery_start_ignore
on_sqlite = engine.dialect.name == "sqlite"
# sphinx_gallery_end_ignore

# %%
# Run it: ``bulk_save_objects()``
# -------------------------------
#
# One ``INSERT`` for both rows (an executemany), and nothing else: the objects have no id,
# are still :doc:`transient <../session_lifecycle/five_states>`, and are not in the
# session. The rows are in the database all the same.

users = [User(name="alice"), User(name="bob")]
session.bulk_save_objects(users)
print(
    "ids:", [u.id for u in users], "| transient:", [inspect(u).transient for u in users]
)
print("alice in session:", users[0] in session)
rows = session.scalar(select(func.count()).select_from(User))
print("rows:", rows)
# sphinx_gallery_start_ignore
assert sum(s.startswith("INSERT") for s in sent) == 1, "one INSERT for both rows"
assert [u.id for u in users] == [None, None], "the objects got no id"
assert all(inspect(u).transient for u in users), "they are still transient"
assert users[0] not in session and not session.new, "and not in the session"
assert rows == 2, "the rows exist"
# sphinx_gallery_end_ignore

# %%
# ``return_defaults=True``: the ids, but still not in the session
# ---------------------------------------------------------------
#
# Now the INSERT returns each id and the objects get them, with an identity key: they go
# from transient straight to :doc:`detached <../session_lifecycle/five_states>`, as if
# loaded by a session already closed. No session ever held them, so no session lifecycle
# event fires for that step (the summary of transitions at the top of this page, built
# from those events, shows carol and dave only being created; the state table below has
# them detached). Still not in this session: ``get()`` sends a ``SELECT`` and returns
# another object. Here, on SQLite, it costs one ``INSERT ... RETURNING`` per row
# (SQLAlchemy 2.0.0 to 2.0.9 sent one for all).

# sphinx_gallery_start_ignore
lifecycle_events = []
for name in ("transient_to_pending", "pending_to_persistent", "persistent_to_detached"):
    event.listen(session, name, lambda s, obj, name=name: lifecycle_events.append(name))
# sphinx_gallery_end_ignore
sent.clear()
carol, dave = User(name="carol"), User(name="dave")
session.bulk_save_objects([carol, dave], return_defaults=True)
for user in (carol, dave):
    state = inspect(user)
    print(user, "| detached:", state.detached, "| in session:", user in session)
# sphinx_gallery_start_ignore
assert [carol.id, dave.id] == [3, 4], "the objects got their ids"
assert inspect(carol).detached and inspect(dave).detached, "they are detached"
assert carol not in session and dave not in session, "not in the session"
assert lifecycle_events == [], "no session lifecycle event fired"
if on_sqlite:
    assert all(s.rstrip().endswith("RETURNING id") for s in sent), (
        "INSERT ... RETURNING id"
    )
    assert len(sent) == (1 if release < (2, 0, 10) else 2), (
        "on SQLite one INSERT per row from 2.0.10 on, one for all before"
    )
# sphinx_gallery_end_ignore
sent.clear()
carol_loaded = session.get(User, 3)
print("get() returned carol's object:", carol_loaded is carol)
# sphinx_gallery_start_ignore
assert len(sent) == 1 and sent[0].startswith("SELECT"), "get() sent a SELECT"
assert carol_loaded is not carol, "and returned another object"
# sphinx_gallery_end_ignore

# %%
# ``bulk_insert_mappings()``: dictionaries, the same
# --------------------------------------------------
#
# With dictionaries there is no object at all. ``return_defaults=True`` writes each new id
# into its dictionary (from SQLAlchemy 2.0.32 on; 2.0.0 to 2.0.31 left it out); without it
# the dictionaries stay as they were.

plain = [{"name": "erin"}]
with_ids = [{"name": "frank"}]
session.bulk_insert_mappings(User, plain)
session.bulk_insert_mappings(User, with_ids, return_defaults=True)
print("without:", plain, "| with return_defaults:", with_ids)
# sphinx_gallery_start_ignore
assert plain == [{"name": "erin"}], "without return_defaults the dict has no id"
if release >= (2, 0, 32):
    assert with_ids == [{"name": "frank", "id": 6}], (
        "from 2.0.32 the id is written into the dict"
    )
else:
    assert with_ids == [{"name": "frank"}], "before 2.0.32 the dict gets no id"
assert not session.new and len(session.identity_map) == 1, "the session holds only carol"
# sphinx_gallery_end_ignore

# %%
# What actually happens
# ---------------------
#
# The bulk methods (legacy since 2.0) turn objects or dictionaries straight into ``INSERT``
# statements, skipping the unit of work: nothing is added to the session, its
# :doc:`identity map <../session_lifecycle/identity_map>` does not learn the new rows, and
# relationships and events are skipped (see the linked page for the ``UPDATE`` side).
#
# Do this instead
# ---------------
#
# In 2.0 style, an ORM ``insert()`` with a list of dictionaries is the bulk ``INSERT``;
# ``.returning(User)`` hands back persistent objects in the identity map, so ``get()``
# needs no SQL. Without ``returning`` it is one executemany ``INSERT`` and returns no
# objects. That fixes only identity-map membership: like the bulk methods, it fires no
# mapper event (``before_insert`` below) and cascades no relationship; for those,
# ``session.add_all()`` and ``flush()``. Here the two rows went in one
# ``INSERT ... RETURNING``; a dictionary whose keys differ from the one before it starts
# another (the next cell).

fired = []
event.listen(User, "before_insert", lambda mapper, connection, user: fired.append(user))
sent.clear()
new_users = session.scalars(
    insert(User).returning(User), [{"name": "grace"}, {"name": "heidi"}]
).all()
print(new_users, "| persistent:", [inspect(u).persistent for u in new_users])
print("before_insert fired for:", fired)
# sphinx_gallery_start_ignore
assert len(sent) == 1 and "RETURNING" in sent[0], "one INSERT ... RETURNING for both"
assert fired == [], "no before_insert event"
assert all(inspect(u).persistent for u in new_users), (
    "the returned objects are persistent"
)
assert new_users[0] in session, "and in the session"
# sphinx_gallery_end_ignore
sent.clear()
grace = session.get(User, new_users[0].id)
print("get() returned the same object:", grace is new_users[0])
# sphinx_gallery_start_ignore
assert grace is new_users[0] and not sent, "get() found it in the identity map, no SQL"
# sphinx_gallery_end_ignore

# %%
# Dictionaries with different keys: a new ``INSERT`` each time the keys change from one
# dictionary to the next, not one per set of keys. Two sets of keys, alternating: four
# statements. Sort the dictionaries by their keys first and each set goes in one.


def by_keys(row):
    return sorted(row)


sent.clear()
alternating = [
    {"name": "ivan"},
    {"name": "judy", "id": 500},
    {"name": "ken"},
    {"name": "liz", "id": 600},
]
session.scalars(insert(User).returning(User), alternating).all()
print("alternating keys -> INSERT statements:", len(sent))
# sphinx_gallery_start_ignore
assert [s.split()[0] for s in sent] == ["INSERT"] * 4, "keys changed 3 times: 4 INSERTs"
# sphinx_gallery_end_ignore
sent.clear()
grouped = [
    {"name": "mo"},
    {"name": "ned", "id": 700},
    {"name": "oli"},
    {"name": "pat", "id": 800},
]
session.scalars(insert(User).returning(User), sorted(grouped, key=by_keys)).all()
print("sorted by keys -> INSERT statements:", len(sent))
# sphinx_gallery_start_ignore
assert [s.split()[0] for s in sent] == ["INSERT"] * 2, "sorted: one INSERT per key set"
# sphinx_gallery_end_ignore

# %%
# Do not pair the returned objects with your input list by position unless you asked for
# ``returning(User, sort_by_parameter_order=True)`` (SQLAlchemy 2.0.10 and later): only
# then are they promised in input order, which can cost batching: on SQLite it sent the
# rows in more than one ``INSERT``, as below.

if release >= (2, 0, 10):
    sent.clear()
    rows = [{"name": "kim"}, {"name": "lee"}, {"name": "mia"}]
    ordered = session.scalars(
        insert(User).returning(User, sort_by_parameter_order=True), rows
    ).all()
    print([user.name for user in ordered], "| INSERT statements:", len(sent))
    # sphinx_gallery_start_ignore
    assert [user.name for user in ordered] == ["kim", "lee", "mia"], "in input order"
    if on_sqlite:
        assert len(sent) > 1, "on SQLite, more than one INSERT"
    # sphinx_gallery_end_ignore
session.commit()

# %%
# Checked by
# ----------
#
# Each cell's hidden asserts, listed under it. Clean up:

session.close()
engine.dispose()
