"""Builds of the site for the tests: each in a private copy of the sources, so that a test
build never shares Sphinx-Gallery's output folder (docs/auto_examples) with `nox -s docs`."""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(
    path for path in (ROOT / "examples").rglob("*.py") if not path.name.startswith("_")
)
SOURCE_PARTS = ("conf.py", "sphinxext", "docs", "examples")


@dataclass
class SiteBuild:
    project: Path
    html: Path
    returncode: int
    output: str

    def page(self, relative: str) -> str:
        return (self.html / relative).read_text(encoding="utf-8")

    def rebuild(self, *extra_args: str, env: dict | None = None) -> "SiteBuild":
        return build_site(self.project, *extra_args, env=env)


def copy_sources(destination: Path) -> Path:
    """The project's sources, without anything an earlier build generated."""
    ignore = shutil.ignore_patterns("auto_examples", "sg_execution_times.rst", "__pycache__")
    destination.mkdir(parents=True, exist_ok=True)
    for part in SOURCE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=ignore)
        else:
            shutil.copy2(source, destination / part)
    return destination


def build_site(project: Path, *extra_args: str, env: dict | None = None) -> SiteBuild:
    html = project / "build" / "html"
    command = [sys.executable, "-m", "sphinx", "-c", ".", "-W", "--keep-going", "-n", "-q",
               *extra_args, "docs", str(html)]
    run_env = {**os.environ, "MPLBACKEND": "Agg", **(env or {})}
    result = subprocess.run(command, cwd=project, env=run_env, capture_output=True, text=True)
    return SiteBuild(project, html, result.returncode, result.stdout + result.stderr)


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> SiteBuild:
    """The whole site, built once per test run from a clean copy of the sources."""
    built = build_site(copy_sources(tmp_path_factory.mktemp("site")))
    assert built.returncode == 0, built.output
    return built
