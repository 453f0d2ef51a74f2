# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
# ]
# ///
"""
What a flush event may do
=========================

``before_flush`` may add, change and delete objects: the same flush writes them. Once the flush
is sending its statements (mapper events such as ``after_insert``), ``session.add()`` warns and
waits for the next flush, a change ``after_insert`` makes to an object is written, dropped, or
dropped with a warning, as the flush's order decides, and queries see half the flush, so write
other rows through the event's ``connection``. ``before_commit`` and ``after_commit`` also
fire each time a savepoint is released: act only when ``get_nested_transaction()`` is
``None``, adding the transaction's own rows in ``before_commit``; ``after_commit`` can send no
SQL, so open a new session there.
"""

# %%
# Orders with lines, an audit table, and two counter rows (``Stats`` and ``Counter``, alike
# but for their names). ``sent`` records each statement's text; ``flush_and_catch()``
# flushes and returns the text of every warning the flush gave; ``in_database()`` reads a
# column through ``session.connection()``, which never autoflushes, so it shows what the
# database holds right now.

import os
import re
import warnings

from sqlalchemy import (
    ForeignKey,
    String,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    item: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="new")
    lines: Mapped[list["Line"]] = relationship(cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"Order(id={self.id!r}, item={self.item!r}, status={self.status!r})"


class Line(Base):
    __tablename__ = "lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))

    def __repr__(self) -> str:
        return f"Line(id={self.id!r})"


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str] = mapped_column(String(100))

    def __repr__(self) -> str:
        return f"AuditLog(id={self.id!r}, message={self.message!r})"


class Stats(Base):
    __tablename__ = "stats"
    id: Mapped[int] = mapped_column(primary_key=True)
    orders: Mapped[int]

    def __repr__(self) -> str:
        return f"Stats(orders={self.orders!r})"


class Counter(Base):  # the same as Stats, under another class name
    __tablename__ = "tallies"
    id: Mapped[int] = mapped_column(primary_key=True)
    orders: Mapped[int]

    def __repr__(self) -> str:
        return f"Counter(orders={self.orders!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
sent = []
event.listen(
    engine, "before_cursor_execute", lambda conn, cursor, sql, *a: sent.append(sql)
)


def flush_and_catch(session):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session.flush()
    return [re.sub(r" at 0x[0-9a-fA-F]+", "", str(w.message)) for w in caught]


def in_database(session, column):
    return session.connection().execute(select(column).order_by(column)).scalars().all()


session = Session(engine)
session.add_all([Order(item="old stock"), Stats(orders=0), Counter(orders=0)])
session.commit()

# %%
# ``before_flush`` may add, change and delete
# -------------------------------------------
#
# ``before_flush`` runs before the session decides what the flush will write, so everything
# it does joins this flush. The listener below stamps each new order, adds an audit row for
# it, and deletes every order marked ``cancelled``. One ``flush()`` sends all of it: the
# ``INSERT`` of the audit row the listener added, the stamped ``INSERT`` of the order and
# the ``DELETE``, and nothing is left pending.


def check_orders(session, flush_context, instances):
    for obj in list(session.new):
        if isinstance(obj, Order):
            obj.status = "checked"
            session.add(AuditLog(message=f"new order: {obj.item}"))
    for obj in list(session.dirty):
        if isinstance(obj, Order) and obj.status == "cancelled":
            session.delete(obj)


event.listen(session, "before_flush", check_orders)
old = session.get(Order, 1)
old.status = "cancelled"
books = Order(item="books")
session.add(books)
sent.clear()
warned = flush_and_catch(session)
print("after one flush():", books, "| deleted:", inspect(old).deleted)
print("pending:", list(session.new), list(session.dirty), list(session.deleted))
statuses = in_database(session, Order.status)
audit = in_database(session, AuditLog.message)
print("database:", statuses, audit)
# sphinx_gallery_start_ignore
assert not warned, "before_flush changed the session without a warning"
assert any(s.startswith("INSERT INTO audit_log") for s in sent), "the audit row was sent"
assert any(s.startswith("DELETE FROM orders") for s in sent), "so was the DELETE"
assert statuses == ["checked"], (
    "the INSERT carried the status before_flush set; the cancelled order is gone"
)
assert inspect(old).deleted, "the order before_flush deleted was deleted in this flush"
assert not (session.new or session.dirty or session.deleted), "nothing is left pending"
assert audit == ["new order: books"], (
    "the audit row before_flush added was inserted by the same flush"
)
# sphinx_gallery_end_ignore
event.remove(session, "before_flush", check_orders)
session.commit()

