"""Each example page says exactly what its claims ran on: "Verified on ...".

The releases and databases come from the build, never typed into a page:

- SQLAlchemy, Python and SQLite: the ones this build ran the example with;
- the other SQLAlchemy releases: ``requirements/sqlalchemy.toml``'s ``verified`` releases,
  on which ``nox -s versions`` (run by CI before any change lands) runs every example
  standalone (1.4 only the examples its ``examples`` list names);
- PostgreSQL and MariaDB: in the full build (``nox -s docs-full``), the servers'
  own names and versions as ``dialect_capture.py`` recorded them; otherwise the page says
  that this build is SQLite-only and which build adds them.

``how-verified.md`` shows the same facts through the ``verified_*`` MyST substitutions.
"""

from __future__ import annotations

import functools
import json
import platform
import sqlite3
import tomllib
from pathlib import Path

import measured_summaries
from docutils import nodes

ROOT = Path(__file__).resolve().parents[1]
SERIES_FILE = ROOT / "requirements" / "sqlalchemy.toml"


@functools.cache
def verified_series() -> dict[str, dict]:
    return tomllib.loads(SERIES_FILE.read_text())["series"]


def other_releases(example: str, built_with: str) -> list[str]:
    """The verified releases, besides the build's own, that run this example standalone."""
    stem = Path(example).stem
    found = []
    for settings in verified_series().values():
        release = settings["verified"]
        if release != built_with and stem in settings.get("examples", [stem]):
            found.append(release)
    return found


EXAMPLES_RECORD = ROOT / "docs" / "_measured" / "examples.json"


@functools.cache
def examples_record() -> dict | None:
    """docs/_measured/examples.json, read once per build."""
    return json.loads(EXAMPLES_RECORD.read_text()) if EXAMPLES_RECORD.exists() else None


def across_releases(example: str) -> str:
    """What the release sweep found running this example alone on every release of 2.0 and
    2.1 (docs/_measured/examples.json), for the source the page shows; '' when the page's
    source is newer than the record."""
    import hashlib

    record = examples_record()
    if record is None:
        return ""
    entry = record["examples"].get(example)
    source = (ROOT / "examples" / example).read_bytes()
    if entry is None or entry["source"] != hashlib.sha256(source).hexdigest()[:16]:
        return (
            " The release sweep has not run this version of the example on the other releases yet."
        )
    swept = [
        f"{releases[0]} to {releases[-1]}"
        for series, releases in sorted(record["releases"].items())
        if series in entry["runs"] and len(releases) > 1
    ]
    by_outcome: dict[str, list[str]] = {}
    for series in sorted(entry["runs"], reverse=True):
        for run in reversed(entry["runs"][series]):
            by_outcome.setdefault(run["outcome"], []).append(measured_summaries.release_span(run))
    if all(outcome.startswith("not run: ") for outcome in by_outcome):
        needs = next(iter(by_outcome)).removeprefix("not run: ")
        return f" The release sweep does not run it on the other releases: it {needs}."
    if set(by_outcome) == {"passes"}:
        return f" Run alone on every release from {' and '.join(swept)}: it passes on each."
    parts = [f"it passes on {' and '.join(by_outcome.pop('passes', ['none']))}"]
    for outcome, spans in by_outcome.items():
        parts.append(f"on {' and '.join(spans)} it {outcome.replace('{release}', 'the release')}")
    return f" Run alone on every release from {' and '.join(swept)}: " + "; ".join(parts) + "."


def server_databases() -> list[str]:
    """``PostgreSQL 15.18``, ``MariaDB 10.11.19``: what the full build recorded on."""
    from session_sync import dialects

    return [database["database"] for database in dialects.other_databases()]


def sentence(example: str) -> str:
    import sqlalchemy

    built_with = sqlalchemy.__version__
    others = other_releases(example, built_with)
    text = (
        f"Verified on SQLAlchemy {built_with} when this page was built (Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version})"
    )
    if others:
        text += (
            f", and standalone on SQLAlchemy {' and '.join(others)} (nox -s versions, run "
            "before every change lands)"
        )
    servers = server_databases()
    if servers:
        text += f"; on {' and '.join(servers)} too, in this full build."
    else:
        text += (
            ". This build ran on SQLite only: the full build (nox -s docs-full, the one "
            "published on GitHub Pages) runs every example on PostgreSQL and MariaDB too."
        )
    return text + across_releases(example)


def add_verified_on(app, doctree: nodes.document) -> None:
    docname = app.env.docname
    if not docname.startswith("auto_examples/") or docname.endswith("/index"):
        return
    top = next(iter(doctree.findall(nodes.section)), None)
    if top is None:
        return
    app.env.note_dependency(str(SERIES_FILE))
    app.env.note_dependency(str(EXAMPLES_RECORD))
    paragraph = nodes.paragraph("", sentence(docname.removeprefix("auto_examples/") + ".py"))
    paragraph["classes"].append("verified-on")
    # Before Sphinx-Gallery's download buttons, which related_pages.py then moves after the
    # related pages: the sentence ends the page's own content.
    footer = next(
        (c for c in top.findall(nodes.container) if "sphx-glr-footer" in c["classes"]), None
    )
    if footer is None:
        top += paragraph
        return
    while footer.parent is not top:
        footer = footer.parent
    at = top.index(footer)
    if at and isinstance(top[at - 1], nodes.target):
        at -= 1
    top.insert(at, paragraph)


def substitutions() -> dict[str, str]:
    """For how-verified.md: the other verified releases, and the databases."""
    import sqlalchemy

    others = [s["verified"] for s in verified_series().values()]
    others = [r for r in others if r != sqlalchemy.__version__]
    servers = server_databases()
    return {
        "verified_releases": " and ".join(others),
        "verified_databases": " and ".join(servers)
        if servers
        else "none in this build (SQLite only; the full build, nox -s docs-full, adds "
        "PostgreSQL and MariaDB)",
    }


def setup(app):
    app.connect("doctree-read", add_verified_on, priority=390)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
