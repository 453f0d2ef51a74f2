"""Build benchmark (`nox -s bench`): how long the builds authors and docs CI live with take.

Every figure comes from one run on one machine, each build in its own clean copy of the sources.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sitebuild import EXAMPLES, ROOT, build_site, copy_sources


def timed_build(project: Path, *args: str, env: dict | None = None) -> float:
    start = time.perf_counter()
    built = build_site(project, *args, env=env)
    seconds = time.perf_counter() - start
    if built.returncode != 0:
        sys.exit(f"build failed:\n{built.output}")
    return seconds


def example_execution_seconds() -> float:
    """Every example run once, in one warm interpreter: the work the build cannot avoid."""
    script = (
        "import contextlib, io, os, runpy, sys, time\n"
        "total = 0.0\n"
        "for path in sys.argv[1:]:\n"
        "    os.chdir(os.path.dirname(path))\n"
        "    start = time.perf_counter()\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        runpy.run_path(path, run_name='__main__')\n"
        "    total += time.perf_counter() - start\n"
        "print(total)\n"
    )
    warm_up = "import sqlalchemy.orm, matplotlib.pyplot\n"
    result = subprocess.run(
        [sys.executable, "-c", warm_up + script, *map(str, EXAMPLES)],
        capture_output=True,
        text=True,
        check=True,
        env={"MPLBACKEND": "Agg"},
    )
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        serial = copy_sources(scratch / "serial")
        figures = {"clean build": timed_build(serial)}
        figures["rebuild, nothing changed"] = timed_build(serial)
        example = serial / EXAMPLES[0].relative_to(ROOT)
        example.write_text(example.read_text() + "\n# An edit by the benchmark.\n")
        figures["rebuild, one example changed"] = timed_build(serial)
        page = serial / "docs" / "cheat-sheet.md"
        page.write_text(page.read_text() + "\nAn edit by the benchmark.\n")
        figures["rebuild, one narrative page changed"] = timed_build(serial)
        figures["clean build, examples not run"] = timed_build(
            copy_sources(scratch / "no-run"), "-D", "plot_gallery=0"
        )
        figures["clean build, capture layer off"] = timed_build(
            copy_sources(scratch / "no-capture"), env={"SESSION_SYNC_CAPTURE": "off"}
        )
        figures["examples run standalone (sum)"] = example_execution_seconds()
        figures["clean build, pages read/written by 2 processes"] = timed_build(
            copy_sources(scratch / "sphinx-parallel"), "-j", "2"
        )
        figures["clean build, examples run by 2 processes too"] = timed_build(
            copy_sources(scratch / "all-parallel"), "-j", "2", env={"SESSION_SYNC_PARALLEL": "2"}
        )
    print_table(figures)


def print_table(figures: dict[str, float]) -> None:
    """A Markdown table, ready for the README's "Building" section."""
    clean = figures["clean build"]
    execution = figures["examples run standalone (sum)"]
    not_run = figures["clean build, examples not run"]
    rows = [(name, f"{seconds:.2f}", f"{seconds / clean:.0%}") for name, seconds in figures.items()]
    overhead = clean - not_run - execution
    capture = clean - figures["clean build, capture layer off"]
    rows += [
        (
            "overhead: clean - not run - standalone runs",
            f"{overhead:.2f}",
            f"{overhead / execution:.0%} of execution",
        ),
        (
            "of which the capture layer: clean - capture off",
            f"{capture:.2f}",
            f"{capture / execution:.0%} of execution",
        ),
    ]
    print("\n| measure | seconds | share |\n| --- | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(
        f"\n{len(EXAMPLES)} examples. Targets: unchanged rebuild < 15% of clean, one-example"
        " rebuild < 40%, overhead < 10% of execution."
    )


if __name__ == "__main__":
    main()
