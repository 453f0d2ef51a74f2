"""A reader copies an example into a project and runs it with python and SQLAlchemy alone."""

import pytest

from sitebuild import EXAMPLES, ROOT, run_example


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT / "examples")))
def test_example_runs_on_its_own(example, tmp_path):
    result = run_example(example, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
