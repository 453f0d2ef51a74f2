"""'Run in your browser' (sphinxext/browser_run.py, docs/_run/): the examples run in Chromium, in a
Web Worker with Pyodide, from the site's own files only.

Reuses tests/test_browser.py's browser, server and Visit (which refuses and records every
request to another host, every console error and failed request). One test runs every example
in one loaded worker and compares its SQL with the built page's: an example listed in
docs/_run/cannot_run.json must fail there, every other one must send the page's statements.
"""

from __future__ import annotations

import json
import os
import re

import pytest
import test_browser
from bs4 import BeautifulSoup
from playwright.sync_api import expect

from sitebuild import BROWSER_ASSETS, EXAMPLES, ROOT, example_page

# test_browser.py's fixtures: Chromium, the site served on 127.0.0.1, a tab refusing other hosts.
browser = test_browser.browser
base_url = test_browser.base_url
visit = test_browser.visit
axe_source = test_browser.axe_source

EXAMPLE = "synchronize_session/four_strategies.py"
CANNOT_RUN = json.loads((ROOT / "docs" / "_run" / "cannot_run.json").read_text())["examples"]
RUN_TIMEOUT = 120_000  # ms: the first run loads Python (28 MB) on a busy 2-core machine


def page_of(example: str) -> str:
    return example_page(ROOT / "examples" / example)


def built_page(site, example: str) -> BeautifulSoup:
    return site.soup(page_of(example))


def built_texts(site, example: str, selector: str) -> list[str]:
    """The text of each element `selector` finds on the built page, in order."""
    return [node.get_text().rstrip() for node in built_page(site, example).select(selector)]


def built_sql(site, example: str) -> list[str]:
    """The SQL boxes of the built page, in order, as text."""
    return built_texts(site, example, ".sql-box pre")


def built_cells(site, example: str) -> list[str]:
    """The code of each of the built page's code cells, in order."""
    return built_texts(site, example, ".highlight-Python pre")


def run_texts(page, selector: str) -> list[str]:
    """The text of each element `selector` finds in the run's results (under the page's cells),
    in order."""
    return page.evaluate(
        """(selector) => [...document.querySelectorAll('.run-here-cell ' + selector)]
        .map(node => node.textContent.trimEnd())""",
        selector,
    )


RUN_SQL = """() => [...document.querySelectorAll('.run-here-cell .sql-box pre')]
    .map(pre => pre.textContent.trimEnd())"""
# What the capture layer adds under a cell besides its SQL (the same code makes it in the
# browser): the notes in SQL boxes, the claims hidden asserts proved, the values a state table
# marks as changed since the object's previous table.
CHANGED_VALUES = ".orm-state-box td .orm-changed-value"
CELL_EXTRAS = (".sql-note", ".verified-claim", CHANGED_VALUES)


def run_and_wait(page, runs: int) -> None:
    page.wait_for_function(
        f"document.querySelector('.run-here').dataset.runs === '{runs}'", timeout=RUN_TIMEOUT
    )


def start(visit, example: str = EXAMPLE):
    page = visit.open(page_of(example))
    page.get_by_role("button", name="Run in your browser").click()
    run_and_wait(page, 1)
    return page


def set_code(page, source: str) -> None:
    page.evaluate(
        """(source) => { const {view} = document.querySelector('.run-here').runHere;
        view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: source}}); }""",
        source,
    )


# Every text the run's status line showed, in order (watched from before the click).
WATCH_STATUS = """() => { window.statusSeen = [];
  new MutationObserver(() => {
    const status = document.querySelector('.run-here-status');
    const text = status && status.textContent;
    if (text && window.statusSeen.at(-1) !== text) window.statusSeen.push(text);
  }).observe(document.body, {subtree: true, childList: true, characterData: true}); }"""


