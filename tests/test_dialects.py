"""Same code, three databases: every example on real PostgreSQL and MariaDB servers.

Run by `nox -s dialects` (which installs the servers and the drivers), not by `nox -s tests`.
The servers are throwaway ones from tests/databases.py: one per database for this module, each
example in a fresh database of its own. Without the servers' binaries these tests skip on a
developer's machine but fail on CI (CI is set), where a skip would hide a missing install step.
At the end, a summary lists how long each server took to start and stop and each example to run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict

import databases
import pytest
from bs4 import BeautifulSoup

from sitebuild import EXAMPLES, ROOT, build_site, project_with_one_example, run_example

# The drivers: the sync one, then the async one (databases.ASYNC_DRIVERS) the asyncio examples use.
SERVERS = {
    "postgresql": (databases.postgresql_server, databases.postgresql_missing, ("psycopg",)),
    "mariadb": (databases.mariadb_server, databases.mariadb_missing, ("pymysql", "aiomysql")),
}
EXAMPLE_IDS = [str(path.relative_to(ROOT / "examples")) for path in EXAMPLES]


def require(name: str) -> None:
    """Skip (fail on CI) when this database's server or driver is not installed."""
    _, missing, drivers = SERVERS[name]
    reason = missing()
    for driver in drivers if reason is None else ():
        try:
            __import__(driver)
        except ImportError:
            reason = f"the {driver} driver is not installed (requirements/dialects.in)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{name} tests cannot run on CI: {reason}")
        pytest.skip(f"{name} tests need a {name} server: {reason}")


def select_one(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(text("SELECT 1"))
    finally:
        engine.dispose()


# --- timings, printed at the end of the run ----------------------------------------------------


class TimingReport:
    """A pytest plugin: collects the servers' and the examples' times, prints them at the end."""

    def __init__(self):
        self.servers: list[tuple[str, dict]] = []
        self.examples: dict[str, dict[str, float]] = defaultdict(dict)

    def pytest_terminal_summary(self, terminalreporter):
        write = terminalreporter.write_line
        terminalreporter.write_sep("-", "dialect timings (seconds)")
        steps = ["init", "start", "setup", "stop"]
        write(f"{'server':<28}" + "".join(f"{step:>8}" for step in steps))
        for label, timings in self.servers:
            cells = "".join(
                f"{timings[step]:>8.2f}" if step in timings else f"{'-':>8}" for step in steps
            )
            write(f"{label:<28}{cells}")
        if not self.examples:
            return
        names = sorted({db for runs in self.examples.values() for db in runs})
        width = max(len(example) for example in self.examples) + 2
        write(f"{'example':<{width}}" + "".join(f"{name:>12}" for name in names))
        for example in EXAMPLE_IDS:
            if example in self.examples:
                runs = self.examples[example]
                write(f"{example:<{width}}" + "".join(f"{runs.get(n, 0):>12.2f}" for n in names))
        totals = [sum(runs.get(n, 0) for runs in self.examples.values()) for n in names]
        write(f"{'all examples':<{width}}" + "".join(f"{total:>12.2f}" for total in totals))


@pytest.fixture(scope="session")
def timing_report(request) -> TimingReport:
    report = request.config.pluginmanager.get_plugin("dialect-timings")
    if report is None:
        report = TimingReport()
        request.config.pluginmanager.register(report, "dialect-timings")
    return report


# --- (a) the servers themselves -----------------------------------------------------------------


@pytest.mark.parametrize("name", SERVERS)
def test_server_answers_on_loopback_only_and_leaves_nothing(name, timing_report):
    require(name)
    start = SERVERS[name][0]
    with start() as url:
        assert select_one(url) == 1
        processes = databases.process_tree(url.pid)
        listening = databases.listening_addresses(url.pid)
        assert listening == {("127.0.0.1", url.port)}, f"listens only on 127.0.0.1: {listening}"
        assert url.directory.is_dir()
    timing_report.servers.append((f"{name} (lifecycle test)", url.timings))
    assert not any(os.path.exists(f"/proc/{pid}") for pid in processes), "every process ended"
    assert databases.port_is_free(url.port), "the port is free again"
    assert not url.directory.exists(), "the temporary directory is gone"


@pytest.mark.parametrize("name", SERVERS)
def test_server_stops_when_the_body_raises(name, timing_report):
    require(name)
    start = SERVERS[name][0]
    with pytest.raises(ZeroDivisionError), start() as url:
        processes = databases.process_tree(url.pid)
        1 / 0  # noqa: B018 - the error under test
    timing_report.servers.append((f"{name} (body raised)", url.timings))
    assert not any(os.path.exists(f"/proc/{pid}") for pid in processes), "every process ended"
    assert databases.port_is_free(url.port), "the port is free again"
    assert not url.directory.exists(), "the temporary directory is gone"


def test_missing_binaries_are_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(databases, "POSTGRESQL_BIN", tmp_path)
    monkeypatch.setattr(databases, "SEARCH_PATH", str(tmp_path))
    for start in (databases.postgresql_server, databases.mariadb_server):
        with pytest.raises(databases.ServerUnavailable, match="apt-get install"), start():
            pytest.fail("no server can start without its binaries")


# --- (b) every example on every server ----------------------------------------------------------


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request, timing_report):
    """One server per database for the whole module."""
    require(request.param)
    with SERVERS[request.param][0]() as url:
        yield request.param, url
    timing_report.servers.append((f"{request.param} (examples)", url.timings))


