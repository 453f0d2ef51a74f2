"""The built site in a real browser: headless Chromium, the site served on this machine.

Runs Debian's Chromium (/usr/bin/chromium; .ci/run installs it) through Playwright; Playwright
downloads no browser of its own. Without Chromium these tests skip on a developer's machine, but
fail on CI (CI is set), where a skipped browser test would hide a missing install step.

Screenshots of the landing page and of an example page, light and dark, are written to
build/screenshots/ for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sitebuild import EXAMPLE_PAGES, ROOT

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
]
SCREENSHOTS = ROOT / "build" / "screenshots"
EXAMPLE_PAGE = "auto_examples/synchronize_session/four_strategies.html"
MYTH_PAGE = "auto_examples/myths/commit_synchronize_session.html"
SECTIONS = {
    "gallery-myths": "auto_examples/myths/index.html",
    "gallery-session-lifecycle": "auto_examples/session_lifecycle/index.html",
    "gallery-synchronize-session": "auto_examples/synchronize_session/index.html",
}


def _missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (requirements/tests.in)"
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def browser():
    missing = _missing_browser()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run on CI: {missing}")
        pytest.skip(f"browser tests need a browser: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature http.server calls
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a page left before its last asset arrived: the browser hung up, nothing failed


@pytest.fixture(scope="session")
def base_url(site):
    """The built site, served over HTTP on a free port of 127.0.0.1 while the tests run."""
    handler = functools.partial(QuietHandler, directory=str(site.html))
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class Visit:
    """A browser tab that refuses and records every request to another host, and every error."""

    def __init__(self, context, base_url: str):
        self.base_url = base_url
        self.origin = urlsplit(base_url).netloc
        self.foreign_requests: list[str] = []
        self.errors: list[str] = []
        context.route("**/*", self._route)
        self.page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("requestfailed", self._failed)

    def _route(self, route):
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).netloc == self.origin:
            route.continue_()
        else:
            self.foreign_requests.append(url)
            route.abort()

    def _console(self, message):
        if message.type == "error":
            self.errors.append(f"console error: {message.text}")

    def _failed(self, request):
        if urlsplit(request.url).netloc == self.origin:
            self.errors.append(f"request failed: {request.url} ({request.failure})")

    def open(self, relative: str):
        self.page.goto(self.base_url + relative, wait_until="load")
        return self.page

    def assert_clean(self):
        assert not self.foreign_requests, f"requests to other hosts: {self.foreign_requests}"
        assert not self.errors, self.errors


@pytest.fixture
def visit(browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url.rstrip("/"))
    yield Visit(context, base_url)
    context.close()


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
            return
        toggle.click()
    assert page.evaluate("document.body.dataset.theme") == theme


# ---------------------------------------------------------------------------------------------
# Colour contrast (WCAG 2.x), computed from the colours the browser actually painted.
# ---------------------------------------------------------------------------------------------

SQL_BOX_COLOURS = """(box) => {
    const parse = (text) => text.match(/[\\d.]+/g).map(Number);
    const background = (element) => {
        for (let node = element; node; node = node.parentElement) {
            const colour = parse(getComputedStyle(node).backgroundColor);
            if (colour.length < 4 || colour[3] > 0) return colour.slice(0, 3);
        }
        return [255, 255, 255];
    };
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
}"""


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
    page.wait_for_load_state("networkidle")
    assert page.title().startswith("Session Sync, Verified")
    cards = page.locator(".landing-card")
    assert cards.count() == 3
    for index in range(3):
        assert cards.nth(index).is_visible()
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
    page.wait_for_load_state("load")
    assert page.url.split("#")[0].endswith(SECTIONS[label]), page.url
    assert page.locator("h1").first.is_visible()
    example_links = page.locator(".sphx-glr-thumbcontainer a.reference.internal")
    assert example_links.count() > 0, "the section lists its examples"
    example_links.first.click()
    page.wait_for_load_state("load")
    assert "/auto_examples/" in page.url and not page.url.split("#")[0].endswith("index.html")
    code = page.locator("div.highlight-Python").first
    sql = page.locator(".sql-box:visible").first
    assert code.is_visible()
    sql.scroll_into_view_if_needed()
    assert sql.is_visible(), "an SQL box shows on the example page"
    assert top(sql) > top(code), "the SQL box is under the code"
    visit.assert_clean()


def test_an_example_page_shows_sql_box_and_state_table_under_the_code(visit):
    page = visit.open(EXAMPLE_PAGE)
    code_top = top(page.locator("div.highlight-Python").first)
    for selector in (".sql-box:visible", ".orm-state-box:visible table.orm-state"):
        box = page.locator(selector).first
        box.scroll_into_view_if_needed()
        assert box.is_visible(), selector
        assert top(box) > code_top, selector
    visit.assert_clean()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("synchronize_session", MYTH_PAGE),
        ("expire_on_commit", "auto_examples/"),
        ("StaleDataError", "auto_examples/"),
    ],
)
def test_search_finds_the_pages(visit, query, expected):
    page = visit.open(f"search.html?q={query}")
    page.wait_for_selector("ul.search li a", timeout=15_000)
    page.wait_for_function(
        "document.querySelector('#search-results p.search-summary, .search-summary') !== null",
        timeout=15_000,
    )
    hrefs = page.locator("ul.search li a").evaluate_all("links => links.map(a => a.href)")
    assert any(expected in href for href in hrefs), hrefs
    visit.assert_clean()


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
    clipboard = page.evaluate("navigator.clipboard.readText().catch(() => null)")
    if clipboard is not None:
        assert clipboard.strip() == code.strip()
    visit.assert_clean()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_sql_box_text_is_readable(visit, theme):
    page = visit.open(EXAMPLE_PAGE)
    set_theme(page, theme)
    page.wait_for_timeout(300)  # furo's colour transition
    ratio, worst = worst_sql_box_contrast(page)
    assert ratio >= 4.5, f"{theme}: contrast {ratio:.2f} for {worst}"
    box = page.locator(".sql-box:visible").first
    box.scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, -200)")
    screenshot(page, f"example-{theme}")
    visit.assert_clean()


def test_dark_mode_toggle_changes_the_page(visit):
    page = visit.open(EXAMPLE_PAGE)
    set_theme(page, "light")
    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    set_theme(page, "dark")
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert light != dark
    assert luminance([int(v) for v in re.findall(r"\d+", dark)[:3]]) < 0.1


@pytest.fixture
def narrow(browser, base_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="light")
    yield Visit(context, base_url)
    context.close()


@pytest.mark.parametrize("relative", ["index.html", *EXAMPLE_PAGES])
def test_a_390_pixel_wide_phone_never_scrolls_sideways(narrow, relative):
    page = narrow.open(relative)
    widths = page.evaluate(
        "({scroll: document.documentElement.scrollWidth,"
        " client: document.documentElement.clientWidth})"
    )
    assert widths["scroll"] <= widths["client"], widths
    narrow.assert_clean()
