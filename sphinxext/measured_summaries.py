"""Summaries measured, not written: the cheat sheet and decision guide quote the behaviour matrix.

At the start of a build (``builder-inited``, before Sphinx-Gallery runs the examples, so the capture
layer's listeners are not installed) the measuring examples (``EXAMPLES``: the behaviour matrix,
``operations_measured.py`` and ``questions_measured.py``) run with ``runpy.run_path`` on SQLite
in memory; each one's module-level ``MEASURED`` dict maps a key such as
``"<operation>/<situation>"`` to what ran, and its optional ``LABELS`` dict maps a key to the
label of the section that measures it. One key belongs to one example. The measurement is kept
in the doctree folder and run again only when the measuring examples, SQLAlchemy, SQLite or
Python changed. Pages then use:

- ``{measured}`fetch/renamed``` : the measured verdict ("synced"), linked to the section that
  proves it;
- ``{measured}`stale <auto/case>``` : a hand-written claim, linked the same way; when the
  measurement says otherwise the build warns (an error under ``-W``), naming the page, the line
  and the row;
- ````{measured-database-differences}```` : in the full build (``nox -s docs-full``), where
  the measuring examples' outcomes on PostgreSQL and MariaDB (recorded by dialect_capture.py)
  differ from SQLite's;
- ````{measured-version-differences}```` : where the committed measurement of another
  SQLAlchemy series (``docs/_measured/behaviour-matrix-<series>.json``, checked by
  ``nox -s versions``) differs from this build's own, or a sentence saying they agree.

Only the standard library is imported at module level: ``tests/test_measured_summaries.py``
imports ``measure_matrix`` on SQLAlchemy releases with no Sphinx installed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import io
import json
import os
import re
import runpy
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MATRIX = ROOT / "examples" / "synchronize_session" / "behaviour_matrix.py"
OPERATIONS = ROOT / "examples" / "session_lifecycle" / "operations_measured.py"
QUESTIONS = ROOT / "examples" / "session_lifecycle" / "questions_measured.py"
# Each defines MEASURED, and LABELS (labels "<its file name>_<section>") where not the matrix.
EXAMPLES = [MATRIX, OPERATIONS, QUESTIONS]
MATRIX_LABEL = "sphx_glr_auto_examples_synchronize_session_behaviour_matrix.py"
MEASURED_DIR = ROOT / "docs" / "_measured"
REFRESH = "SESSION_SYNC_WRITE_MEASURED=1 nox -s \"versions(series='{series}')\""
EMPTY = {
    "sqlalchemy": "-", "series": "-", "cells": {}, "labels": {}, "operations": [], "situations": []
}  # fmt: skip
ROW_ANCHOR = re.compile(r"^\{row\}`[^`]*`\s*")
CLAIM = re.compile(r"^(?P<claim>.*?)\s*<(?P<key>[^<>]+)>$", re.S)


MISSING_GREENLET_PAGE = ROOT / "examples" / "asyncio" / "missing_greenlet.py"
# The async drivers in the order the summaries name them.
ASYNC_DRIVERS = ("aiosqlite", "psycopg", "asyncpg", "aiomysql")


def _missing_greenlet_pairs(path: Path) -> dict[str, list]:
    """``WRAPPED_WITH`` and ``BARE_WITH`` of the page: (release, driver) pairs."""
    import ast

    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            name = getattr(node.targets[0], "id", None)
            if name in ("WRAPPED_WITH", "BARE_WITH"):
                found[name] = ast.literal_eval(node.value)
    return found


def missing_greenlet_form_changes(path: Path = MISSING_GREENLET_PAGE) -> str:
    """The drivers whose ``MissingGreenlet`` form differs between 2.0 and 2.1, as the
    version-differences page names them ("aiosqlite and psycopg")."""
    found = _missing_greenlet_pairs(path)
    wrapped = set(found["WRAPPED_WITH"])
    changed = [
        driver
        for driver in ASYNC_DRIVERS
        if (("2.0", driver) in wrapped) != (("2.1", driver) in wrapped)
    ]
    return ", ".join(changed[:-1]) + (" and " if len(changed) > 1 else "") + changed[-1]


def missing_greenlet_advice(path: Path = MISSING_GREENLET_PAGE) -> str:
    """What the cheat sheet and decision guide must say about the two forms, from the code of
    ``missing_greenlet.py``, which asserts it on every run: the pools of its ``engines`` under
    which a read after commit raises the error bare, and the ``except`` of its
    ``missing_greenlet()``, which catches both forms."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    pools, caught = [], ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "engines":
            pools = [key.value for key in node.value.keys if key.value != "default pool"]
        if isinstance(node, ast.FunctionDef) and node.name == "missing_greenlet":
            handler = next(n for n in ast.walk(node) if isinstance(n, ast.ExceptHandler))
            caught = ast.unparse(handler.type).replace("exc.", "")
    named = " or ".join(f"`{pool}`" for pool in pools)
    return (
        f"bare when the read must first open or ping a connection ({named}): "
        f"catch both, `except {caught}`, and check `.orig`"
    )


