"""The built site, read as a reader reads it: the HTML of the pages."""

import re
import runpy

import pytest
from bs4 import BeautifulSoup
from sqlalchemy.orm import Session

from sitebuild import EXAMPLE_PAGES, EXAMPLES, NARRATIVE_HTML, NARRATIVE_PAGES, ROOT

MEMORY_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
TIMESTAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?")


def soup(site, relative):
    return BeautifulSoup(site.page(relative), "html.parser")


def cell_outputs(page: BeautifulSoup, code_contains: str):
    """The boxes under the first code cell whose code contains the text, up to the next cell."""
    for code in page.select("div.highlight-Python"):
        if code_contains in code.get_text():
            boxes = []
            for sibling in code.find_next_siblings():
                if "highlight-Python" in sibling.get("class", []) or sibling.name in (
                    "p",
                    "section",
                    "h2",
                ):
                    break
                boxes.append(sibling)
            return boxes
    raise AssertionError(f"no code cell contains {code_contains!r}")


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
    page = soup(site, "auto_examples/myths/commit_synchronize_session.html")
    outputs = [pre.get_text() for pre in page.select("div.sphx-glr-script-out pre")]
    assert any(
        "TypeError: Session.commit() got an unexpected keyword argument "
        "'synchronize_session'" in text
        for text in outputs
    ), outputs


def test_landing_page_quotes_the_error_this_sqlalchemy_raises(site):
    with pytest.raises(TypeError) as raised:
        Session().commit(synchronize_session=True)
    page = soup(site, "index.html")
    quoted = [pre.get_text() for pre in page.select("pre.literal-block")]
    assert quoted == [f"TypeError: {raised.value}"]


def test_fetch_cell_shows_update_returning_in_an_sql_box(site):
    page = soup(site, "auto_examples/synchronize_session/four_strategies.html")
    boxes = sql_boxes(cell_outputs(page, '"fetch"'))
    sql = "\n".join(box.get_text() for box in boxes)
    assert re.search(r"UPDATE users SET .*RETURNING", sql, re.S), sql
    assert all(box.select_one("div.highlight-sql") for box in boxes), "SQL is highlighted as SQL"


def test_sql_boxes_are_not_printed_output(site):
    page = soup(site, "auto_examples/synchronize_session/four_strategies.html")
    boxes = page.select(".sql-box")
    assert boxes
    for box in boxes:
        assert not box.find_parent(class_="sphx-glr-script-out")
        assert "sphx-glr-script-out" not in box.get("class", [])


def test_copy_buttons_go_on_code_only(site):
    selector = runpy.run_path(str(ROOT / "conf.py"))["copybutton_selector"]
    page = soup(site, "auto_examples/synchronize_session/four_strategies.html")
    copied = page.select(selector)
    assert any("session.execute" in pre.get_text() for pre in copied)
    for pre in copied:
        assert not pre.find_parent(class_=["sql-box", "sphx-glr-script-out", "orm-state-box"])


@pytest.mark.parametrize("state", ["transient", "pending", "persistent", "deleted", "detached"])
def test_lifecycle_page_state_tables_show_each_state(site, state):
    page = soup(site, "auto_examples/session_lifecycle/five_states.html")
    states = [td.get_text() for td in page.select("table.orm-state td:nth-of-type(2)")]
    assert state in states, states


def test_state_tables_follow_the_cell_output(site):
    page = soup(site, "auto_examples/myths/commit_synchronize_session.html")
    for box in page.select(".orm-state-box"):
        following = box.find_next_sibling()
        assert following is None or "sphx-glr-script-out" not in following.get("class", [])
        assert "sql-box" not in (following.get("class", []) if following else [])


def test_no_page_shows_a_memory_address_or_a_timestamp(site):
    for page in site.html.rglob("*.html"):
        text = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").get_text()
        assert not MEMORY_ADDRESS.search(text), (page, MEMORY_ADDRESS.search(text))
        assert not TIMESTAMP.search(text), (page, TIMESTAMP.search(text))


def test_incremental_rebuild_keeps_sql_and_state(site):
    before = site.page("auto_examples/myths/commit_synchronize_session.html")
    again = site.rebuild()
    assert again.returncode == 0, again.output
    assert again.page("auto_examples/myths/commit_synchronize_session.html") == before


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
        html = soup(site, page.with_suffix(".html").name)
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
    article = soup(site, page).select_one("article")
    for code in article.select("pre, code"):
        code.decompose()
    text = article.get_text()
    for raw in ("``", "**", ":class:`", ":func:`", "{ref}"):
        assert raw not in text, (raw, text[max(0, text.find(raw) - 80) : text.find(raw) + 80])
