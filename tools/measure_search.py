"""Measure a built site's search on tests/search_queries.toml, in Chromium: hits@1 per kind.

    python tools/measure_search.py build/html [--engine sphinx|pagefind] [--json out.json]

`sphinx` types each query into the sidebar's search box, as tests/test_search.py does, and
reads the results Sphinx's search page lists. `pagefind` asks Pagefind's JavaScript API of a
copy of the site that Pagefind indexed, as README.md's "Search" measured it: Pagefind 1.6.0
installed from npm in a scratch folder (`npm install pagefind@1.6.0`, not a project package),
then, for each of .headerlink, .sphx-glr-download-link-note, .sphx-glr-footer,
.sphx-glr-signature, .sql-dialects-note and #related-pages, an --exclude-selectors option:

    cp -a build/html /tmp/pf-site
    node_modules/.bin/pagefind --site /tmp/pf-site --output-subdir pagefind \\
        --root-selector '[role=main]' --exclude-selectors .headerlink ...

Needs the tests' environment (Playwright) and Debian's Chromium; fetches nothing.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import re
import sys
import threading
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ROOT / "tests" / "search_queries.toml"


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature http.server calls
        pass


def sphinx_results(page, base: str, query: str) -> list[str]:
    page.goto(base + "index.html")
    box = page.locator("input.sidebar-search:visible").first
    box.fill(query)
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\.html\?"))
    page.wait_for_function(
        "(document.querySelector('#search-results .search-summary') || {}).innerText"
        "?.startsWith('Search finished') || false",
        timeout=20_000,
    )
    hrefs = page.locator("ul.search > li > a").evaluate_all("ls => ls.map(a => a.href)")
    return [urlsplit(href).path.removeprefix("/") for href in hrefs]


PAGEFIND = """async (query) => {
    const pagefind = await import('/pagefind/pagefind.js');
    await pagefind.init();
    const found = await pagefind.search(query);
    const urls = [];
    for (const result of found.results.slice(0, 10)) urls.push((await result.data()).url);
    return urls;
}"""


def pagefind_results(page, base: str, query: str) -> list[str]:
    page.goto(base + "index.html")
    return [url.removeprefix("/") for url in page.evaluate(PAGEFIND, query)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("--engine", choices=("sphinx", "pagefind"), default="sphinx")
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    from playwright.sync_api import sync_playwright

    queries = tomllib.loads(QUERIES.read_text(encoding="utf-8"))["query"]
    handler = functools.partial(Quiet, directory=str(options.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    search = sphinx_results if options.engine == "sphinx" else pagefind_results
    rows = []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        page = chromium.new_page()
        for query in queries:
            found = search(page, base, query["text"])
            rank = found.index(query["first"]) + 1 if query["first"] in found else None
            rows.append({**query, "results": found[:5], "count": len(found), "rank": rank})
            print(f"{rank or '-':>2} {query['text'][:70]} -> {found[:1]}")
        chromium.close()
    server.shutdown()
    kinds: dict[str, list[bool]] = {}
    for row in rows:
        kinds.setdefault(row["kind"], []).append(row["rank"] == 1)
    for kind, hits in kinds.items():
        print(f"{kind}: {sum(hits)}/{len(hits)}")
    hits = sum(row["rank"] == 1 for row in rows)
    nothing = sum(row["count"] == 0 for row in rows)
    print(f"{options.engine}: hits@1 {hits}/{len(rows)}, found nothing: {nothing}")
    if options.json:
        options.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
