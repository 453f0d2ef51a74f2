"""The built site, read as a reader reads it: the HTML of the pages."""

import re
import runpy

import pytest
from bs4 import BeautifulSoup
from sqlalchemy.orm import Session

from sitebuild import (
    EXAMPLE_PAGES,
    EXAMPLES,
    NARRATIVE_HTML,
    NARRATIVE_PAGES,
    ROOT,
    build_site,
    small_project,
)

MEMORY_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
TIMESTAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?")


CELL_END = ("p", "section", "h1", "h2", "h3", "h4")


def outputs_of(code) -> list:
    """What the build put under one code cell: its boxes, up to the next cell or prose."""
    boxes = []
    for sibling in code.find_next_siblings():
        if "highlight-Python" in sibling.get("class", []) or sibling.name in CELL_END:
            break
        boxes.append(sibling)
    return boxes


def cells(page: BeautifulSoup) -> list[tuple[str, list]]:
    """Every code cell of an example page, in order: (its code, its boxes)."""
    return [
        (code.get_text(), outputs_of(code)) for code in page.select("article div.highlight-Python")
    ]


def cell_outputs(page: BeautifulSoup, code_contains: str):
    """The boxes under the first code cell whose code contains the text, up to the next cell."""
    for code, boxes in cells(page):
        if code_contains in code:
            return boxes
    raise AssertionError(f"no code cell contains {code_contains!r}")


def state_rows(box) -> list[dict[str, str]]:
    """The rows of a state box's table, each by column title: {"Object": ..., "State": ...}.
    A cell's first paragraph after its column name (shown on a phone only) is its value (the
    State cell may add a note below it)."""
    (table,) = box.select("table.orm-state")
    titles = [th.get_text(strip=True) for th in table.select("thead th")]
    return [
        dict(
            zip(
                titles,
                (
                    td.select_one("p:not(.cell-label)").get_text(strip=True)
                    for td in tr.select("td")
                ),
                strict=True,
            )
        )
        for tr in table.select("tbody tr")
    ]


def kind(box) -> str:
    classes = box.get("class", [])
    for name in ("sql-box", "orm-state-box", "sphx-glr-script-out", "sql-folded"):
        if name in classes:
            return name
    return box.name + "." + ".".join(classes)


def sql_boxes(elements):
    return [
        box
        for element in elements
        for box in (
            [element] if "sql-box" in element.get("class", []) else element.select(".sql-box")
        )
    ]


def test_build_is_quiet(site):
    assert "\u27e6sql\u27e7" not in site.output
    assert not re.search(r"\b(SELECT|INSERT|UPDATE|BEGIN)\b", site.output), site.output


def test_every_example_has_a_page(site):
    for page in EXAMPLE_PAGES:
        assert (site.html / page).exists(), page


def test_myth_page_shows_the_real_type_error_as_printed_output(site):
    page = site.soup("auto_examples/myths/commit_synchronize_session.html")
    outputs = [pre.get_text() for pre in page.select("div.sphx-glr-script-out pre")]
    assert any(
        "TypeError: Session.commit() got an unexpected keyword argument "
        "'synchronize_session'" in text
        for text in outputs
    ), outputs


def test_landing_page_quotes_the_error_this_sqlalchemy_raises(site):
    with pytest.raises(TypeError) as raised:
        Session().commit(synchronize_session=True)
    page = site.soup("index.html")
    quoted = [pre.get_text() for pre in page.select("pre.literal-block")]
    assert quoted == [f"TypeError: {raised.value}"]


def test_fetch_cell_shows_update_returning_in_an_sql_box(site):
    page = site.soup("auto_examples/synchronize_session/four_strategies.html")
    boxes = sql_boxes(cell_outputs(page, '{"synchronize_session": "fetch"}'))
    sql = "\n".join(box.get_text() for box in boxes)
    assert re.search(r"UPDATE users SET .*RETURNING", sql, re.S), sql
    assert all(box.select_one("div.highlight-sql") for box in boxes), "SQL is highlighted as SQL"


def test_sql_boxes_are_not_printed_output(site):
    page = site.soup("auto_examples/synchronize_session/four_strategies.html")
    boxes = page.select(".sql-box")
    assert boxes
    for box in boxes:
        assert not box.find_parent(class_="sphx-glr-script-out")
        assert "sphx-glr-script-out" not in box.get("class", [])


def test_copy_buttons_go_on_code_only(site):
    selector = runpy.run_path(str(ROOT / "conf.py"))["copybutton_selector"]
    page = site.soup("auto_examples/synchronize_session/four_strategies.html")
    copied = page.select(selector)
    assert any("session.execute" in pre.get_text() for pre in copied)
    for pre in copied:
        assert not pre.find_parent(class_=["sql-box", "sphx-glr-script-out", "orm-state-box"])