def _run(path: Path) -> dict:
    """Run one example on SQLite in memory; its printed output and warnings are not ours.
    In a thread of its own: an example may start an event loop (``asyncio.run``), which fails
    in a thread where one runs already (a test process that drove Playwright's sync API)."""
    saved = os.environ.pop("DATABASE_URL", None)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                return pool.submit(runpy.run_path, str(path), run_name=path.stem).result()
    finally:
        if saved is not None:
            os.environ["DATABASE_URL"] = saved


def measure_matrix(paths: list[Path] | None = None) -> dict:
    """Run every measuring example (those present: a trimmed site copy may lack some)."""
    import sqlalchemy

    cells, labels, operations, situations = {}, {}, [], []
    for path in [p for p in (paths or EXAMPLES) if p.exists()]:
        namespace = _run(path)
        twice = set(cells) & set(namespace["MEASURED"])
        assert not twice, f"{path.name} measures keys another example measures: {sorted(twice)}"
        cells.update(namespace["MEASURED"])
        own = namespace.get("LABELS", {})
        if path == MATRIX:
            operations = list(namespace["SLUGS"].values())
            situations = list(namespace["SITUATIONS"])
            own = {key: matrix_label(operations, key) for key in namespace["MEASURED"]}
        missing = set(namespace["MEASURED"]) - set(own)
        assert not missing, f"{path.name}: no LABELS entry for {sorted(missing)}"
        labels.update(own)
    return {
        "sqlalchemy": sqlalchemy.__version__,
        "series": ".".join(sqlalchemy.__version__.split(".")[:2]),
        "database": "sqlite",
        # Through JSON, so a live measurement compares equal to a committed one.
        "cells": json.loads(json.dumps(cells, sort_keys=True)),
        "labels": dict(sorted(labels.items())),
        "operations": operations,
        "situations": situations,
    }


def committed_measurements() -> dict[str, dict]:
    """The committed measurements, by series ("2.0", "2.1")."""
    found = {}
    for path in sorted(MEASURED_DIR.glob("behaviour-matrix-*.json")):
        data = json.loads(path.read_text())
        found[data["series"]] = data
    return found


def matrix_label(operations: list[str], key: str) -> str:
    """The label of the matrix section that shows a cell."""
    operation, _, situation = key.partition("/")
    if operation in operations:
        return f"behaviour_matrix_{situation}"
    return "behaviour_matrix_more"


def section_label(measured: dict, key: str) -> str:
    """The label of the example's section that shows a cell."""
    return measured["labels"][key]


def describe(cell: dict) -> str:
    """A measured cell in a few words: 'wrong: 6, database 11'."""
    if "memory" in cell and cell["verdict"] in ("wrong", "stale"):
        return f"{cell['verdict']}: {cell['memory']}, database {cell['database']}"
    return cell["verdict"]


def differences(older: dict, newer: dict) -> list[tuple[str, str, str]]:
    keys = sorted(set(older["cells"]) | set(newer["cells"]))
    rows = []
    for key in keys:
        a, b = older["cells"].get(key), newer["cells"].get(key)
        if a != b:
            rows.append((key, json.dumps(a, sort_keys=True), json.dumps(b, sort_keys=True)))
    return rows


def unexpected_differences(keys: list[str], patterns: list[str]) -> str:
    """What contradicts a page's list of the cells that differ ('' when nothing does)."""
    from fnmatch import fnmatchcase

    extra = [k for k in keys if not any(fnmatchcase(k, p) for p in patterns)]
    missing = [p for p in patterns if not any(fnmatchcase(k, p) for k in keys)]
    problems = []
    if extra:
        problems.append(f"cells differ that the page does not name: {', '.join(extra)}")
    if missing:
        problems.append(f"the page names cells that agree: {', '.join(missing)}")
    return "; ".join(problems)


# ---------------------------------------------------------------------------
# Sphinx
# ---------------------------------------------------------------------------

_state: dict = {}


def measurement_key() -> str:
    """What a measurement depends on: the measuring examples and what runs them."""
    import platform
    import sqlite3

    import sqlalchemy

    digest = hashlib.sha256(
        f"{sqlalchemy.__version__} {sqlite3.sqlite_version} {platform.python_version()}".encode()
    )
    for path in EXAMPLES:
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()