def test_the_download_size_before_the_click_and_the_progress_where_the_button_was(
    browser, base_url, site
):
    """On a phone (touch, 390 px): the size of the first Run's download beside the button; on
    the click, the progress in the button's place (not below the editor, off screen), and no
    keyboard shortcut named."""
    run = site.html / "_static" / "run"
    fetched = sum(
        path.stat().st_size
        for folder in ("pyodide", "wheels")
        for path in (run / folder).rglob("*")
        if path.is_file()
    )
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    try:
        visit = test_browser.Visit(context, base_url)
        page = visit.open(page_of(EXAMPLE))
        button = page.get_by_role("button", name="Run in your browser")
        size = page.locator(".run-here-size")
        expect(size).to_have_text(f"downloads {round(fetched / 1e6)} MB on the first Run, once")
        assert size.is_visible()
        button.evaluate("(button) => button.scrollIntoView({block: 'center', behavior: 'instant'})")
        place = button.bounding_box()
        page.evaluate(WATCH_STATUS)
        button.tap()
        status = page.locator(".run-here-status")
        expect(status).to_be_visible()
        box = status.bounding_box()
        assert abs(box["y"] - place["y"]) < 100, (box, place)
        assert box["y"] + box["height"] <= 844, "the progress is off screen"
        label = page.locator(".run-here-editor-label").inner_text()
        assert "Enter" not in label, label
        run_and_wait(page, 1)
        seen = page.evaluate("window.statusSeen")
        loading = [text for text in seen if text.endswith("\u2026")]
        assert "Running the example\u2026" in loading, seen
        total = f"of {fetched / 1e6:.1f} MB (once)"
        downloads = [text for text in loading if text.startswith("Downloading")]
        assert all(total in text for text in downloads), (downloads, total)
        assert seen[-1].startswith("Ran 9 cells in your browser"), seen
        assert page.locator(".run-here-progress").is_hidden()
        visit.assert_clean()
    finally:
        context.close()


SECOND_EXAMPLE = "myths/commit_synchronize_session.py"
CACHED = (
    "() => caches.open('session-sync-run').then((c) => c.keys()).then((k) => k.map((r) => r.url))"
)


def cached_when(page, expected: set[str]) -> set[str]:
    """The Cache Storage's keys (under _static/run/) once they are `expected`, or after 30 s:
    the worker stores a file once the whole of it arrived, while Python already runs."""
    keys: set[str] = set()
    for _ in range(60):
        keys = {url.split("/_static/run/", 1)[-1] for url in page.evaluate(CACHED)}
        if keys == expected:
            break
        page.wait_for_timeout(500)
    return keys


def test_a_second_page_takes_the_large_files_from_the_cache_and_another_build_fetches_anew(
    visit, site
):
    """The first Run on a second page fetches none of the large files again (the worker keeps
    them in the Cache Storage under their content hash; the HTTP cache is off, so only that can
    spare them) and runs; a file whose hash changed (another build)
    is fetched anew, and the copy of the old one deleted."""
    assets = json.loads((site.html / "_static" / "run" / "assets.json").read_text())
    large = {name for name in assets["hashes"] if name != "pyodide/pyodide.mjs"}  # import()ed
    # A route turns the browser's HTTP cache off, as a host whose files expire at once would:
    # only the Cache Storage can spare the large files then.
    visit.context.route("**/*", lambda route: route.continue_())
    requested: list[str] = []
    visit.context.on("request", lambda request: requested.append(request.url))

    def fetched() -> set[str]:
        names = {url.split("/_static/run/", 1)[-1].split("?")[0] for url in requested}
        requested.clear()
        return names & large

    start(visit)
    assert fetched() == large, "the first Run did not fetch every large file"
    versioned = {f"{name}?v={assets['hashes'][name]}" for name in large}
    keys = cached_when(visit.page, versioned)
    assert keys == versioned, keys

    page = start(visit, SECOND_EXAMPLE)
    assert fetched() == set(), "the second page fetched large files again"
    assert page.locator(".run-here").get_attribute("data-state") == "done"
    assert page.evaluate(RUN_SQL) == built_sql(site, SECOND_EXAMPLE)

    # Another build: the packed SQLAlchemy has another hash in assets.json.
    changed = "wheels/site-packages.bin.gz"
    new_hash = "0123456789abcdef"

    def another_build(route):
        found = route.fetch().json()
        found["hashes"][changed] = new_hash
        route.fulfill(json=found)

    visit.context.route("**/_static/run/assets.json", another_build)
    page = start(visit)
    assert fetched() == {changed}
    assert page.locator(".run-here").get_attribute("data-state") == "done"
    expected = versioned - {f"{changed}?v={assets['hashes'][changed]}"} | {
        f"{changed}?v={new_hash}"
    }
    keys = cached_when(page, expected)
    assert keys == expected, keys
    visit.assert_clean()


EDITOR_TEXT = "() => document.querySelector('.run-here').runHere.view.state.doc.toString()"
CURSOR_LINE = """() => { const {view} = document.querySelector('.run-here').runHere;
    return view.state.doc.lineAt(view.state.selection.main.head).number; }"""
# For each of the run's results, the page's code cell it sits under (its index, from 0).
UNDER_CELL = """() => { const cells = [...document.querySelectorAll('article .highlight-Python')]
    .filter((cell) => !cell.closest('.run-here'));
  return [...document.querySelectorAll('.run-here-cell')].map((slot) => {
    let node = slot.previousElementSibling;
    while (node && !node.matches('.highlight-Python')) node = node.previousElementSibling;
    return cells.indexOf(node); }); }"""