# Pages whose examples keep no ORM object alive when a cell ends: no state table, by design.
PAGES_WITHOUT_STATE = {
    # run() loads and drops its objects inside each call; none outlives a cell.
    "auto_examples/synchronize_session/legacy_query_api.html",
    # Its sessions only read isolation levels and query an empty table: no object is loaded.
    "auto_examples/transactions_and_pool/isolation_level.html",
    # Its steps load and drop their objects inside functions, each ended by a rollback.
    "auto_examples/concurrency_and_scope/stale_data_rowcount.html",
    # Its objects live inside the app's endpoints and tasks, one request each.
    "auto_examples/concurrency_and_scope/fastapi_session_scope.html",
    # Each request loads its doctor in a session of its own, closed when the request ends.
    "auto_examples/recipes/retry_serialization.html",
    # The ORM objects live inside the migration's upgrade(), which Alembic runs and drops.
    "auto_examples/recipes/data_migration.html",
}


@pytest.mark.parametrize("relative", EXAMPLE_PAGES)
def test_example_pages_have_state_tables_at_the_end_of_their_cells(site, relative):
    page = site.soup(relative)
    on_page = page.select(".orm-state-box")
    if relative in PAGES_WITHOUT_STATE:
        assert not on_page, f"{relative} now has state tables: remove it from PAGES_WITHOUT_STATE"
        return
    assert on_page, "an example page with ORM objects shows no state table"
    in_cells = 0
    for code, boxes in cells(page):
        kinds = [kind(box) for box in boxes]
        states = [i for i, k in enumerate(kinds) if k == "orm-state-box"]
        assert len(states) <= 1, f"one state table per cell at most: {kinds}\n{code}"
        if states:
            after = kinds[states[0] + 1 :]
            assert not {"sql-box", "sphx-glr-script-out"} & set(after), (
                f"the state table comes after the cell's printed output and SQL: {kinds}\n{code}"
            )
            rows = state_rows(boxes[states[0]])
            assert rows, "a state table with no row"
            for row in rows:
                assert row["State"] in LIFECYCLE_STATES, row
        in_cells += len(states)
    assert in_cells == len(on_page), "every state table sits under the cell it describes"


LIFECYCLE_STATES = ("transient", "pending", "persistent", "deleted", "detached")
# five_states.py, cell by cell: the object and its state in the State column after the cell.
FIVE_STATES = [
    ('alice = User(name="alice")', "User (no key yet)", "transient"),
    ("session.add(alice)", "User (no key yet)", "pending"),
    # (the asserts of the page are hidden from its code: each cell is found by what it shows)
    ("session.flush()", "User(id=1)", "persistent"),
    ("session.delete(alice)", "User(id=1)", "deleted"),
    ("session.commit()\nstate = state_of(alice)", "User(id=1)", "detached"),
    ("session.expunge(bob)", "User(id=2)", "detached"),
    ("with Session(engine) as other:", "User(id=2)", "detached"),
]


@pytest.mark.parametrize(("code", "obj", "state"), FIVE_STATES, ids=[s for *_, s in FIVE_STATES])
def test_lifecycle_page_shows_each_state_under_the_cell_that_caused_it(site, code, obj, state):
    page = site.soup("auto_examples/session_lifecycle/five_states.html")
    boxes = cell_outputs(page, code)
    (box,) = [box for box in boxes if kind(box) == "orm-state-box"]
    rows = {row["Object"]: row for row in state_rows(box)}
    assert rows[obj]["State"] == state, rows


def test_bob_expired_by_commit_shows_its_expired_attributes(site):
    page = site.soup("auto_examples/session_lifecycle/five_states.html")
    (box,) = [b for b in cell_outputs(page, "session.expunge(bob)") if kind(b) == "orm-state-box"]
    rows = {row["Object"]: row for row in state_rows(box)}
    assert rows["User(id=2)"]["Expired attributes"] == "id, name", rows


def test_no_page_shows_a_memory_address_or_a_timestamp(site):
    for page in site.html.rglob("*.html"):
        text = site.soup(page.relative_to(site.html).as_posix()).get_text()
        assert not MEMORY_ADDRESS.search(text), (page, MEMORY_ADDRESS.search(text))
        assert not TIMESTAMP.search(text), (page, TIMESTAMP.search(text))


def boxes_of_kind(page: BeautifulSoup, *kinds: str) -> list[tuple[str, str]]:
    """(kind, text) of every box of these kinds, cell by cell: what a rebuild must keep."""
    return [
        (kind(box), box.get_text())
        for _, boxes in cells(page)
        for box in boxes
        if kind(box) in kinds
    ]