# %%
# ``session.add()`` inside the flush warns, and waits
# ---------------------------------------------------
#
# Mapper events (``before_insert``, ``after_insert``, ``before_update``, ...) run in the
# *execution stage* of the flush, while it is sending its statements; by then the list of
# what to write is fixed (and they fire for the flush only: :doc:`not for a bulk UPDATE
# <../myths/before_update_fires_for_bulk>`). ``add()`` there gives a warning, and the object
# is not in this flush: after it, the audit row is still pending and not in the database.


def audit_insert(mapper, connection, target):
    Session.object_session(target).add(AuditLog(message=f"inserted: {target.item}"))


event.listen(Order, "after_insert", audit_insert)
pens = Order(item="pens")
session.add(pens)
warned = flush_and_catch(session)
print("warning:", *warned)
print("still pending:", list(session.new))
audit = in_database(session, AuditLog.message)
print("audit rows:", audit)
# sphinx_gallery_start_ignore
assert warned == [
    "Usage of the 'Session.add()' operation is not currently supported within the "
    "execution stage of the flush process. Results may not be consistent.  Consider "
    "using alternative event listeners or connection-level operations instead."
], "add() inside after_insert warned"
assert [type(obj) for obj in session.new] == [AuditLog], "the audit row is still pending"
assert audit == ["new order: books"], "and it is not in the database"
# sphinx_gallery_end_ignore

# %%
# It goes out with the *next* flush, whenever that comes (here ``commit()``). ``after_flush``
# is the same: ``add()`` there does not warn (the statements have been sent), but the object
# waits for the next flush just the same.

event.remove(Order, "after_insert", audit_insert)
session.commit()
audit = in_database(session, AuditLog.message)
print("audit rows:", audit)
# sphinx_gallery_start_ignore
assert audit == ["inserted: pens", "new order: books"], "commit() flushed the audit row"
# sphinx_gallery_end_ignore
quills = Order(item="quills")
session.add(quills)


def audit_after_flush(session, flush_context):
    session.add(AuditLog(message="after_flush"))


event.listen(session, "after_flush", audit_after_flush, once=True)
warned = flush_and_catch(session)
print("after_flush:", warned, "| pending:", list(session.new))
# sphinx_gallery_start_ignore
assert not warned, "add() in after_flush does not warn"
assert [obj.message for obj in session.new] == ["after_flush"], (
    "the object after_flush added waits for the next flush"
)
# sphinx_gallery_end_ignore
session.commit()

# %%
# Changes to objects inside the flush: it depends on the flush's order
# --------------------------------------------------------------------
#
# ``after_insert`` below changes the order it was given and the loaded, unchanged ``stats``
# row. Neither reaches the database, and neither is dirty afterwards, so no later flush will
# write it. For ``stats`` SQLAlchemy warns; the order's own change is dropped without a word.

stats = session.get(Stats, 1)


def count_order(mapper, connection, target):
    target.status = "counted"
    stats.orders += 1


event.listen(Order, "after_insert", count_order)
ink = Order(item="ink")
session.add(ink)
warned = flush_and_catch(session)
print("warning:", *warned)
print("in memory:", ink, stats, "| dirty:", list(session.dirty))
statuses = in_database(session, Order.status)
counter = in_database(session, Stats.orders)
print("database:", statuses, counter)
# sphinx_gallery_start_ignore
assert warned == [
    "Attribute history events accumulated on 1 previously clean instances within "
    "inner-flush event handlers have been reset, and will not result in database "
    "updates. Consider using set_committed_value() within inner-flush event handlers "
    "to avoid this warning."
], "changing the clean stats row inside the flush warned"
assert (ink.status, stats.orders) == ("counted", 1), "memory holds both changes"
assert not session.dirty, "neither object is dirty: no later flush will write them"
assert "counted" not in statuses, "the order's change is lost"
assert counter == [0], "the counter's change is lost too"
# sphinx_gallery_end_ignore
event.remove(Order, "after_insert", count_order)

# %%
# Had the row a change of its own, its ``UPDATE`` is part of the same flush, and the flush's
# order decides again, with no warning either way. It sends unrelated tables in an order of
# its own (today by class name, whatever the table names or the order of your classes):
# ``Stats``' ``UPDATE`` comes after the order's ``INSERT`` and writes the listener's change
# too; ``Counter``'s comes before it, so the change is lost, yet ``Counter`` is not dirty:
# memory says 11, the database 10, and no later flush will fix it. Do not change mapped
# attributes in mapper events.

tally = session.get(Counter, 1)


def count_both(mapper, connection, target):
    stats.orders += 1
    tally.orders += 1


