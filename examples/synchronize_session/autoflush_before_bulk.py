# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Bulk UPDATE autoflushes first
=============================

A bulk UPDATE flushes pending inserts and changes first, so it matches those rows too;
``session.no_autoflush`` or ``execution_options(autoflush=False)`` stops that, but then the
default synchronization discards an unflushed change to an attribute the UPDATE sets, on an
object it matches; with ``synchronize_session=False`` the change survives, and the next flush
writes it over the bulk value.
"""

# %%
# Setup
# -----
#
# Two committed users; the listener records the first word of every statement sent, and
# labels our bulk ``UPDATE .. WHERE status = ?`` as ``UPDATE bulk``.

import os

from sqlalchemy import String, create_engine, event, inspect, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20))

    def __repr__(self):
        return f"User(id={self.id!r}, name={self.name!r}, status={self.status!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
sent = []


@event.listens_for(engine, "before_cursor_execute")
def record(conn, cursor, statement, parameters, context, executemany):
    bulk = "WHERE user_account.status" in statement  # our bulk UPDATE's criteria
    sent.append(statement.split()[0] + (" bulk" if bulk else ""))


# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
session = Session(engine)
session.add_all(
    [User(id=1, name="Ann", status="new"), User(id=2, name="Bob", status="vip")]
)
session.commit()
bulk = update(User).where(User.status == "new").values(status="old")


def db_status():
    return dict(session.execute(select(User.id, User.status).order_by(User.id)).all())


# %%
# Pending and dirty changes are flushed before the UPDATE
# -------------------------------------------------------
#
# Bob is changed to ``new`` (dirty) and Cy is added (pending). Executing the bulk UPDATE first
# flushes both: an UPDATE for Bob and an INSERT for Cy come before the bulk UPDATE.

bob = session.get(User, 2)
bob.status = "new"
cy = User(id=3, name="Cy", status="new")
session.add(cy)
sent.clear()
session.execute(bulk)
print(sent)
# sphinx_gallery_start_ignore
assert sent.index("INSERT") < sent.index("UPDATE bulk"), "the pending INSERT came first"
assert sent.index("UPDATE") < sent.index("UPDATE bulk"), "Bob's UPDATE came first"
# sphinx_gallery_end_ignore

# %%
# So the bulk UPDATE matches the freshly flushed rows
# ---------------------------------------------------
#
# Bob and Cy now have ``status = 'new'`` in the database when the bulk UPDATE runs, so all
# three rows become ``old``, in the database and in the session.

in_db = db_status()
print(in_db, bob.status, cy.status)
# sphinx_gallery_start_ignore
assert in_db == {1: "old", 2: "old", 3: "old"}, "flushed rows were matched too"
assert bob.status == cy.status == "old", "and the session agrees"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# ``session.no_autoflush``: the pending object is not flushed, not matched
# ------------------------------------------------------------------------
#
# Inside the block the bulk UPDATE is the first statement; Cy stays pending and only Ann's
# row matches. Cy is inserted later, with her status untouched.

cy = User(id=3, name="Cy", status="new")
session.add(cy)
sent.clear()
with session.no_autoflush:
    session.execute(bulk)
print(sent)
# sphinx_gallery_start_ignore
assert sent == ["UPDATE bulk"], "nothing was flushed before the UPDATE"
assert inspect(cy).pending, "Cy is still pending"
# sphinx_gallery_end_ignore
session.flush()
in_db = db_status()
print(in_db)
# sphinx_gallery_start_ignore
assert in_db == {1: "old", 2: "vip", 3: "new"}, "Cy was not matched"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# ``execution_options(autoflush=False)`` does the same
# ----------------------------------------------------
#
# The option works on the ORM ``update()`` statement itself.

cy = User(id=3, name="Cy", status="new")
session.add(cy)
sent.clear()
session.execute(bulk.execution_options(autoflush=False))
print(sent)
# sphinx_gallery_start_ignore
assert sent == ["UPDATE bulk"], "nothing was flushed before the UPDATE"
assert inspect(cy).pending, "Cy is still pending"
# sphinx_gallery_end_ignore
session.flush()
in_db = db_status()
print(in_db)
# sphinx_gallery_start_ignore
assert in_db == {1: "old", 2: "vip", 3: "new"}, "Cy was not matched"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# The catch: a matching unflushed change is expired, and lost
# -----------------------------------------------------------
#
# Without autoflush, :doc:`'evaluate' <../myths/evaluate_reads_database>` (chosen by ``'auto'``)
# judges Bob by his *in-memory*
# ``status = 'new'`` and finds a match. It will not overwrite an unflushed change, so it
# expires the attribute: Bob reloads ``vip`` from the database and the change is gone.
# (The rollback above expired Bob, so the first line reloads him before the change.)

print("Bob loaded:", bob.status)
# sphinx_gallery_start_ignore
assert inspect(bob).attrs.status.loaded_value == "vip", "Bob is loaded with 'vip'"
# sphinx_gallery_end_ignore
bob.status = "new"
with session.no_autoflush:
    session.execute(bulk)
# sphinx_gallery_start_ignore
assert "status" in inspect(bob).expired_attributes, "the modified attribute was expired"
# sphinx_gallery_end_ignore
print(bob.status, inspect(bob).attrs.status.history)
# sphinx_gallery_start_ignore
assert bob.status == "vip", "the reload shows the database value"
assert not inspect(bob).attrs.status.history.has_changes(), "the unflushed change is lost"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# ``synchronize_session=False`` keeps the change
# ----------------------------------------------
#
# With synchronization off, the session touches no object. Ann's row still says ``new`` in the
# database, so the bulk UPDATE matches it and writes ``old``; her unflushed change to ``vip``
# stays in memory, still dirty, and the commit writes it over the bulk value.

ann = session.get(User, 1)
print("Ann loaded:", ann.status)
ann.status = "vip"
unsynced = bulk.execution_options(autoflush=False, synchronize_session=False)
matched = session.execute(unsynced).rowcount
dirty, in_memory = ann in session.dirty, ann.status
print("rows matched:", matched, "| Ann:", in_memory, "dirty:", dirty)
session.commit()
in_db = db_status()
print(in_db)
# sphinx_gallery_start_ignore
assert matched == 1, "the bulk UPDATE matched Ann's row in the database"
assert dirty and in_memory == "vip", "the unflushed change survived"
assert in_db == {1: "vip", 2: "vip"}, "the commit wrote Ann's change over the bulk value"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session.

session.close()
