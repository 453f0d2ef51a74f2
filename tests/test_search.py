"""The site's search, as a reader uses it: a query typed into the search box, in Chromium.

tests/search_queries.toml holds what readers type (pasted errors with addresses, questions,
API names, misspellings, British spellings) and the page each should list first; the search
is Sphinx's, ranked by docs/_search/scorer.js over its index and each page's topics
(docs/_search/topics.toml). The browser, the served site and the tab that records every error
are tests/test_browser.py's fixtures.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import test_browser
from test_browser import Visit, expect

# tests/test_browser.py's fixtures, by name: one Chromium, the site served, a tab that records
# every error and refuses every request to another host, the hosted build under its sub-path.
browser = test_browser.browser
base_url = test_browser.base_url
visit = test_browser.visit
hosted_url = test_browser.hosted_url

QUERIES = tomllib.loads(
    (Path(__file__).with_name("search_queries.toml")).read_text(encoding="utf-8")
)["query"]
# What every example page has and no summary under a search result should show.
BOILERPLATE = (
    "Go to the end",
    "The SQL on this page was sent to",
    "Download",
    "Related pages",
    "Verified when this page was built",
    "Verified on SQLAlchemy",
)


def result_pages(results, base: str) -> list[str]:
    hrefs = results.locator(":scope > a").evaluate_all("links => links.map(a => a.href)")
    prefix = urlsplit(base).path
    return [urlsplit(href).path.removeprefix(prefix) for href in hrefs]


# Tabs that search side by side: Sphinx lists results one by one, each after fetching the
# page its summary quotes, so a search mostly waits; four tabs keep two cores busy.
LANES = 4


def start_search(visit: Visit, query: str):
    """Type `query` into the home page's search box and press Enter; returns the tab, whose
    results `finish_search` reads once Sphinx has listed them all."""
    page = visit.open("index.html")
    box = page.locator("input.sidebar-search:visible").first
    box.fill(query)
    box.press("Enter")
    return page


def finish_search(page):
    page.wait_for_url(re.compile(r"/search\.html\?"))
    # Sphinx writes the status line ("Search finished, ...") once every result is listed.
    status = page.locator("#search-results .search-summary")
    expect(status).to_contain_text("Search finished", timeout=20_000)
    results = page.locator("ul.search > li")
    # Each result's summary comes once its page is fetched: the first one's is waited for.
    if results.count():
        results.first.locator("p.context").wait_for(timeout=20_000)
    return page, results


def type_search(visit: Visit, query: str):
    """Type `query` into the home page's search box and press Enter, as a reader does;
    returns the search page once the search has finished, and its results."""
    return finish_search(start_search(visit, query))


def open_results(visit: Visit, query: str):
    """The results page the search box leads to, opened by its address (the box itself is
    typed into by the tests below): what a reader sees once the search is sent."""
    return visit.open(
        "search.html?" + urlencode({"q": query, "check_keywords": "yes", "area": "default"})
    )


@pytest.fixture(scope="session")
def searched(request, browser, base_url):
    """searched(query): what a reader who typed it saw - the result pages in order, the first
    result's summary, and any error or request to another host meanwhile. Every collected
    query is typed on the first call, in LANES tabs in turn."""
    queries = [
        item.callspec.params["query"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_search_lists_the_best_page_first"
    ]
    seen: dict[str, dict] = {}

    def search_all() -> None:
        lanes = [
            Visit(browser.new_context(viewport={"width": 1280, "height": 900}), base_url)
            for _ in range(LANES)
        ]
        typed: dict[int, tuple[str, object]] = {}

        def finish(lane: int) -> None:
            query, tab = typed.pop(lane)
            page, results = finish_search(tab)
            summary = results.first.locator("p.context")
            seen[query] = {
                "pages": result_pages(results, base_url),
                "summary": summary.inner_text() if summary.is_visible() else None,
                "problems": lanes[lane].problems(),
            }

        try:
            for turn, query in enumerate(dict.fromkeys(queries)):
                lane = turn % LANES
                if lane in typed:
                    finish(lane)
                typed[lane] = (query, open_results(lanes[lane], query))
            for lane in list(typed):
                finish(lane)
        finally:
            for lane in lanes:
                lane.context.close()

    def results(query: str) -> dict:
        if query not in seen:
            search_all()
        return seen[query]

    return results


@pytest.mark.parametrize(
    ("query", "expected"),
    [pytest.param(q["text"], q["first"], id=f"{q['kind']}: {q['text'][:60]}") for q in QUERIES],
)
def test_search_lists_the_best_page_first(searched, query, expected):
    seen = searched(query)
    pages = seen["pages"]
    assert pages, f"{query!r} found nothing"
    assert pages[0] == expected, f"{query!r}: {expected} is not first: {pages[:5]}"
    assert len(pages) == len(set(pages)), f"{query!r}: a page is listed twice: {pages}"
    assert seen["summary"] is not None, f"{query!r}: the first result has no summary shown"
    for words in BOILERPLATE:
        assert words not in seen["summary"], f"{query!r}: the summary shows {words!r}"
    assert not seen["problems"], seen["problems"]


def test_the_query_set_is_what_readers_type():
    """At least 25 queries besides the topics, of every kind the search must handle."""
    kinds = {q["kind"].removesuffix(" (held out)") for q in QUERIES if q["kind"] != "topic"}
    assert {"pasted error", "question", "API name", "misspelling", "British spelling"} <= kinds
    assert len([q for q in QUERIES if q["kind"] != "topic"]) >= 25
    assert any(re.search(r"0x[0-9a-f]{6}", q["text"]) for q in QUERIES), "a pasted address"


def test_search_summaries_show_prose_not_boilerplate(visit):
    page, results = type_search(visit, "session")
    assert results.count() >= 10
    summaries = results.locator("p.context")
    expect(summaries.nth(9)).to_be_visible()
    for summary in summaries.all_inner_texts():
        for words in BOILERPLATE:
            assert words not in summary, f"a summary shows {words!r}: {summary}"
        assert "  " not in summary, f"runs of white space: {summary!r}"
    visit.assert_clean()


HIGHLIGHTED = "els => els.map(el => el.textContent)"


def test_a_contraction_highlights_words_not_letters(visit):
    """A contraction is a stopword ("can't" is not the words "can" and "t"): neither the
    summaries nor the page a reader opens from the results highlight every "t"."""
    query = "can't evaluate criteria in Python"
    page, results = type_search(visit, query)
    expect(results.first.locator("p.context")).to_be_visible()
    wanted = {"evaluate", "criteria", "python"}
    marked = page.locator("#search-results .highlighted").evaluate_all(HIGHLIGHTED)
    assert marked, "the summaries highlight the words typed"
    assert {text.lower() for text in marked} <= wanted, marked
    results.first.locator(":scope > a").click()
    page.wait_for_url(re.compile(r"evaluate_unsupported_criteria\.html"))
    expect(page.locator("[role=main] .highlighted").first).to_be_attached()
    marked = page.locator("[role=main] .highlighted").evaluate_all(HIGHLIGHTED)
    assert {text.lower() for text in marked} <= wanted, sorted(set(marked))
    visit.assert_clean()


HOSTED = ("DetachedInstanceError: Parent instance", "expire_on_comit", "synchronise_session")
HOSTED_QUERIES = [q for q in QUERIES if q["text"].startswith(HOSTED)][: len(HOSTED)]


@pytest.mark.parametrize("query", HOSTED_QUERIES, ids=lambda q: q["text"][:40])
def test_search_works_under_the_hosted_sub_path(browser, hosted_url, query):
    """The Pages build, served under its sub-path: the same first page, and its link opens."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = Visit(context, hosted_url)
    try:
        page, results = type_search(tab, query["text"])
        assert result_pages(results, hosted_url)[0] == query["first"]
        results.first.locator(":scope > a").click()
        page.wait_for_load_state()
        assert page.url.startswith(hosted_url + query["first"]), page.url
        expect(page.locator("h1").first).to_be_visible()
        tab.assert_clean()
    finally:
        context.close()


def test_a_sphinx_without_the_helpers_scorer_js_uses_fails_the_build(tmp_path):
    """scorer.js shows its results with searchtools.js's private helpers: the pinned Sphinx has
    them; a release without one fails the set-up of sphinxext/search_topics.py, naming it."""
    import sys

    import sphinx
    from sphinx.errors import ExtensionError

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sphinxext"))
    import search_topics

    static = Path(sphinx.__file__).parent / "themes" / "basic" / "static"
    search_topics.check_search_scripts(static)
    for script in search_topics.SEARCH_SCRIPT_NAMES:
        text = (static / script).read_text(encoding="utf-8")
        (tmp_path / script).write_text(text.replace("_displayNextItem", "_showNext"))
    with pytest.raises(ExtensionError, match="_displayNextItem"):
        search_topics.check_search_scripts(tmp_path)
