"""How long each example page is, in screens, at 1280 px and on a 390 px phone.

    python tools/page_heights.py [build/html] [--json out.json] [--compare before.json]

Serves the built site on 127.0.0.1, opens every example page in Debian's Chromium (Playwright,
from the tests' environment) at 1280x900 and 390x844, and prints per page its height in
pixels and in screens, how many output boxes (printed output, SQL) scroll sideways on the phone,
and where the answer box ends. With --compare, the figures of an earlier run next to these.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import statistics
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}
MEASURE = """() => {
  const boxes = [...document.querySelectorAll(
      "article .sphx-glr-script-out pre, article .sql-box pre")];
  const answer = document.querySelector("article .answer-box");
  return {
    height: document.documentElement.scrollHeight,
    boxes: boxes.length,
    scrolling: boxes.filter(pre => pre.scrollWidth > pre.clientWidth + 1).length,
    answerBottom: answer ? answer.getBoundingClientRect().bottom + window.scrollY : null,
  };
}"""


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def example_pages(html: Path) -> list[str]:
    pages = sorted(html.glob("auto_examples/*/*.html"))
    return [p.relative_to(html).as_posix() for p in pages if p.name != "index.html"]


def measure(html: Path) -> dict:
    from playwright.sync_api import sync_playwright

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(html))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    results: dict = {}
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            for name, (width, height) in VIEWPORTS.items():
                context = browser.new_context(viewport={"width": width, "height": height})
                page = context.new_page()
                for relative in example_pages(html):
                    page.goto(base + relative, wait_until="load")
                    figures = page.evaluate(MEASURE)
                    figures["screens"] = round(figures["height"] / height, 1)
                    results.setdefault(relative, {})[name] = figures
                context.close()
            browser.close()
    finally:
        server.shutdown()
    return results


def summary(results: dict) -> dict:
    out = {}
    for name in VIEWPORTS:
        screens = [page[name]["screens"] for page in results.values()]
        out[name] = {
            "pages": len(screens),
            "median_screens": statistics.median(screens),
            "min_screens": min(screens),
            "max_screens": max(screens),
            "total_screens": round(sum(screens), 1),
            "boxes": sum(page[name]["boxes"] for page in results.values()),
            "scrolling_boxes": sum(page[name]["scrolling"] for page in results.values()),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("html", nargs="?", default=str(ROOT / "build" / "html"))
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--compare", help="an earlier run's --json file")
    args = parser.parse_args()
    results = measure(Path(args.html))
    before = json.loads(Path(args.compare).read_text())["pages"] if args.compare else {}
    print(f"{'page':60} {'1280 px':>16} {'390 px':>16} {'scrolling boxes at 390':>24}")
    for relative, figures in results.items():
        old = before.get(relative)
        cells = []
        for name in VIEWPORTS:
            now = f"{figures[name]['screens']:.1f}"
            cells.append(f"{old[name]['screens']:.1f} -> {now}" if old else now)
        phone = figures["phone"]
        boxes = f"{phone['scrolling']}/{phone['boxes']}"
        if old:
            boxes = f"{old['phone']['scrolling']}/{old['phone']['boxes']} -> {boxes}"
        print(
            f"{relative.removeprefix('auto_examples/'):60} {cells[0]:>16} {cells[1]:>16} "
            f"{boxes:>24}"
        )
    totals = summary(results)
    print(json.dumps({"before": summary(before), "after": totals} if before else totals, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": totals, "pages": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
