"""A reader copies an example into a project and runs it with python and SQLAlchemy alone."""

import os
import subprocess
import sys

import pytest
from sitebuild import EXAMPLES, ROOT


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT / "examples")))
def test_example_runs_on_its_own(example, tmp_path):
    copied = tmp_path / example.name
    copied.write_bytes(example.read_bytes())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}
    env["MPLBACKEND"] = "Agg"
    # -I: no PYTHONPATH, no user site, no current directory on sys.path: only what pip installed.
    result = subprocess.run(
        [sys.executable, "-I", str(copied)], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr

