"""Build benchmark (`nox -s bench`): how long the builds authors and docs CI live with take.

Every figure comes from one run on one machine, each build in its own clean copy of the sources:
wall-clock seconds, and the CPU seconds (user + system) of the build and every process it
started, which a machine shared with other work disturbs far less.
"""

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sitebuild import EXAMPLES, ROOT, build_site, copy_sources


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_build(project: Path, *args: str, env: dict | None = None) -> tuple[float, float]:
    start, cpu = time.perf_counter(), children_cpu_seconds()
    built = build_site(project, *args, env=env)
    seconds = time.perf_counter() - start
    if built.returncode != 0:
        sys.exit(f"build failed:\n{built.output}")
    return seconds, children_cpu_seconds() - cpu


def example_execution_seconds() -> tuple[float, float]:
    """Every example run once, in one warm interpreter: the work the build cannot avoid."""
    script = (
        "import contextlib, io, os, runpy, sys, time\n"
        "total = cpu = 0.0\n"
        "for path in sys.argv[1:]:\n"
        "    os.chdir(os.path.dirname(path))\n"
        "    start, started = time.perf_counter(), time.process_time()\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        runpy.run_path(path, run_name='__main__')\n"
        "    total += time.perf_counter() - start\n"
        "    cpu += time.process_time() - started\n"
        "print(total, cpu)\n"
    )
    warm_up = "import sqlalchemy.orm, matplotlib.pyplot\n"
    result = subprocess.run(
        [sys.executable, "-c", warm_up + script, *map(str, EXAMPLES)],
        capture_output=True,
        text=True,
        check=True,
        env={"MPLBACKEND": "Agg"},
    )
    wall, cpu = result.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


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


def print_table(figures: dict[str, tuple[float, float]]) -> None:
    """A Markdown table, ready for the README's "Building" section: wall-clock seconds, CPU
    seconds, and each as a share of the clean build's."""
    clean = figures["clean build"]
    execution = figures["examples run standalone (sum)"]
    not_run = figures["clean build, examples not run"]
    capture_off = figures["clean build, capture layer off"]

    def shares(values) -> list[str]:
        return [f"{values[0]:.2f}", f"{values[0] / clean[0]:.0%}"] + [
            f"{values[1]:.2f}",
            f"{values[1] / clean[1]:.0%}",
        ]

    rows = [(name, *shares(values)) for name, values in figures.items()]
    overhead = [clean[i] - not_run[i] - execution[i] for i in (0, 1)]
    capture = [clean[i] - capture_off[i] for i in (0, 1)]
    for name, values in (
        ("overhead: clean - not run - standalone runs", overhead),
        ("of which the capture layer: clean - capture off", capture),
    ):
        rows.append(
            (
                name,
                f"{values[0]:.2f}",
                f"{values[0] / execution[0]:.0%} of execution",
                f"{values[1]:.2f}",
                f"{values[1] / execution[1]:.0%} of execution",
            )
        )
    target = [f"{1.3 * (not_run[i] + execution[i]):.2f}" for i in (0, 1)]
    rows.append(("target: 1.3 x (not run + standalone runs)", target[0], "", target[1], ""))
    print(
        "\n| measure | seconds | share | CPU seconds | share |\n| --- | ---: | ---: | ---: | ---: |"
    )
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(
        f"\n{len(EXAMPLES)} examples. Targets: a clean build at most 1.3 x (a build that runs no"
        " example + the examples' standalone runs); an unchanged rebuild under 15% of a clean"
        " one."
    )


if __name__ == "__main__":
    main()
