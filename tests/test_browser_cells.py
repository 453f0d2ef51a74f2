"""Example pages as a reader sees them (issue 11, points 1-3): code that fits, the claims the
hidden asserts proved, the statement that matters in a SQL box, and changed values in the
state tables, at 1280 px and on a 390 px phone, light and dark."""

from __future__ import annotations

import re

import pytest
import test_browser
from test_browser import contrast, expect, screenshot, set_theme

from sitebuild import EXAMPLE_PAGES

# The browser, the served site and the tabs of tests/test_browser.py.
browser, base_url, visit, narrow = (
    test_browser.browser,
    test_browser.base_url,
    test_browser.visit,
    test_browser.narrow,
)

FOUR_STRATEGIES = "auto_examples/synchronize_session/four_strategies.html"
STATE_PAGE = "auto_examples/session_lifecycle/five_states.html"

OVERFLOWING_CODE = """() => [...document.querySelectorAll("div.highlight-Python pre")]
    .filter(pre => pre.scrollWidth > pre.clientWidth)
    .map(pre => pre.innerText.split("\\n").reduce((a, b) => (b.length > a.length ? b : a)))"""


@pytest.mark.parametrize("relative", EXAMPLE_PAGES)
def test_no_line_of_example_code_scrolls_sideways_at_1280_pixels(visit, relative):
    page = visit.open(relative)
    assert page.evaluate(OVERFLOWING_CODE) == [], "the longest line of each block that scrolls"
    visit.assert_clean()


def test_asserts_are_hidden_and_their_claims_listed_under_the_cell(visit):
    page = visit.open(FOUR_STRATEGIES)
    code = " ".join(page.locator("div.highlight-Python pre").all_inner_texts())
    assert "assert " not in code, "the asserts run but are not shown"
    claims = page.locator("div.verified-claims").first
    expect(claims).to_be_visible()
    expect(claims).to_contain_text("Verified when this page was built")
    expect(claims.locator("li").first).to_be_visible()
    cell = claims.evaluate(
        "box => { for (let n = box.previousElementSibling; n; n = n.previousElementSibling)"
        " if (n.classList.contains('highlight-Python')) return n.innerText; return null; }"
    )
    assert cell and "outcomes" in cell, "the list follows the cell whose asserts it reports"
    visit.assert_clean()


def test_the_returning_clause_is_highlighted_with_a_note(visit):
    page = visit.open(FOUR_STRATEGIES)
    # The first note shown unfolded (a cell of more than 15 statements is folded).
    box = page.locator("div.sql-box:visible", has=page.locator("p.sql-note")).first
    box.scroll_into_view_if_needed()
    marked = box.locator(".hll").first
    expect(marked).to_be_visible()
    assert "RETURNING" in marked.inner_text()
    note = box.locator("p.sql-note").first
    expect(note).to_be_visible()
    expect(note).to_contain_text("RETURNING")
    marked_background = marked.evaluate("e => getComputedStyle(e).backgroundColor")
    pre_background = box.locator("pre").evaluate("e => getComputedStyle(e).backgroundColor")
    assert marked_background != pre_background, "the statement stands out from the box"
    screenshot(box, "sql-box-note")
    visit.assert_clean()


def rgb(text: str) -> tuple[int, ...]:
    return tuple(int(float(v)) for v in re.findall(r"[\d.]+", text)[:3])


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_on_a_phone_only_changed_values_are_highlighted_with_a_legend(narrow, theme):
    page = narrow.open(STATE_PAGE)
    set_theme(page, theme)
    # The legend shows the mark too: the first table with a marked value in the table itself.
    box = page.locator("div.orm-state-box", has=page.locator("table .orm-changed-value")).first
    box.scroll_into_view_if_needed()
    changed = box.locator("table .orm-changed-value").first
    expect(changed).to_be_visible()
    legend = box.locator("p.orm-state-legend")
    expect(legend).to_be_visible()
    expect(legend).to_contain_text("changed since this object's previous table")
    colours = changed.evaluate(
        "e => ({fg: getComputedStyle(e).color, bg: getComputedStyle(e).backgroundColor})"
    )
    ratio = contrast(rgb(colours["fg"]), rgb(colours["bg"]))
    assert ratio >= 4.5, f"{theme}: a changed value's contrast is {ratio:.2f}"
    # An unchanged value: a table cell's paragraph with text and no mark inside.
    unchanged = box.evaluate(
        """box => { for (const p of box.querySelectorAll("table td p:not(.cell-label)")) {
            if (p.innerText.trim() && !p.querySelector(".orm-changed-value")) {
                const bg = getComputedStyle(p).backgroundColor;
                const cell = getComputedStyle(p.closest("td")).backgroundColor;
                return {text: p.innerText, bg: bg, cell: cell}; } } return null; }"""
    )
    assert unchanged is not None, "the table has an unchanged value"
    for painted in (unchanged["bg"], unchanged["cell"]):
        assert rgb(painted) != rgb(colours["bg"]) or painted.endswith(", 0)"), unchanged
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the cards fit the phone"
    screenshot(box, f"state-table-phone-{theme}")
    narrow.assert_clean()


MARKED_TEXT_COLOURS = """(roots) => {
    const parse = (text) => text.match(/[\\d.]+/g).map(Number);
    const background = (element) => {
        for (let node = element; node; node = node.parentElement) {
            const colour = parse(getComputedStyle(node).backgroundColor);
            if (colour.length < 4 || colour[3] > 0) return colour.slice(0, 3);
        }
        return [255, 255, 255];
    };
    const pairs = [];
    for (const root of roots) {
        const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        for (let text = walker.nextNode(); text; text = walker.nextNode()) {
            if (!text.textContent.trim()) continue;
            const style = getComputedStyle(text.parentElement);
            pairs.push({text: text.textContent.trim().slice(0, 30),
                        colour: parse(style.color).slice(0, 3),
                        background: background(text.parentElement)});
        }
    }
    return pairs;
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_marked_statements_notes_and_claims_are_readable(visit, theme):
    page = visit.open(FOUR_STRATEGIES)
    set_theme(page, theme)
    for selector in (".sql-box .hll", "p.sql-note", "div.verified-claims"):
        pairs = page.locator(selector).evaluate_all(MARKED_TEXT_COLOURS)
        assert pairs, f"{selector}: nothing on the page"
        ratio, worst = min(
            ((contrast(p["colour"], p["background"]), p) for p in pairs), key=lambda x: x[0]
        )
        assert ratio >= 4.5, f"{theme}, {selector}: contrast {ratio:.2f} for {worst}"
    visit.assert_clean()
