"""The release watch fails when a release changes what the loaded objects see.

``tools/release_sweep.py compare`` is the watch's comparison (``nox -s release_watch`` runs it
on the newest releases): a measurement that equals the committed sweep passes, and one changed
outcome, one claim that stops holding, or an outcome a release can no longer measure fails it,
naming the example, the cell or claim, the old and the new outcome. No release is installed
here: the measurements are made from the committed sweep itself, then changed.
"""

import json
import subprocess
import sys

import pytest

from sitebuild import ROOT

sys.path.insert(0, str(ROOT / "tools"))

sys.path.insert(0, str(ROOT / "sphinxext"))
import measured_summaries  # noqa: E402

SWEEP = measured_summaries.committed_sweep()
WATCH = [sys.executable, str(ROOT / "tools" / "release_sweep.py"), "compare"]


def measurement_as_swept(release: str) -> dict:
    """What the measuring examples would report on a release, rebuilt from the sweep."""
    cells, keys, failing, reached = {}, {}, {}, {}
    owners = {key: measured_summaries.measuring_example(label).name
              for key, label in SWEEP["labels"].items()}  # fmt: skip
    for key in SWEEP["cells"]:
        outcome = measured_summaries.swept_outcome(SWEEP, key, release)
        if outcome is not None and "unmeasured" not in outcome:
            cells[key] = outcome
            keys.setdefault(owners[key], []).append(key)
    for claim, by_series in SWEEP["claims"].items():
        example, text = claim.split(": ", 1)
        for run in by_series.get(measured_summaries.series_of(release), []):
            key = measured_summaries.release_key
            on_release = key(run["from"]) <= key(release) <= key(run["to"])
            if on_release and run["outcome"] == "does not hold":
                failing.setdefault(example, []).append([0, text])
            if on_release and run["outcome"] != "not reached":
                reached.setdefault(example, []).append(text)
    return {
        "sqlalchemy": release,
        "cells": cells,
        "labels": SWEEP["labels"],
        "examples": {
            name: {"keys": sorted(keys.get(name, [])), "failed_claims": failing.get(name, []),
                   "claims_reached": reached.get(name, []), "stopped": None}
            for name in SWEEP["examples"]
        },
    }  # fmt: skip


def watch(tmp_path, measurement: dict) -> subprocess.CompletedProcess:
    committed = tmp_path / "releases.json"
    committed.write_text(json.dumps(SWEEP))
    measured = tmp_path / f"measured-{measurement['sqlalchemy']}.json"
    measured.write_text(json.dumps(measurement))
    return subprocess.run(
        [*WATCH, str(committed), str(measured)], capture_output=True, text=True, cwd=ROOT
    )


NEWEST = measured_summaries.newest_of_each_series(SWEEP)


@pytest.mark.parametrize("release", [NEWEST["2.0"], NEWEST["2.1"]])
def test_the_committed_outcomes_pass_the_watch(tmp_path, release):
    result = watch(tmp_path, measurement_as_swept(release))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every measured outcome and claim as committed" in result.stdout


def test_a_changed_outcome_fails_the_watch_naming_example_cell_old_and_new(tmp_path):
    measurement = measurement_as_swept(NEWEST["2.1"])
    old = measurement["cells"]["fetch/relative"]
    measurement["cells"]["fetch/relative"] = {**old, "verdict": "synced", "memory": 11}
    result = watch(tmp_path, measurement)
    assert result.returncode == 1, result.stdout
    assert "1 outcome(s) changed" in result.stdout
    assert "behaviour_matrix.py, fetch/relative" in result.stdout
    assert f"old: {json.dumps(old, sort_keys=True)}" in result.stdout
    assert '"verdict": "synced"' in result.stdout


def test_a_new_release_is_compared_with_the_newest_committed_one(tmp_path):
    """A release the sweep has not seen (2.1.99) is held to its series' newest outcomes."""
    measurement = measurement_as_swept(NEWEST["2.1"])
    measurement["sqlalchemy"] = "2.1.99"
    assert watch(tmp_path, measurement).returncode == 0
    measurement["cells"]["refresh/sql"] = {"verdict": "SELECT"}
    result = watch(tmp_path, measurement)
    assert result.returncode == 1
    assert f"refresh/sql (committed: {NEWEST['2.1']})" in result.stdout


