"""Lighthouse's four category scores for a few pages of the built site (`nox -s lighthouse`).

Serves the HTML folder on a free port of 127.0.0.1 (text gzip-compressed, as the hosts serve
it), runs npm's `lighthouse` (installed by `npm ci` from package-lock.json) with Debian's
Chromium on each page, under Lighthouse's default mobile emulation and simulated throttling,
and prints a table of the scores (0-100).
Each page's full report is written next to the table as JSON. Exits non-zero if a page misses
a target: accessibility, best practices and SEO 100, performance 95 or more.

    python tools/lighthouse_scores.py build/html build/lighthouse
"""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = os.environ.get("SESSION_SYNC_CHROMIUM", "/usr/bin/chromium")
PAGES = [
    "index.html",
    "cheat-sheet.html",
    "auto_examples/myths/commit_synchronize_session.html",
    "auto_examples/synchronize_session/four_strategies.html",
    "auto_examples/session_lifecycle/expire_on_commit.html",
]
CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]
TARGETS = {"performance": 95, "accessibility": 100, "best-practices": 100, "seo": 100}


COMPRESSED_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")


class GzipHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files as the hosts do (GitHub Pages, Read the Docs): text gzip-compressed.

    Python's own server sends every file as it is, which Lighthouse would count against the
    site ("enable text compression") although no host serves it that way.
    """

    def log_message(self, format, *args):  # noqa: A002 - the signature http.server calls
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        content_type = self.guess_type(str(path))
        wants_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        if not (path.is_file() and wants_gzip and content_type.startswith(COMPRESSED_TYPES)):
            return super().send_head()
        body = gzip.compress(path.read_bytes(), mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=600")
        self.end_headers()
        return io.BytesIO(body)


def serve(directory: Path) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(GzipHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def audit(url: str, report: Path) -> dict[str, int]:
    subprocess.run(
        [
            str(LIGHTHOUSE),
            url,
            "--quiet",
            "--output=json",
            f"--output-path={report}",
            f"--only-categories={','.join(CATEGORIES)}",
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
        ],
        check=True,
        env={**os.environ, "CHROME_PATH": CHROMIUM},
    )
    result = json.loads(report.read_text(encoding="utf-8"))
    failing = [
        f"  {category}: {audit_id} ({result['audits'][audit_id]['title']})"
        for category in CATEGORIES
        for audit_id in (ref["id"] for ref in result["categories"][category]["auditRefs"])
        if result["audits"][audit_id].get("score") not in (None, 1)
        and result["audits"][audit_id].get("scoreDisplayMode") in ("binary", "numeric")
    ]
    if failing:
        print(f"{url}: audits below full marks\n" + "\n".join(failing))
    return {c: round(100 * result["categories"][c]["score"]) for c in CATEGORIES}


def main(html: Path, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    server = serve(html)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        scores = {}
        for page in PAGES:
            report = out / (page.replace("/", "__").removesuffix(".html") + ".json")
            scores[page] = audit(base + page, report)
    finally:
        server.shutdown()
        server.server_close()
    width = max(map(len, PAGES))
    print(f"{'page':<{width}}  " + "  ".join(f"{c:>14}" for c in CATEGORIES))
    for page, row in scores.items():
        print(f"{page:<{width}}  " + "  ".join(f"{row[c]:>14}" for c in CATEGORIES))
    missed = [
        f"{page}: {category} {row[category]} < {TARGETS[category]}"
        for page, row in scores.items()
        for category in CATEGORIES
        if row[category] < TARGETS[category]
    ]
    print("\n".join(missed) if missed else "Every page meets every target.")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