event.listen(Order, "after_insert", count_both)
stats.orders = tally.orders = 10  # changes of their own: both UPDATEs are in this flush
session.add(Order(item="nib"))
sent.clear()
warned = flush_and_catch(session)
order = [
    m[0] for m in (re.match(r"(INSERT INTO|UPDATE) \W?\w+", sql) for sql in sent) if m
]
print("the flush sent:", order)
print("in memory:", stats, tally, "| dirty:", list(session.dirty), "| warnings:", warned)
in_db = in_database(session, Stats.orders), in_database(session, Counter.orders)
print("database:", *in_db)
# sphinx_gallery_start_ignore
names = [re.sub(r"\W", "", o.split()[-1]) for o in order]
assert names.index("tallies") < names.index("orders") < names.index("stats"), (
    "Counter's UPDATE came before the order's INSERT, Stats' after it"
)
assert not warned, "no warning either way"
assert (stats.orders, tally.orders) == (11, 11), "memory holds both listener changes"
assert in_db == ([11], [10]), (
    "Stats' later UPDATE wrote the listener's change, Counter's earlier one lost it"
)
assert not session.dirty, "Counter is not dirty: no later flush will write its change"
# sphinx_gallery_end_ignore
event.remove(Order, "after_insert", count_both)
session.rollback()

# %%
# Do this instead: ``before_insert`` for the row itself, ``connection`` for other rows
# ------------------------------------------------------------------------------------
#
# A column set in ``before_insert`` (or ``before_update``) is part of that row's statement.
# Other rows are written with the ``connection`` the listener receives: a Core statement
# sent at once, in the flush's transaction. It does not touch loaded objects: ``stats`` keeps
# its old value until ``commit()`` expires it (as it does with the default
# ``expire_on_commit=True``).


def stamp(mapper, connection, target):
    target.status = "counted"


def count_and_audit(mapper, connection, target):
    connection.execute(update(Stats).values(orders=Stats.orders + 1))
    connection.execute(insert(AuditLog).values(message=f"inserted: {target.item}"))


event.listen(Order, "before_insert", stamp)
event.listen(Order, "after_insert", count_and_audit)
stats = session.get(Stats, 1)
print("before the flush:", stats)
ink = Order(item="ink")
session.add(ink)
warned = flush_and_catch(session)
print("in memory:", ink, stats)
statuses = in_database(session, Order.status)
counter = in_database(session, Stats.orders)
audit = in_database(session, AuditLog.message)
print("database:", statuses, counter, audit)
# sphinx_gallery_start_ignore
assert not warned, "connection-level writes in a mapper event do not warn"
assert "counted" in statuses, "before_insert's status was saved"
assert counter == [1], "the counter was updated in this flush"
assert "inserted: ink" in audit, "the audit row too"
assert stats.orders == 0, "the loaded stats object still holds the old value"
# sphinx_gallery_end_ignore
session.commit()
print("after commit():", stats)
# sphinx_gallery_start_ignore
assert stats.orders == 1, "commit() expired stats; reading it loaded the new value"
# sphinx_gallery_end_ignore
event.remove(Order, "before_insert", stamp)
event.remove(Order, "after_insert", count_and_audit)

# %%
# A query inside the flush sees half of it
# ----------------------------------------
#
# A query (or lazy load) in a mapper event gives no warning and runs on the flush's
# connection, but it does not autoflush and it runs between the flush's statements. The
# order below has two new lines; its ``after_insert`` counts lines and finds none, since
# their ``INSERT`` statements come after the order's (look at the SQL order).

seen = []


def count_lines(mapper, connection, target):
    seen.append(Session.object_session(target).scalar(select(func.count(Line.id))))


event.listen(Order, "after_insert", count_lines)
paper = Order(item="paper", lines=[Line(), Line()])
session.add(paper)
sent.clear()
warned = flush_and_catch(session)
lines = in_database(session, Line.id)
print("lines seen by after_insert:", seen, "| lines now:", lines)
# sphinx_gallery_start_ignore
assert not warned, "the query inside the flush gave no warning"
assert seen == [0], "after_insert counted no lines"
assert len(lines) == 2, "though the same flush inserted two"
first_line = next(i for i, s in enumerate(sent) if re.match(r"INSERT INTO \W?lines\b", s))
assert any(s.startswith("SELECT count") for s in sent[:first_line]), (
    "the count ran before the lines' INSERT"
)
# sphinx_gallery_end_ignore
event.remove(Order, "after_insert", count_lines)
session.commit()

# %%
# ``after_commit`` can send no SQL
# --------------------------------
#
# ``after_commit`` runs once the transaction has committed, and also each time a savepoint
# (``begin_nested()``) is released, while the transaction may still roll back. The session
# refuses to begin another transaction inside it, so a query there raises.