@pytest.mark.parametrize("example", EXAMPLES, ids=EXAMPLE_IDS)
def test_example_runs_on_each_database(example, server, tmp_path, timing_report):
    name, url = server
    label = str(example.relative_to(ROOT / "examples"))
    # An example that uses create_async_engine runs on the same server through an async driver.
    database_url = databases.url_for_example(
        databases.fresh_database(url, label), example.read_text()
    )
    start = time.perf_counter()
    result = run_example(example, tmp_path, database_url)
    timing_report.examples[label][name] = time.perf_counter() - start
    assert result.returncode == 0, f"{label} on {name}:\n{result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr


def code_cell_followed_by(page, code_contains: str, css_class: str):
    """The first element of `css_class` after the code cell whose code contains the text."""
    for code in page.select("div.highlight-Python"):
        if code_contains in code.get_text():
            return code.find_next_sibling(class_=css_class)
    raise AssertionError(f"no code cell contains {code_contains!r}")


def test_full_build_shows_each_cells_sql_on_every_database_as_tabs(tmp_path):
    """What `nox -s docs-full` does, for one example: record on both servers, then build."""
    for name in SERVERS:
        require(name)
    example = ROOT / "examples" / "synchronize_session" / "dialect_differences.py"
    project = project_with_one_example(tmp_path, example.name, example.read_text())
    (project / "tests").mkdir()  # dialect_capture.py takes url_for_example from there
    shutil.copy(ROOT / "tests" / "databases.py", project / "tests")
    recordings = tmp_path / "dialect-sql"
    for order, (name, (server, _, _)) in enumerate(SERVERS.items(), start=1):
        with server() as url:
            recorded = subprocess.run(
                [
                    sys.executable,
                    str(project / "sphinxext" / "dialect_capture.py"),
                    str(recordings / f"{order}-{name}"),
                    str(project / "examples" / "myths" / example.name),
                ],
                env={**os.environ, "DATABASE_URL": url, "MPLBACKEND": "Agg"},
                capture_output=True,
                text=True,
            )
        assert recorded.returncode == 0, recorded.stderr
    built = build_site(project, env={"SESSION_SYNC_DIALECT_SQL": str(recordings)})
    assert built.returncode == 0, built.output

    page = BeautifulSoup(built.page("auto_examples/myths/dialect_differences.html"), "html.parser")
    assert not page.select(".sql-dialects-note"), "a full build does not point to itself"
    fetch = code_cell_followed_by(page, '"synchronize_session": "fetch"', "sql-dialects")
    labels = [label.get_text().strip() for label in fetch.select("label")]
    assert labels[0].startswith("SQLite ") and "differs" not in labels[0], labels
    assert labels[1].startswith("PostgreSQL 15.") and "differs" not in labels[1], labels
    assert labels[2].startswith("MariaDB 10.11.") and labels[2].endswith("(differs)"), labels
    assert "sql-dialects-differ" in fetch["class"]
    panels = fetch.select(".sd-tab-content")
    sqlite, postgresql, mariadb = (
        "".join(pre.get_text() for pre in panel.select("pre")) for panel in panels
    )
    # The statement that matters carries a note: the SELECT 'fetch' sends first on MariaDB.
    note = " ".join(p.get_text() for p in panels[2].select("p.sql-note"))
    assert "'fetch'" in note and "no UPDATE ... RETURNING" in note, note
    assert "RETURNING" in sqlite and "RETURNING" in postgresql and "::VARCHAR" in postgresql
    assert "RETURNING" not in mariadb
    assert re.search(
        r"SELECT users\.id\s+FROM users\s+WHERE users\.status.*UPDATE users SET status",
        mariadb,
        re.S,
    ), f"MariaDB: the keys are selected before the UPDATE:\n{mariadb}"

    delete = code_cell_followed_by(page, "delete(User)", "sql-dialects")
    assert "sql-dialects-differ" not in delete["class"], "DELETE ... RETURNING everywhere"


def test_full_build_records_the_measured_outcomes_of_each_database(tmp_path):
    """dialect_capture.py keeps what the behaviour matrix measured on each server, and the
    full build lists where that differs from SQLite (``counter / 2``: 3, not 2.5)."""
    for name in SERVERS:
        require(name)
    sys.path.insert(0, str(ROOT / "sphinxext"))
    import measured_summaries

    matrix = ROOT / "examples" / "synchronize_session" / "behaviour_matrix.py"
    recordings = tmp_path / "dialect-sql"
    for order, (name, (server, _, _)) in enumerate(SERVERS.items(), start=1):
        with server() as url:
            recorded = subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "sphinxext" / "dialect_capture.py"),
                    str(recordings / f"{order}-{name}"),
                    str(matrix),
                ],
                env={**os.environ, "DATABASE_URL": url, "MPLBACKEND": "Agg"},
                capture_output=True,
                text=True,
            )
        assert recorded.returncode == 0, recorded.stderr
    os.environ[measured_summaries.DIALECT_SQL_ENV] = str(recordings)
    try:
        postgresql, mariadb = measured_summaries.other_database_measurements()
    finally:
        del os.environ[measured_summaries.DIALECT_SQL_ENV]
    sqlite = measured_summaries.measure_matrix([matrix])
    for database in (postgresql, mariadb):
        differing = {
            row[0]: row for row in measured_summaries.database_differences(sqlite, database)
        }
        assert differing["auto/division"][1:] == ("synced", "wrong: 2.5, database 3"), database
    assert postgresql["database"].startswith("PostgreSQL 15.")
    assert "auto/padspace" in {
        row[0] for row in measured_summaries.database_differences(sqlite, mariadb)
    }
