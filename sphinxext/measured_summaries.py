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
- ````{measured-release-changes}```` : what changed from release to release, from the
  committed sweep (``docs/_measured/releases.json``, written by ``nox -s release_sweep``,
  which runs the measuring examples on every release with ``measure_release``; ``nox -s
  versions`` checks it on the verified releases, and the build on its own).

Where releases measured different verdicts for a cell, ``{measured}`` shows each with its
releases ("wrong on 2.1 and 2.0.0-2.0.58; expired on 2.0.59"), from the sweep.

Only the standard library is imported at module level: ``tests/test_measured_summaries.py``
imports ``measure_matrix`` on SQLAlchemy releases with no Sphinx installed.
"""

from __future__ import annotations

import ast
import concurrent.futures
import contextlib
import hashlib
import io
import itertools
import json
import os
import re
import runpy
import sys
import traceback
import types
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MATRIX = ROOT / "examples" / "synchronize_session" / "behaviour_matrix.py"
OPERATIONS = ROOT / "examples" / "session_lifecycle" / "operations_measured.py"
QUESTIONS = ROOT / "examples" / "session_lifecycle" / "questions_measured.py"
# Runs on 1.4 too: the sweep measures 1.4.54 against 2.x with it.
VERSIONS = ROOT / "examples" / "synchronize_session" / "version_differences.py"
# Each defines MEASURED, and LABELS (labels "<its file name>_<section>") where not the matrix.
EXAMPLES = [MATRIX, OPERATIONS, QUESTIONS, VERSIONS]
MATRIX_LABEL = "sphx_glr_auto_examples_synchronize_session_behaviour_matrix.py"
MEASURED_DIR = ROOT / "docs" / "_measured"
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


def _in_a_thread_of_its_own(function, *, quiet_stderr: bool = False):
    """Call ``function()`` as an example runs here: on SQLite in memory (``DATABASE_URL``
    set aside), its printed output and warnings not ours, in a thread of its own: an example
    may start an event loop (``asyncio.run``), which fails in a thread where one runs already
    (a test process that drove Playwright's sync API)."""
    saved = os.environ.pop("DATABASE_URL", None)
    errors = contextlib.redirect_stderr(io.StringIO()) if quiet_stderr else contextlib.nullcontext()
    try:
        with contextlib.redirect_stdout(io.StringIO()), errors, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                return pool.submit(function).result()
    finally:
        if saved is not None:
            os.environ["DATABASE_URL"] = saved


def _run(path: Path) -> dict:
    """Run one example; its namespace."""
    return _in_a_thread_of_its_own(lambda: runpy.run_path(str(path), run_name=path.stem))


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


class _ClaimsRecorded(ast.NodeTransformer):
    """``assert test, message`` becomes ``__claim__(test, lambda: message, line)``: the test is
    still evaluated (a claim that reads an attribute loads it, as it does in a normal run), but
    a claim that does not hold on this release is recorded instead of ending the run."""

    def visit_Assert(self, node):
        message = node.msg if node.msg is not None else ast.Constant(ast.unparse(node.test))
        call = ast.Call(
            func=ast.Name("__claim__", ast.Load()),
            args=[
                node.test,
                ast.Lambda(
                    ast.arguments(
                        posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]
                    ),
                    message,
                ),
                ast.Constant(node.lineno),
            ],
            keywords=[],
        )
        return ast.copy_location(ast.Expr(call), node)


CELL_START = re.compile(r"^# %%", re.M)


def _cells(path: Path) -> list:
    """The example's cells as Sphinx-Gallery splits them (on ``# %%``), each compiled with
    its claims recorded and its own line numbers."""
    source = path.read_text(encoding="utf-8")
    starts = [0, *(m.start() for m in CELL_START.finditer(source))]
    compiled = []
    for start, end in itertools.pairwise([*starts, len(source)]):
        text = "\n" * source.count("\n", 0, start) + source[start:end]
        tree = _ClaimsRecorded().visit(ast.parse(text, str(path)))
        compiled.append(compile(ast.fix_missing_locations(tree), str(path), "exec"))
    return compiled


def _error_text(error: BaseException, path: Path) -> str:
    """An error in a few words, the same on every release: no address, no file path."""
    where = next(
        (f.lineno for f in traceback.extract_tb(error.__traceback__)[::-1]
         if f.filename == str(path)),
        None,
    )  # fmt: skip
    text = same_on_every_release(str(error)).splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''} (line {where})"


