"""The picture of an example (sphinxext/session_sync/diagram.py): drawn from a recorded run,
the same bytes every time, and an arrow only for a transition that happened."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from sitebuild import ROOT

sys.path.insert(0, str(ROOT / "sphinxext"))

from session_sync import diagram, figure  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))


def record_a_run() -> dict:
    """alice is created, added, flushed, committed and the session closed (cell 1: create,
    cell 2: the rest); bob is created and never added."""
    recorder = diagram.LifecycleRecorder()
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    diagram.start(recorder)
    try:
        alice = User(name="alice")
        bob = User(name="bob")
        recorder.end_cell(10, [], {"alice": alice, "bob": bob})
        with Session(engine) as session:
            session.add(alice)
            session.commit()
        records = [{"sql": "BEGIN (implicit)"}, {"sql": "INSERT INTO users ..."}, {"sql": "COMMIT"}]
        recorder.end_cell(20, records, {"alice": alice, "bob": bob})
    finally:
        diagram.stop()
    return recorder.data()


def edges(svg: str) -> set[tuple[str, str]]:
    root = ET.fromstring(svg)
    return {
        (g.get("data-from"), g.get("data-to")) for g in root.iter(f"{SVG}g") if g.get("data-to")
    }


def test_the_recorded_transitions_are_the_ones_that_ran():
    data = record_a_run()
    happened = [(e["from"], e["to"], e["cells"]) for e in diagram.transitions(data)]
    assert happened == [
        ("new", "transient", [1]),
        ("transient", "pending", [2]),
        ("pending", "persistent", [2]),
        ("persistent", "detached", [2]),
    ]
    assert data["cells"] == [10, 20]
    assert data["statements"] == [{}, {"INSERT": 1}]
    assert dict(diagram.object_paths(data)) == {
        "alice": ["transient", "pending", "persistent", "detached"],
        "bob": ["transient"],
    }


def test_only_transitions_that_happened_are_drawn():
    svg = diagram.draw(record_a_run())
    assert edges(svg) == {
        ("new", "transient"),
        ("transient", "pending"),
        ("pending", "persistent"),
        ("persistent", "detached"),
    }
    root = ET.fromstring(svg)
    dimmed = ["".join(g.itertext()) for g in root.iter(f"{SVG}g") if "lc-off" in g.get("class", "")]
    assert dimmed == ["deleted"], "a state no object reached is shown dimmed"
    assert "loaded" not in "".join(root.itertext()), "no object was loaded from a row"


def test_the_arrows_count_objects_and_the_text_names_them_with_their_section():
    data = record_a_run()
    root = ET.fromstring(diagram.draw(data))
    counts = {
        (g.get("data-from"), g.get("data-to")): g.find(f"{SVG}text").text
        for g in root.iter(f"{SVG}g")
        if g.get("data-to")
    }
    assert counts[("new", "transient")] == "2"
    assert counts[("transient", "pending")] == "1"
    assert diagram.sentences(data, {2: "Commit"}) == [
        "new \u2192 transient: alice, bob",
        "transient \u2192 pending: alice (in \u201cCommit\u201d)",
        "pending \u2192 persistent: alice (in \u201cCommit\u201d)",
        "persistent \u2192 detached: alice (in \u201cCommit\u201d)",
    ]


def test_the_transitions_name_their_cells_without_doubled_quotes():
    assert diagram.cells_named(["Setup", "Commit"]) == "\u201cSetup\u201d, \u201cCommit\u201d"
    titles = ["At a glance", '"auto" (the default)', '"fetch"', "False"]
    assert diagram.cells_named(titles) == (
        '\u201cAt a glance\u201d, "auto" (the default) and 2 more cells'
    )


def test_the_picture_says_what_it_shows_to_a_screen_reader():
    root = ET.fromstring(diagram.draw(record_a_run()))
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert root.get("aria-labelledby") == title.get("id")
    assert "alice: transient \u2192 pending \u2192 persistent \u2192 detached" in title.text
    assert "bob: transient" in title.text


def test_the_same_run_draws_the_same_bytes():
    data = record_a_run()
    assert diagram.draw(data) == diagram.draw(record_a_run())
    assert diagram.draw(data, standalone=True) == diagram.draw(data, standalone=True)
    assert "0x" not in diagram.dumps(data) + diagram.draw(data)
    # a fresh interpreter (another hash seed, other addresses) draws the same picture
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from session_sync import diagram;"
        "sys.stdout.write(diagram.draw(json.loads(sys.stdin.read()), standalone=True))"
    )
    other = subprocess.run(
        [sys.executable, "-c", script, str(ROOT / "sphinxext")],
        input=diagram.dumps(data),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    )
    assert other.stdout == diagram.draw(data, standalone=True)


def test_a_card_picture_carries_its_own_palette_and_size():
    root = ET.fromstring(diagram.draw(record_a_run(), standalone=True))
    assert (root.get("width"), root.get("height")) == ("400", "280")
    style = root.find(f"{SVG}style").text
    assert "var(--lc-ink,#1f2328)" in style, "colours fall back to a palette of its own"
    page = ET.fromstring(diagram.draw(record_a_run()))
    assert page.find(f"{SVG}style") is None, "on the page the stylesheet gives the colours"


def test_a_back_and_forth_transition_draws_two_arrows_side_by_side():
    data = {
        "cells": [1],
        "objects": [["d", "User"]],
        "transitions": [[0, "persistent", "deleted", 1], [0, "deleted", "persistent", 1]],
        "statements": [{}],
    }
    root = ET.fromstring(diagram.draw(data))
    lines = {
        (g.get("data-from"), g.get("data-to")): g.find(f"{SVG}line").attrib
        for g in root.iter(f"{SVG}g")
        if g.get("data-to")
    }
    there, back = lines[("persistent", "deleted")], lines[("deleted", "persistent")]
    assert there["x1"] != back["x2"], "the two arrows do not lie on top of each other"


def test_an_example_without_orm_objects_gets_its_statements_by_cell():
    data = {
        "cells": [3, 9],
        "objects": [],
        "transitions": [],
        "statements": [{"SELECT": 2}, {"UPDATE": 1, "SELECT": 1}],
    }
    svg = diagram.draw(data)
    root = ET.fromstring(svg)
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert ["".join(r.itertext()) for r in bars] == [
        "cell 1: 2 SELECT",
        "cell 2: 1 SELECT",
        "cell 2: 1 UPDATE",
    ]
    assert edges(svg) == set()
    assert (
        diagram.summary(data)
        == "Statements this example sent, by kind and cell: 3 SELECT, 1 UPDATE."
    )


def test_many_objects_are_counted_by_class():
    data = {
        "cells": [1],
        "objects": [[f"Item(id={n})", "Item"] for n in range(1, 31)],
        "transitions": [[n, "loaded", "persistent", 1] for n in range(30)],
        "statements": [{"SELECT": 1}],
    }
    assert diagram.sentences(data) == ["loaded from a row \u2192 persistent: 30 Item objects"]
    data["objects"][:6] = [[f"Tag(id={n})", "Tag"] for n in range(1, 7)]
    assert diagram.sentences(data) == [
        "loaded from a row \u2192 persistent: 30 objects: 6 Tag, 24 Item"
    ]


def test_statement_kinds_skip_transaction_control():
    records = [
        {"sql": "BEGIN (implicit)"},
        {"sql": "SELECT 1"},
        {"sql": "WITH x AS (SELECT 1) UPDATE users SET name = 'a'"},
        {"sql": "CREATE TABLE t (id INTEGER)"},
        {"hidden": 1},
        {"sql": "COMMIT"},
    ]
    assert diagram.statement_kinds(records) == {"SELECT": 1, "UPDATE": 1, "other": 1}


def test_the_page_text_alone_for_the_markdown_copy():
    data = record_a_run()
    box = figure.figure_nodes(data, {}, text_only=True)
    assert "raw" not in {node.tagname for node in box.findall()}
    assert "transient \u2192 pending: alice" in box.astext()
    assert "raw" in {node.tagname for node in figure.figure_nodes(data, {}).findall()}


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (
            "Myth: session.commit(synchronize_session=True) makes it so",
            "Myth: session.<wbr>commit(<wbr>synchronize_<wbr>session=<wbr>True) makes it so",
        ),
        # Never inside a name: a card reads "Detached Instance Error" as three words.
        ("DetachedInstanceError: what", "DetachedInstanceError: what"),
        ("Myth: flush() commits", "Myth: flush() commits"),
    ],
)
def test_long_names_in_card_titles_break_at_dots_and_underscores_not_inside_names(title, expected):
    assert figure._breakable(title) == expected
