"""The built site in a real browser: headless Chromium, the site served on this machine.

Runs Debian's Chromium (/usr/bin/chromium; .ci/run installs it) through Playwright; Playwright
downloads no browser of its own. Without Chromium these tests skip on a developer's machine, but
fail on CI (CI is set), where a skipped browser test would hide a missing install step.

Screenshots of the landing page and of an example page, light and dark, are written to
build/screenshots/ for a person to look at.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import html.parser
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sitebuild import EXAMPLE_PAGES, EXAMPLES, NARRATIVE_HTML, ROOT, example_page

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails on CI) and says why
    expect = None

CHROMIUM = (
    os.environ.get("SESSION_SYNC_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # No name but the site's resolves: a request to another host fails in the browser itself
    # (Visit still records it). Refusing it by Playwright's routing instead sent every request
    # of every page through the driver and turned the browser's cache off.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
SCREENSHOTS = ROOT / "build" / "screenshots"
EXAMPLE_PAGE = "auto_examples/synchronize_session/four_strategies.html"
MYTH_PAGE = "auto_examples/myths/commit_synchronize_session.html"
SECTIONS = {
    "gallery-myths": "auto_examples/myths/index.html",
    "gallery-session-lifecycle": "auto_examples/session_lifecycle/index.html",
    "gallery-synchronize-session": "auto_examples/synchronize_session/index.html",
    "gallery-relationships": "auto_examples/relationships/index.html",
    "gallery-asyncio": "auto_examples/asyncio/index.html",
    "gallery-untracked-changes": "auto_examples/untracked_changes/index.html",
    "gallery-concurrency-and-scope": "auto_examples/concurrency_and_scope/index.html",
    "gallery-testing-and-concurrency": "auto_examples/testing_and_concurrency/index.html",
    "gallery-transactions-and-pool": "auto_examples/transactions_and_pool/index.html",
    "gallery-events-and-unit-of-work": "auto_examples/events_and_unit_of_work/index.html",
    "gallery-recipes": "auto_examples/recipes/index.html",
    "gallery-performance": "auto_examples/performance/index.html",
}


def _missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (requirements/tests.in)"
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


_launched: dict = {}


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole run: another test module that reuses this fixture gets its
    own copy of it from pytest, and Playwright's sync API cannot start twice in a process."""
    missing = _missing_browser()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run on CI: {missing}")
        pytest.skip(f"browser tests need a browser: {missing}")
    if "chromium" in _launched:
        yield _launched["chromium"]
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        _launched["chromium"] = chromium
        yield chromium
        del _launched["chromium"]
        chromium.close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature http.server calls
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a page left before its last asset arrived: the browser hung up, nothing failed


@contextlib.contextmanager
def serving(handler):
    """An HTTP server on a free port of 127.0.0.1, in a thread, while the block runs: its port."""
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def base_url(site):
    """The built site, served over HTTP on a free port of 127.0.0.1 while the tests run."""
    with serving(functools.partial(QuietHandler, directory=str(site.html))) as port:
        yield f"http://127.0.0.1:{port}/"


class Visit:
    """A browser tab that records every request to another host (Chromium refuses them:
    CHROMIUM_ARGS), and every error.

    An error is a console error, an uncaught exception, a response of 400 or more from the
    site, or a request to the site that failed. A request the browser itself cancelled
    (net::ERR_ABORTED: the page navigated on, or no longer needed it) is not a failure of the
    site: it is asked again, outside the page, and counts only if the site then fails it.
    """

    def __init__(self, context, base_url: str):
        self.base_url = base_url
        self.origin = urlsplit(base_url).netloc
        self.foreign_requests: list[str] = []
        self.errors: list[str] = []
        self.cancelled: list[str] = []
        self.context = context
        context.on("request", self._request)  # the page's and its workers'
        self.page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)

    def _request(self, request):
        if urlsplit(request.url).netloc not in (self.origin, ""):  # "": data: and blob:
            self.foreign_requests.append(request.url)

    def _console(self, message):
        if message.type == "error":
            self.errors.append(f"console error: {message.text}")

    def _failed(self, request):
        if urlsplit(request.url).netloc != self.origin:
            return  # refused by Chromium: recorded in foreign_requests
        if request.failure == "net::ERR_ABORTED":
            self.cancelled.append(request.url)
        else:
            self.errors.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response):
        if urlsplit(response.url).netloc == self.origin and response.status >= 400:
            self.errors.append(f"HTTP {response.status}: {response.url}")

    def open(self, relative: str):
        self.page.goto(self.base_url + relative, wait_until="load")
        return self.page

    def problems(self) -> list[str]:
        """What went wrong since the last call: requests to other hosts and errors."""
        for url in self.cancelled:
            again = self.context.request.get(url)
            if not again.ok:
                self.errors.append(f"request failed: {url} (cancelled, then HTTP {again.status})")
        found = [f"request to another host: {url}" for url in self.foreign_requests]
        found += self.errors
        self.foreign_requests, self.errors, self.cancelled = [], [], []
        return found

    def assert_clean(self):
        foreign = list(self.foreign_requests)
        assert not foreign, f"requests to other hosts: {foreign}"
        problems = self.problems()
        assert not problems, problems


@pytest.fixture
def visit(browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url.rstrip("/"))
    yield Visit(context, base_url)
    context.close()


def settled(page) -> None:
    """Wait until no CSS transition or animation runs (furo fades colours on a theme change)."""
    page.wait_for_function(
        "document.getAnimations().every(a => a.playState !== 'running')", timeout=10_000
    )


def screenshot(page, name: str, **options) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), **options)


def top(locator) -> float:
    """Where an element starts, in page coordinates (a bounding box moves as the page scrolls)."""
    return locator.evaluate("element => element.getBoundingClientRect().top + window.scrollY")


def set_theme(page, theme: str) -> None:
    """Click furo's theme toggle, as a reader does, until the page is in the wanted theme."""
    toggle = page.locator("button.theme-toggle:visible").first
    for _ in range(3):
        if page.evaluate("document.body.dataset.theme") == theme:
            break
        before = page.evaluate("document.body.dataset.theme")
        toggle.click()
        page.wait_for_function(f"document.body.dataset.theme !== {before!r}", timeout=5_000)
    assert page.evaluate("document.body.dataset.theme") == theme
    settled(page)


