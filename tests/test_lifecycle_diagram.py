"""The picture of an example (sphinxext/session_sync/diagram.py): drawn from a recorded run,
the same bytes every time, and an arrow only for a transition that happened.

The built pages' pictures are also compared with an independent run of each example
(tests/record_example.py, the `recordings` of test_page_models.py, which records every
lifecycle event with listeners of its own): the arrows a reader sees, where they start and
end, their counts, and the text that lists the transitions."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from sitebuild import EXAMPLES, ROOT, example_page

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


# ---------------------------------------------------------------------------
# Every built page's picture against an independent run of its example
# ---------------------------------------------------------------------------


def recorded_transitions(recording: dict) -> dict[tuple[str, str], int]:
    """(from, to) -> how many objects went through it, from the recorder's own listeners
    (Mapper init is ``new -> transient``, ``loaded_as_persistent`` is ``loaded -> persistent``)."""
    assert "error" not in recording, recording["error"]
    objects: dict[tuple[str, str], set[int]] = {}
    for cell in recording["cells"]:
        for serial, old, new in cell["transitions"]:
            objects.setdefault((old, new), set()).add(serial)
    return {pair: len(serials) for pair, serials in objects.items()}


def _number(text: str) -> float:
    return float(text)


def drawn_boxes(svg) -> dict[str, tuple[float, float, float, float]]:
    """Each state's box, and the two sources' marks, as (left, top, right, bottom), by the
    word written on it or under it."""
    boxes = {}
    for group in svg.select("g.lc-state"):
        rect = group.find("rect")
        left, top = _number(rect["x"]), _number(rect["y"])
        right, bottom = left + _number(rect["width"]), top + _number(rect["height"])
        boxes[group.get_text().strip()] = (left, top, right, bottom)
    for circle in svg.find_all("circle", recursive=False):  # where new objects come from
        x, y, r = (_number(circle[key]) for key in ("cx", "cy", "r"))
        boxes["new"] = (x - r, y - r, x + r, y + r)
    for path in svg.find_all("path", recursive=False):  # the database rows are loaded from
        x, y = (_number(v) for v in re.match(r"M([\d.-]+),([\d.-]+)", path["d"]).groups())
        boxes["loaded"] = (x, y - 5, x + 32, y + 23)
    return boxes


def nearest(point: tuple[float, float], boxes: dict) -> str:
    x, y = point

    def distance(box) -> float:
        left, top, right, bottom = box
        dx = max(left - x, 0, x - right)
        dy = max(top - y, 0, y - bottom)
        return (dx * dx + dy * dy) ** 0.5

    return min(boxes, key=lambda name: distance(boxes[name]))


def drawn_arrows(svg) -> list[dict]:
    """Each arrow of the picture: what its markup says it joins, the boxes it is drawn from and
    to (where its line starts, where its head points), its tooltip and the count on it."""
    boxes = drawn_boxes(svg)
    arrows = []
    for group in svg.select("g[data-to]"):
        line, head = group.find("line"), group.find("polygon")
        tip = tuple(_number(v) for v in head["points"].split()[0].split(","))
        tooltip = group.find("title").get_text()
        said = re.match(r"(\w+)(?: from a row)? \u2192 (\w+): (\d+) objects?$", tooltip)
        arrows.append(
            {
                "markup": (group["data-from"], group["data-to"]),
                "drawn": (
                    nearest((_number(line["x1"]), _number(line["y1"])), boxes),
                    nearest(tip, boxes),
                ),
                "tooltip": (said.group(1), said.group(2)) if said else tooltip,
                "tooltip count": int(said.group(3)) if said else None,
                "count": int(group.select_one("text.lc-count").get_text()),
            }
        )
    return arrows


def listed_transitions(box) -> list[tuple[str, str]]:
    """The text under the picture: ``loaded from a row \u2192 persistent: alice, bob``."""
    found = []
    for item in box.select("ul.lc-transitions > li"):
        said = re.match(r"(\w+)(?: from a row)? \u2192 (\w+): ", item.get_text().strip())
        found.append((said.group(1), said.group(2)) if said else item.get_text().strip())
    return found


@pytest.fixture(scope="module")
def page_figures(site) -> dict:
    """Each page's figure (the box holds no other div): only it is parsed."""
    figures = {}
    for example in EXAMPLES:
        page = site.page(example_page(example))
        boxes = re.findall(r'<div class="lc-box\b.*?</div>', page, flags=re.S)
        figures[example] = (
            BeautifulSoup(boxes[0], "html.parser").div if len(boxes) == 1 else len(boxes)
        )
    return figures


@pytest.mark.parametrize(
    "example", EXAMPLES, ids=lambda p: p.relative_to(ROOT / "examples").with_suffix("").as_posix()
)
def test_each_page_draws_the_transitions_its_example_went_through(
    page_figures,
    recordings,  # noqa: F811
    example,
):
    page = example_page(example)
    box = page_figures[example]
    assert not isinstance(box, int), f"{page}: one lifecycle figure, found {box}"
    ran = recorded_transitions(recordings[example])
    arrows = drawn_arrows(box.select_one("svg.lc-figure"))
    for arrow in arrows:
        assert arrow["drawn"] == arrow["markup"] == arrow["tooltip"], (
            f"{page}: an arrow marked {arrow['markup']} is drawn from the "
            f"{arrow['drawn'][0]} box to the {arrow['drawn'][1]} box, titled {arrow['tooltip']}"
        )
    drawn = {arrow["drawn"]: arrow["count"] for arrow in arrows}
    assert len(drawn) == len(arrows), f"{page}: a transition drawn twice"
    extra = sorted(set(drawn) - set(ran))
    missing = sorted(set(ran) - set(drawn))
    assert not extra and not missing, (
        f"{page}: the picture draws transitions that did not happen: {extra}; and misses "
        f"some that did: {missing} (the run went through {sorted(ran)})"
    )
    assert drawn == ran, f"{page}: objects per transition, drawn and as the run counted them"
    for arrow in arrows:
        assert arrow["tooltip count"] == arrow["count"], f"{page}: {arrow}"
    listed = listed_transitions(box)
    assert sorted(listed) == sorted(ran) and len(listed) == len(ran), (
        f"{page}: the text under the picture lists {listed}; the run went through {sorted(ran)}"
    )
    reached = {state for pair in ran for state in pair} - {"new", "loaded"}
    title = box.select_one("svg.lc-figure > title").get_text()
    if ran:  # "Lifecycle of this example's objects. alice: transient \u2192 pending; ..."
        paths = title.partition(". ")[2].rstrip(".").split("; ")
        named = {
            state.strip()
            for path in paths
            if ": " in path
            for state in path.partition(": ")[2].split("\u2192")
        }
        assert named and named <= reached, (
            f"{page}: the picture's title names states the run never reached: "
            f"{sorted(named - reached)} ({title!r})"
        )
    for state in box.select("svg.lc-figure g.lc-state"):
        name = state.get_text().strip()
        dimmed = "lc-off" in state["class"]
        assert dimmed == (name not in reached), (
            f"{page}: the {name} state is drawn {'dimmed' if dimmed else 'as reached'}, yet "
            f"the run {'reached' if name in reached else 'never reached'} it"
        )
