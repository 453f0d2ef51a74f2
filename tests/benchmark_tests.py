"""Test-suite benchmark (`nox -s bench_tests`): what the suite costs, in clean site builds.

For the working tree (and, with ``--before REV``, for another revision too, checked out into a
git worktree under build/bench-tests/), on this machine, one after the other:

1. a clean build of the site, as ``nox -s docs`` makes it (the unit: absolute times move with
   the machine and its load, a ratio much less);
2. the suite as ``nox -s tests`` runs it (that tree's noxfile: its workers, its ignored
   files; ``CI`` set: nothing may skip), timed, with pytest's JUnit report, from which each
   file's share is read (a file's time includes the time its tests waited for a shared build:
   a session fixture is paid by the first test using it; with two workers the files' times add
   up to about twice the wall time).

Prints a Markdown table: per file, seconds and tests; then the suite's wall time, the clean
build's, and their ratio; and the CPU time of all the suite's processes, with the least wall
time it allows on this machine's cores (CPU time / cores), in clean builds: what no ordering or
parallelism of the same work can go below.
"""

from __future__ import annotations

import argparse
import ast
import collections
import ctypes
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from sitebuild import BROWSER_ASSETS, SOURCE_PARTS, build_env, sphinx_command

ROOT = Path(__file__).resolve().parents[1]


# prctl's option that hands orphaned descendants to this process (linux/prctl.h).
PR_SET_CHILD_SUBREAPER = 36


def nox_settings(tree: Path) -> dict:
    """The literal settings of the tree's own noxfile (SERVER_TESTS, PARALLEL): a revision's
    suite is run as its `nox -s tests` runs it."""
    module = ast.parse((tree / "noxfile.py").read_text(encoding="utf-8"))
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in module.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("SERVER_TESTS", "PARALLEL")
    }


def checkout(revision: str, folder: Path) -> Path:
    """The revision's files in a git worktree of their own (made again each time)."""
    if folder.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT)
        shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), revision], cwd=ROOT, check=True
    )
    node_modules = folder / "node_modules"
    if (ROOT / "node_modules").is_dir() and not node_modules.exists():
        node_modules.symlink_to(ROOT / "node_modules")
    return folder


def clean_build_seconds(tree: Path) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch) / "project"
        project.mkdir()
        for part in SOURCE_PARTS:
            source = tree / part
            if source.is_dir():
                shutil.copytree(source, project / part)
            elif source.exists():
                shutil.copy2(source, project / part)
        start = time.perf_counter()
        built = subprocess.run(
            sphinx_command(project / "build" / "html"),
            cwd=project,
            env=build_env(),
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
    if built.returncode:
        sys.exit(f"the clean build of {tree} failed:\n{built.stdout}{built.stderr}")
    return seconds


def adopt_orphans() -> None:
    """Makes this process the one an orphaned descendant is handed to (Linux's child
    subreaper), so that it is waited for here and its CPU time counted: Chromium's renderers
    outlive the processes that started them."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(ctypes.get_errno())}")


def wait_for_orphans(grace: float = 10.0) -> None:
    """Waits for the descendants handed to this process, up to `grace` seconds after the last
    one ended (a process still running then is left alone and not counted)."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # none left
        if pid:
            deadline = time.monotonic() + grace
        else:
            time.sleep(0.1)


def process_kind(command: list[str]) -> str:
    """What a process of the suite is, by its command line."""
    line = " ".join(command)
    program = Path(command[0]).name if command else ""
    if "chrom" in program:
        return "Chromium"
    if "sphinx" in line:
        return "Sphinx builds"
    # `pip --python` runs again as `python .../site-packages/pip` in the environment it fills.
    if "-m pip" in line or "pip" in (Path(part).name for part in command):
        return "pip"
    if program == "node":
        return "Node (Playwright's driver, the snapshot)"
    if program.startswith("python"):
        return "Python (pytest and its workers, the recorder, the examples)"
    return "other"


class CpuByKind(threading.Thread):
    """Samples this process's descendants twice a second: each one's CPU time, by kind of
    process. A process is named by its pid and start time (a pid comes back); what it used
    after its last sample, or a process shorter than half a second, is not seen, so these are
    shares of what was sampled; the suite's exact total is children_cpu_seconds()'s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stopping = threading.Event()
        self.seen: dict[tuple[int, int], list] = {}  # (pid, start) -> [kind, cpu seconds]
        self.tick = os.sysconf("SC_CLK_TCK")

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            self.sample()

    def sample(self) -> None:
        children: dict[int, list[int]] = collections.defaultdict(list)
        stats = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            fields = stat[stat.rfind(")") + 2 :].split()
            pid = int(entry.name)
            children[int(fields[1])].append(pid)
            stats[pid] = ((int(fields[11]) + int(fields[12])) / self.tick, int(fields[19]))
        waiting = list(children[os.getpid()])
        while waiting:
            pid = waiting.pop()
            waiting += children[pid]
            cpu, start = stats[pid]
            known = self.seen.get((pid, start))
            if known is None or known[0] == "other":
                try:
                    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    command = []
                kind = process_kind([part.decode(errors="replace") for part in command if part])
                known = self.seen[(pid, start)] = [kind, cpu]
            known[1] = max(known[1], cpu)

    def shares(self) -> dict[str, float]:
        self.stopping.set()
        self.join()
        total: collections.Counter = collections.Counter()
        for kind, cpu in self.seen.values():
            total[kind] += cpu
        whole = sum(total.values()) or 1
        return {kind: cpu / whole for kind, cpu in total.most_common()}


def children_cpu_seconds() -> float:
    """The CPU time (user and system) of every process this one has waited for, and of theirs."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def suite(tree: Path, report: Path) -> tuple[float, float, dict[str, float], int]:
    """The suite's wall time, the CPU time of all its processes (workers, builds, Chromium,
    Pyodide, pip: the suite cannot take less wall time than this over the machine's cores),
    the shares of that CPU time by kind of process, and pytest's return code."""
    settings = nox_settings(tree)
    ignore = [f"--ignore={path}" for path in settings["SERVER_TESTS"]]
    parallel = settings.get("PARALLEL", ())
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *parallel, *ignore]
    env = {**os.environ, "CI": "true", "SESSION_SYNC_BROWSER_ASSETS": str(BROWSER_ASSETS)}
    cpu = children_cpu_seconds()
    sampler = CpuByKind()
    sampler.start()
    start = time.perf_counter()
    ran = subprocess.run([*command, f"--junitxml={report}", "tests"], cwd=tree, env=env)
    wall = time.perf_counter() - start
    wait_for_orphans()
    return wall, children_cpu_seconds() - cpu, sampler.shares(), ran.returncode


