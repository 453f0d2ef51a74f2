# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
``merge()`` of an object built from input data
==============================================

``session.merge(User(**data))`` sends a ``SELECT`` by primary key (none if the session
holds that row loaded; one if it holds it expired, as after a commit), and loads each
collection it cascades into that the input object carries. The flush then sends
an ``INSERT`` if the row does not exist, else an ``UPDATE`` of the columns whose values
differ (none if all match). Every attribute the input object *has*, ``None`` included, is
copied, so ``"email": None`` in the data becomes ``SET email=NULL``, and a collection it
carries replaces the loaded one. ``merge()`` returns the session's own object, persistent,
or pending if there was no row; the input object stays transient.

:ref:`sphx_glr_auto_examples_session_lifecycle_objects_across_sessions.py` merges copies
loaded by another session; here the object is new, built from a request's data, as an API
handler builds it.
"""

# %%
# Setup
# -----
#
# Alice (email ``alice@old``) has two addresses. ``load()`` puts that back in the database
# before each cell and opens a new session; ``row()`` reads what the database says.

import os

import sqlalchemy
from sqlalchemy import (
    ForeignKey,
    Identity,
    String,
    create_engine,
    delete,
    event,
    inspect,
    select,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    MappedAsDataclass,
    Session,
    mapped_column,
    relationship,
)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    # generated ids start at 100, clear of the ids this page writes by hand
    id: Mapped[int] = mapped_column(Identity(start=100), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(50))
    addresses: Mapped[list["Address"]] = relationship(
        back_populates="user", order_by="Address.id"
    )

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r}, email={self.email!r})"


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    street: Mapped[str] = mapped_column(String(50))
    user: Mapped[User | None] = relationship(back_populates="addresses")

    def __repr__(self) -> str:
        return f"Address(id={self.id!r}, street={self.street!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
sent = []
event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))


def load():
    with Session(engine) as setup, setup.begin():
        setup.execute(delete(Address))
        setup.execute(delete(User))
        alice = User(id=1, name="alice", email="alice@old")
        alice.addresses = [
            Address(id=10, street="Elm St"),
            Address(id=11, street="Oak St"),
        ]
        setup.add(alice)
    sent.clear()
    return Session(engine)


def row(user_id):  # its SELECT is left out of ``sent``, which the checks read
    count = len(sent)
    with engine.connect() as conn:
        found = conn.execute(select(User.name, User.email).where(User.id == user_id))
        del sent[count:]
        return found.one_or_none()


# %%
# A SELECT, then an UPDATE; the input object stays transient
# ----------------------------------------------------------
#
# The data names alice's row and gives a new name. ``merge()`` loads the row by primary key
# (one ``SELECT``: the input has no addresses, so it does not load them), copies the name
# onto the loaded object and returns *that* object: persistent, with the name as a pending
# change. The input object is not added: it stays transient. The commit
# sends the ``UPDATE``.

session = load()
data = {"id": 1, "name": "Alice"}
incoming = User(**data)
user = session.merge(incoming)
print("returned:", user, "| is incoming:", user is incoming)
print(
    "incoming transient:",
    inspect(incoming).transient,
    "| in session:",
    incoming in session,
)
# sphinx_gallery_start_ignore
assert len(sent) == 1 and sent[0].startswith("SELECT users."), "merge() sent one SELECT"
assert not any("addresses" in s for s in sent), (
    "the input carries no addresses: the collection was not loaded"
)
assert user is not incoming, "merge() returned another object"
assert inspect(user).persistent, "the session's own, persistent object"
assert inspect(incoming).transient, "the input object stays transient"
assert incoming not in session, "and is not in the session"
# sphinx_gallery_end_ignore
session.commit()
now = row(1)
print("row:", now)
# sphinx_gallery_start_ignore
assert sent[-1].startswith("UPDATE users SET name=") and "email" not in sent[-1], (
    "the commit sent an UPDATE of name only"
)
assert now == ("Alice", "alice@old"), "email was not in the data: the row keeps it"
# sphinx_gallery_end_ignore
session.close()

# %%
# ``None`` in the input overwrites: ``SET email=NULL``
# ----------------------------------------------------
#
# An attribute the input object never received is not copied (the email above). One it
# received is, whatever its value: data that carries every field, ``"email": None`` among
# them (a form left blank, a serializer that writes defaults), makes ``merge()`` set the
# email to ``None``, and the flush writes ``NULL`` over the row's value.

session = load()
data = {"id": 1, "name": "alice", "email": None}
user = session.merge(User(**data))
print("email history:", inspect(user).attrs.email.history)
# sphinx_gallery_start_ignore
assert inspect(user).attrs.email.history.deleted == ["alice@old"], (
    "the None replaces the loaded email as a pending change"
)
# sphinx_gallery_end_ignore
session.commit()
now = row(1)
print("row:", now)
# sphinx_gallery_start_ignore
assert sent[-1].startswith("UPDATE users SET email="), "the commit sent SET email=?"
assert now == ("alice", None), "the row's email is NULL now"
# sphinx_gallery_end_ignore
session.close()

# %%
# Row already in the session, values equal to it: no SQL at all
# --------------------------------------------------------------
#
# When the session already holds alice (loaded here by ``get()``), ``merge()`` copies onto
# that object and sends no ``SELECT``. The ``UPDATE`` names only the columns whose merged
# value differs from the loaded one: data equal to the row leaves nothing to write, and
# the commit sends no ``UPDATE``.

session = load()
alice = session.get(User, 1)
sent.clear()
merged = session.merge(User(id=1, name="alice", email="alice@old"))
print("the session's alice:", merged is alice, "| SQL from merge():", sent)
session.commit()
print("SQL at commit:", sent)
# sphinx_gallery_start_ignore
assert merged is alice, "merge() returned the object the session held"
assert sent == [], "no SELECT from merge(), no UPDATE for values equal to the row's"
# sphinx_gallery_end_ignore

# %%
# That commit expired alice (``expire_on_commit``). Held but expired, she is reloaded:
# the next ``merge()`` sends a ``SELECT`` to have values to compare with.

merged = session.merge(User(id=1, name="alice", email="alice@old"))
print(
    "the session's alice:", merged is alice, "| SQL from merge():", [q[:6] for q in sent]
)
# sphinx_gallery_start_ignore
assert merged is alice, "merge() returned the object the session held"
assert len(sent) == 1 and sent[0].startswith("SELECT users."), (
    "held but expired: merge() sent a SELECT to reload it"
)
# sphinx_gallery_end_ignore
session.close()

# %%
# Dataclass mappings: a field with a default counts as received
# -------------------------------------------------------------
#
# With ``MappedAsDataclass``, ``__init__`` takes each field, and may set the ones left out:
#
# * a ``default_factory=`` field: set by ``__init__`` on every release, so ``merge()``
#   writes the factory's value over the row (``nick`` becomes ``"anon"``);
# * a ``default=`` field, and a collection with ``default_factory=list``: set on
#   SQLAlchemy 2.0 only. There the input object *has* ``email=None`` and an empty list of
#   ``tags``: ``merge()`` writes ``NULL`` over the email and the empty list replaces the
#   loaded collection, unlinking tag 5. From SQLAlchemy 2.1 they stay unset, as with a
#   plain mapping, and the row keeps them.


class DataclassBase(MappedAsDataclass, DeclarativeBase):
    pass


class Member(DataclassBase):
    __tablename__ = "members"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(50), default=None)
    nick: Mapped[str] = mapped_column(String(50), default_factory=lambda: "anon")
    tags: Mapped[list["Tag"]] = relationship(default_factory=list)


class Tag(DataclassBase):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)


# sphinx_gallery_start_ignore
DataclassBase.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
DataclassBase.metadata.create_all(engine)
with Session(engine) as session:
    session.add(
        Member(id=1, name="alice", email="alice@old", nick="al", tags=[Tag(id=5)])
    )
    session.commit()
    incoming = Member(id=1, name="Alice")  # no email, nick or tags given
    received = sorted(key for key in ("email", "nick", "tags") if key in vars(incoming))
    session.merge(incoming)
    session.commit()
    member = session.execute(select(Member.email, Member.nick)).one()
    tag_owner = session.scalar(select(Tag.member_id).where(Tag.id == 5))
print(sqlalchemy.__version__, "| set by __init__:", received)
print("row after the merge:", member, "| tag 5 member_id:", tag_owner)
# sphinx_gallery_start_ignore
assert member.nick == "anon", "the default_factory value overwrote the nick"
if sqlalchemy.__version__.startswith("2.0."):
    assert received == ["email", "nick", "tags"], "2.0: __init__ set all three"
    assert member.email is None, "2.0: the dataclass default overwrote the email"
    assert tag_owner is None, "2.0: the empty list replaced the tags: tag 5 unlinked"
else:
    assert received == ["nick"], "2.1: __init__ set only the default_factory field"
    assert member.email == "alice@old", "2.1: the email left out was not copied"
    assert tag_owner == 1, "2.1: the tags left out were not copied: tag 5 kept"
# sphinx_gallery_end_ignore

# %%
# No such row: an INSERT
# ----------------------
#
# The ``SELECT`` finds nothing for id 2, so the returned object is pending (not
# persistent), and the flush will insert it. With no primary key at all, ``merge()`` does
# not even look for a row: no ``SELECT``. It does :doc:`autoflush <autoflush>` first,
# though, as a query does: merging carol sends bob's ``INSERT``.

session = load()
bob = session.merge(User(id=2, name="bob"))
print("bob pending:", inspect(bob).pending)
# sphinx_gallery_start_ignore
assert [s.split()[0] for s in sent] == ["SELECT"], "one SELECT, for bob's id"
assert inspect(bob).pending, "no row: the returned object is pending"
# sphinx_gallery_end_ignore
sent.clear()
carol = session.merge(User(name="carol"))
print("carol pending:", inspect(carol).pending, "| bob pending:", inspect(bob).pending)
# sphinx_gallery_start_ignore
assert [s.split()[0] for s in sent] == ["INSERT"], "no SELECT for carol; bob's autoflush"
assert inspect(carol).pending, "carol is pending"
assert inspect(bob).persistent, "bob was flushed"
# sphinx_gallery_end_ignore
session.commit()
bob_row = row(2)
print("bob's row:", bob_row)
# sphinx_gallery_start_ignore
assert sent[-1].startswith("INSERT INTO users"), "the commit inserted carol"
assert bob_row == ("bob", None), "bob's row exists"
# sphinx_gallery_end_ignore
session.close()

# %%
# The merge cascades into relationships, and the collection is replaced
# ---------------------------------------------------------------------
#
# ``relationship()``'s default cascade is ``"save-update, merge"``, so ``merge()`` merges the
# input's addresses too, loading alice's collection to do it (more ``SELECT`` statements
# than the one for alice): address 10 (in the loaded collection) gets the new street, the
# address with no id is new. And the input's list *becomes* the collection: address 11,
# which the data left out, is removed from it, and the flush sets its ``user_id`` to
# ``NULL`` (or fails, with a ``NOT NULL`` foreign key; with ``delete-orphan`` it is deleted).

session = load()
incoming = User(id=1, name="alice", email="alice@old")
incoming.addresses = [Address(id=10, street="Elm Street"), Address(street="Pine St")]
user = session.merge(incoming)
print("collection:", user.addresses, "| SELECTs:", len(sent))
# sphinx_gallery_start_ignore
assert len(sent) > 1 and all(s.startswith("SELECT") for s in sent), (
    "merge() sent more than one SELECT: the collection was loaded"
)
assert any("FROM addresses" in s for s in sent), "alice's addresses were loaded"
assert "merge" in User.addresses.property.cascade, "merge is in the default cascade"
assert [a.street for a in user.addresses] == ["Elm Street", "Pine St"], (
    "the collection is the input's list, merged"
)
assert all(inspect(a).transient for a in incoming.addresses), (
    "the input addresses stay transient"
)
# sphinx_gallery_end_ignore
session.commit()
# sphinx_gallery_start_ignore
assert "UPDATE addresses SET street=" in "\n".join(sent), "address 10 was updated"
assert "UPDATE addresses SET user_id=" in "\n".join(sent), "address 11 was unlinked"
assert "INSERT INTO addresses" in "\n".join(sent), "the new address was inserted"
# sphinx_gallery_end_ignore
orphan = session.scalar(select(Address.user_id).where(Address.id == 11))
print("address 11 user_id:", orphan)
# sphinx_gallery_start_ignore
assert orphan is None, "address 11 lost its user"
# sphinx_gallery_end_ignore
session.close()

# %%
# Do this instead: set only the fields the data holds
# ---------------------------------------------------
#
# To change only what the request sent, load the row and set those attributes. Leave out
# the keys the client did not send (pydantic 2's ``model_dump(exclude_unset=True)`` does,
# pydantic 1's ``.dict(exclude_unset=True)``); a key sent as ``None`` then means "clear
# it", on purpose. ``get()`` returns ``None`` when there is no such row: create it then.

session = load()
data = {"name": "Alice"}
user = session.get(User, 1)
if user is None:  # no such row
    user = User(id=1)
    session.add(user)
for key, value in data.items():
    setattr(user, key, value)
session.commit()
now = row(1)
print("row:", now)
# sphinx_gallery_start_ignore
assert now == ("Alice", "alice@old"), "only the name changed"
assert sent[-1].startswith("UPDATE users SET name=") and "email" not in sent[-1], (
    "an UPDATE of the name alone"
)
# sphinx_gallery_end_ignore

# %%
# Clean up.

session.close()
engine.dispose()
