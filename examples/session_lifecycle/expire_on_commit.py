# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
``expire_on_commit``
====================

``commit()`` expires every attribute of every object in the session, so each object costs
one ``SELECT`` on its next read and then shows the current row; ``expire_on_commit=False``
saves those ``SELECT`` statements but leaves the objects showing whatever they held before
the commit, however much the database has moved on.

This page shows exactly what is expired, what SQL the next reads cost, and what
``expire_on_commit=False`` trades for saving it.
"""

# %%
# Two committed users. ``sent`` records the SQL statements, so the cells can count
# ``SELECT`` statements.

import os

from sqlalchemy import String, create_engine, event, inspect, select, update
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

with Session(engine) as setup:
    setup.add_all([User(id=1, name="alice"), User(id=2, name="bob")])
    setup.commit()

sent = []
event.listen(
    engine, "before_cursor_execute", lambda conn, cur, sql, *rest: sent.append(sql)
)


def selects():
    return [sql for sql in sent if sql.lstrip().upper().startswith("SELECT")]


def rename_bob(name):
    """Another session changes bob's name and commits."""
    with Session(engine) as other:
        other.execute(update(User).where(User.id == 2).values(name=name))
        other.commit()


# %%
# What ``commit()`` expires
# -------------------------
#
# Load both users, commit, and inspect them: every loaded attribute of every object in the
# :doc:`identity map <identity_map>` is expired. Nothing is detached, and ``commit()`` itself sends
# no ``SELECT``.

session = Session(engine)
alice, bob = session.scalars(select(User).order_by(User.id)).all()
sent.clear()
session.commit()
for user in (alice, bob):
    print(
        sorted(inspect(user).expired_attributes), "persistent:", inspect(user).persistent
    )

# sphinx_gallery_start_ignore
assert not selects(), "commit() itself loads nothing"
for user in (alice, bob):
    assert inspect(user).expired_attributes == {"id", "name"}, (
        "all attributes are expired"
    )
    assert inspect(user).persistent, "expired objects stay in the session"
# sphinx_gallery_end_ignore

# %%
# The next access pays a ``SELECT``
# ---------------------------------
#
# Reading ``alice.name`` loads alice's row (all her expired attributes at once); reading
# ``bob.name`` loads bob's row. One ``SELECT`` per object; a second read is free.

sent.clear()
print(alice.name)
# sphinx_gallery_start_ignore
assert len(selects()) == 1, "the first read of alice emitted one SELECT"
# sphinx_gallery_end_ignore
print(bob.name)
# sphinx_gallery_start_ignore
assert len(selects()) == 2, "bob needed his own SELECT"
# sphinx_gallery_end_ignore
print(alice.name, bob.name)
# sphinx_gallery_start_ignore
assert len(selects()) == 2, "loaded attributes are read without SQL"
# sphinx_gallery_end_ignore

# %%
# Reading after commit sees other transactions
# --------------------------------------------
#
# That ``SELECT`` is the point: after a commit, other transactions may change the rows. Here
# another session renames bob after our commit; our next read of the expired ``bob`` returns
# the database's current value.

session.commit()
rename_bob("Robert")
print(bob.name)
# sphinx_gallery_start_ignore
assert bob.name == "Robert", "the expired attribute was reloaded with the current value"
# sphinx_gallery_end_ignore
session.close()

# %%
# ``expire_on_commit=False``: nothing expired, no ``SELECT``
# ----------------------------------------------------------
#
# With ``Session(engine, expire_on_commit=False)`` the objects keep their loaded values after
# ``commit()``, and reading them sends no SQL. Useful when objects are read after the session
# is closed (e.g. serialized for a response).

session = Session(engine, expire_on_commit=False)
alice, bob = session.scalars(select(User).order_by(User.id)).all()
session.commit()
sent.clear()
print(alice.name, bob.name)

# sphinx_gallery_start_ignore
assert not inspect(alice).expired_attributes, "nothing was expired by commit()"
assert not inspect(bob).expired_attributes, "nothing was expired by commit()"
assert not selects(), "reading after commit() emitted no SELECT"
# sphinx_gallery_end_ignore

# %%
# The staleness risk
# ------------------
#
# The price: the values are whatever was loaded before the commit. Another session renames
# bob again; our ``bob`` still says ``Robert``, and nothing warns us. Even a new query for the
# row returns the same object with the old value (identity map);
# :doc:`refresh() <refresh_after_commit>` reloads it.

rename_bob("Bobby")
print(bob.name)
# sphinx_gallery_start_ignore
assert bob.name == "Robert", "without expiry the object keeps the stale value"
# sphinx_gallery_end_ignore

again = session.scalars(select(User).where(User.id == 2)).one()
# sphinx_gallery_start_ignore
assert again is bob and bob.name == "Robert", (
    "re-selecting does not overwrite loaded values"
)
# sphinx_gallery_end_ignore

session.refresh(bob)
print(bob.name)
# sphinx_gallery_start_ignore
assert bob.name == "Bobby", "refresh() loaded the current value"
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session and the engine's connections.

session.close()
engine.dispose()