def same_on_every_release(text: str) -> str:
    """A message without what differs from run to run and release to release: addresses,
    and file paths in parentheses (a release's own site-packages)."""
    text = re.sub(r"0x[0-9a-fA-F]+", "0x...", text)
    return re.sub(r" \((/|[A-Za-z]:\\)[^()]*\)", "", text)


def _run_to_the_end(path: Path) -> dict:
    """Run an example as ``_run`` does, but through every claim and every cell: returns its
    namespace, the claims that did not hold (line and message), and the cells that raised
    (an API this release lacks, or a behaviour it has not), each after the other: a cell
    that fails does not keep the next from running."""
    failed: list[list] = []
    reached: set[str] = set()
    errors: list[str] = []

    def claim(holds, message, line):
        try:
            text = str(message())
        except Exception as error:  # the message itself could not be made on this release
            text = f"(message: {type(error).__name__})"
        reached.add(text)
        if not holds:
            failed.append([line, text])

    # A module in sys.modules, as runpy makes one: Mapped[...] annotations resolve through it.
    module = types.ModuleType(path.stem)
    namespace = module.__dict__
    namespace.update(__file__=str(path), __claim__=claim)

    def run():
        saved_module = sys.modules.get(path.stem)
        sys.modules[path.stem] = module
        try:
            for code in _cells(path):
                try:
                    exec(code, namespace)
                except Exception as error:
                    errors.append(_error_text(error, path))
        finally:
            if saved_module is None:
                sys.modules.pop(path.stem, None)
            else:
                sys.modules[path.stem] = saved_module

    _in_a_thread_of_its_own(run, quiet_stderr=True)
    return {
        "namespace": namespace,
        "failed_claims": failed,
        "claims_reached": sorted(reached),
        # The first error: what the outcomes it left unmeasured are recorded with.
        "stopped": errors[0] if errors else None,
        "errors": errors,
    }


def measure_release(paths: list[Path] | None = None) -> dict:
    """What the measuring examples measure on the SQLAlchemy installed here, whatever it does:
    the release sweep and the release watch run this on every release. Unlike
    ``measure_matrix``, a claim that does not hold or an error (an API the release lacks) ends
    nothing: the cells measured are kept, the claims that failed are listed, and an example
    that stopped says where; the cells it did not reach are missing (the sweep marks them)."""
    import platform
    import sqlite3

    import sqlalchemy

    cells, labels, examples = {}, {}, {}
    for path in [p for p in (paths or EXAMPLES) if p.exists()]:
        ran = _run_to_the_end(path)
        measured = ran["namespace"].get("MEASURED", {})
        cells.update(measured)
        if path == MATRIX and "SLUGS" in ran["namespace"]:
            operations = list(ran["namespace"]["SLUGS"].values())
            labels.update({key: matrix_label(operations, key) for key in measured})
        else:
            own = ran["namespace"].get("LABELS", {})
            labels.update({key: own[key] for key in measured if key in own})
        examples[path.name] = {
            "keys": sorted(measured),
            "failed_claims": ran["failed_claims"],
            "claims_reached": ran["claims_reached"],
            "stopped": ran["stopped"],
            "errors": ran["errors"],
        }
    return {
        "sqlalchemy": sqlalchemy.__version__,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cells": json.loads(json.dumps(cells, sort_keys=True)),
        "labels": dict(sorted(labels.items())),
        "examples": examples,
    }


RELEASES = MEASURED_DIR / "releases.json"
SWEEP = "nox -s release_sweep"


def committed_sweep() -> dict | None:
    """Every release's outcomes, as ``nox -s release_sweep`` committed them (None if absent)."""
    return json.loads(RELEASES.read_text()) if RELEASES.exists() else None


def release_key(version: str) -> tuple[int, ...]:
    """2.0.5.post1 sorts after 2.0.5 and before 2.0.6."""
    return tuple(int(part) for part in re.findall(r"\d+", version))


def series_of(version: str) -> str:
    return ".".join(version.split(".")[:2])


def swept_outcome(sweep: dict, key: str, release: str):
    """The committed outcome of a cell on a release the sweep measured (None otherwise)."""
    for run in sweep["cells"].get(key, {}).get(series_of(release), []):
        if release_key(run["from"]) <= release_key(release) <= release_key(run["to"]):
            return run["outcome"]
    return None


