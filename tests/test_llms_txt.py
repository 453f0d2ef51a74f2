"""llms.txt, llms-full.txt and the Markdown copy of each page (sphinx-llm, sphinxext/llms_text.py).

An assistant that reads the site this way must get what a reader of the HTML gets: every page,
the real error of the commit myth, and, under each example cell, the output it printed and the
SQL it sent, in the order the HTML page shows them.
"""

from __future__ import annotations

import html
import re

import pytest
from page_model import Hidden, Printed, Statement, normalise_lines, parse_sql_box

from sitebuild import EXAMPLE_PAGES, EXAMPLES, NARRATIVE_HTML, ROOT, example_page

MYTH_PAGE = "auto_examples/myths/commit_synchronize_session.html"
GALLERY_INDEXES = ["auto_examples/index.html"]


@pytest.fixture(scope="module")
def llms_txt(site) -> str:
    return (site.html / "llms.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def llms_full(site) -> str:
    return (site.html / "llms-full.txt").read_text(encoding="utf-8")


def listed_pages(llms_txt: str) -> dict[str, str]:
    """{Markdown copy: title} of every page llms.txt lists."""
    return {
        target: title
        for title, target in re.findall(r"^- \[(.+?)\]\(([^)]+)\)", llms_txt, flags=re.M)
    }


def test_llms_txt_lists_every_page_by_its_title(site, llms_txt):
    listed = listed_pages(llms_txt)
    pages = [page for page in NARRATIVE_HTML if page != "404.html"]
    assert "404.html.md" not in listed, "the page shown for a missing address is no page to read"
    for page in [*pages, *GALLERY_INDEXES, *EXAMPLE_PAGES]:
        assert page + ".md" in listed, f"{page} is not in llms.txt"
        assert (site.html / (page + ".md")).is_file(), f"no Markdown copy of {page}"
        assert (site.html / page.replace(".html", ".md")).is_file(), page
    for page in EXAMPLE_PAGES:
        html_title = site.soup(page).h1.get_text().rstrip("#¶ ")
        title = listed[page + ".md"].replace("&#96;", "`").replace("&#42;", "*")
        assert title.replace("`", "") == html_title, (page, title, html_title)
    assert "llms-full.txt" in listed


def test_llms_txt_describes_each_page_as_its_html_meta_description_does(site, llms_txt):
    """One description per page, wherever it is read: a search result or an assistant."""
    described = re.findall(r"^- \[.+?\]\(([^)]+)\.md\): (.*)$", llms_txt, flags=re.M)
    assert len(described) >= len(EXAMPLE_PAGES), "llms.txt describes (nearly) no page"
    for page, description in described:
        meta = site.soup(page).find("meta", {"name": "description"})
        assert meta is not None, f"{page} has no meta description"
        assert html.unescape(description) == meta["content"], page
        assert "sphx_glr" not in description and "/auto_examples/" not in description, page


def test_an_example_is_described_by_its_answer_where_search_results_show_it(site):
    """The page's description (a search engine's summary, a shared link's, llms.txt's) starts
    with its answer, the page's first words, as the reader reads them in the answer box."""

    def letters(text: str) -> str:
        return "".join(text.split())

    for page in EXAMPLE_PAGES:
        soup = site.soup(page)
        answer = " ".join(p.get_text() for p in soup.select("article .answer-box > p")[1:])
        for meta in (soup.find("meta", {"name": "description"}),
                     soup.find("meta", {"property": "og:description"})):  # fmt: skip
            assert meta is not None, f"{page}: no description"
            start = letters(meta["content"])[:60]
            assert letters(answer).startswith(start), (page, meta["content"][:80], answer[:80])


def test_llms_full_txt_carries_the_real_type_error_of_the_commit_myth(llms_full):
    from sqlalchemy.orm import Session

    with pytest.raises(TypeError) as error:
        Session().commit(synchronize_session=True)
    assert f"TypeError: {error.value}" in llms_full


def sql_lines(site, page: str) -> list[str]:
    soup = site.soup(page)
    return [
        line.strip()
        for box in soup.select(".sql-box pre")
        for line in box.get_text().splitlines()
        if line.strip()
    ]


@pytest.mark.parametrize("page", EXAMPLE_PAGES)
def test_each_example_page_has_its_sql_in_llms_full_txt(site, llms_full, page):
    """Every line of every SQL box of the HTML page, in the Markdown as SQL code blocks."""
    sql = sql_lines(site, page)
    if not sql:
        pytest.skip(f"{page} sends no SQL")
    markdown = (site.html / (page + ".md")).read_text(encoding="utf-8")
    blocks = re.findall(r"^```sql\n(.*?)^```$", markdown, flags=re.M | re.S)
    in_blocks = {line.strip() for block in blocks for line in block.splitlines()}
    missing = [line for line in sql if line not in in_blocks]
    assert not missing, f"{page}: SQL missing from its Markdown copy: {missing[:5]}"
    full_lines = {line.strip() for line in llms_full.splitlines()}
    missing = [line for line in sql if line not in full_lines]
    assert not missing, f"{page}: SQL missing from llms-full.txt: {missing[:5]}"


def test_markdown_copies_keep_no_gallery_furniture(site):
    markdown = (site.html / (MYTH_PAGE + ".md")).read_text(encoding="utf-8")
    assert markdown.lstrip().startswith(("<a id=", "# Myth")), markdown[:200]
    for furniture in ("GENERATED FROM PYTHON SOURCE LINES", "Go to the end", "<details"):
        assert furniture not in markdown, furniture
    assert "UPDATE users SET" in markdown


def test_each_html_page_points_to_its_markdown_copy(site):
    page = site.soup(MYTH_PAGE)
    alternate = page.select_one("link[rel='alternate'][type='text/markdown']")
    assert alternate and alternate["href"] == "commit_synchronize_session.html.md"


# A fenced code block of Markdown: its info string (``none`` for printed output, ``sql``).
FENCE = re.compile(
    r"^(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S
)
PAGE_HEADER = re.compile(r"^# (\S+\.html\.md)$", re.M)


def reader_items(items: list) -> list[str]:
    """A page's printed boxes and SQL statements (with their parameter lines), and the counts
    of statements not shown, as comparable lines, in page order; whitespace made alike."""
    result = []
    for item in items:
        if isinstance(item, Printed):
            result.append("printed: " + " \u23ce ".join(normalise_lines(item.text)))
        elif isinstance(item, Statement):
            parameters = f" -- parameters: {item.parameters}" if item.parameters else ""
            result.append("sql: " + item.text + parameters)
        elif isinstance(item, Hidden):
            result.append(f"sql not shown: {item.count}")
    return result


def markdown_items(markdown: str) -> list[str]:
    """The same, read from Markdown: each ``none`` block is a printed box, each ``sql``
    block a SQL box."""
    items: list = []
    for block in FENCE.finditer(markdown):
        info = block["info"].strip().lower()
        if info == "none":
            items.append(Printed(block["body"]))
        elif info == "sql":
            items.extend(parse_sql_box(block["body"]))
    return reader_items(items)


def first_missing(wanted: list[str], found: list[str]) -> tuple[int, str] | None:
    """The first of `wanted` that does not follow the ones before it in `found`, or None."""
    at = 0
    for index, item in enumerate(wanted):
        try:
            at = found.index(item, at) + 1
        except ValueError:
            return index, item
    return None


@pytest.fixture(scope="module")
def llms_full_sections(llms_full) -> dict[str, str]:
    """llms-full.txt by page: each page's Markdown follows a ``# <page>.html.md`` line."""
    headers = list(PAGE_HEADER.finditer(llms_full))
    return {
        header.group(1): llms_full[header.end() : following.start() if following else None]
        for header, following in zip(headers, [*headers[1:], None], strict=True)
    }


@pytest.mark.parametrize(
    "example", EXAMPLES, ids=lambda p: p.relative_to(ROOT / "examples").with_suffix("").as_posix()
)
def test_the_markdown_copies_carry_each_printed_box_and_statement_in_order(
    site,
    llms_full_sections,
    page_models,  # noqa: F811
    example,
):
    """What a reader of the HTML page sees under the cells (printed boxes, SQL statements with
    their parameters), in the same order in the page's Markdown copies and in llms-full.txt."""
    page = example_page(example)
    wanted = [item for cell in page_models[example] for item in reader_items(cell.items)]
    assert wanted, f"{page} shows no printed output and no SQL under its cells"
    sections = llms_full_sections
    assert page + ".md" in sections, f"llms-full.txt has no section for {page}"
    copies = {
        f"{page}.md": (site.html / (page + ".md")).read_text(encoding="utf-8"),
        page.replace(".html", ".md"): (site.html / page.replace(".html", ".md")).read_text(
            encoding="utf-8"
        ),
        f"llms-full.txt ({page}.md)": sections[page + ".md"],
    }
    for name, markdown in copies.items():
        found = markdown_items(markdown)
        missing = first_missing(wanted, found)
        assert missing is None, (
            f"{name}: item {missing[0] + 1} of {len(wanted)} the HTML page shows under its "
            f"cells is missing, or out of order: {missing[1][:200]!r} "
            f"(the Markdown has {sum(i.startswith('printed: ') for i in found)} printed boxes "
            f"and {sum(i.startswith('sql: ') for i in found)} statements; the HTML page "
            f"{sum(i.startswith('printed: ') for i in wanted)} and "
            f"{sum(i.startswith('sql: ') for i in wanted)})"
        )
