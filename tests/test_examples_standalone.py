"""A reader copies an example into a project and runs it with what the example declares.

Each example declares its needs in a PEP 723 block (``# /// script``), which ``uv run`` and
``pipx run`` read. Here each example runs in a fresh virtual environment holding exactly those
packages (at the versions this run verifies: its own SQLAlchemy, the rest as pinned), copied
into an empty directory, under ``python -I`` (the shared work's ``standalone`` job,
tests/shared_builds.py, runs them beside the other tests).
"""

import ast
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sitebuild import EXAMPLES, ROOT, distribution_name, script_metadata

# Where a distribution's import name is not its own name.
IMPORT_NAMES: dict[str, str] = {}


def imported_modules(example: Path) -> set[str]:
    tree = ast.parse(example.read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT / "examples")))
def test_example_declares_every_package_it_imports(example):
    metadata = script_metadata(example)
    declared = {distribution_name(r) for r in metadata["dependencies"]}
    assert "sqlalchemy" in declared, f"{example.name} declares SQLAlchemy"
    importable = {IMPORT_NAMES.get(name, name.replace("-", "_")) for name in declared}
    undeclared = imported_modules(example) - importable - set(sys.stdlib_module_names)
    assert not undeclared, f"{example.name} imports {sorted(undeclared)} without declaring it"
    assert metadata.get("requires-python"), f"{example.name} says which Python it needs"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT / "examples")))
def test_example_runs_on_its_own(example, standalone):
    """Run (two at a time, beside the other tests) by the shared work's `standalone` job."""
    ran = standalone[example]
    for requirement in map(Requirement, script_metadata(example)["dependencies"]):
        version = ran["installed"][canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{example.name} declares {requirement}, but this run verifies {version}"
        )
    assert ran["returncode"] == 0, ran["stdout"] + ran["stderr"]
    assert "Traceback" not in ran["stderr"], ran["stderr"]