EMITTING_CELL = """(box) => {
    // The code cell a box belongs to: the nearest code block before it, with only other
    // boxes of the same cell (printed output, SQL, state) in between.
    const boxes = ["sql-box", "sql-folded", "sphx-glr-script-out", "orm-state-box",
                   "sql-dialects", "sql-dialects-note"];
    for (let node = box.previousElementSibling; node; node = node.previousElementSibling) {
        if (node.classList.contains("highlight-Python")) {
            const rect = node.getBoundingClientRect();
            return {text: node.innerText, bottom: rect.bottom + window.scrollY};
        }
        if (![...node.classList].some(name => boxes.includes(name))) return null;
    }
    return null;
}"""


def assert_under_its_cell(locator, what: str) -> str:
    """The box starts below the code cell that emitted it; returns that cell's code."""
    cell = locator.evaluate(EMITTING_CELL)
    assert cell is not None, f"{what} follows no code cell of its own"
    assert top(locator) >= cell["bottom"] - 1, f"{what} is not under the code that sent it"
    return cell["text"]


# ---------------------------------------------------------------------------------------------
# Colour contrast (WCAG 2.x), computed from the colours the browser actually painted.
# ---------------------------------------------------------------------------------------------

# JavaScript: parse(a CSS colour) and background(element), the colour an element's text is
# painted on (the first ancestor's background that is not transparent).
PAINTED_ON = """
    const parse = (text) => text.match(/[\\d.]+/g).map(Number);
    const background = (element) => {
        for (let node = element; node; node = node.parentElement) {
            const colour = parse(getComputedStyle(node).backgroundColor);
            if (colour.length < 4 || colour[3] > 0) return colour.slice(0, 3);
        }
        return [255, 255, 255];
    };
"""


def painted_on(function: str) -> str:
    """A JavaScript function (its first line ends with ``{``) with PAINTED_ON's two helpers."""
    head, body = function.split("\n", 1)
    return head + PAINTED_ON + body


SQL_BOX_COLOURS = painted_on("""(box) => {
    const pairs = [];
    const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
        if (!text.textContent.trim()) continue;
        const element = text.parentElement;
        const style = getComputedStyle(element);
        if (style.visibility === "hidden" || style.display === "none") continue;
        pairs.push({text: text.textContent.trim().slice(0, 30),
                    colour: parse(style.color).slice(0, 3), background: background(element)});
    }
    const label = getComputedStyle(box, "::before");
    if (label.content && label.content !== "none") {
        pairs.push({text: label.content, colour: parse(label.color).slice(0, 3),
                    background: background(box.querySelector("pre") || box)});
    }
    return pairs;
}""")


def luminance(rgb) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground, background) -> float:
    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def worst_sql_box_contrast(page) -> tuple[float, dict]:
    box = page.locator(".sql-box:visible").first
    box.scroll_into_view_if_needed()
    pairs = box.evaluate(SQL_BOX_COLOURS)
    assert pairs, "the SQL box shows no text"
    return min(((contrast(p["colour"], p["background"]), p) for p in pairs), key=lambda x: x[0])


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------


def test_landing_page_loads_with_no_error_and_nothing_from_another_host(visit):
    page = visit.open("index.html")
    expect(page).to_have_title(re.compile(r"^Session Sync, Verified"))
    cards = page.locator(".landing-card")
    expect(cards).to_have_count(len(SECTIONS))
    for index in range(len(SECTIONS)):
        expect(cards.nth(index)).to_be_visible()
    screenshot(page, "landing-light", full_page=True)
    set_theme(page, "dark")
    screenshot(page, "landing-dark", full_page=True)
    visit.assert_clean()


def test_landing_page_asks_for_no_asset_of_another_host_in_its_html(site):
    html = site.page("index.html") + site.page(EXAMPLE_PAGE)
    assets = re.findall(r"<(?:script|img|iframe|source)\b[^>]*\bsrc=\"(https?:[^\"]+)\"", html)
    assets += [
        href
        for tag in re.findall(r"<link\b[^>]*>", html)
        if 'rel="canonical"' not in tag
        for href in re.findall(r"\bhref=\"(https?:[^\"]+)\"", tag)
    ]
    assert not assets, assets


@pytest.mark.parametrize("label", list(SECTIONS))
def test_navigation_reaches_each_section_and_an_example(visit, label):
    page = visit.open("index.html")
    # A reader clicks anywhere on the card: the whole card is the link.
    page.locator(".landing-card").filter(has=page.locator(f"a[href*='#{label}']")).click()
    expect(page).to_have_url(re.compile(re.escape(SECTIONS[label]) + "(#.*)?$"))
    page.wait_for_load_state("load")
    expect(page.locator("h1").first).to_be_visible()
    example_links = page.locator(".sphx-glr-thumbcontainer a.reference.internal")
    expect(example_links.first).to_be_visible()
    target = example_links.first.get_attribute("href")
    example_links.first.click()
    expect(page).to_have_url(re.compile(re.escape(target.split("#")[0].lstrip("./")) + "$"))
    page.wait_for_load_state("load")
    assert "/auto_examples/" in page.url and not page.url.endswith("index.html"), page.url
    sql = page.locator(".sql-box:visible").first
    sql.scroll_into_view_if_needed()
    expect(sql).to_be_visible()
    assert_under_its_cell(sql, "the first SQL box")
    visit.assert_clean()


def test_an_example_page_shows_each_sql_box_and_state_table_under_its_cell(visit):
    page = visit.open(EXAMPLE_PAGE)
    boxes = page.locator(".sql-box:visible, .orm-state-box:visible")
    expect(boxes.first).to_be_visible()
    count = boxes.count()
    assert count >= 6, f"the page shows SQL and state: {count} boxes"
    for index in range(count):
        box = boxes.nth(index)
        box.scroll_into_view_if_needed()
        expect(box).to_be_visible()
        assert_under_its_cell(box, f"box {index}")
    # The "fetch" cell's own boxes: its UPDATE ... RETURNING and its state table.
    fetch_sql = page.locator(".sql-box:visible").filter(has_text="RETURNING").first
    assert '"fetch"' in assert_under_its_cell(fetch_sql, "the RETURNING box")
    visit.assert_clean()


