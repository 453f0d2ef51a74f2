# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
Myth: "A Core ``update()`` on the connection updates my ORM objects"
=====================================================================

The ``Session`` and a raw ``Connection`` can share one transaction, so it is tempting to
believe they also share what they know. They do not: a Core statement changes rows, and the
objects already loaded in the session keep the values they had.
"""

# %%
# The claim
# ---------
#
#    "I ran ``update(users_table)`` on ``session.connection()``, it is the same transaction, so
#    my ``User`` objects see the new name."
#
# We set up one table, one user, and load that user into a session.

import os

from sqlalchemy import String, create_engine, inspect, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


users_table = User.__table__

engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)

with Session(engine) as setup:
    setup.add(User(id=1, name="old"))
    setup.commit()

session = Session(engine)
user = session.get(User, 1)
print(user)

# %%
# Run it
# ------
#
# A Core ``UPDATE`` on the session's own connection, so it runs inside the session's
# transaction. Then we look at the loaded object and, with a Core ``SELECT``, at the row.

conn = session.connection()
conn.execute(update(users_table).where(users_table.c.id == 1).values(name="new"))

print("object says:  ", user.name)
row_name = conn.execute(
    select(users_table.c.name).where(users_table.c.id == 1)
).scalar_one()
print("database says:", row_name)

# sphinx_gallery_start_ignore
assert row_name == "new", "the Core UPDATE changed the row in the database"
assert user.name == "old", "the loaded ORM object still holds the old value"
assert not inspect(user).expired_attributes, "nothing was expired by the Core UPDATE"
# sphinx_gallery_end_ignore

# %%
# Writing ``update(User)`` instead of ``update(users_table)`` changes nothing: executed on a
# ``Connection``, it is a plain Core statement too. Even re-selecting the object does not
# help, because the :doc:`identity map <../session_lifecycle/identity_map>` hands back the object
# it already has.

conn.execute(update(User).where(User.id == 1).values(name="newer"))
again = session.execute(select(User).where(User.id == 1)).scalar_one()
print("re-selected:", again.name)

# sphinx_gallery_start_ignore
assert again is user, "the SELECT returned the same object from the identity map"
assert user.name == "old", "re-selecting does not overwrite loaded attributes"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# What actually happens
# ---------------------
#
# A ``Connection`` knows nothing about the ``Session`` or its identity map. A Core
# ``update()`` is sent to the database, and that is all: no object is located, changed or
# expired. The object keeps the value loaded earlier until something tells the session to
# load it again (``expire()``, ``refresh()``, :doc:`populate_existing <requery_refreshes>`, or the
# expiry at
# ``commit()``). A later ``SELECT`` of the same row does not overwrite it either.

# %%
# Do this instead
# ---------------
#
# Run the ``UPDATE`` through the session. An ORM-enabled ``update(User)`` executed with
# ``session.execute()`` uses ``synchronize_session="auto"`` by default and updates the
# matching objects that are already loaded.

user = session.get(User, 1)
session.execute(update(User).where(User.id == 1).values(name="via session"))
print("object says:", user.name)

# sphinx_gallery_start_ignore
assert user.name == "via session", "the ORM-enabled UPDATE synchronized the loaded object"
# sphinx_gallery_end_ignore
session.commit()

# %%
# If the change has to go through Core (a raw connection, a stored procedure, another
# library), tell the session afterwards: ``session.expire(obj)`` makes the next access load
# the row again; ``session.refresh(obj)`` loads it right away.

conn = session.connection()
conn.execute(update(users_table).where(users_table.c.id == 1).values(name="core again"))
session.expire(user)
# sphinx_gallery_start_ignore
assert "name" in inspect(user).expired_attributes, "expire() marked the attribute"
# sphinx_gallery_end_ignore
print("after expire():", user.name)
# sphinx_gallery_start_ignore
assert user.name == "core again", "the expired attribute was loaded from the database"
# sphinx_gallery_end_ignore

conn.execute(update(users_table).where(users_table.c.id == 1).values(name="refreshed"))
session.refresh(user)
print("after refresh():", user.name)
# sphinx_gallery_start_ignore
assert user.name == "refreshed", "refresh() loaded the new value at once"
# sphinx_gallery_end_ignore

session.commit()

# %%
# Clean up: close the session and the engine's connections.

session.close()
engine.dispose()


# %%
# Checked by
# ----------
#
# - A Core ``update(users_table)`` on ``session.connection()`` changes the row, and the loaded
#   ``User`` keeps the old value, with nothing expired.
# - ``update(User)`` executed on a ``Connection`` behaves the same; re-selecting the row
#   returns the same stale object.
# - ``session.execute(update(User)...)`` updates the loaded object in place.
# - After a Core change, ``expire()`` (load on next access) and ``refresh()`` (load now) bring
#   the object up to date.
