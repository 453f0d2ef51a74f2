# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
In-place changes to a JSON column
=================================

The session sees a JSON column change only when the attribute is assigned a value unequal
to the loaded one (a copy taken after an in-place change is equal), flagged with
``flag_modified()``, or changed at the top level of a ``MutableDict``; on an object already
in the database, any other in-place change sends no UPDATE and vanishes on the next expire.
(A pending object's dict changed in place before its INSERT is flushed is written as it is
then.)
"""

# %%
# Setup
# -----
#
# ``prefs`` is a plain :class:`~sqlalchemy.types.JSON` column; ``settings`` is the same JSON
# wrapped in :class:`~sqlalchemy.ext.mutable.MutableDict`. ``flush_updates()`` flushes and
# prints how many UPDATE statements it sent; ``in_database(column)`` reads one column of the
# row with a plain column SELECT and prints it.

import os

from sqlalchemy import JSON, create_engine, event, select
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.orm.attributes import flag_modified


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    prefs: Mapped[dict] = mapped_column(JSON)
    settings: Mapped[dict] = mapped_column(MutableDict.as_mutable(JSON))

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, prefs={self.prefs!r}, settings={self.settings!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
sent = []


def record(conn, cursor, statement, *rest):
    sent.append(statement)


event.listen(engine, "before_cursor_execute", record)


def flush_updates():
    sent.clear()
    session.flush()
    updates = sum(sql.startswith("UPDATE") for sql in sent)
    print("UPDATEs the flush sent:", updates)
    return updates


def in_database(column):
    value = session.scalar(select(getattr(User, column)).where(User.id == 1))
    print(f"in the database: {column}={value}")
    return value


START = {"theme": "light", "lang": "en", "tags": ["a"], "nested": {"size": 1}}
session = Session(engine)
session.add(User(id=1, prefs=dict(START), settings=dict(START)))
session.commit()
ann = session.get(User, 1)
print(ann)

# %%
# An in-place change is not seen
# ------------------------------
#
# Setting a key, ``update()`` and ``pop()`` all change the dict the attribute holds, but no
# attribute was *set*, so the session hears nothing: ann is not dirty, and the flush sends
# no UPDATE.

ann.prefs["theme"] = "dark"
ann.prefs.update(lang="de")
ann.prefs.pop("tags")
print("in memory:", ann.prefs)
print("dirty:", ann in session.dirty, "| modified:", session.is_modified(ann))
updates, prefs = flush_updates(), in_database("prefs")
# sphinx_gallery_start_ignore
assert ann not in session.dirty and not session.is_modified(ann), (
    "the session sees no change"
)
assert updates == 0, "the flush sent no UPDATE"
assert prefs == START, "the row still has the old JSON"
# sphinx_gallery_end_ignore

# %%
# ... and lost on expire
# ----------------------
#
# ``commit()`` expires ann (and has nothing to write). The next access reloads ``prefs``
# from the row: the three changes are gone, with no error anywhere. ``expire()`` and
# :doc:`refresh() <../session_lifecycle/refresh_after_commit>` drop such a change the same way.

session.commit()
print("after commit:", ann.prefs)
# sphinx_gallery_start_ignore
assert ann.prefs == START, "the in-place changes were lost"
# sphinx_gallery_end_ignore
ann.prefs["theme"] = "dark"
session.expire(ann)
print("after expire():", ann.prefs)
# sphinx_gallery_start_ignore
assert ann.prefs == START, "expire() dropped the change"
# sphinx_gallery_end_ignore
ann.prefs["theme"] = "dark"
session.refresh(ann)
print("after refresh():", ann.prefs)
# sphinx_gallery_start_ignore
assert ann.prefs == START, "refresh() dropped the change"
# sphinx_gallery_end_ignore

# %%
# ``flag_modified()`` marks the attribute as changed
# --------------------------------------------------
#
# :func:`~sqlalchemy.orm.attributes.flag_modified` tells the session that ``prefs`` changed,
# whatever it holds now: the flush writes the whole JSON value.

ann.prefs["theme"] = "dark"
flag_modified(ann, "prefs")
print("dirty:", ann in session.dirty)
# sphinx_gallery_start_ignore
assert ann in session.dirty, "now the session knows"
# sphinx_gallery_end_ignore
updates, prefs = flush_updates(), in_database("prefs")
# sphinx_gallery_start_ignore
assert updates == 1, "the flush sent the UPDATE"
assert prefs == {**START, "theme": "dark"}, "the row has the whole new value"
# sphinx_gallery_end_ignore
session.commit()

# %%
# Assign a new dict, not the same one
# -----------------------------------
#
# Assigning a *new* dict is a change the session sees. Assigning back the *same* dict object
# after changing it in place is not: ann turns up in ``session.dirty`` (an attribute was set),
# but the old and the new value are one object, so there is no net change and no UPDATE.
# Nor is a *copy* made after the in-place change: it equals the loaded value, which the
# in-place change already altered. Build the new dict from the unchanged one.

ann.prefs = {**ann.prefs, "theme": "blue"}
updates, prefs = flush_updates(), in_database("prefs")
# sphinx_gallery_start_ignore
assert updates == 1 and prefs["theme"] == "blue", "new dict: written"
# sphinx_gallery_end_ignore
same = ann.prefs
same["theme"] = "green"
ann.prefs = same
print("dirty:", ann in session.dirty, "| modified:", session.is_modified(ann))
# sphinx_gallery_start_ignore
assert ann in session.dirty and not session.is_modified(ann), "set, but no net change"
# sphinx_gallery_end_ignore
updates, prefs = flush_updates(), in_database("prefs")
# sphinx_gallery_start_ignore
assert updates == 0 and prefs["theme"] == "blue", (
    "the flush wrote nothing: the row keeps 'blue'"
)
# sphinx_gallery_end_ignore
ann.prefs = dict(same)
updates, prefs = flush_updates(), in_database("prefs")
# sphinx_gallery_start_ignore
assert updates == 0 and prefs["theme"] == "blue", "a copy: neither"
# sphinx_gallery_end_ignore
session.rollback()

# %%
# ``MutableDict`` tracks top-level changes
# ----------------------------------------
#
# ``MutableDict.as_mutable(JSON)`` loads the value as a ``MutableDict``, which reports the
# changes made through its own methods to its parent object. Setting a key, ``update()``,
# ``pop()`` and ``del`` each make ann dirty, and the flush writes the JSON.

print(type(ann.settings).__name__)
changes = [
    lambda d: d.__setitem__("theme", "dark"),
    lambda d: d.update(lang="de"),
    lambda d: d.pop("tags"),
    lambda d: d.__delitem__("lang"),
]
for change in changes:
    change(ann.settings)
    dirty = ann in session.dirty
    print("dirty:", dirty)
    updates = flush_updates()
    # sphinx_gallery_start_ignore
    assert dirty, "the MutableDict reported the change"
    assert updates == 1, "and the flush wrote it"
    # sphinx_gallery_end_ignore
settings = in_database("settings")
# sphinx_gallery_start_ignore
assert settings == {"theme": "dark", "nested": {"size": 1}}, "all four written"
# sphinx_gallery_end_ignore
session.commit()

# %%
# Nested changes are not tracked, even by ``MutableDict``
# -------------------------------------------------------
#
# ``MutableDict`` watches only its own keys. The dict and list inside it are plain Python
# objects: changing them is again invisible, and lost on expire. Use ``flag_modified()``
# after such a change, or set the top-level key again, which the ``MutableDict`` reports.

ann.settings["nested"]["size"] = 2
ann.settings["nested"].setdefault("extra", [])
print("dirty after nested changes:", ann in session.dirty)
# sphinx_gallery_start_ignore
assert type(ann.settings["nested"]) is dict, "the nested value is a plain dict"
assert ann not in session.dirty, "the nested changes left ann clean"
# sphinx_gallery_end_ignore
updates = flush_updates()
# sphinx_gallery_start_ignore
assert updates == 0, "no UPDATE for nested changes"
# sphinx_gallery_end_ignore
session.expire(ann)
print("after expire():", ann.settings)
# sphinx_gallery_start_ignore
assert ann.settings["nested"] == {"size": 1}, "the nested changes were lost"
# sphinx_gallery_end_ignore
ann.settings["nested"]["size"] = 2
flag_modified(ann, "settings")
updates, settings = flush_updates(), in_database("settings")
# sphinx_gallery_start_ignore
assert updates == 1 and settings["nested"] == {"size": 2}, (
    "the flush wrote the nested change"
)
# sphinx_gallery_end_ignore
ann.settings["nested"]["size"] = 3
ann.settings["nested"] = dict(ann.settings["nested"])  # the top-level key, set again
updates, settings = flush_updates(), in_database("settings")
# sphinx_gallery_start_ignore
assert updates == 1 and settings["nested"] == {"size": 3}, (
    "the flush wrote the key's new value"
)
# sphinx_gallery_end_ignore
session.commit()

# %%
# Before the INSERT, an in-place change is written
# ------------------------------------------------
#
# A pending object has no row yet: its INSERT, at the next flush, writes the dict as it is
# then, in-place changes included.

bo = User(id=2, prefs=dict(START), settings=dict(START))
session.add(bo)
bo.prefs["theme"] = "dark"
session.commit()
bo_prefs = session.scalar(select(User.prefs).where(User.id == 2))
print("bo's row:", bo_prefs)
# sphinx_gallery_start_ignore
assert bo_prefs == {**START, "theme": "dark"}, (
    "the INSERT of a pending object wrote the dict changed in place before the flush"
)
# sphinx_gallery_end_ignore

# %%
# Clean up: close the session.

session.close()