EDITED = "auto_examples/myths/commit_synchronize_session.html"
UNTOUCHED = "auto_examples/session_lifecycle/five_states.html"
EDITED_SOURCE = "examples/myths/commit_synchronize_session.py"
NOTES = "# Notes\n\nA narrative page beside the two examples.\n"


# The capture layer is also in "Run in your browser"'s snapshot, whose assets a build refuses
# once their sources change: these builds, which change it, leave that feature out.
NO_RUN = {"SESSION_SYNC_BROWSER_RUN": "off"}


def test_incremental_rebuilds_keep_sql_and_state(tmp_path):
    """A small copy of the site (two real examples, a narrative page, the real extensions)
    built, edited and rebuilt: first one example's source changes (only it runs again), then
    the capture layer changes, in a comment and then in what it shows (every example runs
    again, each time)."""
    examples = {
        relative.removeprefix("examples/"): (ROOT / relative).read_text()
        for relative in (EDITED_SOURCE, "examples/session_lifecycle/five_states.py")
    }
    first = build_site(small_project(tmp_path, examples, {"notes.md": NOTES}), env=NO_RUN)
    assert first.returncode == 0, first.output
    pages = {relative: first.page(relative) for relative in (EDITED, UNTOUCHED)}
    kept = {
        relative: boxes_of_kind(BeautifulSoup(html, "html.parser"), "sql-box", "orm-state-box")
        for relative, html in pages.items()
    }
    assert all(kept.values()), "both pages have SQL boxes and state tables to keep"
    # Sphinx-Gallery writes <example>.py.md5 each time it runs the example (only then).
    generated = first.project / "docs" / "auto_examples"
    md5_of = {
        relative: generated / relative.removeprefix("auto_examples/").replace(".html", ".py.md5")
        for relative in pages
    }

    def stamps():
        return {
            relative: (
                md5_of[relative].stat().st_mtime_ns,
                (first.html / relative).stat().st_mtime_ns,
            )
            for relative in pages
        }

    markdown = {relative: first.page(relative + ".md") for relative in pages}
    kept_markdown = first.html / ".doctrees" / "markdown-build" / "output" / UNTOUCHED
    kept_markdown = kept_markdown.with_suffix(".md")

    def kept_markdown_stamp():
        return kept_markdown.stat().st_mtime_ns

    markdown_stamp = kept_markdown_stamp()
    llms_full = first.html / "llms-full.txt"
    # sphinx-llm's Markdown builder writes this file at the end of each of its builds.
    link_targets = first.html / ".doctrees" / "markdown-build" / "output"
    link_targets = link_targets / ".sphinx-llm-link-targets.json"
    llms_stamps = (llms_full.stat().st_mtime_ns, link_targets.stat().st_mtime_ns)

    # 0. Nothing changed: no example runs, and matplotlib (the one plot's) is not even imported.
    before = stamps()
    unchanged = first.rebuild(env={**NO_RUN, "PYTHONPROFILEIMPORTTIME": "1"})
    assert unchanged.returncode == 0, unchanged.output
    assert stamps() == before, "an unchanged rebuild ran no example and rewrote neither page"
    # Nor did sphinx-llm's Markdown build run, nor llms-full.txt get written again.
    assert (llms_full.stat().st_mtime_ns, link_targets.stat().st_mtime_ns) == llms_stamps
    imported = {line.rsplit("|", 1)[-1].strip() for line in unchanged.output.splitlines()}
    assert "sqlalchemy.orm" in imported, "the import report was read"
    assert "matplotlib" not in imported, "an unchanged rebuild does not import matplotlib"

    # 1. An edited example: a new line of printed output at its end.
    source = first.project / EDITED_SOURCE
    text = source.read_text()
    assert text.count("\nsession.close()\n") == 1
    source.write_text(
        text.replace(
            "\nsession.close()\n", '\nprint("edited since the last build")\nsession.close()\n'
        )
    )
    # And a narrative page: a new sentence at its end.
    narrative = first.project / "docs" / "notes.md"
    narrative.write_text(narrative.read_text() + "\nA sentence added since the last build.\n")
    edited = first.rebuild(env=NO_RUN)
    assert edited.returncode == 0, edited.output
    after = stamps()
    assert after[EDITED][0] != before[EDITED][0], "the edited example ran again"
    assert after[EDITED][1] != before[EDITED][1], "its page was written again"
    assert after[UNTOUCHED][0] == before[UNTOUCHED][0], "the untouched example did not run"
    page = edited.soup(EDITED)
    printed = [box.get_text() for _, boxes in cells(page) for box in boxes]
    assert any("edited since the last build" in text for text in printed), "new output shown"
    assert boxes_of_kind(page, "sql-box", "orm-state-box") == kept[EDITED]
    assert edited.page(UNTOUCHED) == pages[UNTOUCHED]
    # The Markdown copies (llms.txt): the edited page's is new, the untouched page's was not
    # written again by sphinx-llm's Markdown build, and its links still resolve.
    assert "edited since the last build" in edited.page(EDITED + ".md")
    assert "edited since the last build" in edited.page("llms-full.txt")
    for copy in ("notes.md", "notes.html.md", "llms-full.txt"):
        assert "A sentence added since the last build." in edited.page(copy), copy
    assert edited.page(UNTOUCHED + ".md") == markdown[UNTOUCHED]
    assert kept_markdown_stamp() == markdown_stamp, "the untouched page's Markdown was rewritten"
    assert "sphinx-llm:" not in edited.page("llms-full.txt"), "a link left unresolved"

    # 2. A comment added to the capture layer's rendering: the output could have been made by
    # another capture layer, so every example runs again.
    before = stamps()
    rendering = first.project / "sphinxext" / "session_sync" / "rendering.py"
    rendering.write_text(rendering.read_text() + "\n# A change to the capture layer.\n")
    commented = first.rebuild(env=NO_RUN)
    assert commented.returncode == 0, commented.output
    after = stamps()
    for relative in pages:
        assert after[relative][0] != before[relative][0], f"{relative}: the example ran again"

    # 3. The capture layer now names a new object differently: a change only a re-run shows.
    layer = first.project / "sphinxext" / "session_sync" / "state.py"
    code = layer.read_text()
    assert code.count("(no key yet)") == 1
    layer.write_text(code.replace("(no key yet)", "(not flushed)"))
    before = stamps()
    rerun = first.rebuild(env=NO_RUN)
    assert rerun.returncode == 0, rerun.output
    after = stamps()
    for relative in pages:
        assert after[relative][0] != before[relative][0], f"{relative}: the example ran again"
        assert after[relative][1] != before[relative][1], f"{relative}: page written again"
        page = rerun.soup(relative)
        relabelled = [
            (name, text.replace("(no key yet)", "(not flushed)")) for name, text in kept[relative]
        ]
        assert boxes_of_kind(page, "sql-box", "orm-state-box") == relabelled, relative
    assert "User (not flushed)" in rerun.page(UNTOUCHED), "the new capture layer's label"


