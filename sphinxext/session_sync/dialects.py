"""The full build (``nox -s docs-full``): under each cell, tabs with the SQL it sent to SQLite,
PostgreSQL and MariaDB, the last two recorded beforehand by ``sphinxext/dialect_capture.py``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sqlite3
from pathlib import Path

from .rendering import group_chunks, highlighted_lines

# A folder with one folder per database, read in name order, each holding what
# dialect_capture.py recorded for every example: <database>/<section>/<name>.json.
DIALECT_SQL_ENV = "SESSION_SYNC_DIALECT_SQL"
PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|\?|(?<!:):\w+")
CAST = re.compile(r"::\w+(\[\])?")
QUALIFIED = re.compile(r"\b\w+\.(\w+)\b")


def dialect_files() -> list[Path]:
    folder = os.environ.get(DIALECT_SQL_ENV)
    return sorted(Path(folder).glob("*/**/*.json")) if folder else []


@functools.cache
def other_databases() -> tuple[dict, ...]:
    databases: dict[str, dict] = {}
    for path in dialect_files():
        recorded = json.loads(path.read_text())
        database = databases.setdefault(
            path.relative_to(os.environ[DIALECT_SQL_ENV]).parts[0],
            {"database": recorded["database"], "examples": {}},
        )
        database["examples"][example_key(path)] = recorded["cells"]
    return tuple(databases.values())


def example_key(path) -> str:
    """``section/name.py``: the example's path below the examples folder (or below its
    database's folder, for what dialect_capture.py recorded)."""
    parts = Path(path).with_suffix(".py").parts
    return "/".join(parts[-2:])


def comparable_statements(records: list[dict]) -> tuple[list[str], bool]:
    """The work a cell sent, with each driver's placeholders, casts, quoting and column
    qualification made alike; and whether schema set-up was left out of it."""
    statements, left_out_schema = [], False
    for group in group_chunks(records):
        if group["kind"] == "schema":
            left_out_schema = True
            continue
        for record in group["records"]:
            if "sql" in record:
                sql = CAST.sub("", PLACEHOLDER.sub("?", record["sql"]))
                sql = QUALIFIED.sub(r"\1", sql.replace('"', "").replace("`", ""))
                statements.append(" ".join(sql.split()))
    return statements, left_out_schema


def dialect_tabs_rst(src_file, lineno: int, sqlite_records: list[dict]) -> str:
    databases = other_databases()
    if not databases or not src_file:
        return ""
    tabs = [(f"SQLite {sqlite3.sqlite_version}", sqlite_records)]
    key = example_key(src_file)
    for database in databases:
        cells = database["examples"].get(key, {})
        if cells and str(lineno) not in cells:
            raise RuntimeError(
                f"The {database['database']} recording of {key} has no cell at "
                f"line {lineno}: the example changed since. Record it again "
                "(nox -s docs-full)."
            )
        tabs.append((database["database"], cells.get(str(lineno), [])))
    if not any(records for _, records in tabs):
        return ""
    reference, left_out_schema = comparable_statements(sqlite_records)
    differs = [comparable_statements(records)[0] != reference for _, records in tabs]
    if any(differs):
        caption = "The databases sent different statements for this cell: compare the tabs."
    else:
        caption = ("Apart from the schema set-up, this" if left_out_schema else "This") + (
            " cell sent the same statements to every database (each driver writes its own"
            " placeholders)."
        )
    lines = [
        "",
        ".. container:: sql-dialects" + (" sql-dialects-differ" if any(differs) else ""),
        "",
        "   .. rst-class:: sql-dialects-caption",
        "",
        f"   {caption}",
        "",
        "   .. tab-set::",
        "",
    ]
    for (label, records), different in zip(tabs, differs, strict=True):
        text, marked, notes = highlighted_lines(records)
        text = text or "-- no SQL sent"
        lines += [
            f"      .. tab-item:: {label}" + (" (differs)" if different else ""),
            "",
            "         .. code-block:: sql",
        ]
        if marked:
            lines.append("            :emphasize-lines: " + ",".join(map(str, marked)))
        lines.append("")
        lines += [f"            {line}" if line else "" for line in text.splitlines()]
        lines.append("")
        for note in notes:  # the same notes as under a SQL box, for this database's SQL
            lines += ["         .. rst-class:: sql-note", "", f"         {note}", ""]
    return "\n".join(lines) + "\n"
