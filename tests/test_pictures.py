"""A picture per example, on the built site: every card has one (never Sphinx-Gallery's
placeholder), every example page its figure, and in a browser no card title spills out of its
card and the figure shows in both themes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_browser import base_url, browser, screenshot, set_theme, settled  # noqa: F401

from sitebuild import EXAMPLE_PAGES, EXAMPLES, ROOT

GALLERY_INDEXES = ["auto_examples/index.html"] + sorted(
    f"auto_examples/{path.name}/index.html"
    for path in (ROOT / "examples").iterdir()
    if path.is_dir() and any(path.glob("*.py"))
)


def placeholder_bytes() -> set[bytes]:
    import sphinx_gallery

    static = Path(sphinx_gallery.__file__).parent / "_static"
    return {path.read_bytes() for path in static.glob("*.png")}


def cards(site, index: str):
    page = site.soup(index)
    return page.select("div.sphx-glr-thumbcontainer")


def test_every_example_card_has_a_picture_of_its_own(site):
    placeholders = placeholder_bytes()
    seen = set()
    for index in GALLERY_INDEXES:
        for card in cards(site, index):
            link = card.select_one("a.reference.internal")["href"]
            image = (site.html / index).parent / card.select_one("img")["src"]
            picture = image.read_bytes()
            assert picture not in placeholders, f"{index}: the card of {link} has a placeholder"
            if image.suffix == ".svg":
                root = ET.fromstring(picture)
                assert root.get("role") == "img"
            seen.add(Path(link).stem)
    assert seen == {example.stem for example in EXAMPLES}, "every example has a card"


def test_the_card_of_a_plotting_example_keeps_its_plot(site):
    (card,) = [
        card
        for card in cards(site, "auto_examples/performance/index.html")
        if "strategy_cost" in card.select_one("a")["href"]
    ]
    assert card.select_one("img")["src"].endswith("_thumb.png")


# Pages whose example loads no ORM object: their picture counts the statements of each cell.
STATEMENT_CHARTS = {"auto_examples/transactions_and_pool/isolation_level.html"}


@pytest.mark.parametrize("relative", EXAMPLE_PAGES)
def test_every_example_page_has_its_figure_after_its_introduction(site, relative):
    page = site.soup(relative)
    (box,) = page.select("div.lc-box")
    svg = box.select_one("svg.lc-figure")
    assert svg is not None and svg["role"] == "img"
    title = svg.find("title")
    assert title is not None and svg["aria-labelledby"] == title["id"]
    caption = box.select_one("p.lc-caption").get_text()
    if relative in STATEMENT_CHARTS:
        assert title.get_text().startswith("Statements this example sent"), title.get_text()
        assert caption.startswith("The statements this page sent"), caption
    else:
        assert caption.startswith("What the objects on this page went through"), caption
        if "\u2192" in title.get_text():
            assert box.select("ul.lc-transitions li"), "the text names the objects on each arrow"
        else:  # objects only loaded and read: the one state they were seen in
            states = "transient|pending|persistent|deleted|detached"
            assert re.search(rf"objects?: ({states})\.$", title.get_text()), title.get_text()
    first_code = page.select_one("div.highlight-Python")
    assert box.sourceline < first_code.sourceline, "the figure comes before the first cell"


def test_the_five_states_figure_draws_what_ran(site):
    page = site.soup("auto_examples/session_lifecycle/five_states.html")
    box = page.select_one("div.lc-box")
    drawn = {(g["data-from"], g["data-to"]) for g in box.select("g.lc-edge")}
    assert ("persistent", "deleted") in drawn and ("deleted", "detached") in drawn
    assert ("detached", "persistent") not in drawn, "no object there went back"
    assert "alice: transient \u2192 pending \u2192 persistent \u2192 deleted \u2192 detached" in (
        box.find("title").get_text()
    )


# ---------------------------------------------------------------------------
# In Chromium
# ---------------------------------------------------------------------------

CARD_OVERFLOW = """() => [...document.querySelectorAll('.sphx-glr-thumbcontainer')].map(card => {
    const title = card.querySelector('.sphx-glr-thumbnail-title');
    const box = card.getBoundingClientRect();
    const text = title.getBoundingClientRect();
    return {title: title.innerText, inside: text.left >= box.left - 0.5 &&
            text.right <= box.right + 0.5 && text.bottom <= box.bottom + 0.5 &&
            title.scrollWidth <= title.clientWidth + 1 && card.scrollWidth <= card.clientWidth + 1};
})"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 390])
def test_no_card_title_spills_out_of_its_card(browser, base_url, width, scheme):  # noqa: F811
    """On every gallery index, at both widths, in both schemes (one tab per configuration)."""
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    try:
        page = context.new_page()
        for relative in GALLERY_INDEXES:
            page.goto(base_url + relative)
            page.wait_for_load_state("load")
            found = page.evaluate(CARD_OVERFLOW)
            assert found, f"{relative}: the index shows cards"
            spilling = [card["title"] for card in found if not card["inside"]]
            assert spilling == [], f"{relative} at {width} px ({scheme})"
            loaded = page.evaluate(
                "[...document.querySelectorAll('.sphx-glr-thumbcontainer img')]"
                ".every(img => img.complete && img.naturalWidth > 0)"
            )
            assert loaded, f"{relative}: every card's picture loads"
            if relative == "auto_examples/myths/index.html":
                screenshot(page, f"pictures-myths-index-{width}-{scheme}", full_page=True)
    finally:
        context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_figure_is_visible_and_follows_the_theme(browser, base_url, theme):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    try:
        page = context.new_page()
        page.goto(base_url + "auto_examples/session_lifecycle/five_states.html")
        set_theme(page, theme)
        figure = page.locator("div.lc-box svg.lc-figure")
        figure.scroll_into_view_if_needed()
        settled(page)
        box = figure.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 200, box
        colours = page.evaluate(
            """() => {
                const svg = document.querySelector('svg.lc-figure');
                const text = svg.querySelector('text.lc-ink');
                const node = svg.querySelector('rect.lc-persistent');
                return {ink: getComputedStyle(text).fill, node: getComputedStyle(node).fill,
                        page: getComputedStyle(document.body).backgroundColor};
            }"""
        )
        ink = [int(c) for c in colours["ink"][4:-1].split(",")[:3]]
        page_bg = [
            int(c) for c in colours["page"][colours["page"].index("(") + 1 : -1].split(",")[:3]
        ]
        assert abs(sum(ink) - sum(page_bg)) > 300, f"the ink stands out of the page: {colours}"
        screenshot(figure, f"pictures-five-states-figure-{theme}")
    finally:
        context.close()
