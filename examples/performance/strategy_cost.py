# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "sqlalchemy>=2.0",
#     "matplotlib>=3.8",
# ]
# ///
"""
What each ``synchronize_session`` strategy costs
================================================

``'evaluate'`` (and ``'auto'``) pays per object in the session, ``'fetch'`` pays per
matched row, and ``False`` pays nothing but leaves you with stale objects.

A bulk ``update()`` through the ``Session`` also fixes up the objects the session has
loaded. What that costs depends on the strategy, and each scales with something else. The
timings are measured while the page is built, so they depend on the machine.
"""

# %%
# Setup: 100,000 rows
# -------------------
#
# One Core ``insert()`` with a list of parameter sets (executemany): no ORM objects.

import gc
import os
import time

import matplotlib.pyplot as plt
from sqlalchemy import create_engine, event, insert, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "item"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int]

    def __repr__(self) -> str:
        return f"Item(id={self.id!r}, value={self.value!r})"


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)

ROWS = 100_000
with engine.begin() as conn:
    conn.execute(insert(Item), [{"id": i, "value": 0} for i in range(1, ROWS + 1)])
    highest = conn.scalar(select(Item.id).order_by(Item.id.desc()).limit(1))
    # sphinx_gallery_start_ignore
    assert highest == ROWS, "every row was inserted: the highest id is ROWS"
    # sphinx_gallery_end_ignore

STRATEGIES = ["evaluate", "fetch", False, "auto"]
runs = iter(range(1, 10**6))  # every UPDATE writes a new value
sent: list[str] = []  # the SQL statements, for one check below
event.listen(
    engine, "before_cursor_execute", lambda conn, cur, sql, *args: sent.append(sql)
)


def timed_update(session, max_id, strategy):
    """Best time of a few runs (one for big ones) of UPDATE .. WHERE id <= max_id."""
    best = float("inf")
    for _ in range(3 if max_id <= 1_000 and len(session.identity_map) <= 1_000 else 1):
        value = next(runs)
        stmt = update(Item).where(Item.id <= max_id).values(value=value)
        gc.disable()  # as timeit does: no garbage collection inside the timed call
        start = time.perf_counter()
        result = session.execute(
            stmt, execution_options={"synchronize_session": strategy}
        )
        best = min(best, time.perf_counter() - start)
        gc.enable()
    return best, value, result


# %%
# (a) More objects in the session, ten rows matched
# -------------------------------------------------
#
# The session loads more and more rows (keeping references, so they stay in the identity
# map); each time, every strategy runs the same UPDATE of rows 1 to 10, which are loaded.

loaded_sizes = [10, 100, 1_000, 10_000]
times_a = {strategy: [] for strategy in STRATEGIES}
with Session(engine) as session:
    for strategy in STRATEGIES:  # warm up: compile each statement once, untimed
        timed_update(session, 10, strategy)
    loaded: list[Item] = []
    for size in loaded_sizes:
        more = select(Item).where(Item.id > len(loaded), Item.id <= size)
        loaded.extend(session.scalars(more))
        # sphinx_gallery_start_ignore
        assert len(session.identity_map) == size, (
            "the session holds one object per row loaded so far"
        )
        # sphinx_gallery_end_ignore
        for strategy in STRATEGIES:
            before = loaded[0].value
            seconds, value, result = timed_update(session, 10, strategy)
            times_a[strategy].append(seconds)
            # sphinx_gallery_start_ignore
            assert result.rowcount == 10, "ten rows matched"
            if strategy is False:
                assert loaded[0].value == before, "False leaves loaded objects untouched"
            else:
                assert loaded[0].value == value, f"{strategy!r} updated the loaded object"
            # sphinx_gallery_end_ignore
    print("objects in the session:", loaded_sizes, "- rows matched per UPDATE: 10")

# %%
# (b) More rows matched, no objects in the session
# ------------------------------------------------

matched_sizes = [10, 100, 1_000, 10_000, ROWS]
times_b = {strategy: [] for strategy in STRATEGIES}
with Session(engine) as session:
    for size in matched_sizes:
        timed_update(session, size, False)  # untimed: SQLite journals each page once
        for strategy in STRATEGIES:
            seconds, value, result = timed_update(session, size, strategy)
            times_b[strategy].append(seconds)
            # sphinx_gallery_start_ignore
            assert result.rowcount == size, "each UPDATE .. WHERE id <= n matched n rows"
            # sphinx_gallery_end_ignore
    # sphinx_gallery_start_ignore
    assert len(session.identity_map) == 0, "nothing was loaded into the session"
    # sphinx_gallery_end_ignore
    print("rows matched:", matched_sizes, "- objects in the session: 0")

# %%
# Why ``'fetch'`` grows with the rows matched
# -------------------------------------------
#
# It brings back the primary key of every matched row, to find the objects to update.

with Session(engine) as session:
    sent.clear()
    stmt = update(Item).where(Item.id <= 1_000).values(value=-1)
    result = session.execute(stmt, execution_options={"synchronize_session": "fetch"})
    print(*(" ".join(sql.split()) for sql in sent), sep="\n")
    # sphinx_gallery_start_ignore
    if engine.dialect.update_returning:
        assert len(sent) == 1 and "RETURNING" in sent[0], "fetch = UPDATE .. RETURNING"
        assert len(result.returned_defaults_rows) == 1_000, "1,000 matched keys came back"
    else:
        assert len(sent) == 2 and "SELECT" in sent[0], "without RETURNING: SELECT, UPDATE"
    # sphinx_gallery_end_ignore

# %%
# The plot
# --------

fig, (ax_a, ax_b) = plt.subplots(
    1, 2, figsize=(10, 4.2), sharey=True, layout="constrained"
)
for strategy, style in zip(STRATEGIES, ["o-", "s-", "^-", "x--"], strict=True):
    ax_a.plot(loaded_sizes, times_a[strategy], style, label=repr(strategy))
    ax_b.plot(matched_sizes, times_b[strategy], style, label=repr(strategy))
ax_a.set(
    title="(a) 10 rows matched", xlabel="objects loaded in the session", xscale="log"
)
ax_b.set(title="(b) no objects loaded", xlabel="rows matched by the UPDATE", xscale="log")
ax_a.set(ylabel="seconds per bulk UPDATE", yscale="log")
ax_a.legend(title="synchronize_session")
fig.suptitle("Bulk UPDATE time by synchronize_session (machine dependent)")
plt.show()

# %%
# What the plot shows
# -------------------
#
# The numbers depend on the machine and database that built this page (in-memory SQLite
# unless ``DATABASE_URL`` is set): read the slopes. (a) stops at 10,000 objects to keep the
# build short.
#
# * :doc:`'evaluate' <../myths/evaluate_reads_database>` tests the WHERE clause in Python on every
#   object of the class in the
#   identity map: in (a) its time grows in proportion to the objects loaded, though only ten
#   rows change; in (b), with an empty session, it costs about what ``False`` costs.
# * ``'auto'`` is ``'evaluate'`` whenever the criteria can be evaluated in Python, as here.
# * :doc:`'fetch' <../synchronize_session/four_strategies>` gets every matched row's key back and
#   looks it up in the identity map: in (b)
#   it grows with the rows matched and is the most expensive line at 100,000 rows; in (a)
#   the objects loaded do not change it.
# * ``False`` synchronizes nothing: its line is the UPDATE itself, the floor under the
#   others, and it leaves loaded objects stale.