# The search (what readers type, and the page each should list first): tests/test_search.py.


COPY_LISTENER = """() => {
    window.__copied = [];
    document.addEventListener('copy', () => {
        const active = document.activeElement;
        const text = active && 'value' in active && active.value
            ? active.value.substring(active.selectionStart, active.selectionEnd)
            : String(document.getSelection());
        window.__copied.push(text);
    }, true);
}"""


def test_copy_buttons_copy_only_python(visit):
    page = visit.open(EXAMPLE_PAGE)
    for selector in (".sql-box", ".sphx-glr-script-out", ".orm-state-box"):
        assert page.locator(f"{selector} button.copybtn").count() == 0, selector
    cell = page.locator("div.highlight-Python").filter(has_text='"fetch"').first
    page.evaluate(COPY_LISTENER)
    cell.scroll_into_view_if_needed()
    cell.hover()
    button = cell.locator("button.copybtn")
    assert button.count() == 1, "each code cell has its copy button"
    button.click()
    page.wait_for_function("window.__copied.length > 0", timeout=5_000)
    copied = page.evaluate("window.__copied[0]")
    code = cell.locator("pre").inner_text()
    assert copied.strip() == code.strip()
    assert "synchronize_session" in copied
    assert not re.search(r"^\s*(SELECT|UPDATE|BEGIN|COMMIT)\b", copied, re.M), copied
    clipboard = page.evaluate(
        "navigator.clipboard.readText().then(text => ({text}), error => ({error: String(error)}))"
    )
    assert "error" not in clipboard, f"the clipboard could not be read: {clipboard['error']}"
    assert clipboard["text"].strip() == code.strip()
    visit.assert_clean()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_sql_box_text_is_readable(visit, theme):
    page = visit.open(EXAMPLE_PAGE)
    set_theme(page, theme)
    ratio, worst = worst_sql_box_contrast(page)
    assert ratio >= 4.5, f"{theme}: contrast {ratio:.2f} for {worst}"
    box = page.locator(".sql-box:visible").first
    box.scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, -200)")
    screenshot(page, f"example-{theme}")
    visit.assert_clean()


def background_luminance(page) -> float:
    colour = page.evaluate("getComputedStyle(document.body).backgroundColor")
    return luminance([int(v) for v in re.findall(r"\d+", colour)[:3]])


def test_dark_mode_toggle_changes_the_page(visit):
    page = visit.open(EXAMPLE_PAGE)
    set_theme(page, "light")
    light = background_luminance(page)
    set_theme(page, "dark")
    assert background_luminance(page) < 0.1 < light, "dark background, light before"
    ratio, worst = worst_sql_box_contrast(page)
    assert ratio >= 4.5, f"dark: contrast {ratio:.2f} for {worst}"
    visit.assert_clean()