def release_span(run: dict) -> str:
    """'2.0.0-2.0.58' or '2.0.59': the releases a run of equal outcomes spans."""
    return run["from"] if run["from"] == run["to"] else f"{run['from']}\u2013{run['to']}"


def verdicts_by_release(sweep: dict, key: str) -> list[tuple[str, list[str]]]:
    """Where releases of 2.x measured different verdicts for a cell: each verdict with the
    releases that measured it, newest first ([] when they all agree). 1.4 and releases
    that could not measure the cell are left out: the version page lists those."""
    found: dict[str, list[str]] = {}
    for series in sorted(sweep["releases"], key=release_key, reverse=True):
        if series.startswith("1."):
            continue
        for run in reversed(sweep["cells"].get(key, {}).get(series, [])):
            if "verdict" in run["outcome"]:
                found.setdefault(run["outcome"]["verdict"], []).append(release_span(run))
    return list(found.items()) if len(found) > 1 else []


def outcome_words(before, after) -> tuple[str, str]:
    """Two outcomes in a few words each; in full where the verdicts alone would look equal."""

    def words(outcome):
        if "unmeasured" in outcome:
            return "not measurable: " + outcome["unmeasured"]
        return describe(outcome)

    pair = words(before), words(after)
    if pair[0] == pair[1]:
        pair = json.dumps(before, sort_keys=True), json.dumps(after, sort_keys=True)
    return pair


def release_changes(sweep: dict) -> list[dict]:
    """Each outcome that changed from one release of a series to the next: the first release
    with the new outcome, the old and the new. A cell that only became measurable (an API
    the older releases lack) is listed with ``since`` instead."""
    rows = []
    for key, by_series in sorted(sweep["cells"].items()):
        for series, history in sorted(by_series.items(), key=lambda item: release_key(item[0])):
            for before, after in itertools.pairwise(history):
                kind = "since" if "unmeasured" in before["outcome"] else "changed"
                rows.append(
                    {"key": key, "series": series, "release": after["from"], "kind": kind,
                     "before": before["outcome"], "after": after["outcome"],
                     "last_before": before["to"]}
                )  # fmt: skip
    return sorted(rows, key=lambda r: (release_key(r["release"]), r["kind"], r["key"]))


def newest_of_each_series(sweep: dict) -> dict[str, str]:
    return {series: releases[-1] for series, releases in sweep["releases"].items()}


def series_differences(sweep: dict, older: str, newer: str) -> list[str]:
    """The cells whose outcome differs between two releases the sweep measured on both."""
    keys = []
    for key in sorted(sweep["cells"]):
        a, b = swept_outcome(sweep, key, older), swept_outcome(sweep, key, newer)
        measured = [x for x in (a, b) if x is not None and "unmeasured" not in x]
        if len(measured) == 2 and a != b:
            keys.append(key)
    return keys


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
    _state["sweep"] = committed_sweep()
    _state["other_databases"] = other_database_measurements()
    check_sweep_against_this_build(_state["sweep"], _state["measured"])
    digest = json.dumps(
        [_state["measured"], _state["sweep"], _state["other_databases"]], sort_keys=True
    )
    _state["fingerprint"] = hashlib.sha256(digest.encode()).hexdigest()[:16]


def sweep_disagreements(sweep: dict, measured: dict) -> list[str]:
    """The cells whose committed outcome on this build's release is not what the build
    measured: the sweep is out of date (or the examples changed what they measure)."""
    release = measured["sqlalchemy"]
    if release not in sweep["releases"].get(series_of(release), []):
        return [f"SQLAlchemy {release} is not in the sweep"]
    keys = sorted(set(measured["cells"]) | set(sweep["cells"]))
    return [key for key in keys if swept_outcome(sweep, key, release) != measured["cells"].get(key)]