def run_button(page):
    return page.get_by_role("button", name="Run", exact=True)


def test_run_edit_and_experiment_in_the_browser(visit, site):
    """The results under the page's own cells; a change that breaks a claim of the page says so
    under its cell and the run goes on; an exception stops the run at its line; Reset clears;
    the panel folds."""
    page = start(visit)
    original = page.evaluate(EDITOR_TEXT)
    assert original == (ROOT / "examples" / EXAMPLE).read_text(), "the editor holds the example"
    root = page.locator(".run-here")
    status = page.locator(".run-here-status")
    assert root.get_attribute("data-state") == "done", status.inner_text()
    # The same statements, labels and parameters as the built page, cell by cell, each cell's
    # under the page's own, folded: the same as the page.
    assert page.evaluate(RUN_SQL) == built_sql(site, EXAMPLE)
    cells = page.locator(".run-here-cell")
    code = built_cells(site, EXAMPLE)
    assert cells.count() == len(code)
    assert page.evaluate(UNDER_CELL) == list(range(len(code)))
    outcomes = [cell.get_attribute("data-outcome") for cell in cells.all()]
    assert outcomes == ["same"] * len(code), outcomes
    assert (
        page.evaluate("[...document.querySelectorAll('.run-here-cell')].some(d => d.open)") is False
    )
    assert page.locator(".run-here-cell .orm-state-box").count() > 0
    # SQL notes, verified claims (and changed-value marks, none here) too, from the same code as
    # the page's; the claims were proved by this run, and their caption says so.
    for selector in CELL_EXTRAS:
        assert run_texts(page, selector) == built_texts(site, EXAMPLE, selector), selector
    assert run_texts(page, ".verified-claim"), "the example's hidden asserts proved no claim"
    captions = set(run_texts(page, ".verified-claims-caption"))
    assert captions == {"Verified by this run, in your browser"}, captions
    # The SQL is highlighted as the page's: the same token classes, so the same colours.
    colour = "(selector) => getComputedStyle(document.querySelector(selector)).color"
    page_keyword = page.evaluate(colour, "article .sql-box:not(.run-here-cell .sql-box) pre .k")
    assert page.evaluate(colour, ".run-here-cell .sql-box pre .k") == page_keyword
    # The "fetch" strategy made False: its cell sends no RETURNING any more; the claims that said
    # it did no longer hold, which its result says, under the page's "fetch" cell, and the run
    # goes on: that cell's SQL and state table show, and the cells after it run.
    source = (ROOT / "examples" / EXAMPLE).read_text()
    fetch = '{"synchronize_session": "fetch"}'
    assert source.count(fetch) == 1
    fetch_cell = next(n for n, text in enumerate(code) if fetch in text)
    set_code(page, source.replace(fetch, '{"synchronize_session": False}'))
    run_button(page).click()
    run_and_wait(page, 2)
    assert root.get_attribute("data-state") == "claims-broken", status.inner_text()
    assert "2 of the page's claims no longer hold" in status.inner_text()
    assert cells.count() == len(code), "the cells after the broken claim ran"
    assert page.evaluate(UNDER_CELL) == list(range(len(code)))
    changed = cells.nth(fetch_cell)
    assert changed.get_attribute("data-outcome") == "broken"
    assert changed.evaluate("(details) => details.open")
    broken = changed.locator(".run-here-broken").inner_text()
    assert "With your change, the page's claim no longer holds" in broken
    assert "'fetch' used UPDATE ... RETURNING" in broken
    assert "AssertionError" not in changed.inner_text()
    sql = "\n".join(changed.locator(".sql-box pre").all_inner_texts())
    assert "UPDATE users SET status=?" in sql and "RETURNING" not in sql
    assert changed.locator(".orm-state-box").count() == 1
    assert [c.get_attribute("data-outcome") for c in cells.all()][fetch_cell + 1 :] == ["same"] * (
        len(code) - fetch_cell - 1
    )
    # The status links to that result, and the result to its lines in the editor.
    jump = status.get_by_role("link")
    assert jump.get_attribute("href") == "#" + changed.get_attribute("id")
    changed.get_by_role("button", name="line 163").click()
    assert page.evaluate(CURSOR_LINE) == 163
    # Lines the page hides are dimmed in the editor: one grey, keywords included.
    dimmed = page.evaluate(
        """() => { const line = [...document.querySelectorAll('.cm-run-hidden-on-page')]
          .find((l) => l.textContent.trim().startsWith('assert'));
          const keyword = line.querySelector('.tok-keyword');
          const visible = [...document.querySelectorAll('.cm-line:not(.cm-run-hidden-on-page)')]
            .map((l) => l.querySelector('.tok-keyword')).find(Boolean);
          return [getComputedStyle(line).color, getComputedStyle(keyword).color,
                  getComputedStyle(visible).color, getComputedStyle(line).fontStyle]; }"""
    )
    assert dimmed[0] == dimmed[1] != dimmed[2] and dimmed[3] == "italic", dimmed

    # A failing assert of our own, in the first cell: the run stops there, the line is marked
    # in the editor, and a button puts the cursor on it.
    set_code(page, source.replace("import os\n", "import os\nassert 1 == 2, 'my own claim'\n", 1))
    run_button(page).click()
    run_and_wait(page, 3)
    assert root.get_attribute("data-state") == "raised"
    assert cells.count() == 1
    assert "AssertionError: my own claim" in cells.first.locator(".run-here-error").inner_text()
    assert "raised AssertionError: my own claim at line 26" in status.inner_text()
    marked = page.locator(".cm-run-error-line")
    assert marked.count() == 1 and marked.inner_text() == "assert 1 == 2, 'my own claim'"
    status.get_by_role("button", name="line 26").click()
    assert page.evaluate(CURSOR_LINE) == 26

    # Fold the panel and open it again.
    fold = page.get_by_role("button", name="Hide the editor and results")
    fold.click()
    assert page.locator(".run-here-editor").is_hidden() and cells.first.is_hidden()
    page.get_by_role("button", name="Show the editor and results").click()
    assert page.locator(".run-here-editor").is_visible() and cells.first.is_visible()

    # Reset puts the original code in place of the reader's (not beside it) and clears the
    # results and the mark: it runs as the page again.
    page.get_by_role("button", name="Reset").click()
    assert page.evaluate(EDITOR_TEXT) == original, "Reset left other code in the editor"
    assert cells.count() == 0 and marked.count() == 0
    assert page.locator(".run-here-results").inner_text() == ""
    assert "the results are cleared" in status.inner_text()
    run_button(page).click()
    run_and_wait(page, 4)
    assert page.evaluate(RUN_SQL) == built_sql(site, EXAMPLE)
    visit.assert_clean()


