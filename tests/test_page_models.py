"""Every example page, cell by cell, against what the example really did.

The page side is tests/page_model.py: the built HTML read back into cells (code, printed
boxes, SQL statements, state tables).  The other side is tests/record_example.py: each example
run again, standalone, in a process of its own (a fork of one of two recorder processes), with
listeners of its own.  Neither imports the capture layer, so a capture layer that drops,
reorders or misreports something is caught.

What the pages show of a recording follows rules a reader can see on the pages:

* a cell's code is shown without its ``sphinx_gallery_start_ignore`` / ``end_ignore`` blocks;
* a cell's SQL shows its first 200 statements (BEGIN, COMMIT and ROLLBACK count); the rest are
  counted in "... and N more statements, not shown";
* a parameter line shows each value's repr, in order (a repr over 80 characters is cut, and
  an executemany shows its first 3 parameter sets);
* a state table follows a cell only when some object's row changed in it; it lists every
  object when there are at most 12, else the changed ones (at most 12), each changed row
  marked; the state of at most 200 objects is followed; the others are only counted;
* under a cell, "Verified when this page was built" lists the message of each assert hidden
  from the page (in an ignore block) that ran and passed in that cell, once each, in the order
  first proved; a cell whose hidden asserts did not run (another database's branch) lists none;
* a row lists each relationship of its object: ``not loaded``, ``not loaded (expired)``,
  ``never loaded (write_only)``, or what it holds: ``None``, a related object's label, a
  collection's members' labels in brackets; a related object that is not persistent carries
  its state, in place of the key when it has none (``Address (pending)``,
  ``Address(id=2) (deleted)``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from page_model import (
    Hidden,
    Printed,
    Statement,
    StateTable,
    code_text,
    normalise_lines,
    parse_page,
    printed_text,
)

from shared_builds import record_examples
from sitebuild import EXAMPLES, ROOT, build_site, small_project

STATEMENTS_SHOWN = 200
ROWS_SHOWN = 12
VALUE_CHARS = 80
PARAMETER_SETS_SHOWN = 3
TRANSACTION_EVENTS = {"begin": "BEGIN (implicit)", "commit": "COMMIT", "rollback": "ROLLBACK"}
SAVEPOINT_EVENTS = {
    "savepoint": "SAVEPOINT",
    "rollback_savepoint": "ROLLBACK TO SAVEPOINT",
    "release_savepoint": "RELEASE SAVEPOINT",
}


def example_id(example: Path) -> str:
    return example.relative_to(ROOT / "examples").with_suffix("").as_posix()


# ---------------------------------------------------------------------------
# What a page should show, derived from a recording
# ---------------------------------------------------------------------------


class Expected:
    """One cell as its page should show it."""

    def __init__(self, cell: dict) -> None:
        self.code = code_text(shown_code(cell["code"]))
        self.items: list = []  # Printed and Statement, in order
        self.parameters: list[list | None] = []  # per Statement: the value reprs shown
        self.hidden = 0
        self._add_events(cell["events"])

    def _add_events(self, events: list[dict]) -> None:
        shown = 0
        pending_text = ""
        expect_savepoint: str | None = None
        for event in events:
            kind = event["kind"]
            if kind == "output":
                pending_text += event["text"]
                continue
            if kind in SAVEPOINT_EVENTS:
                # The savepoint event comes before its statement (and, for a new savepoint,
                # before SQLAlchemy has named it).
                expect_savepoint = f"{SAVEPOINT_EVENTS[kind]} {event['name'] or ''}".strip()
                continue
            # A statement sent while print() was writing a line (an argument whose repr
            # loads) shows before that whole line: only complete lines come before it.
            complete, newline, pending_text = pending_text.rpartition("\n")
            self._add_printed(complete + newline)
            if kind == "statement":
                lines = normalise_lines(event["sql"])
                if expect_savepoint is not None:
                    words = lines[0].split() if len(lines) == 1 else []
                    assert words[: len(expect_savepoint.split())] == expect_savepoint.split(), (
                        f"the recorder saw a savepoint event for {expect_savepoint!r}, and "
                        f"then the statement {lines!r}"
                    )
                    expect_savepoint = None
                parameters = shown_parameters(event["parameters"], event["executemany"])
            else:
                lines, parameters = [TRANSACTION_EVENTS[kind]], None
            if shown >= STATEMENTS_SHOWN:
                self.hidden += 1
                continue
            shown += 1
            self.items.append(Statement(lines))
            self.parameters.append(parameters)
        assert expect_savepoint is None, f"no statement followed {expect_savepoint!r}"
        self._add_printed(pending_text)

    def _add_printed(self, text: str) -> None:
        text = printed_text(text)
        if text.strip():
            self.items.append(Printed(text))


IGNORED_BLOCK = re.compile(
    r"^[ \t]*# sphinx_gallery_start_ignore\n.*?^[ \t]*# sphinx_gallery_end_ignore\n?", re.M | re.S
)


def shown_code(code: str) -> str:
    """A cell's code as the page shows it: Sphinx-Gallery hides lines between
    ``# sphinx_gallery_start_ignore`` and ``# sphinx_gallery_end_ignore`` (they still run)."""
    return IGNORED_BLOCK.sub("", code)