def cached_measurement(cache: Path) -> dict:
    """The measurement, run again only when what it depends on changed (not on every build)."""
    key = measurement_key()
    try:
        saved = json.loads(cache.read_text())
        if saved["key"] == key:
            return saved["measured"]
    except (OSError, ValueError, KeyError):
        pass
    # A trimmed copy of the site (tests/sitebuild.py) may have no matrix: nothing quotes it then.
    measured = measure_matrix() if any(p.exists() for p in EXAMPLES) else EMPTY
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": key, "measured": measured}, sort_keys=True))
    return measured


# Set by `nox -s docs-full`: what dialect_capture.py recorded on each server, one folder per
# database, <folder>/<section>/<name>.json; a measuring example's recording has "measured".
DIALECT_SQL_ENV = "SESSION_SYNC_DIALECT_SQL"


def other_database_measurements() -> list[dict]:
    """What the measuring examples measured on PostgreSQL and MariaDB in the full build."""
    folder = os.environ.get(DIALECT_SQL_ENV)
    if not folder:
        return []
    found = []
    for database_dir in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
        cells, name = {}, None
        for example in EXAMPLES:
            recording = database_dir / example.parent.name / f"{example.stem}.json"
            if recording.exists():
                data = json.loads(recording.read_text())
                name = data["database"]
                cells.update(data.get("measured", {}))
        if cells:
            found.append({"database": name, "cells": cells})
    return found


def run_matrix(app) -> None:
    _state["measured"] = cached_measurement(Path(app.doctreedir) / "measured-summaries.json")
    _state["committed"] = committed_measurements()
    _state["other_databases"] = other_database_measurements()
    digest = json.dumps(
        [_state["measured"], _state["committed"], _state["other_databases"]], sort_keys=True
    )
    _state["fingerprint"] = hashlib.sha256(digest.encode()).hexdigest()[:16]


def _uses(env) -> set:
    if not hasattr(env, "measured_summaries_docs"):
        env.measured_summaries_docs = set()
    return env.measured_summaries_docs


def _row_name(env, docname: str, lineno: int) -> str:
    """The first cell of the table row at that line, to name the row in an error."""
    try:
        line = Path(env.doc2path(docname)).read_text().splitlines()[lineno - 1]
    except (OSError, IndexError):
        return "?"
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
    # A row's anchor ({row}`label`, sphinxext/related_pages.py) is no part of its name.
    return ROW_ANCHOR.sub("", cells[0]) if cells else line.strip()


def measuring_example(label: str) -> Path:
    """The measuring example whose page has the label."""
    return next((p for p in EXAMPLES[1:] if label.startswith(f"{p.stem}_")), MATRIX)


def _source(key: str) -> str:
    example = measuring_example(_state["measured"]["labels"].get(key, ""))
    return "the behaviour matrix" if example == MATRIX else example.name


def measured_role(name, rawtext, text, lineno, inliner, options=None, content=()):
    from docutils import nodes
    from sphinx import addnodes
    from sphinx.util import logging

    env = inliner.document.settings.env
    _uses(env).add(env.docname)
    measured = _state["measured"]
    match = CLAIM.match(text)
    claim, keys = (match["claim"], match["key"].split()) if match else (None, [text.strip()])
    logger = logging.getLogger(__name__)
    location = (env.docname, lineno)
    for key in keys:
        cell = measured["cells"].get(key)
        if cell is None:
            known = ", ".join(sorted(measured["cells"]))
            logger.warning(
                f"measured: no cell {key!r} in the measurements (cells: {known})",
                location=location,
                type="measured",
                subtype="unknown",
            )
            return [nodes.Text(text)], []
        if claim is not None and claim != cell["verdict"]:
            row = _row_name(env, env.docname, lineno)
            logger.warning(
                f"measured: row {row!r} claims {claim!r} for {key}, but "
                f"{_source(key)} measured {describe(cell)!r} "
                f"(SQLAlchemy {measured['sqlalchemy']}, SQLite)",
                location=location,
                type="measured",
                subtype="mismatch",
            )
    key, cell = keys[0], measured["cells"][keys[0]]
    shown = claim if claim is not None else describe(cell)
    xref = addnodes.pending_xref(
        rawtext,
        refdomain="std",
        reftype="ref",
        reftarget=section_label(measured, key),
        refexplicit=True,
        refwarn=True,
    )
    xref += nodes.Text(shown)
    # The reference resolves into its own inline node: the emphasis goes around it.
    emphasis = nodes.emphasis("", "", xref, classes=["measured", f"measured-{cell['verdict']}"])
    return [emphasis], []


def literal_table(heads: list[str], rows: list):
    """A table of short code values, a head row first."""
    from docutils import nodes

    table = nodes.table()
    group = nodes.tgroup(cols=len(heads))
    table += group
    group.extend(nodes.colspec(colwidth=1) for _ in heads)
    thead, tbody = nodes.thead(), nodes.tbody()
    group += thead
    group += tbody
    for target, cells in ((thead, heads), *((tbody, r) for r in rows)):
        row = nodes.row()
        for value in cells:
            row += nodes.entry("", nodes.paragraph("", "", nodes.literal(value, value)))
        target += row
    return table