@pytest.mark.parametrize("system", ["dark", "light"])
def test_the_automatic_theme_follows_the_system(browser, base_url, system):
    """A first visit (no theme chosen): furo's "auto" theme, as dark or light as the system."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=system)
    try:
        visit = Visit(context, base_url)
        page = visit.open(EXAMPLE_PAGE)
        assert page.evaluate("document.body.dataset.theme") == "auto"
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (
            system == "dark"
        )
        settled(page)
        if system == "dark":
            assert background_luminance(page) < 0.1, "a dark system gets a dark page"
        else:
            assert background_luminance(page) > 0.5, "a light system gets a light page"
        ratio, worst = worst_sql_box_contrast(page)
        assert ratio >= 4.5, f"auto ({system}): contrast {ratio:.2f} for {worst}"
        screenshot(page, f"example-auto-{system}")
        visit.assert_clean()
    finally:
        context.close()


@pytest.fixture
def narrow(browser, base_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="light")
    yield Visit(context, base_url)
    context.close()


PHONE_PAGES = ["index.html", *EXAMPLE_PAGES]
PAGE_WIDTHS = """() => ({scroll: document.documentElement.scrollWidth,
                        client: document.documentElement.clientWidth})"""


# Where a line may end inside code in a heading (sphinxext/responsive_tables.py): at a space,
# after one of these characters, or before an "=".
HEADING_BREAK_AFTER = ".(,[/_"
# Each character of the code in the page's headings, with the top of its line box: a line
# ends inside it where the next character's top is lower.
LINE_BREAKS_IN_HEADING_CODE = """() => {
  const breaks = [];
  for (const code of document.querySelectorAll("article h1 code, article h2 code")) {
    const chars = [];
    const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
    for (let node; (node = walker.nextNode()); ) {
      for (let i = 0; i < node.length; i++) {
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rect = range.getClientRects()[0];
        chars.push([node.data[i], rect ? rect.top : null]);
      }
    }
    // A space at the end of a line has no box of its own: it stays in the text around.
    const text = chars.map(([char]) => char).join("");
    let lineTop = null;
    for (let i = 0; i < chars.length; i++) {
      const top = chars[i][1];
      if (top === null) continue;
      if (lineTop !== null && top > lineTop + 2) breaks.push([text.slice(0, i), text.slice(i)]);
      lineTop = top;
    }
  }
  return breaks;
}"""


def titles_quoting_code() -> list[str]:
    """The example pages whose title quotes code: their h1 holds a long name or call."""
    pages = []
    for example in EXAMPLES:
        title = ast.get_docstring(ast.parse(example.read_text(encoding="utf-8"))).splitlines()[0]
        if "``" in title:
            pages.append(example_page(example))
    return pages


def cancel_request(page, relative: str) -> None:
    """Start a fetch, hold it until the browser sent it, then cancel it: net::ERR_ABORTED.

    The fetch asks for ``relative`` with a query of its own, so that no request the page makes
    by itself (the browser asks for the favicon when it likes) meets the held route: such a
    request, held too, or routed while the route was being added, made this test flaky.
    """
    asked = f"{relative}?cancelled-by-test"
    held = []

    def ours(url: str) -> bool:
        return url.endswith("/" + asked)

    page.route(ours, lambda route: held.append(route))  # never answered: stays open
    with page.expect_request(lambda request: ours(request.url)):
        page.evaluate(
            "url => { window.cancel = new AbortController();"
            " fetch(url, {signal: window.cancel.signal}).catch(() => null); }",
            asked,
        )
    with page.expect_event("requestfailed", lambda request: ours(request.url)):
        page.evaluate("window.cancel.abort()")
    page.unroute(ours)
    assert len(held) == 1, "the request reached the route, once"


def test_only_real_failures_count_as_errors(visit):
    """A request the page cancels is no error; a missing file is, cancelled or not."""
    page = visit.open("index.html")
    cancel_request(page, "_static/favicon.svg")
    assert visit.cancelled, "the browser reported the cancelled request"
    visit.assert_clean()
    cancel_request(page, "_static/no-such-file.svg")
    cancelled_then_missing = r"no-such-file.svg\?cancelled-by-test \(cancelled, then HTTP 404"
    with pytest.raises(AssertionError, match=cancelled_then_missing):
        visit.assert_clean()
    visit.errors.clear()
    visit.cancelled.clear()
    with page.expect_response("**/other-missing-file.svg"):
        page.evaluate("fetch('_static/other-missing-file.svg').catch(() => null)")
    with pytest.raises(AssertionError, match="HTTP 404: .*other-missing-file.svg"):
        visit.assert_clean()
    visit.errors.clear()


SUMMARY_PAGES = ["cheat-sheet.html", "decision-guide.html", "version-differences.html"]


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("relative", SUMMARY_PAGES)
def test_summary_tables_fit_the_column_with_every_column_shown(browser, base_url, relative, width):
    """No table scrolls sideways; on a phone each row is a card, each cell under its column's
    name (the header row itself is not shown there)."""
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme="light")
    visit = Visit(context, base_url)
    try:
        page = visit.open(relative)
        tables = page.locator("article table.fits-phone")
        expect(tables.first).to_be_visible()
        for index in range(tables.count()):
            table = tables.nth(index)
            fit = table.evaluate(
                "t => ({table: t.scrollWidth, column: t.closest('article').clientWidth,"
                " columns: [...t.querySelectorAll('thead th')].filter(th =>"
                " th.textContent.trim()).length})"
            )
            assert fit["table"] <= fit["column"], (relative, index, fit)
            first_row = table.locator("tbody tr").first
            labels = first_row.locator(".cell-label")
            assert labels.count() == fit["columns"], "every cell of a named column carries the name"
            if width < 640:
                expect(labels.first).to_be_visible()
                expect(table.locator("thead")).to_be_hidden()
                cells = first_row.locator("td")
                assert cells.nth(0).bounding_box()["y"] < cells.nth(1).bounding_box()["y"], (
                    "a phone stacks the cells of a row"
                )
            else:
                expect(labels.first).to_be_hidden()
                expect(table.locator("thead")).to_be_visible()
        visit.assert_clean()
    finally:
        context.close()


# ---------------------------------------------------------------------------------------------
# Accessibility: axe-core (npm, pinned in package-lock.json, installed by `npm ci`) on every page
# ---------------------------------------------------------------------------------------------

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
GALLERY_INDEXES = sorted(
    {"auto_examples/index.html"}
    | {page.rsplit("/", 1)[0] + "/index.html" for page in EXAMPLE_PAGES}
)
EVERY_PAGE = [*NARRATIVE_HTML, *GALLERY_INDEXES, *EXAMPLE_PAGES, "search.html", "genindex.html"]
# What axe-core calls serious or critical: the violations this site must not have.
BLOCKING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        missing = f"axe-core is not installed at {AXE} (run `npm ci` at the repository root)"
        if os.environ.get("CI"):
            pytest.fail(f"accessibility tests cannot run on CI: {missing}")
        pytest.skip(missing)
    return AXE.read_text(encoding="utf-8")


# The rules whose outcome depends on colours: all that a colour scheme can change, since the
# page's elements, text and attributes are the same in both.
COLOUR_RULES = ("color-contrast", "link-in-text-block")


def start_axe(page, axe_source: str, rules: tuple[str, ...] = (), skip: tuple[str, ...] = ()):
    """Start axe-core on the page as the browser shows it (only `rules`, if given; all but
    `skip`); returns a function that waits for its serious and critical violations (the page
    may not navigate in between)."""
    settled(page)
    page.add_script_tag(content=axe_source)
    page.evaluate(
        """([rules, skip]) => { window.axeViolations = axe.run(document, Object.assign(
            {resultTypes: ['violations']},
            rules.length ? {runOnly: {type: 'rule', values: rules}} : {},
            skip.length ? {rules: Object.fromEntries(skip.map(id => [id, {enabled: false}]))}
                        : {}))
          .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))); }""",
        [list(rules), list(skip)],
    )

    def violations() -> list[str]:
        return [
            f"{v['impact']} {v['id']} ({v['help']}): {v['targets']}"
            for v in page.evaluate("() => window.axeViolations")
            if v["impact"] in BLOCKING_IMPACTS
        ]

    return violations


def axe_violations(page, axe_source: str) -> list[str]:
    """axe-core's serious and critical violations on the page as the browser shows it."""
    return start_axe(page, axe_source)()


@pytest.mark.parametrize("relative", EVERY_PAGE)
def test_no_serious_accessibility_violation(swept, relative):
    """Every rule of axe-core on every page at 1280 px, light, but the colour rules (three
    quarters of its time), which run on the pages that together show every kind of element
    of the site, in light here and in dark mode below: a colour can only differ between two
    elements of the same kind (tag, classes, inline colours, parent) by where they sit, and
    the sample holds every kind where it sits."""
    seen = swept(1280, "light", relative)
    violations = seen["axe"]
    assert not violations, f"{relative}:\n" + "\n".join(violations)
    assert not seen["problems"], seen["problems"]