def shown_value(text: str) -> str:
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 4]


def shown_parameters(parameter_sets: list, executemany: bool) -> list | None:
    """The reprs a parameter line shows, in order; None when the line has no parameters."""
    if not parameter_sets:
        return None
    shown = []
    for one in parameter_sets[:PARAMETER_SETS_SHOWN] if executemany else parameter_sets:
        for key, value in one:
            if key is not None:
                shown.append(key)
            shown.append(shown_value(value))
    return shown


def appear_in_order(needles: list[str], line: str) -> str | None:
    """None if every needle appears in `line`, in order; else the first one missing."""
    position = 0
    for needle in needles:
        found = line.find(needle, position)
        if found < 0:
            return needle
        position = found + len(needle)
    return None


def row_signature(row: dict) -> tuple:
    return (
        row["object"],
        tuple(row["states"]),
        tuple(row["expired"]),
        json.dumps(row["changes"], sort_keys=True),
        json.dumps(row["loaded"], sort_keys=True),
        json.dumps(row["relationships"], sort_keys=True),
    )


NO_KEY = " (no key yet)"


def shown_member(member: list) -> str:
    label, lifecycle = member
    if lifecycle == "persistent":
        return label
    if label.endswith(NO_KEY):
        return f"{label[: -len(NO_KEY)]} ({lifecycle})"
    return f"{label} ({lifecycle})"


def shown_relationships(view: dict) -> dict:
    """What a row's Relationships column shows, per relationship, from a recording."""
    shown: dict = {}
    for key, one in view.items():
        if one["loaded"] == "never":
            shown[key] = f"never loaded ({one['strategy']})"
        elif one["loaded"] == "no":
            shown[key] = "not loaded"
        elif one["loaded"] == "expired":
            shown[key] = "not loaded (expired)"
        elif "members" in one:
            shown[key] = [shown_member(member) for member in one["members"]]
        else:
            shown[key] = "None" if one["value"] is None else shown_member(one["value"])
    return shown


def expected_state_tables(recording: dict) -> list[dict | None]:
    """Per cell: the table its page should show (rows and the count not shown), or None."""
    tables: list[dict | None] = []
    previous: dict[int, tuple] = {}
    for cell in recording["cells"]:
        rows = {row["serial"]: row for row in cell["objects"]}
        signatures = {serial: row_signature(row) for serial, row in rows.items()}
        changed = [serial for serial in rows if previous.get(serial) != signatures[serial]]
        previous = signatures
        if not changed:
            tables.append(None)
            continue
        shown = list(rows) if len(rows) <= ROWS_SHOWN else changed[:ROWS_SHOWN]
        tables.append(
            {
                "rows": [
                    (
                        rows[serial]["object"],
                        " ".join(rows[serial]["states"]),
                        sorted(rows[serial]["expired"]),
                        sorted(rows[serial]["changes"]),
                        serial in changed,
                        shown_relationships(rows[serial]["relationships"]),
                    )
                    for serial in shown
                ],
                "not_shown": len(rows) - len(shown) + cell["not_tracked"],
            }
        )
    return tables


def page_table(table: StateTable) -> dict:
    return {
        "rows": [
            (
                row.object,
                row.state,
                sorted(row.expired),
                sorted(row.changes),
                row.changed,
                row.relationships,
            )
            for row in table.rows
        ],
        "not_shown": table.not_shown,
    }