def per_file(report: Path) -> dict[str, tuple[float, int]]:
    seconds: collections.Counter = collections.Counter()
    counts: collections.Counter = collections.Counter()
    for case in ET.parse(report).iter("testcase"):
        name = case.get("classname", "").split(".")
        module = next((part for part in name if part.startswith("test_")), ".".join(name))
        seconds[module] += float(case.get("time", 0))
        counts[module] += 1
    return {module: (seconds[module], counts[module]) for module in seconds}


def measure(label: str, tree: Path, scratch: Path) -> dict:
    print(f"# {label}: a clean build", flush=True)
    before = clean_build_seconds(tree)
    print(f"# {label}: the suite", flush=True)
    report = scratch / f"{label}.xml"
    wall, cpu, cpu_shares, returncode = suite(tree, report)
    print(f"# {label}: a clean build again", flush=True)
    after = clean_build_seconds(tree)
    return {
        # The unit: the mean of a build before the suite and one after (the machine's speed
        # moves within minutes: one build alone has read 28 s and 36 s an hour apart).
        "build": (before + after) / 2,
        "builds": [before, after],
        "wall": wall,
        "cpu": cpu,
        "cpu_shares": cpu_shares,
        "cores": os.cpu_count(),
        "returncode": returncode,
        "files": per_file(report),
    }


def table(runs: dict[str, dict]) -> str:
    labels = list(runs)
    files = sorted(
        {module for run in runs.values() for module in run["files"]},
        key=lambda module: -max(run["files"].get(module, (0, 0))[0] for run in runs.values()),
    )
    head = "| file | " + " | ".join(f"{label}: s (tests)" for label in labels) + " |"
    lines = [head, "| --- |" + " ---: |" * len(labels)]
    for module in files:
        cells = []
        for label in labels:
            seconds, count = runs[label]["files"].get(module, (0.0, 0))
            cells.append(f"{seconds:.0f} ({count})" if count else "-")
        lines.append(f"| `{module}.py` | " + " | ".join(cells) + " |")
    for name, key in (("suite, wall", "wall"), ("clean site build", "build")):
        figures = " | ".join(f"{runs[label][key]:.0f} s" for label in labels)
        lines.append(f"| {name} | {figures} |")
    ratios = " | ".join(f"**{runs[label]['wall'] / runs[label]['build']:.1f}**" for label in labels)
    lines.append(f"| suite in clean builds | {ratios} |")
    cpu = " | ".join(f"{runs[label]['cpu']:.0f} s" for label in labels)
    lines.append(f"| suite, CPU time of all its processes | {cpu} |")
    # The least wall time the suite's CPU time allows on this machine's cores, in clean builds.
    floors = " | ".join(
        f"{run['cpu'] / run['cores'] / run['build']:.1f} ({run['cores']} cores)"
        for run in runs.values()
    )
    lines.append(f"| least wall time that CPU allows, in clean builds | {floors} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a revision to measure first, for comparison")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--only-before", action="store_true", help="measure --before only")
    options = parser.parse_args()
    adopt_orphans()
    runs = {}
    with tempfile.TemporaryDirectory() as scratch:
        if options.before:
            tree = checkout(options.before, ROOT / "build" / "bench-tests" / options.before)
            runs[f"before ({options.before})"] = measure("before", tree, Path(scratch))
        if not options.only_before:
            runs["now"] = measure("now", ROOT, Path(scratch))
    print(table(runs))
    for label, run in runs.items():
        shares = ", ".join(f"{kind} {share:.0%}" for kind, share in run["cpu_shares"].items())
        print(f"{label}: the CPU time by kind of process (sampled): {shares}")
    if options.json:
        options.json.write_text(json.dumps(runs, indent=1))
    failed = [label for label, run in runs.items() if run["returncode"]]
    if failed:
        print(f"the suite failed on: {', '.join(failed)} (its figures include the failure)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