def test_every_example_runs_in_the_browser_as_built(visit, site):
    """Each example's full source in one worker: the page's SQL (and SQL notes, verified claims,
    changed-value marks), or listed as unable to run."""
    page = start(visit)
    runs, mismatched, stale = 1, [], []
    for path in EXAMPLES:
        example = path.relative_to(ROOT / "examples").as_posix()
        set_code(page, path.read_text())
        page.evaluate("document.querySelector('.run-here').runHere.execute()")
        runs += 1
        run_and_wait(page, runs)
        state = page.locator(".run-here").get_attribute("data-state")
        if example in CANNOT_RUN:
            if state == "done":
                stale.append(f"{example} runs in the browser now: drop it from cannot_run.json")
            continue
        if state != "done":
            errors = page.locator(".run-here-error, .run-here-broken").all_inner_texts()
            mismatched.append(f"{example}: {state}: {errors}")
        elif page.evaluate(RUN_SQL) != built_sql(site, example):
            mismatched.append(f"{example}: its SQL differs from the built page's")
        else:
            for selector in CELL_EXTRAS:
                if run_texts(page, selector) != built_texts(site, example, selector):
                    mismatched.append(f"{example}: its {selector} differ from the built page's")
    assert not stale, stale
    assert not mismatched, mismatched
    visit.assert_clean()


@pytest.mark.parametrize("example", sorted(CANNOT_RUN))
def test_an_example_that_cannot_run_says_why(visit, example):
    page = visit.open(page_of(example))
    reason = page.locator(".run-here-unavailable")
    assert CANNOT_RUN[example] in reason.inner_text()
    assert page.get_by_role("button", name="Run in your browser").count() == 0
    assert page.locator("script[src*='run/control.js']").count() == 0
    visit.assert_clean()