class ElementKinds(html.parser.HTMLParser):
    """Every kind of element a page draws, as its colours depend on it: its tag, classes and
    inline colours, on its parent's tag and classes (what it is drawn on)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}  # fmt: skip

    def __init__(self):
        super().__init__()
        self.open: list[tuple[str, str]] = [("", "")]
        self.kinds: set[tuple] = set()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        colours = tuple(attributes.get(name) or "" for name in ("style", "fill", "stroke"))
        self.kinds.add((tag, attributes.get("class") or "", colours, self.open[-1]))
        if tag not in self.VOID:
            self.open.append((tag, attributes.get("class") or ""))

    def handle_endtag(self, tag):
        for depth in range(len(self.open) - 1, 0, -1):
            if self.open[depth][0] == tag:
                del self.open[depth:]
                break


def pages_showing_every_kind_of_element(site, pages: list[str]) -> list[str]:
    """A few pages that together show every kind of element (ElementKinds) all `pages` show:
    chosen from the build, so a page that gains a new kind of element joins them."""
    if (site.html, *pages) in _CHOSEN:
        return _CHOSEN[(site.html, *pages)]
    kinds = {}
    for relative in pages:
        parser = ElementKinds()
        parser.feed(site.page(relative))
        kinds[relative] = parser.kinds
    chosen, shown = [], set()
    every_kind = set().union(*kinds.values())
    while shown != every_kind:
        best = max(pages, key=lambda relative: len(kinds[relative] - shown))
        chosen.append(best)
        shown |= kinds[best]
    _CHOSEN[(site.html, *pages)] = chosen
    return chosen


_CHOSEN: dict[tuple, list[str]] = {}


def test_dark_mode_keeps_the_contrast_of_every_kind_of_element(swept, site):
    """In dark mode axe-core's colour rules (the only ones a colour scheme can change: the
    light run above checks every other rule on every page) on the pages that together show
    every kind of element of the site, as each is styled and where it sits (the light run
    checks the colour rules on the same pages)."""
    sample = pages_showing_every_kind_of_element(site, EVERY_PAGE)
    assert "index.html" in sample and any(p in sample for p in EXAMPLE_PAGES), sample
    found = []
    for relative in sample:
        seen = swept(1280, "dark", relative)
        found += [f"{relative}: {v}" for v in seen["contrast"]]
        found += [f"{relative}: {p}" for p in seen["problems"]]
    assert not found, "\n".join(found)


def test_sidebar_captions_are_headings_with_a_level(visit):
    page = visit.open(EXAMPLE_PAGE)
    captions = page.locator("p.caption[role='heading']")
    expect(captions.first).to_be_attached()
    levels = captions.evaluate_all("nodes => nodes.map(n => n.getAttribute('aria-level'))")
    assert levels and all(level == "2" for level in levels), levels
    visit.assert_clean()


def test_a_scrolling_code_block_takes_the_keyboard_focus(visit):
    """A reader without a mouse tabs to a code block wider than the page and scrolls it."""
    page = visit.open(EXAMPLE_PAGE)
    untabbable = page.locator("pre:not([tabindex='0'])")
    assert untabbable.count() == 0, "every <pre> can take the focus"
    page.set_viewport_size({"width": 390, "height": 844})
    scrollable = page.locator("pre").evaluate_all(
        "nodes => nodes.findIndex(n => n.scrollWidth > n.clientWidth + 1)"
    )
    if scrollable < 0:
        pytest.skip("no code block of this page is wider than a phone")
    wide = page.locator("pre").nth(scrollable)
    wide.focus()
    expect(wide).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(wide).not_to_have_js_property("scrollLeft", 0)
    visit.assert_clean()


PRINTED_LABEL = painted_on("""(box) => {
    const label = getComputedStyle(box, "::before");
    return {content: label.content, colour: parse(label.color).slice(0, 3),
            background: background(box.querySelector("pre") || box)};
}""")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_printed_label_is_readable(visit, theme):
    page = visit.open(EXAMPLE_PAGE)
    set_theme(page, theme)
    box = page.locator(".sphx-glr-script-out:visible").first
    label = box.evaluate(PRINTED_LABEL)
    assert label["content"] == '"Printed"', label
    ratio = contrast(label["colour"], label["background"])
    assert ratio >= 4.5, f"{theme}: the PRINTED label has contrast {ratio:.2f}: {label}"
    visit.assert_clean()


PLOT_PAGE = "auto_examples/performance/strategy_cost.html"
PLOT_BACKGROUND = """(image) => {
    // The colour the reader sees around the plot's black labels: the image's own pixels at
    // its edges, over whatever the page paints behind it.
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const points = [[2, 2], [canvas.width - 3, 2], [2, canvas.height - 3],
                    [canvas.width - 3, canvas.height - 3]];
    return {pixels: points.map(([x, y]) => Array.from(context.getImageData(x, y, 1, 1).data)),
            behind: getComputedStyle(image).backgroundColor,
            page: getComputedStyle(document.body).backgroundColor};
}"""


def test_the_performance_plot_is_readable_in_dark_mode(visit):
    page = visit.open(PLOT_PAGE)
    set_theme(page, "dark")
    plot = page.locator("img.sphx-glr-single-img").first
    plot.scroll_into_view_if_needed()
    expect(plot).to_be_visible()
    loaded = "image => image.complete && image.naturalWidth > 0"
    page.wait_for_function(loaded, arg=plot.element_handle())
    seen = plot.evaluate(PLOT_BACKGROUND)
    assert background_luminance(page) < 0.1, "the page is dark"
    for pixel in seen["pixels"]:
        assert pixel[3] == 255, f"the plot is transparent: dark page behind black labels {seen}"
        assert contrast(pixel[:3], (0, 0, 0)) >= 4.5, f"black labels unreadable on {pixel}"
    screenshot(plot, "performance-plot-dark")
    visit.assert_clean()


def test_state_tables_show_python_quotes(visit):
    """name='one' as Python prints it, so a reader can copy it: no curly quotes."""
    page = visit.open("auto_examples/relationships/relationships_in_memory.html")
    table = page.locator("table.orm-state").first
    expect(table).to_be_visible()
    text = table.inner_text()
    assert "name='one'" in text, text
    assert not set("\u2018\u2019\u201c\u201d") & set(text), text
    visit.assert_clean()


# ---------------------------------------------------------------------------------------------
# Related pages, and the 404 page of a site hosted under a sub-path
# ---------------------------------------------------------------------------------------------


def test_an_example_ends_with_related_pages_that_lead_to_them(visit):
    page = visit.open("auto_examples/myths/flush_commits.html")
    section = page.locator("section#related-pages")
    links = section.locator("li a.reference.internal")
    expect(links).to_have_count(3)
    section.scroll_into_view_if_needed()
    expect(section.locator("h2")).to_have_text(re.compile(r"^Related pages"))
    downloads = page.locator(".sphx-glr-footer")
    assert top(section) < top(downloads), "the related pages come before the downloads"
    # The cheat sheet's row: the link lands on the row itself.
    row_link = links.filter(has_text="Cheat sheet")
    expect(row_link).to_have_text("Cheat sheet › session.flush()")
    row_link.click()
    expect(page).to_have_url(re.compile(r"/cheat-sheet\.html#cheat-sheet-flush$"))
    row = page.locator("tr#cheat-sheet-flush")
    expect(row).to_be_in_viewport()
    expect(row).to_contain_text("INSERT")
    page.go_back()
    links.first.click()
    expect(page).to_have_url(re.compile(r"/session_lifecycle/autoflush\.html(#.*)?$"))
    expect(page.locator("h1").first).to_have_text(re.compile(r"^Autoflush"))
    visit.assert_clean()


# Example pages as a reader sees them (issue 11, points 1-3): code that fits, the claims the
# hidden asserts proved, the statement that matters in a SQL box, and changed values in the
# state tables, at 1280 px and on a 390 px phone, light and dark.
# ---------------------------------------------------------------------------------------------

FOUR_STRATEGIES = "auto_examples/synchronize_session/four_strategies.html"
STATE_PAGE = "auto_examples/session_lifecycle/five_states.html"

OVERFLOWING_CODE = """() => [...document.querySelectorAll("div.highlight-Python pre")]
    .filter(pre => pre.scrollWidth > pre.clientWidth)
    .map(pre => pre.innerText.split("\\n").reduce((a, b) => (b.length > a.length ? b : a)))"""


@pytest.mark.parametrize("relative", EXAMPLE_PAGES)
def test_no_line_of_example_code_scrolls_sideways_at_1280_pixels(swept, relative):
    seen = swept(1280, "light", relative)
    assert seen["overflowing_code"] == [], "the longest line of each block that scrolls"
    assert not seen["problems"], seen["problems"]


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


MARKED_TEXT_COLOURS = painted_on("""(roots) => {
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
}""")


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


# ---------------------------------------------------------------------------------------------
# Checks of every page, made in one sweep per viewport and colour scheme: each page is opened
# once in one browser context and every check of that configuration reads it then.
# ---------------------------------------------------------------------------------------------

# (width, scheme) -> {check: (the pages it reads, what it does with an open page)}; a check
# is called with the page, axe-core's source and whether the page is in the colour sample.
SWEEPS = {
    (1280, "light"): {
        "axe": (
            EVERY_PAGE,
            lambda page, axe, in_colour_sample: start_axe(
                page, axe, skip=() if in_colour_sample else COLOUR_RULES
            ),
        ),
        "overflowing_code": (EXAMPLE_PAGES, lambda page, *_: page.evaluate(OVERFLOWING_CODE)),
        "first_screen": (EXAMPLE_PAGES, lambda page, *_: first_screen(page)),
    },
    (1280, "dark"): {
        "contrast": (EVERY_PAGE, lambda page, axe, _: start_axe(page, axe, COLOUR_RULES)),
    },
    (390, "light"): {
        "widths": (PHONE_PAGES, lambda page, *_: page.evaluate(PAGE_WIDTHS)),
        "heading_breaks": (
            titles_quoting_code(),
            lambda page, *_: page.evaluate(LINE_BREAKS_IN_HEADING_CODE),
        ),
        "first_screen": (EXAMPLE_PAGES, lambda page, *_: first_screen(page)),
        "output_boxes": (EXAMPLE_PAGES, lambda page, *_: page.evaluate(OUTPUT_BOXES)),
    },
}
DARK_MODE_TEST = "test_dark_mode_keeps_the_contrast_of_every_kind_of_element"
# The tests that read each check's results (each test is parametrized by "relative").
SWEPT_BY = {
    "test_no_serious_accessibility_violation": ("axe",),
    "test_no_line_of_example_code_scrolls_sideways_at_1280_pixels": ("overflowing_code",),
    "test_a_390_pixel_wide_phone_never_scrolls_sideways": ("widths",),
    "test_on_a_phone_code_in_a_title_breaks_between_names_not_inside_one": ("heading_breaks",),
}
# The tests that read one check on every example page, in one test.
SWEPT_WHOLE = {
    "test_every_example_opens_with_its_answer_in_the_first_screen": ("first_screen",),
    "test_on_a_phone_every_example_opens_with_its_answer_in_the_first_screen": ("first_screen",),
    "test_on_a_phone_at_most_one_output_box_in_twenty_scrolls_sideways": ("output_boxes",),
    "test_on_a_phone_printed_prose_wraps": ("output_boxes",),
}


@pytest.fixture(scope="session")
def swept(request, browser, base_url, axe_source, site):
    """swept(width, scheme, page): what each check of that configuration found on the page
    (and "problems": errors and requests to other hosts while it was open).

    A configuration is swept when a test first asks for it, over the pages the collected
    tests ask about (all of them in a full run, one with -k)."""
    # The pages axe-core's colour rules run on, in light and in dark mode.
    colour_sample = set(pages_showing_every_kind_of_element(site, EVERY_PAGE))
    wanted: dict[str, set[str]] = {}
    for item in request.session.items:
        for check in SWEPT_BY.get(getattr(item, "originalname", None), ()):
            wanted.setdefault(check, set()).add(item.callspec.params["relative"])
        for check in SWEPT_WHOLE.get(getattr(item, "originalname", None), ()):
            wanted.setdefault(check, set()).update(EXAMPLE_PAGES)
        if getattr(item, "originalname", None) == DARK_MODE_TEST:
            wanted["contrast"] = colour_sample
    results: dict[tuple, dict] = {}

    def sweep(width: int, scheme: str) -> None:
        checks = {
            name: ([p for p in pages if p in wanted.get(name, ())], check)
            for name, (pages, check) in SWEEPS[(width, scheme)].items()
        }
        pages = [p for pages_checked, _ in checks.values() for p in pages_checked]
        options = {
            "viewport": {"width": width, "height": 900 if width > 600 else 844},
            "color_scheme": scheme,
        }
        # Two tabs, each in a context of its own, take turns: one page's axe-core runs in one
        # tab's renderer while the next page loads and starts its own in the other.
        lanes = [Visit(browser.new_context(**options), base_url) for _ in range(2)]
        started: dict[int, tuple[str, dict]] = {}

        def finish(lane: int) -> None:
            relative, seen = started.pop(lane)
            for name, value in seen.items():
                seen[name] = value() if callable(value) else value
            seen["problems"] = lanes[lane].problems()
            results[(width, scheme, relative)] = seen

        try:
            for turn, relative in enumerate(dict.fromkeys(pages)):
                lane = turn % len(lanes)
                if lane in started:
                    finish(lane)
                page = lanes[lane].open(relative)
                started[lane] = (
                    relative,
                    {
                        name: check(page, axe_source, relative in colour_sample)
                        for name, (pages_checked, check) in checks.items()
                        if relative in pages_checked
                    },
                )
            for lane in list(started):
                finish(lane)
        finally:
            for visit in lanes:
                visit.context.close()

    def seen(width: int, scheme: str, relative: str) -> dict:
        if (width, scheme, relative) not in results:
            sweep(width, scheme)
        return results[(width, scheme, relative)]

    return seen


# ---------------------------------------------------------------------------------------------
# Issue 22: the first screen, evidence on a phone, long pages, and the smaller things, as a
# reader sees them at 1280 px and on a 390 px phone.
# ---------------------------------------------------------------------------------------------

FIRST_SCREENS = {"desktop": (1280, 900), "phone": (390, 844)}
ANSWER_AND_PICTURE = """() => {
    const answer = document.querySelector("article .answer-box");
    const picture = document.querySelector("article .lc-box");
    const h1 = document.querySelector("article h1");
    const top = (e) => e ? e.getBoundingClientRect().top + window.scrollY : null;
    const bottom = (e) => e ? e.getBoundingClientRect().bottom + window.scrollY : null;
    // What stands between the title and the answer: nothing but the title itself.
    const between = [];
    for (let n = h1.nextElementSibling; n && n !== answer; n = n.nextElementSibling) {
        between.push(n.className || n.tagName);
    }
    return {answerTop: top(answer), answerBottom: bottom(answer),
            answerText: answer ? answer.innerText : "", pictureTop: top(picture),
            between: between,
            downloadNote: !!document.querySelector(".sphx-glr-download-link-note"),
            noteAbovePicture: [...document.querySelectorAll("article .sql-dialects-note")]
                .some(n => picture && top(n) < top(picture))};
}"""


SCREENSHOTS_OF_FIRST_SCREENS = (
    FOUR_STRATEGIES,
    "auto_examples/concurrency_and_scope/stale_data_error.html",
)


def first_screen(page) -> dict:
    """What sits at the top of an example page, as the sweep opened it at the screen's size."""
    found = page.evaluate(ANSWER_AND_PICTURE)
    relative = next((p for p in SCREENSHOTS_OF_FIRST_SCREENS if page.url.endswith(p)), None)
    if relative:
        screen = "phone" if page.viewport_size["width"] < 600 else "desktop"
        screenshot(page, f"first-screen-{screen}-{relative.split('/')[-1][:-5]}")
    return found


