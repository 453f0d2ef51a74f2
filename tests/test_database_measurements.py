"""The full build shows where the measured outcomes differ by database (measured_summaries.py).

The recordings here are made by hand in the layout dialect_capture.py writes; the end-to-end run
on real servers is tests/test_dialects.py's full-build test (`nox -s dialects`).
"""

import json
import sys

from sitebuild import ROOT

sys.path.insert(0, str(ROOT / "sphinxext"))
import measured_summaries as summaries  # noqa: E402

SQLITE = {
    "sqlalchemy": "2.1.9",
    "cells": {
        "auto/case": {"verdict": "synced", "memory": 5, "database": 5},
        "fetch/fresh": {"verdict": "synced"},
        "auto/division": {"verdict": "synced", "memory": 2.5, "database": 2.5},
    },
}


def record(folder, database, example, measured):
    path = folder / example.parent.name / f"{example.stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"database": database, "cells": {}, "measured": measured}))


def test_each_database_lists_the_outcomes_that_differ_from_sqlite(tmp_path, monkeypatch):
    matrix, operations, *_ = summaries.EXAMPLES
    mariadb = {
        "auto/case": {"verdict": "stale", "memory": 5, "database": 9},
        "fetch/fresh": {"verdict": "synced"},
        "auto/division": {"verdict": "wrong", "memory": 2.5, "database": 3},
    }
    record(tmp_path / "2-mariadb", "MariaDB 10.11.19", matrix, mariadb)
    record(tmp_path / "2-mariadb", "MariaDB 10.11.19", operations, {"x/y": {"verdict": "synced"}})
    monkeypatch.setenv(summaries.DIALECT_SQL_ENV, str(tmp_path))
    (found,) = summaries.other_database_measurements()
    assert found["database"] == "MariaDB 10.11.19"
    assert set(found["cells"]) == {"auto/case", "fetch/fresh", "auto/division", "x/y"}
    assert summaries.database_differences(SQLITE, found) == [
        ("auto/case", "synced", "stale: 5, database 9"),
        ("auto/division", "synced", "wrong: 2.5, database 3"),
    ]


def test_the_same_verdict_with_other_values_shows_the_values():
    other = {"cells": {"fetch/fresh": {"verdict": "synced", "statements": 2}}}
    sqlite = {"cells": {"fetch/fresh": {"verdict": "synced", "statements": 1}}}
    ((key, here, there),) = summaries.database_differences(sqlite, other)
    assert (key, json.loads(here), json.loads(there)) == (
        "fetch/fresh",
        {"verdict": "synced", "statements": 1},
        {"verdict": "synced", "statements": 2},
    )


def test_without_recordings_there_is_nothing_to_compare(monkeypatch):
    monkeypatch.delenv(summaries.DIALECT_SQL_ENV, raising=False)
    assert summaries.other_database_measurements() == []


def test_the_default_build_says_where_the_other_databases_are(site):
    page = site.page("dialect-differences.html")
    assert "The full build (nox -s docs-full) runs them on PostgreSQL and MariaDB too" in page