# ---------------------------------------------------------------------------
# The comparisons, per example page
# ---------------------------------------------------------------------------


def tokens(items: list) -> list[str]:
    """Printed boxes and statements as comparable lines (the pytest diff shows them)."""
    result = []
    for item in items:
        if isinstance(item, Printed):
            result.append("printed: " + item.text.replace("\n", " \u23ce "))
        elif isinstance(item, Statement):
            result.append("sql: " + item.text)
    return result


@pytest.fixture(params=EXAMPLES, ids=example_id)
def example(request) -> Path:
    return request.param


def check_code(name: str, cells: list, expected: list[Expected]) -> None:
    assert [cell.code for cell in cells] == [cell.code for cell in expected], (
        f"{name}: the page's code cells are the example's cells, in order"
    )


def check_output_and_sql(name: str, cells: list, expected: list[Expected]) -> None:
    for number, (cell, want) in enumerate(zip(cells, expected, strict=True), start=1):
        got_items = [item for item in cell.items if isinstance(item, (Printed, Statement))]
        assert tokens(got_items) == tokens(want.items), (
            f"cell {number} of {name}: printed output and SQL, in order"
        )
        for statement, parameters in zip(cell.statements, want.parameters, strict=True):
            if parameters is None:
                assert statement.parameters is None, (
                    f"cell {number} of {name}: {statement.text!r} was sent without "
                    f"parameters, but the page shows {statement.parameters!r}"
                )
                continue
            assert statement.parameters is not None, (
                f"cell {number} of {name}: {statement.text!r} was sent with {parameters}, "
                "but the page shows no parameter line"
            )
            missing = appear_in_order(parameters, statement.parameters)
            assert missing is None, (
                f"cell {number} of {name}: {statement.text!r}: the parameter line "
                f"{statement.parameters!r} lacks {missing!r} (expected in order: {parameters})"
            )
        hidden = sum(item.count for item in cell.items if isinstance(item, Hidden))
        assert hidden == want.hidden, (
            f"cell {number} of {name}: statements counted as not shown ({want.hidden} sent "
            f"beyond the first {STATEMENTS_SHOWN})"
        )


def check_state_tables(name: str, cells: list, recording: dict) -> None:
    wanted = expected_state_tables(recording)
    for number, (cell, want) in enumerate(zip(cells, wanted, strict=True), start=1):
        tables = cell.state_tables
        if want is None:
            assert not tables, (
                f"cell {number} of {name}: no object changed, yet the page shows a state table"
            )
            continue
        assert len(tables) == 1, (
            f"cell {number} of {name}: an object changed, so the page shows one state table "
            f"(it shows {len(tables)})"
        )
        assert cell.items[-1] is tables[0], f"cell {number} of {name}: the state table is last"
        assert page_table(tables[0]) == want, (
            f"cell {number} of {name}: the state table's rows (object, state, expired, "
            "changed attributes, marked as changed, relationships) and the count not shown"
        )


def page_and_recording(name: str, cells: list, recording: dict) -> list[Expected]:
    assert "error" not in recording, recording["error"]
    expected = [Expected(cell) for cell in recording["cells"]]
    assert len(cells) == len(expected), (
        f"{name}: the page shows {len(cells)} code cells, the example has {len(expected)}"
    )
    return expected


@pytest.fixture
def page_and_run(example, page_models, recordings):
    recording = recordings[example]
    cells = page_models[example]
    expected = page_and_recording(example_id(example), cells, recording)
    return example_id(example), cells, expected, recording


def test_recorder_ran_every_cell(example, recordings):
    recording = recordings[example]
    assert "error" not in recording, recording.get("error")
    assert recording["cells"], f"{example_id(example)} has code cells"


def test_code_cells(page_and_run):
    name, cells, expected, _ = page_and_run
    check_code(name, cells, expected)


def test_printed_output_and_sql(page_and_run):
    name, cells, expected, _ = page_and_run
    check_output_and_sql(name, cells, expected)