def test_every_example_opens_with_its_answer_in_the_first_screen(swept):
    assert_answers_open_the_first_screen(swept, "desktop")


def assert_answers_open_the_first_screen(swept, screen: str) -> None:
    """On every example page, at the screen's size: the answer box right under the title,
    before the picture and the build note, and whole within the first screen."""
    width, height = FIRST_SCREENS[screen]
    late = []
    for relative in EXAMPLE_PAGES:
        seen = swept(width, "light", relative)
        found = seen["first_screen"]
        assert found["answerTop"] is not None, f"{relative}: no answer box"
        assert found["answerText"].strip(), f"{relative}: an empty answer box"
        assert found["between"] == [], f"{relative}: before the answer: {found['between']}"
        assert not found["downloadNote"], f"{relative}: the download note is still up front"
        assert not found["noteAbovePicture"], f"{relative}: the build note comes first"
        if found["pictureTop"] is not None:
            assert found["pictureTop"] > found["answerTop"], f"{relative}: picture first"
        if found["answerBottom"] > height:
            late.append((relative, round(found["answerBottom"])))
        assert not seen["problems"], f"{relative}: {seen['problems']}"
    assert late == [], f"answer boxes that end below the first {height} px: {late}"


OUTPUT_BOXES = """() => [...document.querySelectorAll(
        "article .sphx-glr-script-out pre, article .sql-box pre")].map(pre => ({
    scrolls: pre.scrollWidth > pre.clientWidth + 1,
    printed: pre.closest(".sphx-glr-script-out") !== null,
    wraps: !["pre", "nowrap"].includes(getComputedStyle(pre).whiteSpace),
    // Columns: two or more spaces (or a tab) between two words, somewhere in the box.
    columns: /\\S( {2,}|\\t)\\S/.test(pre.innerText),
    line: pre.innerText.split("\\n").reduce((a, b) => (b.length > a.length ? b : a), "")}))"""