def test_a_claim_that_stops_holding_or_an_outcome_no_longer_measured_fails(tmp_path):
    measurement = measurement_as_swept(NEWEST["2.0"])
    claim = "refresh() flushed the other one"
    measurement["examples"]["behaviour_matrix.py"]["failed_claims"].append([1, claim])
    measurement["examples"]["behaviour_matrix.py"]["claims_reached"].append(claim)
    result = watch(tmp_path, measurement)
    assert result.returncode == 1
    assert f"claim behaviour_matrix.py: {claim}" in result.stdout
    assert 'old: "holds"' in result.stdout and 'new: "does not hold"' in result.stdout

    measurement = measurement_as_swept(NEWEST["2.0"])
    del measurement["cells"]["add/sql"]
    measurement["examples"]["operations_measured.py"]["stopped"] = "ImportError: x (line 9)"
    result = watch(tmp_path, measurement)
    assert result.returncode == 1
    assert "operations_measured.py, add/sql" in result.stdout
    assert "operations_measured.py stopped: ImportError: x (line 9)" in result.stdout


# ---------------------------------------------------------------------------------------------
# Every example alone on every release (docs/_measured/examples.json)
# ---------------------------------------------------------------------------------------------

EXAMPLES_RECORD = json.loads((ROOT / "docs" / "_measured" / "examples.json").read_text())


def test_every_example_was_swept_as_it_is_now():
    """The record the pages quote ("Run alone on every release ...") is of the examples' sources
    as they are: a changed example is run on every release again before it lands."""
    import release_sweep

    stale = [
        release_sweep.example_key(example)
        for example in release_sweep.sitebuild.EXAMPLES
        if EXAMPLES_RECORD["examples"].get(release_sweep.example_key(example), {}).get("source")
        != release_sweep.source_digest(example)
    ]
    assert not stale, f"run `nox -s release_sweep` (examples changed since): {stale}"


def test_each_example_declares_only_releases_it_runs_on():
    """An example's PEP 723 block admits only SQLAlchemy releases on which the sweep saw it
    pass: a reader who installs what it declares sees what the page shows."""
    import release_sweep
    from packaging.requirements import Requirement

    wrong = []
    for example in release_sweep.sitebuild.EXAMPLES:
        declared = release_sweep.sitebuild.script_metadata(example)["dependencies"]
        requirement = next(Requirement(r) for r in declared if r.lower().startswith("sqlalchemy"))
        entry = EXAMPLES_RECORD["examples"][release_sweep.example_key(example)]
        for series, history in entry["runs"].items():
            for run in history:
                if run["outcome"] == "passes" or run["outcome"].startswith("not run: "):
                    continue
                for release in EXAMPLES_RECORD["releases"][series]:
                    key = measured_summaries.release_key
                    inside = key(run["from"]) <= key(release) <= key(run["to"])
                    if inside and requirement.specifier.contains(release, prereleases=False):
                        wrong.append(f"{example.name} on {release}: {run['outcome']}")
    assert not wrong, "declared releases the example does not run on: " + "; ".join(wrong[:10])


def test_the_site_is_built_with_the_verified_release_of_its_series():
    """`nox -s tests` runs every example, standalone and in the build, on the pinned SQLAlchemy:
    that is the verified release of its series, so .ci/run's `other-versions` leaves it out."""
    import tomllib

    constraints = (ROOT / "requirements" / "constraints.txt").read_text().lower().splitlines()
    (pin,) = [line.split("==")[1] for line in constraints if line.startswith("sqlalchemy==")]
    series = tomllib.loads((ROOT / "requirements" / "sqlalchemy.toml").read_text())["series"]
    assert series[measured_summaries.series_of(pin)]["verified"] == pin, pin