EXAMPLE_LABEL = re.compile(r"sphx_glr_auto_examples_(\w+?)_(\w+)\.py")


def example_label(example) -> str:
    relative = example.relative_to(ROOT / "examples").with_suffix("")
    return "sphx_glr_auto_examples_" + "_".join(relative.parts) + ".py"


def test_every_example_is_linked_from_a_narrative_page():
    linked = {
        m.group(0) for page in NARRATIVE_PAGES for m in EXAMPLE_LABEL.finditer(page.read_text())
    }
    missing = [example_label(e) for e in EXAMPLES if example_label(e) not in linked]
    assert not missing, f"examples no narrative page links to: {missing}"


def test_narrative_links_reach_the_example_pages(site):
    for page in NARRATIVE_PAGES:
        if not EXAMPLE_LABEL.search(page.read_text()):
            continue
        html = site.soup(page.with_suffix(".html").name)
        targets = {a["href"].split("#")[0] for a in html.select("article a.reference.internal")}
        examples = {t for t in targets if t.startswith("auto_examples/")}
        assert examples, page
        for target in examples:
            assert (site.html / target).exists(), (page.name, target)


@pytest.mark.parametrize(
    "page",
    NARRATIVE_HTML
    + EXAMPLE_PAGES
    + sorted({f"auto_examples/{e.parent.name}/index.html" for e in EXAMPLES}),
)
def test_prose_shows_no_raw_markup(site, page):
    """Markup that did not render (nested inline markup, say) shows its backticks and stars."""
    article = BeautifulSoup(site.page(page), "html.parser").select_one("article")  # changed here
    for code in article.select("pre, code"):
        code.decompose()
    text = article.get_text()
    for raw in ("``", "**", ":class:`", ":func:`", "{ref}"):
        assert raw not in text, (raw, text[max(0, text.find(raw) - 80) : text.find(raw) + 80])


def test_the_sidebar_lists_every_gallery_section_in_the_gallery_order(site):
    order_text = re.search(r'"subsection_order": \[(.*?)\]', (ROOT / "conf.py").read_text(), re.S)
    order = re.findall(r'"\.\./examples/(\w+)"', order_text.group(1))
    on_disk = {path.parent.name for path in EXAMPLES}
    assert set(order) == on_disk, "conf.py's section order names every section, and only those"
    sidebar = site.soup("index.html").select_one(".sidebar-tree")
    linked = [a["href"] for a in sidebar.select("a.reference")]
    sections = [f"auto_examples/{name}/index.html" for name in order]
    assert [href for href in linked if href in sections] == sections