def test_on_a_phone_an_error_message_wraps_and_an_aligned_table_keeps_its_columns(narrow):
    page = narrow.open("auto_examples/relationships/lazy_load_after_close.html")
    error = page.locator(".sphx-glr-script-out pre", has_text="Parent instance").first
    error.scroll_into_view_if_needed()
    assert error.evaluate("pre => pre.scrollWidth <= pre.clientWidth + 1"), "the error wraps"
    assert error.evaluate("pre => pre.getBoundingClientRect().height") > 40, "on several lines"
    screenshot(error, "phone-error-wraps")
    page = narrow.open(FOUR_STRATEGIES)
    table = page.locator(".sphx-glr-script-out.printed-table pre").first
    table.scroll_into_view_if_needed()
    fits = table.evaluate(
        """pre => ({lines: pre.innerText.split("\\n").filter(l => l.trim()).length,
                   height: pre.getBoundingClientRect().height,
                   font: parseFloat(getComputedStyle(pre).fontSize)})"""
    )
    # Its type shrinks as far as stays readable; a wider table then scrolls in its own box
    # (test_on_a_phone_at_most_one_output_box_in_twenty_scrolls_sideways counts them).
    assert fits["font"] >= 8.5, f"a table's type stays readable: {fits}"
    # One screen line per table line: no line wrapped, the columns stay aligned.
    assert fits["height"] < (fits["lines"] + 2) * fits["font"] * 1.6, fits
    screenshot(table, "phone-table-fits")
    narrow.assert_clean()


