"""Every page a reader can search for is in the search index, with its title and key terms.

The index is build/html/searchindex.js: ``Search.setIndex({...})`` with JSON inside. Its
``docnames`` list the pages, ``titles`` their titles, and ``terms`` / ``titleterms`` map each
(stemmed) word to the pages that hold it in their text / in a title.  The browser's search
stems what the reader types with the same Snowball English stemmer, so a word is findable on a
page when its stem (or, for a word the stemmer would reduce to a stopword, the word itself)
maps to that page.

Expected values come from the sources, not from the index:

* the title: an example's docstring title, a narrative page's ``#`` heading, markup removed;
* key terms: every significant word of the title (searched as a title term), and every name
  the page's prose writes as inline code (``expire_on_commit``, ``Session.refresh()``, ...),
  which is how this site names the SQLAlchemy API it talks about; in an example, also its
  code's SQLAlchemy names that its prose mentions by name.

The browser tests (tests/test_search.py) check the ranking of results; this checks coverage.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import snowballstemmer
from sphinx.search.en import SearchEnglish

from sitebuild import EXAMPLES, NARRATIVE_PAGES, ROOT, example_page

STEMMER = snowballstemmer.stemmer("english")
STOPWORDS = SearchEnglish.stopwords
WORD = re.compile(r"\w+")
# The API names the site is about; each must be indexed on every page whose prose names it.
CORE_API_NAMES = ("synchronize_session", "populate_existing", "expire_on_commit", "with_for_update")

ROLE_TARGET = re.compile(r"(:[\w:-]+:`[^`<]*?)\s*<[^>`]*>`")

SEARCHABLE_NARRATIVE = [page for page in NARRATIVE_PAGES if page.stem != "404"]


# Sphinx writes quotation marks in titles as typographic ones ("smart quotes").
CURLY_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def straight_quotes(text: str) -> str:
    return text.translate(CURLY_QUOTES)


def load_index(html: Path) -> dict:
    text = (html / "searchindex.js").read_text(encoding="utf-8")
    match = re.fullmatch(r"\s*Search\.setIndex\((.*)\)\s*;?\s*", text, re.S)
    assert match, "searchindex.js is Search.setIndex({...})"
    return json.loads(match.group(1))


@pytest.fixture(scope="session")
def index(site) -> dict:
    return load_index(site.html)


# ---------------------------------------------------------------------------
# What the sources say
# ---------------------------------------------------------------------------


def strip_inline_markup(text: str) -> str:
    text = re.sub(r"\{[\w:-]+\}`([^`<]*?)\s*(<[^>]*>)?`", r"\1", text)  # MyST roles
    text = text.replace("``", "").replace("`", "")
    text = re.sub(r"\*\*(.+?)\*\*|\*(.+?)\*", lambda m: m.group(1) or m.group(2), text)
    return text.replace("\\", "").strip()


def example_title(example: Path) -> str:
    docstring = ast.get_docstring(ast.parse(example.read_text(encoding="utf-8")))
    return strip_inline_markup(next(line for line in docstring.splitlines() if line.strip()))


def narrative_title(page: Path) -> str:
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith(("```", ":::")):
            in_fence = not in_fence
        elif not in_fence and line.startswith("# "):
            return strip_inline_markup(line[2:])
    raise AssertionError(f"{page.name} has no # title")


def example_prose(example: Path) -> str:
    """The docstring and the comment lines of an example (Sphinx-Gallery's text blocks)."""
    source = example.read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(source)) or ""
    comments = [line.lstrip("#") for line in source.splitlines() if line.startswith("#")]
    # A link's target is no word of the page: :doc:`expired <../session_lifecycle/expire...>`.
    return ROLE_TARGET.sub(r"\1`", docstring + "\n" + "\n".join(comments))


