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
    return BeautifulSoup((site.html / page_of(example)).read_text(encoding="utf-8"), "html.parser")


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
    """The text of each element `selector` finds in the Run panel's results, in order."""
    return page.evaluate(
        """(selector) => [...document.querySelectorAll('.run-here-results ' + selector)]
        .map(node => node.textContent.trimEnd())""",
        selector,
    )


RUN_SQL = """() => [...document.querySelectorAll('.run-here-results .sql-box pre')]
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


def test_the_loading_message_says_what_the_first_run_downloads(visit, site):
    run = site.html / "_static" / "run"
    fetched = sum(
        path.stat().st_size
        for folder in ("pyodide", "wheels")
        for path in (run / folder).rglob("*")
        if path.is_file()
    )
    page = visit.open(page_of(EXAMPLE))
    page.get_by_role("button", name="Run in your browser").click()
    status = page.locator(".run-here-status")
    expect(status).to_contain_text(f"(about {round(fetched / 1e6)} MB, once)")
    run_and_wait(page, 1)
    visit.assert_clean()


EDITOR_TEXT = "() => document.querySelector('.run-here').runHere.view.state.doc.toString()"


def test_run_edit_and_fail_in_the_browser(visit, site):
    page = start(visit)
    original = page.evaluate(EDITOR_TEXT)
    assert original == (ROOT / "examples" / EXAMPLE).read_text(), "the editor holds the example"
    root = page.locator(".run-here")
    assert root.get_attribute("data-state") == "done", page.locator(".run-here-status").inner_text()
    # The same statements, labels and parameters as the built page, cell by cell.
    assert page.evaluate(RUN_SQL) == built_sql(site, EXAMPLE)
    cells = page.locator(".run-here-cell")
    code = built_cells(site, EXAMPLE)
    assert cells.count() == len(code)
    assert page.locator(".run-here-cell .orm-state-box").count() > 0
    # SQL notes, verified claims (and changed-value marks, none here) too, from the same code as
    # the page's; the claims were proved by this run, and their caption says so.
    for selector in CELL_EXTRAS:
        assert run_texts(page, selector) == built_texts(site, EXAMPLE, selector), selector
    assert run_texts(page, ".verified-claim"), "the example's hidden asserts proved no claim"
    captions = set(run_texts(page, ".verified-claims-caption"))
    assert captions == {"Verified by this run, in your browser"}, captions

    # The "fetch" strategy made False: its cell sends no SELECT and no RETURNING any more, and
    # the assert that said it did now fails in that cell, with its message.
    source = (ROOT / "examples" / EXAMPLE).read_text()
    fetch = '{"synchronize_session": "fetch"}'
    assert source.count(fetch) == 1
    fetch_cell = next(n for n, text in enumerate(code, 1) if fetch in text)
    set_code(page, source.replace(fetch, '{"synchronize_session": False}'))
    page.get_by_role("button", name="Run", exact=True).click()
    run_and_wait(page, 2)
    assert root.get_attribute("data-state") == "raised"
    failed = cells.last
    assert "'fetch' used UPDATE ... RETURNING" in failed.locator(".run-here-error").inner_text()
    assert "AssertionError" in failed.inner_text()
    sql = "\n".join(failed.locator(".sql-box pre").all_inner_texts())
    assert "UPDATE users SET status=?" in sql and "RETURNING" not in sql
    assert cells.count() == fetch_cell, "the cells after the failing one did not run"

    # A failing assert of our own, in the first cell: shown there, with its message.
    set_code(page, source.replace("import os\n", "import os\nassert 1 == 2, 'my own claim'\n", 1))
    page.get_by_role("button", name="Run", exact=True).click()
    run_and_wait(page, 3)
    assert cells.count() == 1
    assert "AssertionError: my own claim" in cells.first.locator(".run-here-error").inner_text()

    # Reset puts the original code in place of the reader's (not beside it): it runs as the
    # page again.
    page.get_by_role("button", name="Reset").click()
    assert page.evaluate(EDITOR_TEXT) == original, "Reset left other code in the editor"
    page.get_by_role("button", name="Run", exact=True).click()
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
            errors = page.locator(".run-here-error").all_inner_texts()
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
    assert "typed from the keyboard" in page.locator(".run-here-cell").last.inner_text()
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
    arguments = [str(run / "pyodide"), str(run / manifest["site_packages"]), "again.bin"]
    subprocess.run(
        [shutil.which("node") or "node", str(script), *arguments], cwd=tmp_path, check=True
    )
    again = (tmp_path / "again.bin").read_bytes()
    assert len(again) == len(served), "the snapshot's size differs"
    assert again == served, "the snapshot differs from the one made for the site"
