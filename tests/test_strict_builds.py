"""`nox -s docs` itself is strict: warnings are errors, references are checked, every problem is
reported (-W -n --keep-going), and a failing example fails the session.

The first test calls the session function with a stand-in for nox that records what it runs;
the second runs the real nox on a copy of the project whose only example makes a false claim,
reusing this test run's virtualenv (no install), so it takes seconds, not minutes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest
from test_build_failures import BROKEN_EXAMPLE as FALSE_CLAIM

from sitebuild import (
    BROWSER_ASSETS,
    ROOT,
    build_env,
    prepare_browser_assets,
    project_with_one_example,
)

STRICT = {"-W", "-n", "--keep-going"}


class RecordingSession:
    """What noxfile.docs calls on its nox.Session, recorded instead of run."""

    def __init__(self, posargs=()):
        self.posargs = list(posargs)
        self.runs: list[tuple[str, ...]] = []
        self.installs: list[tuple[str, ...]] = []

    def run(self, *args, **kwargs):
        self.runs.append(tuple(str(arg) for arg in args))

    def install(self, *args, **kwargs):
        self.installs.append(tuple(str(arg) for arg in args))

    def log(self, *args, **kwargs):
        pass


def load_noxfile(monkeypatch) -> types.ModuleType:
    """noxfile.py as a module, with a stand-in `nox` whose decorators change nothing."""
    stand_in = types.ModuleType("nox")
    stand_in.Session = RecordingSession
    stand_in.options = types.SimpleNamespace()

    def session(function=None, **_options):
        return function if function is not None else (lambda f: f)

    stand_in.session = session
    stand_in.parametrize = lambda *args, **kwargs: lambda f: f
    monkeypatch.setitem(sys.modules, "nox", stand_in)
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sphinx_builds(session: RecordingSession) -> list[tuple[str, ...]]:
    return [args for args in session.runs if args[0] == "sphinx-build"]


@pytest.mark.parametrize("posargs", [(), ("-q",), ("-j", "auto")])
def test_the_docs_session_runs_sphinx_build_strictly(monkeypatch, posargs):
    noxfile = load_noxfile(monkeypatch)
    session = RecordingSession(posargs)
    noxfile.docs(session)
    (build,) = sphinx_builds(session)
    assert set(build) >= STRICT, f"not strict: {build}"
    assert build[-2:] == ("docs", "build/html"), build
    assert build[1:3] == ("-c", "."), build
    for arg in posargs:
        assert arg in build, f"the reader's options are passed on: {build}"
    assert session.installs and "requirements/constraints.txt" in session.installs[0]


def nox_command() -> list[str] | None:
    """How to start nox here: the `nox` on PATH, or a Python outside this virtualenv with nox."""
    found = shutil.which("nox")
    if found:
        return [found]
    ours = Path(sys.prefix).resolve()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        python = Path(folder) / "python3"
        if not python.exists() or ours in python.resolve().parents:
            continue
        has_nox = subprocess.run([python, "-c", "import nox"], capture_output=True)
        if has_nox.returncode == 0:
            return [str(python), "-m", "nox"]
    return None


# What `nox -s docs` reads besides the site's sources (conf.py, sphinxext, docs, examples): its
# browser-asset step (noxfile.prepare_browser_assets) checks node_modules against the npm lock
# file, and tools/browser_assets.py checks build/browser-assets against its own inputs.
NOX_DOCS_FILES = ("noxfile.py", "package.json", "package-lock.json")
NOX_DOCS_FOLDERS = ("requirements", "tools")


def as_after_a_first_run(project: Path) -> None:
    """`project` as a clone in which `nox -s docs` already ran once: the npm packages of its lock
    file in node_modules, and build/browser-assets prepared from its sources. They are this test
    run's (prepared by sitebuild.prepare_browser_assets, from the same files), so that the
    session finds them up to date, as the rest of the suite's builds do, and stays offline."""
    for name in NOX_DOCS_FILES:
        shutil.copy(ROOT / name, project)
    for name in NOX_DOCS_FOLDERS:
        shutil.copytree(
            ROOT / name,
            project / name,
            ignore=shutil.ignore_patterns("__pycache__"),
            dirs_exist_ok=True,  # requirements/ is part of every copy of the sources
        )
    prepare_browser_assets()
    shutil.copytree(BROWSER_ASSETS, project / "build" / "browser-assets", symlinks=True)
    # Each package linked, not the folder: `npm ci` there, should it run, would empty this one.
    node_modules = project / "node_modules"
    node_modules.mkdir()
    marker = node_modules / ".installed-from-lock"  # noxfile.npm_ci's: a file of the copy's own
    installed = ROOT / "node_modules"
    for package in installed.iterdir() if installed.is_dir() else ():
        if package.name != marker.name:
            (node_modules / package.name).symlink_to(package.resolve())
    marker.write_text(hashlib.sha256((project / "package-lock.json").read_bytes()).hexdigest())


def run_nox_docs(project: Path, nox: list[str]) -> subprocess.CompletedProcess:
    """`nox -s docs` in `project`, its docs virtualenv being this test run's (no install), with
    the environment a reader has: the build reads the project's own build/browser-assets."""
    as_after_a_first_run(project)
    # A short path: nox hashes a long one into another environment's name, and installs anew.
    envs = Path(tempfile.mkdtemp(prefix="nox-envs-"))
    (envs / "docs").symlink_to(Path(sys.prefix), target_is_directory=True)
    unset = ("VIRTUAL_ENV", "NOX_CURRENT_SESSION", "SESSION_SYNC_BROWSER_ASSETS")
    env = {k: v for k, v in build_env().items() if k not in unset}
    try:
        return subprocess.run(
            [*nox, "--envdir", str(envs), "-R", "-s", "docs", "--", "-q"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        shutil.rmtree(envs)  # the link only, not the environment it names


def test_a_failing_example_fails_nox_docs(tmp_path):
    nox = nox_command()
    if nox is None:
        if os.environ.get("CI"):
            pytest.fail("nox is not installed (.ci/run installs it): the docs session is untested")
        pytest.skip("nox is not installed")
    project = project_with_one_example(tmp_path, "false_claim.py", FALSE_CLAIM)
    result = run_nox_docs(project, nox)
    output = result.stdout + result.stderr
    assert "Reusing existing virtual environment" in output, output
    assert "nox > python tools/browser_assets.py --if-needed" in output, output
    logged = [line for line in output.splitlines() if "nox > sphinx-build" in line]
    assert logged and set(logged[0].split()) >= STRICT, output
    assert "AssertionError: SQLite answers 42" in output, output
    assert result.returncode != 0, f"nox -s docs passed with a failing example:\n{output}"
    assert "Session docs failed" in output, output