def test_verified_claims(page_and_run):
    name, cells, _, recording = page_and_run
    for number, (cell, ran) in enumerate(zip(cells, recording["cells"], strict=True), 1):
        assert cell.claims == ran["claims"], (
            f"cell {number} of {name}: the verified claims listed are the hidden asserts that "
            "passed in it"
        )


def test_state_tables(page_and_run):
    name, cells, _, recording = page_and_run
    check_state_tables(name, cells, recording)


# ---------------------------------------------------------------------------
# Savepoints: no example uses one yet; a page of one proves the whole path
# ---------------------------------------------------------------------------

SAVEPOINT_EXAMPLE = '''"""
Savepoints
==========

A nested transaction released, then one rolled back.
"""

# %%
# Setup
# -----

from sqlalchemy import create_engine, inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Thing(Base):
    __tablename__ = "thing"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


engine = create_engine("sqlite://")
Base.metadata.create_all(engine)
session = Session(engine)

# %%
# A savepoint, released
# ---------------------

with session.begin_nested():
    kept = Thing(id=1, name="kept")
    session.add(kept)
print("kept is persistent:", inspect(kept).persistent)
assert inspect(kept).persistent, "the released savepoint kept the row"

# %%
# A savepoint, rolled back
# ------------------------

nested = session.begin_nested()
dropped = Thing(id=2, name="dropped")
session.add(dropped)
session.flush()
nested.rollback()
print("dropped is transient:", inspect(dropped).transient)
assert inspect(dropped).transient, "the rolled back savepoint took the row away"

# %%
# The outer transaction commits
# -----------------------------

session.commit()
session.close()
'''


ASYNC_EXAMPLE = Path(__file__).parent / "fixtures" / "async_cells.py"


@pytest.fixture(scope="module")
def fixture_pages(tmp_path_factory) -> dict[str, tuple[list, dict]]:
    """The two examples of this file built into one small site, and recorded: {name: (the
    page's cells, the recording)}."""
    directory = tmp_path_factory.mktemp("fixture-pages")
    examples = {
        "myths/savepoints.py": SAVEPOINT_EXAMPLE,
        "myths/async_cells.py": ASYNC_EXAMPLE.read_text(),
    }
    project = small_project(directory, examples)
    built = build_site(project)
    assert built.returncode == 0, built.output
    sources = [project / "examples" / relative for relative in examples]
    recordings = record_examples(sources, directory)
    return {
        source.stem: (
            parse_page(built.page(f"auto_examples/myths/{source.stem}.html")),
            recordings[source],
        )
        for source in sources
    }


def test_savepoint_page(fixture_pages):
    """SAVEPOINT, RELEASE SAVEPOINT and ROLLBACK TO SAVEPOINT, from recording to page."""
    cells, recording = fixture_pages["savepoints"]
    expected = page_and_recording("savepoints", cells, recording)
    sql = [token for cell in expected for token in tokens(cell.items)]
    for statement in (
        "SAVEPOINT sa_savepoint_1",
        "RELEASE SAVEPOINT sa_savepoint_1",
        "ROLLBACK TO SAVEPOINT sa_savepoint_2",
    ):
        assert f"sql: {statement}" in sql, f"the recorder saw {statement}"
    check_code("savepoints", cells, expected)
    check_output_and_sql("savepoints", cells, expected)
    check_state_tables("savepoints", cells, recording)


# ---------------------------------------------------------------------------
# asyncio: one event loop spanning the cells, relationships in every state
# ---------------------------------------------------------------------------


def test_async_page(fixture_pages):
    """An AsyncSession example run on one asyncio.Runner, from recording to page: SQL and
    printed output in order, and state tables with relationships pending, expired, loaded."""
    cells, recording = fixture_pages["async_cells"]
    expected = page_and_recording("async_cells", cells, recording)
    check_code("async_cells", cells, expected)
    check_output_and_sql("async_cells", cells, expected)
    check_state_tables("async_cells", cells, recording)
    shown = [
        row.relationships.get("addresses")
        for cell in cells
        for table in cell.state_tables
        for row in table.rows
        if row.object.startswith("User")
    ]
    assert shown == [
        ["Address (pending)"],
        "not loaded (expired)",
        ["Address(id=1)"],
        ["Address(id=1)", "Address (pending)"],
        ["Address(id=1) (detached)", "Address (transient)"],
    ], "the collection as each cell left it"