def check_sweep_against_this_build(sweep: dict | None, measured: dict) -> None:
    """The per-release outcomes the pages show come from the committed sweep: it must say what
    this build measured on its own release, or the pages would show another run's truth."""
    from sphinx.errors import ExtensionError

    if sweep is None or not measured["cells"]:
        return  # a trimmed copy of the site (tests/sitebuild.py) has neither
    wrong = sweep_disagreements(sweep, measured)
    if wrong:
        shown = ", ".join(wrong[:8]) + (f" and {len(wrong) - 8} more" if len(wrong) > 8 else "")
        raise ExtensionError(
            f"{RELEASES.relative_to(ROOT)} disagrees with this build's measurement on "
            f"SQLAlchemy {measured['sqlalchemy']}: {shown}. Run {SWEEP} and commit the file."
        )


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
    by_release = verdicts_by_release(_state["sweep"], key) if _state["sweep"] else []
    others = {k: verdicts_by_release(_state["sweep"], k) for k in keys} if _state["sweep"] else {}
    if any(value != by_release for value in others.values()):
        logger.warning(
            f"measured: {', '.join(keys)} differ by release in different ways: give each "
            "its own {measured} role",
            location=location, type="measured", subtype="releases",
        )  # fmt: skip
    if by_release:
        if claim is not None and claim != cell["verdict"]:
            by_release = []  # the mismatch above fails the build; show the claim alone
        else:
            shown = "; ".join(
                f"{verdict} on {' and '.join(spans)}" for verdict, spans in by_release
            )
    xref = addnodes.pending_xref(
        rawtext,
        refdomain="std",
        reftype="ref",
        reftarget=section_label(measured, key),
        refexplicit=True,
        refwarn=True,
    )
    xref += nodes.Text(shown)
    # The reference resolves into its own inline node: the emphasis goes around it. In HTML it
    # names the cells it quotes (data-measured-keys): what tells a measured verdict from words
    # written by hand in the same style (tests/test_measured_summaries.py).
    emphasis = measured_verdict_node()(
        "", "", xref, classes=["measured", f"measured-{cell['verdict']}"], keys=keys
    )
    return [emphasis], []


_node_classes: dict = {}


def measured_verdict_node():
    """The node class of a verdict the role shows (made on first use: it needs docutils,
    which this module does not import at module level)."""
    name = "MeasuredVerdict"
    if name not in _node_classes:
        from docutils import nodes

        class MeasuredVerdict(nodes.emphasis):
            """A verdict the {measured} role shows; ``keys``: the cells it quotes. Builders
            without a visitor of their own show it as emphasis (Sphinx visits a node through
            its classes' visitors, in order)."""

        MeasuredVerdict.__module__ = __name__
        MeasuredVerdict.__qualname__ = name  # pickle finds it by this name
        _node_classes[name] = MeasuredVerdict
    return _node_classes[name]


def __getattr__(name: str):
    # A pickled doctree names the node class as an attribute of this module.
    if name == "MeasuredVerdict":
        return measured_verdict_node()
    raise AttributeError(name)


def visit_measured_verdict_html(translator, node) -> None:
    keys = " ".join(node["keys"])
    translator.body.append(translator.starttag(node, "em", "", **{"data-measured-keys": keys}))


def depart_measured_verdict_html(translator, node) -> None:
    translator.body.append("</em>")


def literal_table(heads: list[str], rows: list):
    """A table of short code values, a head row first."""
    from docutils import nodes

    def code(value):
        return nodes.literal(value, value)

    return node_table([code(h) for h in heads], [[code(v) for v in row] for row in rows])


def database_differences(sqlite: dict, other: dict) -> list[tuple[str, str, str]]:
    """The cells whose outcome on another database differs from SQLite's, in a few words."""
    rows = []
    for key in sorted(set(sqlite["cells"]) & set(other["cells"])):
        here, there = sqlite["cells"][key], other["cells"][key]
        if here != there:
            rows.append((key, *outcome_words(here, there)))
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


def cell_link(key: str):
    """The cell's key, linked to the section of its example that shows it."""
    from docutils import nodes
    from sphinx import addnodes

    labels = {**(_state["sweep"] or {}).get("labels", {}), **_state["measured"]["labels"]}
    xref = addnodes.pending_xref(
        "", refdomain="std", reftype="ref", reftarget=labels[key], refexplicit=True, refwarn=True
    )
    xref += nodes.literal(key, key)
    return xref


def node_table(heads: list[str], rows: list[list]):
    """A table whose cells are text or nodes, a head row first."""
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
            content = nodes.Text(value) if isinstance(value, str) else value
            row += nodes.entry("", nodes.paragraph("", "", content))
        target += row
    return table


