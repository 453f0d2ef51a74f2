"""'Run in your browser', measured in Chromium (`nox -s bench_browser`): figures, not a test.

Serves the built site on 127.0.0.1 as the hosts do (text gzip-compressed: lighthouse_scores.py's
server) and measures on one example page:

* the bytes a page loads when nobody clicks, and how many of them are the control script;
* click to first SQL box, cold (a fresh browser context: nothing cached), and the bytes;
* the same after a reload (the browser's cache warm, a new worker);
* the first Run on a second page (another example) in the same browser, and the bytes that
  page and its Run fetched: the worker takes the large files from the Cache Storage;
* an edited re-run (the strategy changed) in the loaded worker: click to the new SQL, a few
  seconds after the first Run's result showed (a reader reads it before editing; the worker
  warms up meanwhile), then twice more at once.

Nothing intercepts a request (Playwright's routing would turn the HTTP cache off and relay every
response, the 10 MB wasm too, through the driver: not what a reader's browser does). Other hosts
are refused by Chromium itself (``--host-resolver-rules``: every name but 127.0.0.1 resolves to
nothing), and every request the page and its worker make is still recorded, so one to another
host is counted and reported. Times are taken in the page (the click event's time stamp to the
frame after the SQL is in the document), so the driver's own round trips are not in them.

    python tools/bench_browser.py build/html [--repeat N]
Targets on a 2-core machine: cold at most 6 s, re-run at most 0.2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).parent))
from lighthouse_scores import serve  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SESSION_SYNC_CHROMIUM", "/usr/bin/chromium")
PAGE = "auto_examples/synchronize_session/four_strategies.html"
SECOND_PAGE = "auto_examples/myths/commit_synchronize_session.html"
# Between the first Run's result and the edited re-run: a reader reads the result first.
READING_SECONDS = 3
EXAMPLE = ROOT / "examples" / "synchronize_session" / "four_strategies.py"
FIRST_SQL = ".run-here-cell .sql-box"
TIMEOUT = 120_000


# Chromium resolves no name but the site's: a request to another host fails in the browser
# (and is still seen, and counted, by the request events below).
REFUSE_OTHER_HOSTS = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


class Tab:
    """A page in a fresh context that records every request (the worker's too) and the bytes
    it receives, without intercepting any."""

    def __init__(self, browser, base_url: str):
        self.origin = urlsplit(base_url).netloc
        self.base_url = base_url
        self.context = browser.new_context()
        self.foreign: list[str] = []
        self.received: dict[str, int] = {}
        self.log: list[tuple[str, int]] = []
        self.context.on("request", self._request)
        self.context.on("requestfinished", self._finished)
        self.page = self.context.new_page()

    def _request(self, request):
        if urlsplit(request.url).netloc not in (self.origin, ""):
            self.foreign.append(request.url)

    def _finished(self, request):
        sizes = request.sizes()
        received = sizes["responseBodySize"] + sizes["responseHeadersSize"]
        self.received[request.url] = self.received.get(request.url, 0) + received
        self.log.append((request.url, received))

    def bytes(self) -> int:
        return sum(self.received.values())


# The first SQL box, or a run that ended without one (the worker failed, or a cell raised).
SQL_OR_END = f"""() => document.querySelector('{FIRST_SQL}')
    || ['failed', 'raised'].includes(document.querySelector('.run-here')?.dataset.state)"""

# Armed before a click: window.benchTimed resolves with the seconds from the click event (its
# time stamp: when the browser took the input) to the frame after `done()` first held, watched
# by a MutationObserver, as the reader sees it.
ARM = """(done) => { done = new Function('return (' + done + ')()');
  window.benchTimed = new Promise((resolve) => {
    let clicked = null;
    addEventListener('click', (event) => { clicked ??= event.timeStamp; }, {capture: true});
    const observer = new MutationObserver(() => {
      if (clicked === null || !done()) return;
      observer.disconnect();
      const seen = performance.now();
      requestAnimationFrame(() => setTimeout(() => resolve({
        shown: (seen - clicked) / 1000, painted: (performance.now() - clicked) / 1000})));
    });
    observer.observe(document, {subtree: true, childList: true, attributes: true});
  }); }"""


def timed_click(page, button, done: str) -> dict[str, float]:
    """Seconds from the click to the frame after `done` (JavaScript) holds: in the page, and
    as the driver saw it (its round trips included)."""
    page.evaluate(ARM, done)
    started = time.perf_counter()
    button.click()
    page.wait_for_function(done, timeout=TIMEOUT)
    timed = page.evaluate("window.benchTimed")
    timed["driver"] = time.perf_counter() - started
    return timed


def click_to_first_sql(page) -> dict[str, float]:
    button = page.get_by_role("button", name="Run in your browser")
    timed = timed_click(page, button, SQL_OR_END)
    if not page.locator(FIRST_SQL).count():
        status = page.locator(".run-here-status").inner_text()
        errors = page.locator(".run-here-error").all_inner_texts()
        raise SystemExit(f"The run in the browser showed no SQL: {status} {errors}")
    return timed


def edited_rerun(page) -> dict[str, float]:
    source = EXAMPLE.read_text().replace(
        '"synchronize_session": "fetch"', '"synchronize_session": False'
    )
    page.evaluate(
        """(source) => { const {view} = document.querySelector('.run-here').runHere;
        view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: source}}); }""",
        source,
    )
    runs = int(page.locator(".run-here").get_attribute("data-runs"))
    done = f"() => document.querySelector('.run-here').dataset.runs === '{runs + 1}'"
    timed = timed_click(page, page.get_by_role("button", name="Run", exact=True), done)
    timed["worker"] = page.evaluate("document.querySelector('.run-here').runHere.last.seconds")
    return timed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("html", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    server = serve(args.html)
    base_url = f"http://127.0.0.1:{server.server_address[1]}/"
    figures: dict[str, list[float]] = {"cold": [], "reload": [], "second": [], "rerun": []}
    second: list[tuple[int, list[str]]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", REFUSE_OTHER_HOSTS],
        )
        idle = Tab(browser, base_url)
        idle.page.goto(base_url + PAGE, wait_until="load")
        idle.page.wait_for_load_state("networkidle")
        idle_bytes = idle.bytes()
        control = sum(v for url, v in idle.received.items() if "/_static/run/" in url)
        run_files = [url for url in idle.received if "/_static/run/" in url]
        # The refusal checked: a request to another host fails, and the events still see it.
        probe = idle.page.evaluate(
            "fetch('http://example.com/').then(() => 'answered', (e) => 'refused: ' + e.message)"
        )
        if not probe.startswith("refused") or idle.foreign != ["http://example.com/"]:
            raise SystemExit(f"Other hosts are not refused as they should be: {probe}")
        idle.context.close()
        clicked_bytes, requests, foreign, phases = 0, 0, [], []
        for _ in range(args.repeat):
            tab = Tab(browser, base_url)
            tab.page.goto(base_url + PAGE, wait_until="load")
            figures["cold"].append(click_to_first_sql(tab.page))
            tab.page.wait_for_function(
                "document.querySelector('.run-here').dataset.runs === '1'", timeout=TIMEOUT
            )
            clicked_bytes, requests = tab.bytes(), len(tab.received)
            phases.append(tab.page.evaluate("document.querySelector('.run-here').runHere.last"))
            tab.page.wait_for_timeout(READING_SECONDS * 1000)
            for _ in range(3):
                figures["rerun"].append(edited_rerun(tab.page))
            tab.page.reload(wait_until="load")
            figures["reload"].append(click_to_first_sql(tab.page))
            # Another example page in the same browser: its first Run.
            mark = len(tab.log)
            tab.page.goto(base_url + SECOND_PAGE, wait_until="load")
            figures["second"].append(click_to_first_sql(tab.page))
            tab.page.wait_for_function(
                "document.querySelector('.run-here').dataset.runs === '1'", timeout=TIMEOUT
            )
            fetched = tab.log[mark:]
            large = [url for url, size in fetched if size > 100_000]
            second.append((sum(size for _, size in fetched), large))
            foreign += tab.foreign
            tab.context.close()
        browser.close()
    server.shutdown()

    def line(name: str, values: list[dict[str, float]]) -> str:
        painted = [v["painted"] for v in values]
        shown = ", ".join(f"{v:.2f}" for v in painted)
        driver = statistics.median(v["driver"] for v in values)
        return (
            f"{name:<34} median {statistics.median(painted):6.2f} s   ({shown}; "
            f"driver's clock {driver:.2f})"
        )

    print(
        f"Page {PAGE}, served gzip-compressed on 127.0.0.1, {os.cpu_count()} CPUs; "
        "no request intercepted; times from the click event to the frame after the SQL shows"
    )
    print(
        f"{'no click: bytes loaded':<34} {idle_bytes / 1e3:9.1f} kB, of which control.js "
        f"{control} B ({', '.join(u.rsplit('/', 1)[-1] for u in run_files)})"
    )
    print(
        f"{'with Run: bytes loaded (cold)':<34} {clicked_bytes / 1e6:9.2f} MB in {requests} "
        "requests"
    )
    print(line("click to first SQL, cold", figures["cold"]))
    for result in phases:
        steps = ", ".join(f"{name} {at:.1f}" for name, at in result["phases"].items())
        print(f"{'  worker, s since it started':<34} {steps}; ran in {result['seconds']:.2f}")
    print(line("click to first SQL, after reload", figures["reload"]))
    print(line("first Run on a second page", figures["second"]))
    for size, large in second:
        names = ", ".join(url.rsplit("/", 1)[-1] for url in large) or "none over 100 kB"
        print(f"{'  bytes that page and Run fetched':<34} {size / 1e3:9.1f} kB ({names})")
    print(line(f"edited re-run, {READING_SECONDS} s after", figures["rerun"]))
    worker = statistics.median(v["worker"] for v in figures["rerun"])
    print(f"{'  of which the run in the worker':<34} median {worker:6.2f} s")
    print(f"{'requests to other hosts':<34} {len(foreign)} {foreign[:5] if foreign else ''}")
    return 1 if foreign else 0


if __name__ == "__main__":
    sys.exit(main())