def test_set_up_sql_is_folded_and_the_lesson_stays_in_sight(visit):
    page = visit.open("auto_examples/concurrency_and_scope/stale_data_error.html")
    folded = page.locator("details.sql-folded > summary", has_text="Set-up SQL sent by start()")
    assert folded.count() >= 4, "each cell's start() is folded"
    # Folded, so not rendered: their text, not their rendered text (which is empty).
    inside = page.locator("details.sql-folded:not([open]) .sql-box").all_text_contents()
    assert any("INSERT INTO user_account" in text for text in inside), "the rows put back"
    visible = " ".join(page.locator(".sql-box:visible").all_inner_texts())
    assert "UPDATE user_account SET name=" in visible, "the UPDATE that fails is in sight"
    assert "INSERT INTO user_account" not in visible, "no set-up INSERT is in sight"
    visit.assert_clean()


def test_a_repeated_state_table_is_folded_and_a_new_object_is_said_to_be_new(visit):
    page = visit.open(FOUR_STRATEGIES)
    repeat = page.locator("div.orm-state-box details.orm-state-folded").first
    expect(repeat.locator("summary")).to_contain_text("unchanged since the table above")
    expect(repeat.locator("table")).to_be_hidden()
    marked = page.locator("table.orm-state p.orm-other-object:visible").first
    expect(marked).to_contain_text("a new object")
    legend = marked.locator("xpath=ancestor::div[contains(@class,'orm-state-box')]").locator(
        "p.orm-state-legend"
    )
    expect(legend).to_contain_text("another object than the one of that name above")
    visit.assert_clean()


def test_the_landing_and_404_pages_lead_to_every_section_and_guide(visit):
    page = visit.open("index.html")
    cards = page.locator(".landing-card .sd-card-title").all_inner_texts()
    assert any("Performance" in title for title in cards), cards
    page = visit.open("404.html")
    text = page.locator("article").inner_text()
    for name in ("cheat sheet", "decision guide", "search the site"):
        assert name in text, f"the 404 page names {name}"
    links = page.locator("article a").evaluate_all("links => links.map(a => a.href)")
    for section in SECTIONS.values():
        assert any(link.split("#")[0].endswith("/" + section) for link in links), (
            f"404 page: no {section}"
        )
    expect(page.locator("article a", has_text="search the site")).to_have_attribute(
        "href", re.compile(r"search\.html$")
    )
    visit.assert_clean()


def test_card_titles_break_between_words_and_the_cards_differ(browser, base_url):
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        try:
            page = context.new_page()
            page.goto(base_url + "auto_examples/relationships/index.html")
            broken = page.evaluate(
                """() => [...document.querySelectorAll('.sphx-glr-thumbnail-title')]
                   .filter(t => /DetachedInstanceError/.test(t.innerText))
                   .map(t => {
                       const range = document.createRange();
                       const node = [...t.childNodes].find(
                           n => n.textContent.includes('DetachedInstanceError'));
                       const at = node.textContent.indexOf('DetachedInstanceError');
                       range.setStart(node, at);
                       range.setEnd(node, at + 'DetachedInstanceError'.length);
                       return range.getClientRects().length;
                   })"""
            )
            assert broken and all(lines == 1 for lines in broken), (width, broken)
            screenshot(page, f"cards-relationships-{width}")
        finally:
            context.close()
    pictures = {}  # each card's picture, read over HTTP as the browser gets it
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        for index in SECTIONS.values():
            page.goto(base_url + index)
            for src in page.locator(".sphx-glr-thumbcontainer img").evaluate_all(
                "imgs => imgs.map(img => img.src)"
            ):
                pictures[src] = context.request.get(src).body()
    finally:
        context.close()
    assert len(pictures) > 40
    assert len(set(pictures.values())) == len(pictures), "every card's picture is its own"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_unreached_states_stay_visible_and_back_to_top_covers_no_text(visit, theme):
    page = visit.open("auto_examples/myths/flush_commits.html")
    set_theme(page, theme)
    off = page.locator("svg.lc-figure .lc-off").first
    off.scroll_into_view_if_needed()
    colours = off.evaluate(
        """g => { const t = g.querySelector('text');
                  const bg = getComputedStyle(document.body).backgroundColor;
                  return {text: getComputedStyle(t).fill, bg: bg,
                          opacity: getComputedStyle(g).opacity}; }"""
    )
    assert float(colours["opacity"]) == 1.0
    ratio = contrast(rgb(colours["text"]), rgb(colours["bg"]))
    assert ratio >= 4.5, f"{theme}: an unreached state's name at {ratio:.2f}"
    screenshot(page.locator("div.lc-box"), f"figure-unreached-{theme}")
    # Scroll down, then up a little: furo shows "Back to top".
    page.mouse.wheel(0, 3000)
    page.wait_for_timeout(300)
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(500)
    button = page.locator(".back-to-top")
    if button.is_visible():
        box = button.bounding_box()
        article = page.locator("article").bounding_box()
        text_right = page.evaluate(
            """() => Math.max(...[...document.querySelectorAll('article p')]
                .map(p => p.getBoundingClientRect().right))"""
        )
        assert box["x"] >= min(text_right, article["x"] + article["width"]) - 1, (
            "the button sits beside the text column, not on it"
        )
    visit.assert_clean()
