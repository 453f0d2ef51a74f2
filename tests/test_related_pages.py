"""Links between the site's pages: the "Related pages" section of every example, from
docs/_related.toml (sphinxext/related_pages.py), and the links in the examples' own prose.

The mapping is checked from the sources (every example has two related pages or more, every
target exists, every table names an example) and on the built site (the section is there, at
the end, before the downloads, and each link reaches a page and, for a table row, the row).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sitebuild import EXAMPLES, ROOT, example_page

sys.path.insert(0, str(ROOT / "sphinxext"))
from related_pages import example_label  # noqa: E402

MAPPING = tomllib.loads((ROOT / "docs" / "_related.toml").read_text(encoding="utf-8"))
EXAMPLE_KEYS = {
    example.relative_to(ROOT / "examples").with_suffix("").as_posix(): example
    for example in EXAMPLES
}
NARRATIVE = {page.stem for page in (ROOT / "docs").glob("*.md")}
ROW_ROLE = re.compile(r"\{row\}`([^`]+)`")


def row_labels() -> dict[str, str]:
    """Each {row}`label` of the narrative pages, and its page."""
    labels: dict[str, str] = {}
    for page in sorted((ROOT / "docs").glob("*.md")):
        for label in ROW_ROLE.findall(page.read_text(encoding="utf-8")):
            assert label not in labels, f"{label} labels two rows"
            labels[label] = page.stem
    return labels


ROWS = row_labels()


def test_every_example_has_two_related_pages_or_more():
    missing = sorted(set(EXAMPLE_KEYS) - set(MAPPING))
    assert not missing, f"examples without related pages in docs/_related.toml: {missing}"
    few = {key: list(targets) for key, targets in MAPPING.items() if len(targets) < 2}
    assert not few, f"fewer than two related pages: {few}"


def test_the_mapping_names_only_examples_that_exist():
    unknown = sorted(set(MAPPING) - set(EXAMPLE_KEYS))
    assert not unknown, f"docs/_related.toml names examples that do not exist: {unknown}"


@pytest.mark.parametrize("example", sorted(MAPPING))
def test_each_related_page_exists_and_says_why(example):
    for target, why in MAPPING[example].items():
        assert target != example, f"{example} links itself"
        if "/" in target:
            assert target in EXAMPLE_KEYS, f"{example}: no example {target}"
        else:
            assert target in NARRATIVE or target in ROWS, f"{example}: no page or row {target}"
        assert isinstance(why, str) and 2 <= len(why.split()) <= 12, (example, target, why)


def test_some_links_reach_a_row_of_the_cheat_sheet_or_the_decision_guide():
    rows = [t for targets in MAPPING.values() for t in targets if t in ROWS]
    assert len(rows) >= len(MAPPING) * 3 // 4, "most examples link the row that sums them up"


# ---------------------------------------------------------------------------------------------
# In the built site
# ---------------------------------------------------------------------------------------------


def section_links(site, relative: str):
    page = site.soup(relative)
    section = page.select_one("section#related-pages")
    return page, section, section.select("li a.reference.internal") if section else []


@pytest.mark.parametrize("example", sorted(MAPPING))
def test_the_page_ends_with_its_related_pages(site, example):
    relative = example_page(EXAMPLE_KEYS[example])
    page, section, links = section_links(site, relative)
    assert section is not None, f"{relative} has no Related pages section"
    assert section.h2.get_text(strip=True).rstrip("¶") == "Related pages"
    assert "no-search" in section["class"], "the titles of other pages stay out of its index"
    # After everything the page says, before Sphinx-Gallery's download buttons.
    html = site.page(relative)
    start = html.index('id="related-pages"')
    end = html.index("</section>", start)
    assert "<section" not in html[end:], "no section of the page comes after the related pages"
    assert 'class="sphx-glr-footer' in html[end:], "the downloads come after the related pages"
    assert len(links) == len(MAPPING[example]) >= 2
    for link, (target, why) in zip(links, MAPPING[example].items(), strict=True):
        href = urlsplit(link["href"])
        path = (site.html / relative).parent / href.path
        assert path.resolve().is_file(), f"{example}: {link['href']} is no page"
        text = link.get_text(" ", strip=True)
        assert text and text != target, f"{example}: the link to {target} shows a title: {text}"
        assert link.parent.get_text(" ", strip=True).endswith(why)
        if target in ROWS:
            assert href.path.endswith(f"{ROWS[target]}.html") and href.fragment == target
            summary = site.soup(path.resolve().relative_to(site.html.resolve()).as_posix())
            row = summary.find(id=target)
            assert row is not None and row.name == "tr", f"{target} is a table row"
            assert text.startswith(("Cheat sheet ›", "Which synchronization do I need? ›")), text
        elif "/" in target:
            assert href.fragment == example_label(target).replace("_", "-").replace(".", "-")


def test_the_row_labels_leave_no_trace_in_the_table(site):
    page = site.soup("cheat-sheet.html")
    row = page.find(id="cheat-sheet-flush")
    assert row.name == "tr" and "{row}" not in page.get_text()
    assert row.find("td").get_text(" ", strip=True).endswith("session.flush()")


# ---------------------------------------------------------------------------------------------
# Links in the examples' own prose
# ---------------------------------------------------------------------------------------------

SITE_LINK = re.compile(r":(?:doc|ref):`[^`]+`")


def cell_prose(example: Path) -> str:
    """The comment lines of an example's cells (its text blocks), not its docstring."""
    source = example.read_text(encoding="utf-8")
    after_docstring = source.split('"""', 2)[2]
    return "\n".join(line for line in after_docstring.splitlines() if line.startswith("#"))


@pytest.mark.parametrize("example", sorted(EXAMPLE_KEYS))
def test_the_example_text_links_another_page_of_the_site(example):
    links = SITE_LINK.findall(cell_prose(EXAMPLE_KEYS[example]))
    assert links, f"{example}: its prose links no other page of the site (:doc: or :ref:)"


@pytest.mark.parametrize("example", sorted(MAPPING))
def test_the_built_text_links_another_page(site, example):
    relative = example_page(EXAMPLE_KEYS[example])
    page = site.soup(relative)
    article = page.select_one("article")
    others = [
        a["href"]
        for a in article.select("p a.reference.internal[href]")
        if not a.find_parent(id="related-pages")
        and not a.find_parent(class_="sphx-glr-download-link-note")
        and not a["href"].startswith("#")
    ]
    assert others, f"{relative}: its text links no other page"