def _release_changes_directive():
    from docutils import nodes
    from docutils.parsers.rst import Directive, directives

    class ReleaseChanges(Directive):
        """What the loaded objects see, release by release, from the committed sweep.

        ``:newest-differ-only-in:`` lists the cells (``fnmatch`` patterns) the page's prose
        says differ between the newest releases of the two 2.x series: the build fails when
        another cell differs there, or a listed one does not."""

        option_spec = {"newest-differ-only-in": directives.unchanged_required}

        def run(self):
            env = self.state.document.settings.env
            _uses(env).add(env.docname)
            sweep, live = _state["sweep"], _state["measured"]
            if sweep is None:
                raise self.error(f"no {RELEASES.relative_to(ROOT)}: run {SWEEP}")
            newest = newest_of_each_series(sweep)
            measured_series = {s: r for s, r in sweep["releases"].items() if s.startswith("2.")}
            spans = " and ".join(f"{r[0]} to {r[-1]}" for _, r in sorted(measured_series.items()))
            count = sum(len(r) for r in measured_series.values())
            text = (
                f"Measured on every release from {spans} ({count} releases, Python "
                f"{sweep['python']}, SQLite {sweep['sqlite']}), and on {newest.get('1.4', '-')} "
                f"the page about version differences: {len(sweep['cells'])} outcomes, by "
                f"{SWEEP}; this build measured SQLAlchemy {live['sqlalchemy']} again and got "
                "the same."
            )
            output = [nodes.paragraph(text, text)]

            first_2_0 = sweep["releases"]["2.0"][0]
            if "1.4" in newest:
                keys = series_differences(sweep, newest["1.4"], first_2_0)
                text = (
                    f"From {newest['1.4']} to {first_2_0}: {len(keys)} outcomes differ "
                    "(only the page about version differences runs on 1.4)."
                )
                output.append(nodes.paragraph(text, text))
                rows = [
                    [cell_link(key), *outcome_words(
                        swept_outcome(sweep, key, newest["1.4"]),
                        swept_outcome(sweep, key, first_2_0))]
                    for key in keys
                ]  # fmt: skip
                if rows:
                    output.append(node_table(["1.4 to 2.0", newest["1.4"], first_2_0], rows))

            older, newer = newest["2.0"], newest["2.1"]
            keys = series_differences(sweep, older, newer)
            if "newest-differ-only-in" in self.options:
                problem = unexpected_differences(
                    keys, self.options["newest-differ-only-in"].split()
                )
                if problem:
                    raise self.error(f"{older} and {newer}: {problem}")
            text = (
                f"Between the newest releases of each series, {older} and {newer}: "
                f"{len(keys)} of {len(sweep['cells'])} outcomes differ."
            )
            output.append(nodes.paragraph(text, text))
            if keys:
                rows = [
                    [cell_link(key), *outcome_words(
                        swept_outcome(sweep, key, older), swept_outcome(sweep, key, newer))]
                    for key in keys
                ]  # fmt: skip
                output.append(node_table(["outcome", older, newer], rows))

            changes = [c for c in release_changes(sweep) if c["kind"] == "changed"]
            text = (
                f"Release by release: {len(changes)} outcomes changed within a series, each "
                "at the first release that measured the new outcome."
            )
            output.append(nodes.paragraph(text, text))
            if changes:
                rows = [
                    [c["release"], cell_link(c["key"]),
                     *outcome_words(c["before"], c["after"])]
                    for c in changes
                ]  # fmt: skip
                output.append(node_table(["first release", "outcome", "before", "from then"], rows))

            since: dict[tuple[str, str], list[str]] = {}
            for c in release_changes(sweep):
                if c["kind"] == "since":
                    reason = c["before"]["unmeasured"].split(" stopped: ", 1)
                    since.setdefault((c["release"], reason[0]), []).append(reason[-1])
            for (release, example), reasons in sorted(
                since.items(), key=lambda item: release_key(item[0][0])
            ):
                text = (
                    f"{example} measures from {release} on: on older releases it stopped with "
                    f"{sorted(set(reasons))[0]}, and those outcomes are recorded as not "
                    "measurable."
                )
                output.append(nodes.paragraph(text, text))
            return output

    return ReleaseChanges


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
    app.add_node(
        measured_verdict_node(),
        html=(visit_measured_verdict_html, depart_measured_verdict_html),
    )
    app.add_directive("measured-release-changes", _release_changes_directive())
    app.add_directive("measured-database-differences", _database_differences_directive())
    app.connect("env-get-outdated", outdated)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
