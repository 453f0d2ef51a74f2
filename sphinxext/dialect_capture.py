"""Record, cell by cell, the SQL examples send to the database named by DATABASE_URL.

    DATABASE_URL=postgresql+psycopg://... python sphinxext/dialect_capture.py OUT_DIR EXAMPLE...

writes OUT_DIR/<section>/<name>.json for each example. `nox -s docs-full` runs it once per
database server before building the site;
the capture layer (session_sync/dialects.py) then shows each cell's SQL on every database as
tabs. Cells are split exactly as Sphinx-Gallery splits them, and run the same way: one namespace
per example, one cell after the other, so a cell is found again by its first line.
"""

import contextlib
import io
import json
import os
import sys
from pathlib import Path

from sphinx_gallery.py_source_parser import split_code_and_text_blocks
from sqlalchemy import MetaData, create_engine

from session_sync import dialects, recording, state

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from databases import url_for_example  # noqa: E402 - the async driver choice the tests make


def record_example(path: Path) -> tuple[dict[str, list[dict]], dict | None]:
    """The SQL records of each code cell of one example, keyed by the cell's first line; and
    what a measuring example measured (its ``MEASURED`` dict) on this database."""
    _, blocks = split_code_and_text_blocks(str(path))
    transcript = recording.SqlTranscript(echo_to_stdout=False)
    recording.start_recording(transcript, state.ObjectTracker())
    namespace = {"__name__": "__main__", "__file__": str(path)}
    cells: dict[str, list[dict]] = {}
    previous_directory = os.getcwd()
    os.chdir(path.parent)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for block in blocks:
                if block.type != "code":
                    continue
                padded = "\n" * (block.lineno - 1) + block.content
                exec(compile(padded, str(path), "exec"), namespace)
                cells[str(block.lineno)] = transcript.new_cell()
    finally:
        os.chdir(previous_directory)
        recording.stop_recording()
        _close_figures()
    measured = namespace.get("MEASURED")
    return cells, (json.loads(json.dumps(measured, sort_keys=True)) if measured else None)


def _close_figures() -> None:
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


PRODUCT_NAMES = {"postgresql": "PostgreSQL", "mysql": "MySQL", "sqlite": "SQLite"}


def server_name(url: str) -> str:
    """What the server calls itself, e.g. ``PostgreSQL 15.18`` or ``MariaDB 10.11.19``."""
    engine = create_engine(url)
    with engine.connect() as connection:
        dialect = connection.dialect
        version = ".".join(
            str(part) for part in dialect.server_version_info[:3] if isinstance(part, int)
        )
    engine.dispose()
    product = "MariaDB" if getattr(dialect, "is_mariadb", False) else dialect.name
    return f"{PRODUCT_NAMES.get(product, product)} {version}"


def empty_database(url: str) -> None:
    """Examples share table names with different columns: each starts from an empty database."""
    engine = create_engine(url)
    tables = MetaData()
    tables.reflect(engine)
    tables.drop_all(engine)
    engine.dispose()


def main(output_dir: str, *examples: str) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    url = os.environ["DATABASE_URL"]
    database = server_name(url)
    for example in map(Path, examples):
        empty_database(url)
        os.environ["DATABASE_URL"] = url_for_example(url, example.read_text())
        cells, measured = record_example(example.resolve())
        output = Path(output_dir) / Path(dialects.example_key(example)).with_suffix(".json")
        output.parent.mkdir(parents=True, exist_ok=True)
        recording = {"database": database, "cells": cells}
        if measured is not None:
            recording["measured"] = measured
        output.write_text(json.dumps(recording, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