def test_a_page_where_nobody_clicks_loads_only_the_control(visit):
    requested = []
    visit.page.on("request", lambda request: requested.append(request.url))
    page = visit.open(page_of(EXAMPLE))
    page.wait_for_load_state("networkidle")
    run_files = [url for url in requested if "/_static/run/" in url]
    assert len(run_files) == 1 and "/_static/run/control.js" in run_files[0], run_files
    versions = page.locator(".run-here-versions").inner_text()
    assert re.search(
        r"^Python 3\.\d+\.\d+ / SQLite 3\.\d+\.\d+ / SQLAlchemy \d\S+ in your browser; this page "
        r"was built with Python 3\.\d+\.\d+ / SQLite 3\.\d+\.\d+ / SQLAlchemy \d\S+\.$",
        versions,
    ), versions
    visit.assert_clean()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_editor_passes_axe_and_works_from_the_keyboard(visit, axe_source, scheme):
    page = visit.open(page_of(EXAMPLE))
    test_browser.set_theme(page, scheme)
    button = page.get_by_role("button", name="Run in your browser")
    button.focus()
    page.keyboard.press("Enter")
    run_and_wait(page, 1)
    editor = page.get_by_role("textbox", name=re.compile("The example's code"))
    editor.focus()
    page.keyboard.press("Control+End")
    page.keyboard.type("\nprint('typed from the keyboard')")
    page.keyboard.press("Control+Enter")
    run_and_wait(page, 2)
    assert "typed from the keyboard" in page.locator(".run-here-cell").last.text_content()
    # Out of the editor (its blinking cursor is an animation that never settles), then axe.
    page.get_by_role("button", name="Run", exact=True).focus()
    violations = test_browser.axe_violations(page, axe_source)
    assert not violations, violations
    visit.assert_clean()


FOREIGN_URL = re.compile(
    rb"https?://(?!127\.0\.0\.1|localhost)[A-Za-z0-9.-]+\.[a-z]{2,}[^\s\"'`)]*"
)
# Names, not addresses: XML namespaces, which no browser fetches.
NOT_FETCHED = (b"http://www.w3.org/",)


def test_the_served_run_assets_name_no_other_host(site):
    run = site.html / "_static" / "run"
    found = []
    for path in sorted(run.rglob("*")):
        if path.suffix not in (".js", ".mjs", ".json", ".css", ".html") or not path.is_file():
            continue
        for match in FOREIGN_URL.finditer(path.read_bytes()):
            if not match.group().startswith(NOT_FETCHED):
                found.append(f"{path.relative_to(site.html)}: {match.group().decode()}")
    assert not found, found


def test_the_browser_runs_the_sqlalchemy_the_site_is_built_with():
    """requirements/browser.txt pins the wheels at requirements/constraints.txt's versions."""
    pins = {
        line.split("==")[0].lower().replace("_", "-"): line.split("==")[1].strip()
        for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    browser_txt = (ROOT / "requirements" / "browser.txt").read_text()
    wheels = re.findall(r"^([\w-]+)==(\S+) \\", browser_txt, re.M)
    assert {name for name, _ in wheels} == {"sqlalchemy", "typing-extensions"}
    for name, version in wheels:
        assert pins[name] == version, f"{name}: browser.txt has {version}, constraints {pins[name]}"


def test_a_build_without_the_assets_fails_and_names_the_command(tmp_path):
    """Checked when the configuration is read: nothing has run yet."""
    import subprocess
    import sys

    env = {**os.environ, "SESSION_SYNC_BROWSER_ASSETS": str(tmp_path / "missing")}
    env.pop("SESSION_SYNC_BROWSER_RUN", None)
    command = [sys.executable, "-m", "sphinx", "-c", ".", "-q", "docs", str(tmp_path / "html")]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "nox -s browser_assets" in result.stderr, result.stderr
    assert "SESSION_SYNC_BROWSER_RUN=off" in result.stderr, result.stderr


def test_the_python_snapshot_is_made_again_byte_for_byte(tmp_path):
    """tools/make_snapshot.mjs pins every source of randomness and time Pyodide reads: made again
    from the same Pyodide and zip, in another directory, it is the heap the site serves."""
    import gzip
    import shutil
    import subprocess

    manifest = json.loads((BROWSER_ASSETS / "manifest.json").read_text())
    run = BROWSER_ASSETS / "run"
    served = gzip.decompress((run / manifest["snapshot"]).read_bytes())
    script = ROOT / "tools" / "make_snapshot.mjs"
    arguments = [
        str(run / "pyodide"),
        str(BROWSER_ASSETS / manifest["site_packages_zip"]),
        "again.bin",
        str(ROOT / "sphinxext" / "session_sync"),
        str(ROOT / "docs" / "_run" / "runner.py"),
    ]
    subprocess.run(
        [shutil.which("node") or "node", str(script), *arguments], cwd=tmp_path, check=True
    )
    again = (tmp_path / "again.bin").read_bytes()
    assert len(again) == len(served), "the snapshot's size differs"
    assert again == served, "the snapshot differs from the one made for the site"
