"""What the loaded objects see, release by release: the sweep and the watch.

The measuring examples (sphinxext/measured_summaries.py's ``EXAMPLES``: the behaviour matrix,
``operations_measured.py``, ``questions_measured.py``) record each outcome in ``MEASURED``.

``python tools/release_sweep.py sweep`` runs them on every SQLAlchemy release of each supported
series (``requirements/sqlalchemy.toml``: from ``sweep_from`` to the newest on the package
index), each in its own cached virtual environment under ``build/release-envs/``, and writes
``docs/_measured/releases.json``: for every outcome, the runs of releases that measured the
same (the version page and the summaries read it). A claim that does not hold on a release,
or an API it lacks, ends nothing: the outcomes it could measure are kept, the others are
recorded as unmeasured, with the reason.

``python tools/release_sweep.py watch`` resolves the newest release of each series from the
package index (not from the pins), measures it, compares with the committed outcomes and exits
non-zero on any change, printing each (example, cell or claim, old, new). ``nox -s
release_watch`` runs it after running every example standalone on those releases.

``compare`` is the comparison alone, on measurements saved as JSON (the watch's own test uses
it); ``measure-here`` is what runs inside a release's environment.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERIES_FILE = ROOT / "requirements" / "sqlalchemy.toml"
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
COMMITTED = ROOT / "docs" / "_measured" / "releases.json"
ENVIRONMENTS = ROOT / "build" / "release-envs"
# What the measuring examples need besides SQLAlchemy (questions_measured.py runs asyncio).
PACKAGES = ["greenlet", "aiosqlite", "typing_extensions"]
FINAL_RELEASE = re.compile(r"^\d+\.\d+\.\d+(\.post\d+)?$")

sys.path.insert(0, str(ROOT / "sphinxext"))
sys.path.insert(0, str(ROOT / "tests"))
import measured_summaries  # noqa: E402  (standard library only at import)

import sitebuild  # noqa: E402  (standard library only)

EXAMPLES_RECORD = ROOT / "docs" / "_measured" / "examples.json"
# What every release's environment holds: an example that declares more is not run there.
IN_EVERY_ENVIRONMENT = {"sqlalchemy", "greenlet", "aiosqlite", "typing-extensions"}
EXAMPLE_TIMEOUT = 30  # seconds; an example takes 1-5 s


def supported_series() -> dict[str, dict]:
    return tomllib.loads(SERIES_FILE.read_text())["series"]


release_key = measured_summaries.release_key
series_of = measured_summaries.series_of


def available_releases() -> list[str]:
    """Every final SQLAlchemy release on the package index pip is configured with."""
    output = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "sqlalchemy"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in output.splitlines() if x.startswith("Available versions:"))
    versions = [v.strip() for v in line.split(":", 1)[1].split(",")]
    return sorted((v for v in versions if FINAL_RELEASE.match(v)), key=release_key)


def releases_to_sweep(available: list[str]) -> dict[str, list[str]]:
    """Per series, every release from its ``sweep_from`` to the newest available."""
    chosen = {}
    for series, settings in supported_series().items():
        start = release_key(settings["sweep_from"])
        chosen[series] = [
            v for v in available if series_of(v) == series and release_key(v) >= start
        ]
    return chosen


def newest_releases(available: list[str]) -> dict[str, str]:
    return {series: releases[-1] for series, releases in releases_to_sweep(available).items()}


def examples_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in measured_summaries.EXAMPLES:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def pinned_packages() -> list[str]:
    """The pins of what the measuring examples need besides SQLAlchemy."""
    wanted = {name.lower().replace("_", "-") for name in PACKAGES}
    pins = []
    for line in CONSTRAINTS.read_text().splitlines():
        name = line.split("==", 1)[0].lower().replace("_", "-")
        if "==" in line and name in wanted:
            pins.append(line.strip())
    return pins


def environment(version: str) -> Path:
    """A virtual environment holding this SQLAlchemy release, made once and kept."""
    folder = ENVIRONMENTS / f"sqlalchemy-{version}"
    python = folder / "bin" / "python"
    ready = folder / ".ready"
    wanted = " ".join([f"sqlalchemy=={version}", *pinned_packages()])
    if ready.exists() and ready.read_text() == wanted:
        return python
    venv.create(folder, with_pip=True, clear=True)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--only-binary", "sqlalchemy", *wanted.split()],
        capture_output=True, text=True,
    )  # fmt: skip
    if install.returncode != 0:
        raise RuntimeError(f"SQLAlchemy {version}: pip install failed:\n{install.stderr}")
    ready.write_text(wanted)
    return python


def measure(version: str) -> dict:
    """The measuring examples run on one release, in its environment (cached per release and
    measuring examples: a sweep run again after a change of theirs measures again)."""
    python = environment(version)
    cache = python.parent.parent / "measured.json"
    runner = hashlib.sha256(Path(measured_summaries.__file__).read_bytes()).hexdigest()[:16]
    fingerprint = f"{examples_fingerprint()} {runner}"
    if cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("fingerprint") == fingerprint:
            return saved["measured"]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    output = subprocess.run(
        [str(python), "-I", str(Path(__file__).resolve()), "measure-here"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    if output.returncode != 0:
        raise RuntimeError(f"SQLAlchemy {version}: the measurement itself failed:\n{output.stderr}")
    measured = json.loads(output.stdout)
    cache.write_text(json.dumps({"fingerprint": fingerprint, "measured": measured}))
    return measured


def key_owners(measurements: list[dict]) -> dict[str, str]:
    """Which example measures each cell (the newest release that measured it says)."""
    owners = {}
    for measured in sorted(measurements, key=lambda m: release_key(m["sqlalchemy"])):
        for example, ran in measured["examples"].items():
            owners.update(dict.fromkeys(ran["keys"], example))
    return owners


def outcome(measured: dict, key: str, owner: str) -> dict:
    if key in measured["cells"]:
        return measured["cells"][key]
    stopped = measured["examples"].get(owner, {}).get("stopped")
    return {"unmeasured": f"{owner} stopped: {stopped}" if stopped else f"{owner} has no {key}"}


def runs(releases: list[str], values: dict[str, object]) -> list[dict]:
    """Consecutive releases that measured the same, in order."""
    found: list[dict] = []
    for release in releases:
        value = values[release]
        if found and found[-1]["outcome"] == value:
            found[-1]["to"] = release
        else:
            found.append({"from": release, "to": release, "outcome": value})
    return found


def claim_status(measured: dict, example: str, text: str) -> str:
    ran = measured["examples"].get(example, {})
    if text in [t for _, t in ran.get("failed_claims", [])]:
        return "does not hold"
    return "holds" if text in ran.get("claims_reached", []) else "not reached"


def assemble(by_series: dict[str, list[str]], measurements: dict[str, dict]) -> dict:
    """The committed file: per cell and per series, the runs of releases alike; the same for
    each claim that does not hold on some release."""
    owners = key_owners(list(measurements.values()))
    cells: dict[str, dict] = {}
    for key in sorted(owners):
        cells[key] = {
            series: runs(
                releases, {r: outcome(measurements[r], key, owners[key]) for r in releases}
            )
            for series, releases in by_series.items()
        }
    claims: dict[str, dict] = {}
    texts = sorted(
        {
            (example, text)
            for m in measurements.values()
            for example, ran in m["examples"].items()
            for _, text in ran["failed_claims"]
        }
    )
    for example, text in texts:
        claims[f"{example}: {text}"] = {
            series: runs(
                releases, {r: claim_status(measurements[r], example, text) for r in releases}
            )
            for series, releases in by_series.items()
        }
    newest = max(measurements.values(), key=lambda m: release_key(m["sqlalchemy"]))
    return {
        "about": "nox -s release_sweep: the measuring examples on each release",
        "examples": [p.name for p in measured_summaries.EXAMPLES],
        "fingerprint": examples_fingerprint(),
        "python": newest["python"],
        "sqlite": newest["sqlite"],
        "releases": by_series,
        "labels": newest["labels"],
        "cells": cells,
        "claims": claims,
    }


def measure_all(releases: list[str], jobs: int) -> dict[str, dict]:
    started = time.monotonic()
    measurements = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(measure, r): r for r in releases}
        for future in concurrent.futures.as_completed(futures):
            release = futures[future]
            measurements[release] = future.result()
            stopped = [e for e, ran in measurements[release]["examples"].items() if ran["stopped"]]
            note = f" (stopped: {', '.join(stopped)})" if stopped else ""
            print(f"  {release}: measured{note}", flush=True)
    print(f"{len(releases)} releases measured in {time.monotonic() - started:.0f} s", flush=True)
    return measurements


# ---------------------------------------------------------------------------------------------
# Comparing a release's measurement with the committed outcomes
# ---------------------------------------------------------------------------------------------


def committed_outcome(committed: dict, key: str, release: str) -> tuple[str, object] | None:
    """The committed outcome of a cell on a release, or, for a release the sweep has not seen,
    on the newest committed release of its series: (the release it was measured on, outcome)."""
    swept = committed["releases"].get(series_of(release), [])
    compared = release if release in swept else (swept[-1] if swept else None)
    if compared is None:
        return None
    found = measured_summaries.swept_outcome(committed, key, compared)
    return None if found is None else (compared, found)


def changes(committed: dict, measured: dict) -> list[dict]:
    """Every cell and claim whose outcome on this release differs from what was committed."""
    release = measured["sqlalchemy"]
    series = series_of(release)
    owners = key_owners([measured])
    found = []
    keys = set(measured["cells"]) | {
        k for k, by_series in committed["cells"].items() if by_series.get(series)
    }
    for key in sorted(keys):
        before = committed_outcome(committed, key, release)
        owner = owners.get(key) or committed_owner(committed, key)
        now = outcome(measured, key, owner)
        old = before[1] if before else {"unmeasured": "not in the committed sweep"}
        if old != now:
            found.append(
                {"example": owner, "cell": key, "compared_with": before[0] if before else None,
                 "old": old, "new": now}
            )  # fmt: skip
    failing_now = {
        f"{example}: {text}"
        for example, ran in measured["examples"].items()
        for _, text in ran["failed_claims"]
    }
    for claim, by_series in committed["claims"].items():
        history = by_series.get(series) or []
        at = [r for r in history if release_key(r["from"]) <= release_key(release)]
        run = at[-1] if at else None
        old = run["outcome"] if run else "holds"
        new = claim_status(measured, *claim.split(": ", 1))
        if old != new:
            found.append(claim_change(claim, run["to"] if run else None, old, new))
    for claim in sorted(failing_now - set(committed["claims"])):
        found.append(claim_change(claim, None, "holds", "does not hold"))
    return found


def claim_change(claim: str, compared_with: str | None, old: str, new: str) -> dict:
    example = claim.split(":")[0]
    return {"example": example, "cell": f"claim {claim}", "compared_with": compared_with,
            "old": old, "new": new}  # fmt: skip


def committed_owner(committed: dict, key: str) -> str:
    label = committed["labels"].get(key, "")
    return measured_summaries.measuring_example(label).name


def report(release: str, found: list[dict]) -> str:
    if not found:
        return f"SQLAlchemy {release}: every measured outcome and claim as committed"
    lines = [f"SQLAlchemy {release}: {len(found)} outcome(s) changed"]
    for change in found:
        compared = f" (committed: {change['compared_with']})" if change["compared_with"] else ""
        lines.append(f"  {change['example']}, {change['cell']}{compared}")
        lines.append(f"      old: {json.dumps(change['old'], sort_keys=True)}")
        lines.append(f"      new: {json.dumps(change['new'], sort_keys=True)}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Every example, standalone, on every release
# ---------------------------------------------------------------------------------------------


def example_key(example: Path) -> str:
    return example.relative_to(ROOT / "examples").as_posix()


def source_digest(example: Path) -> str:
    return hashlib.sha256(example.read_bytes()).hexdigest()[:16]


def extra_packages(example: Path) -> list[str]:
    declared = sitebuild.script_metadata(example)["dependencies"]
    names = {sitebuild.distribution_name(r).split("[")[0] for r in declared}
    return sorted(names - IN_EVERY_ENVIRONMENT)


def run_alone(version: str, example: Path) -> str:
    """'passes', or why not in a line that reads the same on every release (no addresses,
    paths, or the release's own number): the example run as a reader runs it, copied alone
    into an empty folder, ``python -I``, with this release (cached per example source)."""
    python = environment(version)
    cache = python.parent.parent / "examples" / f"{example_key(example).replace('/', '__')}.json"
    digest = source_digest(example)
    if cache.exists():
        saved = json.loads(cache.read_text())
        if saved["source"] == digest:
            return saved["outcome"]
    extra = extra_packages(example)
    if extra:
        return f"not run: needs {', '.join(extra)}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH")}
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(example, folder)
        try:
            ran = subprocess.run(
                [str(python), "-I", example.name],
                cwd=folder, env=env, capture_output=True, text=True, timeout=EXAMPLE_TIMEOUT,
            )  # fmt: skip
            if ran.returncode == 0:
                outcome = "passes"
            else:
                last = [line for line in ran.stderr.splitlines() if line.strip()][-1:] or ["?"]
                outcome = "fails: " + last[0].strip()
        except subprocess.TimeoutExpired:
            outcome = f"does not end within {EXAMPLE_TIMEOUT} s"
    outcome = measured_summaries.same_on_every_release(outcome.replace(version, "{release}"))
    outcome = outcome[:300]
    cache.parent.mkdir(exist_ok=True)
    cache.write_text(json.dumps({"source": digest, "outcome": outcome}))
    return outcome


def examples_for(series: str) -> list[Path]:
    only = supported_series()[series].get("examples")
    return [e for e in sitebuild.EXAMPLES if not only or e.stem in only]


def command_examples(args) -> int:
    """Every example alone on every swept release: docs/_measured/examples.json."""
    by_series = json.loads(COMMITTED.read_text())["releases"]
    jobs = [(release, example) for series, releases in by_series.items()
            for release in releases for example in examples_for(series)]  # fmt: skip
    print(f"{len(jobs)} runs: {len(sitebuild.EXAMPLES)} examples on the swept releases", flush=True)
    started = time.monotonic()
    outcomes: dict[tuple[str, str], str] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_alone, r, e): (r, example_key(e)) for r, e in jobs}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            outcomes[futures[future]] = future.result()
            if done % 200 == 0:
                print(f"  {done} of {len(jobs)}", flush=True)
    print(f"{len(jobs)} runs in {time.monotonic() - started:.0f} s", flush=True)
    record = {
        "about": "nox -s release_sweep: every example alone on each release",
        "releases": by_series,
        "examples": {},
    }
    for example in sitebuild.EXAMPLES:
        key = example_key(example)
        runs_by_series = {}
        for series, releases in by_series.items():
            ran = [r for r in releases if (r, key) in outcomes]
            if ran:
                runs_by_series[series] = runs(ran, {r: outcomes[(r, key)] for r in ran})
        record["examples"][key] = {"source": source_digest(example), "runs": runs_by_series}
    EXAMPLES_RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    failing = [k for k, v in record["examples"].items()
               if any(r["outcome"] != "passes" for h in v["runs"].values() for r in h)]  # fmt: skip
    print(f"{EXAMPLES_RECORD.relative_to(ROOT)}: {len(failing)} examples fail on some release")
    return 0


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def command_measure_here(args) -> int:
    json.dump(measured_summaries.measure_release(), sys.stdout, sort_keys=True)
    return 0


def command_sweep(args) -> int:
    by_series = releases_to_sweep(available_releases())
    if args.series:
        by_series = {s: r for s, r in by_series.items() if s in args.series}
    total = sum(len(r) for r in by_series.values())
    print(f"Sweeping {total} releases: " + ", ".join(
        f"{r[0]} to {r[-1]}" if len(r) > 1 else r[0] for r in by_series.values()))  # fmt: skip
    measurements = measure_all([r for rs in by_series.values() for r in rs], args.jobs)
    data = assemble(by_series, measurements)
    COMMITTED.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    changed = sum(
        1 for by_series in data["cells"].values() for h in by_series.values() if len(h) > 1
    )
    where = COMMITTED.relative_to(ROOT)
    print(f"{where}: {len(data['cells'])} cells, {changed} of them change within a series")
    return 0


def command_watch(args) -> int:
    committed = json.loads(COMMITTED.read_text())
    newest = newest_releases(available_releases())
    print("Newest releases on the package index: " + ", ".join(newest.values()))
    failed = False
    if committed.get("fingerprint") != examples_fingerprint():
        print("The measuring examples changed since the committed sweep: run nox -s release_sweep")
        failed = True
    for series, release in newest.items():
        swept = committed["releases"].get(series, [])
        if release not in swept:
            print(f"SQLAlchemy {release} is newer than the sweep ({swept[-1] if swept else '-'})")
            failed = True
        found = changes(committed, measure(release))
        print(report(release, found))
        failed = failed or bool(found)
    return 1 if failed else 0


def command_newest(args) -> int:
    print(json.dumps(newest_releases(available_releases())))
    return 0


def command_compare(args) -> int:
    committed = json.loads(Path(args.committed).read_text())
    failed = False
    for path in args.measured:
        measured = json.loads(Path(path).read_text())
        found = changes(committed, measured)
        print(report(measured["sqlalchemy"], found))
        failed = failed or bool(found)
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sweep = commands.add_parser("sweep", help="measure every release, write the committed file")
    sweep.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    sweep.add_argument("--series", nargs="*", help="only these series (default: all)")
    every = commands.add_parser("examples", help="every example alone on every swept release")
    every.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    commands.add_parser("watch", help="measure the newest releases, compare, fail on a change")
    commands.add_parser("newest", help="print the newest release of each series (JSON)")
    compare = commands.add_parser("compare", help="compare saved measurements with a sweep")
    compare.add_argument("committed")
    compare.add_argument("measured", nargs="+")
    commands.add_parser("measure-here", help="(inside a release's environment)")
    args = parser.parse_args(argv)
    handler = {
        "sweep": command_sweep,
        "watch": command_watch,
        "examples": command_examples,
        "newest": command_newest,
        "compare": command_compare,
        "measure-here": command_measure_here,
    }[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