errors = []


def notify(session):
    try:
        session.scalar(select(func.count(Order.id)))
    except InvalidRequestError as exc:
        errors.append(f"{type(exc).__name__}: {exc}")


event.listen(session, "after_commit", notify)
session.add(Order(item="glue"))
session.commit()
print(*errors)
# sphinx_gallery_start_ignore
assert errors == [
    "InvalidRequestError: This session is in 'committed' state; no further SQL can be "
    "emitted within this transaction."
], "SQL in after_commit raised InvalidRequestError"
# sphinx_gallery_end_ignore
event.remove(session, "after_commit", notify)

# %%
# Do this instead: ``before_commit``, or a new session in ``after_commit``
# ------------------------------------------------------------------------
#
# For work that belongs to the transaction, use ``before_commit``: it runs before
# ``commit()``'s final flush, so what it adds is flushed and committed with the rest. For
# work that must follow a successful commit (a notification that writes its own row), open
# a new session in ``after_commit``. Both events also fire each time a savepoint
# (``begin_nested()``) is released, so both act only when ``get_nested_transaction()`` is
# ``None`` (the next cell). ``session.get_bind(AuditLog)`` finds the engine for a session
# configured with ``binds={...}`` too, where ``get_bind()`` without a mapper raises.

fired = []


def audit_commit(session):
    if session.get_nested_transaction() is not None:
        fired.append("before_commit: savepoint released")
        return
    fired.append("before_commit: committing")
    session.add(AuditLog(message="before_commit"))


def after(session):
    if session.get_nested_transaction() is not None:
        fired.append("after_commit: savepoint released")
        return
    fired.append("after_commit: committed")
    with Session(session.get_bind(AuditLog)) as other:
        other.add(AuditLog(message="after_commit, own session"))
        other.commit()


event.listen(session, "before_commit", audit_commit)
event.listen(session, "after_commit", after)
session.add(Order(item="tape"))
session.commit()
audit = in_database(session, AuditLog.message)
print(*fired, sep="\n")
print("audit rows:", audit)
# sphinx_gallery_start_ignore
assert fired == ["before_commit: committing", "after_commit: committed"], (
    "each fired once"
)
assert "before_commit" in audit, "the row before_commit added was committed"
assert "after_commit, own session" in audit, "the new session in after_commit committed"
assert not session.new, "nothing was left pending"
with Session(binds={Base: engine}) as by_binds:
    assert by_binds.get_bind(AuditLog) is engine, "get_bind(AuditLog) works with binds="
    try:
        by_binds.get_bind()
        raised = None
    except Exception as exc:
        raised = type(exc).__name__
    assert raised == "UnboundExecutionError", "get_bind() without a mapper raises"
# sphinx_gallery_end_ignore

# %%
# One ``commit()`` with a savepoint released inside it: both events fire twice, once for the
# release, and the check keeps it to one audit row and one notification. Then a savepoint
# released inside a transaction that rolls back: both fire again, and nothing goes out.


def rows_added(since=None):
    audit = in_database(session, AuditLog.message)
    now = audit.count("before_commit"), audit.count("after_commit, own session")
    return now if since is None else tuple(n - s for n, s in zip(now, since, strict=True))


fired.clear()
rows = rows_added()
session.add(Order(item="wrap"))
with session.begin_nested():
    session.add(Order(item="string"))
session.commit()
print(*fired, sep="\n")
added = rows_added(since=rows)
print("audit rows added:", added[0], "| notifications sent:", added[1])
# sphinx_gallery_start_ignore
assert fired == [
    "before_commit: savepoint released",
    "after_commit: savepoint released",
    "before_commit: committing",
    "after_commit: committed",
], "both events fired on the release and again on the commit"
assert added == (1, 1), "the check added one audit row and sent one notification"
# sphinx_gallery_end_ignore
fired.clear()
session.add(Order(item="labels"))
session.flush()
with session.begin_nested():
    session.add(Order(item="paste"))
session.rollback()
print(*fired, sep="\n")
added = rows_added(since=rows)
print("after the rollback, still:", added)
# sphinx_gallery_start_ignore
assert fired == [
    "before_commit: savepoint released",
    "after_commit: savepoint released",
], "both fired on the release in the transaction that rolled back"
assert added == (1, 1), "no row and no notification for the transaction that rolled back"
# sphinx_gallery_end_ignore
event.remove(session, "before_commit", audit_commit)
event.remove(session, "after_commit", after)

# %%
# Clean up: close the session and the engine's connections.

session.close()
engine.dispose()
