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
from urllib.parse import urlsplit

import pytest
import test_browser
from test_browser import Visit, expect

# tests/test_browser.py's fixtures, by name: one Chromium, the site served, a tab that records
# every error and refuses every request to another host, the hosted build under its sub-path.
browser = test_browser.browser
base_url = test_browser.base_url
visit = test_browser.visit

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


def site_pages(hrefs: list[str], base: str) -> list[str]:
    """The site's pages that the links lead to, relative to the site's address `base`."""
    prefix = urlsplit(base).path
    return [urlsplit(href).path.removeprefix(prefix) for href in hrefs]


def result_pages(results, base: str) -> list[str]:
    hrefs = results.locator(":scope > a").evaluate_all("links => links.map(a => a.href)")
    return site_pages(hrefs, base)


def type_search(visit: Visit, query: str):
    """Type `query` into the home page's search box and press Enter, as a reader does;
    returns the search page once the search has finished, and its results."""
    page = visit.open("index.html")
    box = page.locator("input.sidebar-search:visible").first
    box.fill(query)
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\.html\?"))
    # Sphinx writes the status line ("Search finished, ...") once every result is listed.
    status = page.locator("#search-results .search-summary")
    expect(status).to_contain_text("Search finished", timeout=20_000)
    results = page.locator("ul.search > li")
    # Each result's summary comes once its page is fetched: the first one's is waited for.
    if results.count():
        results.first.locator("p.context").wait_for(timeout=20_000)
    return page, results


# What the results page of each query shows, made the way the page makes it (scorer.js's
# Search.query and Sphinx's _displayItem) in one tab that loads the index once: the pages
# ranked by SiteSearch.rank, as links, and the first one's summary, its page fetched and
# summarised by Search.makeSearchSummary, laid out in the page to be read. The results page
# itself also fetches and parses every other result's page for its summary (about 33 a query,
# a second of CPU): test_the_results_page_shows_what_the_ranking_found types queries of every
# kind into the box and checks that a reader's page lists the same pages, with the same first
# summary.
RANK_AND_SUMMARISE = """async (queries) => {
    const shown = document.getElementById("search-results");
    const link = (item) => {
        const a = document.createElement("a");
        a.href = item[0] + DOCUMENTATION_OPTIONS.LINK_SUFFIX + item[2];
        return a.href;
    };
    const seen = {};
    for (const query of queries) {
        try {
            const {results, highlight} = SiteSearch.rank(query, Search._index);
            let summary = null;
            if (results.length) {
                const [docName, , anchor] = results[0];
                const page = document.documentElement.dataset.content_root + docName
                    + DOCUMENTATION_OPTIONS.FILE_SUFFIX;
                const text = await (await fetch(page)).text();
                const made = text ? Search.makeSearchSummary(text, highlight, anchor) : null;
                if (made) {
                    shown.append(made);
                    summary = made.innerText;
                    made.remove();
                }
            }
            seen[query] = {pages: results.map(link), summary: summary, error: null};
        } catch (error) {
            seen[query] = {pages: [], summary: null, error: String(error)};
        }
    }
    return seen;
}"""


@pytest.fixture(scope="session")
def searched(request, browser, base_url):
    """searched(query): what a reader who typed it sees - the result pages in order, the first
    result's summary, and any error or request to another host meanwhile - for every collected
    query at once, on the first call (RANK_AND_SUMMARISE)."""
    queries = [
        item.callspec.params["query"]
        for item in request.session.items
        if getattr(item, "originalname", None) in RANKED_BY
    ]
    seen: dict[str, dict] = {}

    def results(query: str) -> dict:
        if query not in seen:
            tab = Visit(browser.new_context(viewport={"width": 1280, "height": 900}), base_url)
            try:
                page = tab.open("search.html")
                page.wait_for_function("() => Search.hasIndex()")
                found = page.evaluate(RANK_AND_SUMMARISE, list(dict.fromkeys([*queries, query])))
                problems = tab.problems()
            finally:
                tab.context.close()
            for text, what in found.items():
                seen[text] = {
                    "pages": site_pages(what["pages"], base_url),
                    "summary": what["summary"],
                    "problems": [*problems, *filter(None, [what["error"]])],
                }
        return seen[query]

    return results


@pytest.mark.parametrize(
    ("query", "expected"),
    [pytest.param(q["text"], q["first"], id=f"{q['kind']}: {q['text'][:60]}") for q in QUERIES],
)
def test_search_lists_the_best_page_first(searched, site, query, expected):
    seen = searched(query)
    pages = seen["pages"]
    assert pages, f"{query!r} found nothing"
    assert pages[0] == expected, f"{query!r}: {expected} is not first: {pages[:5]}"
    assert len(pages) == len(set(pages)), f"{query!r}: a page is listed twice: {pages}"
    missing = [page for page in pages if not (site.html / page).is_file()]
    assert not missing, f"{query!r}: results lead to pages the site does not have: {missing}"
    assert seen["summary"] is not None, f"{query!r}: the first result has no summary shown"
    for words in BOILERPLATE:
        assert words not in seen["summary"], f"{query!r}: the summary shows {words!r}"
    assert not seen["problems"], seen["problems"]


# One query of each kind, typed into the box: its results page must show what `searched`
# read for it.
TYPED_KINDS = list(
    {q["kind"].removesuffix(" (held out)"): q["text"] for q in reversed(QUERIES)}.values()
)


@pytest.mark.parametrize("query", TYPED_KINDS, ids=lambda text: text[:40])
def test_the_results_page_shows_what_the_ranking_found(visit, searched, query):
    """A reader who types the query into the box gets the pages `searched` ranked, in the same
    order, the first with the same summary, and every result with a summary once the search
    has finished (each result's page fetched: none fails)."""
    page, results = type_search(visit, query)
    seen = searched(query)
    assert result_pages(results, visit.base_url) == seen["pages"], query
    assert results.first.locator("p.context").inner_text() == seen["summary"], query
    expect(results.locator("p.context")).to_have_count(results.count(), timeout=20_000)
    visit.assert_clean()


RANKED_BY = {
    "test_search_lists_the_best_page_first",
    "test_the_results_page_shows_what_the_ranking_found",
}


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