def database_differences(sqlite: dict, other: dict) -> list[tuple[str, str, str]]:
    """The cells whose outcome on another database differs from SQLite's, in a few words."""
    rows = []
    for key in sorted(set(sqlite["cells"]) & set(other["cells"])):
        here, there = sqlite["cells"][key], other["cells"][key]
        if here != there:
            words = describe(here), describe(there)
            if words[0] == words[1]:  # the same verdict, other values: show them all
                words = json.dumps(here, sort_keys=True), json.dumps(there, sort_keys=True)
            rows.append((key, *words))
    return rows


def _database_differences_directive():
    from docutils import nodes
    from docutils.parsers.rst import Directive

    class DatabaseDifferences(Directive):
        """Where PostgreSQL's or MariaDB's measurement differs from this build's SQLite one."""

        def run(self):
            env = self.state.document.settings.env
            _uses(env).add(env.docname)
            live, others = _state["measured"], _state["other_databases"]
            if not others:
                text = (
                    "This build ran the measuring examples on SQLite only. The full build "
                    "(nox -s docs-full) runs them on PostgreSQL and MariaDB too and lists here "
                    "every outcome that differs from SQLite's."
                )
                return [nodes.paragraph(text, text)]
            output = []
            for other in others:
                rows = database_differences(live, other)
                shared = len(set(live["cells"]) & set(other["cells"]))
                text = (
                    f"{other['database']}: {len(rows)} of {shared} measured outcomes differ from "
                    f"SQLite's (SQLAlchemy {live['sqlalchemy']})."
                )
                output.append(nodes.paragraph(text, text))
                if rows:
                    output.append(literal_table(["cell", "SQLite", other["database"]], rows))
            return output

    return DatabaseDifferences


def _version_differences_directive():
    from docutils import nodes
    from docutils.parsers.rst import Directive, directives

    class VersionDifferences(Directive):
        """Where the committed matrix of another series differs from this build's.

        ``:differ-only-in:`` lists the cell keys (``fnmatch`` patterns) the page's prose says
        differ: the build fails when another cell differs, or a listed one does not."""

        option_spec = {"differ-only-in": directives.unchanged_required}

        def run(self):
            env = self.state.document.settings.env
            _uses(env).add(env.docname)
            live = _state["measured"]
            output = []
            others = {s: m for s, m in _state["committed"].items() if s != live["series"]}
            if not others:
                raise self.error("no committed measurement of another series in docs/_measured")
            for _series, other in sorted(others.items()):
                older, newer = sorted([other, live], key=lambda m: m["series"])
                rows = differences(older, newer)
                if "differ-only-in" in self.options:
                    problem = unexpected_differences(
                        [key for key, _, _ in rows], self.options["differ-only-in"].split()
                    )
                    if problem:
                        raise self.error(
                            f"{older['sqlalchemy']} and {newer['sqlalchemy']}: {problem}"
                        )

                def source(m):
                    where = "this build" if m is live else "committed, nox -s versions"
                    return f"{m['sqlalchemy']} ({where})"

                intro = (
                    f"The behaviour matrix on SQLite, measured with SQLAlchemy {source(older)} "
                    f"and {source(newer)}: "
                )
                if not rows:
                    text = intro + f"all {len(live['cells'])} cells agree, verdicts and values."
                    output.append(nodes.paragraph(text, text))
                    continue
                text = intro + f"{len(rows)} of {len(live['cells'])} cells differ."
                output.append(nodes.paragraph(text, text))
                heads = ["cell", older["sqlalchemy"], newer["sqlalchemy"]]
                table = literal_table(heads, rows)
                output.append(table)
            return output

    return VersionDifferences


def outdated(app, env, added, changed, removed):
    """A new measurement: read again every page that quotes it."""
    if getattr(env, "measured_summaries_fingerprint", None) == _state["fingerprint"]:
        return []
    env.measured_summaries_fingerprint = _state["fingerprint"]
    return sorted(_uses(env) - set(removed))


def purge(app, env, docname):
    _uses(env).discard(docname)


def merge(app, env, docnames, other):
    _uses(env).update(_uses(other) & set(docnames))


def setup(app):
    # Before Sphinx-Gallery's own builder-inited (priority 500): no capture listeners yet.
    app.connect("builder-inited", run_matrix, priority=200)
    app.add_role("measured", measured_role)
    app.add_directive("measured-version-differences", _version_differences_directive())
    app.add_directive("measured-database-differences", _database_differences_directive())
    app.connect("env-get-outdated", outdated)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