def example_code_names(example: Path) -> set[str]:
    """Names the example's code uses: attributes, keyword arguments, string option keys."""
    tree = ast.parse(example.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.update(re.findall(r"^[a-z_]+$", node.value))
    return names


def narrative_prose(page: Path) -> str:
    """A MyST page without its fenced blocks' code and without substitutions."""
    lines, in_code = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            lines.append(line)
    return re.sub(r"\{\{.*?\}\}", "", "\n".join(lines))


def inline_code(prose: str) -> list[str]:
    """What prose writes as inline code (``x`` in reST, `x` in MyST), roles left out."""
    prose = re.sub(r"\{[\w:-]+\}`[^`]*`", "", prose)  # MyST roles
    prose = re.sub(r":[\w:-]+:`[^`]*`", "", prose)  # reST roles
    return re.findall(r"``(.+?)``", prose) + re.findall(r"(?<!`)`([^`]+)`(?!`)", prose)


def significant_words(text: str) -> list[str]:
    words = []
    for word in WORD.findall(text):
        lower = word.lower()
        significant = len(lower) >= 3 and lower not in STOPWORDS and not lower.isdigit()
        if significant and lower not in words:
            words.append(lower)
    return words


def pages_for(index: dict, word: str, mapping: str) -> set[int]:
    found: set[int] = set()
    for key in {STEMMER.stemWord(word).lower(), word}:
        value = index[mapping].get(key, [])
        found.update([value] if isinstance(value, int) else value)
    return found


# ---------------------------------------------------------------------------
# The pages
# ---------------------------------------------------------------------------


def page_cases():
    for example in EXAMPLES:
        name = example.relative_to(ROOT / "examples").with_suffix("").as_posix()
        yield pytest.param(
            example_page(example).removesuffix(".html"),
            example_title(example),
            example_prose(example),
            example,
            id=name,
        )
    for page in SEARCHABLE_NARRATIVE:
        yield pytest.param(
            page.stem, narrative_title(page), narrative_prose(page), None, id=page.name
        )


PAGES = list(page_cases())


def test_every_page_is_listed():
    """The cases below cover every example and every narrative page but 404."""
    assert len(PAGES) == len(EXAMPLES) + len(NARRATIVE_PAGES) - 1
    assert len(EXAMPLES) > 20 and len(SEARCHABLE_NARRATIVE) >= 6


@pytest.mark.parametrize(("docname", "title", "prose", "example"), PAGES)
def test_page_is_indexed_with_its_title(index, docname, title, prose, example):
    assert docname in index["docnames"], f"{docname} is in the search index"
    number = index["docnames"].index(docname)
    assert straight_quotes(index["titles"][number]) == title, f"{docname}: its title in the index"
    page_titles = [t for t, where in index["alltitles"].items() if [number, None] in where]
    assert [straight_quotes(t) for t in page_titles] == [title], (
        f"{docname}: its title is searchable as the page's title"
    )
    missing = [
        w for w in significant_words(title) if number not in pages_for(index, w, "titleterms")
    ]
    assert not missing, f"{docname}: title words not indexed as its title terms: {missing}"


@pytest.mark.parametrize(("docname", "title", "prose", "example"), PAGES)
def test_page_key_terms_are_indexed(index, docname, title, prose, example):
    number = index["docnames"].index(docname)
    terms = significant_words(" ".join(inline_code(prose)))
    if example is not None:
        code_names = {name.lower() for name in example_code_names(example)}
        terms += [w for w in significant_words(prose) if "_" in w and w in code_names]
    assert terms, f"{docname} names something as inline code"
    missing = [
        word
        for word in dict.fromkeys(terms)
        if number not in pages_for(index, word, "terms") | pages_for(index, word, "titleterms")
    ]
    assert not missing, f"{docname}: key terms not indexed for the page: {missing}"


def test_core_api_names_are_key_terms_where_the_prose_uses_them(index):
    """The site's central API names: each page whose prose names one is found by it."""
    seen = {name: 0 for name in CORE_API_NAMES}
    for docname, _, prose, _ in (case.values for case in PAGES):
        number = index["docnames"].index(docname)
        for name in CORE_API_NAMES:
            if name in prose:
                seen[name] += 1
                found = pages_for(index, name, "terms") | pages_for(index, name, "titleterms")
                assert number in found, f"{docname} is found by searching {name}"
    assert all(seen.values()), f"each core name is used by some page: {seen}"


TOPICS = ROOT / "docs" / "_search" / "topics.toml"


def test_each_topic_is_a_main_index_entry_of_its_page(index):
    """docs/_search/topics.toml: each page exists, and each of its topics is an entry of the
    search index pointing at the page itself (no anchor), so that a search for the name lists
    that page first (the ranking itself: tests/test_search.py, in Chromium)."""
    import tomllib

    topics = tomllib.loads(TOPICS.read_text(encoding="utf-8"))
    assert len(topics) >= 20
    seen: dict[str, str] = {}
    for page, names in topics.items():
        docname = page if "/" not in page else "auto_examples/" + page
        assert docname in index["docnames"], f"topics.toml names no page: {page}"
        number = index["docnames"].index(docname)
        for name in names:
            assert name.lower() not in seen, f"{name} is the topic of {seen[name.lower()]} too"
            seen[name.lower()] = page
            entries = index["indexentries"].get(name.lower(), [])
            assert [number, "", True] in entries, f"{name}: no main entry for {page}: {entries}"
