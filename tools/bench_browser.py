"""'Run in your browser', measured in Chromium (`nox -s bench_browser`): figures, not a test.

Serves the built site on 127.0.0.1 as the hosts do (text gzip-compressed: lighthouse_scores.py's
server), every other host refused, and measures on one example page:

* the bytes a page loads when nobody clicks, and how many of them are the control script;
* click to first SQL box, cold (a fresh browser profile: nothing cached), and the bytes;
* the same after a reload (the browser's cache warm, a new worker);
* an edited re-run (the strategy changed) in the loaded worker: click to the new SQL.

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
EXAMPLE = ROOT / "examples" / "synchronize_session" / "four_strategies.py"
FIRST_SQL = ".run-here-results .sql-box"
TIMEOUT = 120_000


class Tab:
    """A page in a fresh context that counts the bytes it receives and refuses other hosts."""

    def __init__(self, browser, base_url: str):
        self.origin = urlsplit(base_url).netloc
        self.base_url = base_url
        self.context = browser.new_context()
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.foreign: list[str] = []
        self.received: dict[str, int] = {}
        # Playwright reports the worker's requests too (a CDP session of the page does not).
        self.page.on("requestfinished", self._finished)

    def _route(self, route):
        if urlsplit(route.request.url).netloc in (self.origin, ""):
            route.continue_()
        else:
            self.foreign.append(route.request.url)
            route.abort()

    def _finished(self, request):
        sizes = request.sizes()
        received = sizes["responseBodySize"] + sizes["responseHeadersSize"]
        self.received[request.url] = self.received.get(request.url, 0) + received

    def bytes(self) -> int:
        return sum(self.received.values())


# The first SQL box, or a run that ended without one (the worker failed, or a cell raised).
SQL_OR_END = f"""() => document.querySelector('{FIRST_SQL}')
    || ['failed', 'raised'].includes(document.querySelector('.run-here').dataset.state)"""


def click_to_first_sql(page) -> float:
    started = time.perf_counter()
    page.get_by_role("button", name="Run in your browser").click()
    page.wait_for_function(SQL_OR_END, timeout=TIMEOUT)
    elapsed = time.perf_counter() - started
    if not page.locator(FIRST_SQL).count():
        status = page.locator(".run-here-status").inner_text()
        errors = page.locator(".run-here-error").all_inner_texts()
        raise SystemExit(f"The run in the browser showed no SQL: {status} {errors}")
    return elapsed


def edited_rerun(page) -> float:
    source = EXAMPLE.read_text().replace(
        '"synchronize_session": "fetch"', '"synchronize_session": False'
    )
    page.evaluate(
        """(source) => { const {view} = document.querySelector('.run-here').runHere;
        view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: source}}); }""",
        source,
    )
    runs = int(page.locator(".run-here").get_attribute("data-runs"))
    started = time.perf_counter()
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_function(
        f"document.querySelector('.run-here').dataset.runs === '{runs + 1}'", timeout=TIMEOUT
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("html", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    server = serve(args.html)
    base_url = f"http://127.0.0.1:{server.server_address[1]}/"
    figures: dict[str, list[float]] = {"cold": [], "reload": [], "rerun": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        idle = Tab(browser, base_url)
        idle.page.goto(base_url + PAGE, wait_until="load")
        idle.page.wait_for_load_state("networkidle")
        idle_bytes = idle.bytes()
        control = sum(v for url, v in idle.received.items() if "/_static/run/" in url)
        run_files = [url for url in idle.received if "/_static/run/" in url]
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
            for _ in range(3):
                figures["rerun"].append(edited_rerun(tab.page))
            tab.page.reload(wait_until="load")
            figures["reload"].append(click_to_first_sql(tab.page))
            foreign += tab.foreign
            tab.context.close()
        browser.close()
    server.shutdown()

    def line(name: str, values: list[float]) -> str:
        shown = ", ".join(f"{v:.2f}" for v in values)
        return f"{name:<34} median {statistics.median(values):6.2f} s   ({shown})"

    print(f"Page {PAGE}, served gzip-compressed on 127.0.0.1, {os.cpu_count()} CPUs")
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
    print(line("edited re-run (fetch -> False)", figures["rerun"]))
    print(f"{'requests to other hosts':<34} {len(foreign)}")
    return 1 if foreign else 0


if __name__ == "__main__":
    sys.exit(main())
