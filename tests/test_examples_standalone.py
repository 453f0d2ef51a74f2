"""A reader copies an example into a project and runs it with what the example declares.

Each example declares its needs in a PEP 723 block (``# /// script``), which ``uv run`` and
``pipx run`` read. Here each example runs in a fresh virtual environment holding exactly those
packages (at the versions this run verifies: its own SQLAlchemy, the rest as pinned), copied
into an empty directory, under ``python -I``.
"""

import ast
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import sqlalchemy

from sitebuild import EXAMPLES, ROOT, distribution_name, run_example, script_metadata

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


@pytest.fixture(scope="session")
def fresh_environment(tmp_path_factory):
    """A virtual environment per set of declared packages, made once per test run."""
    made: dict[tuple[str, ...], Path] = {}
    # This run verifies the SQLAlchemy it runs on (`nox -s versions` installs 2.0, 2.1, 1.4).
    pins = [
        line
        for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
        if not line.lower().startswith(("sqlalchemy==", "#"))
    ]
    constraints = tmp_path_factory.mktemp("constraints") / "constraints.txt"
    constraints.write_text("\n".join([*pins, f"sqlalchemy=={sqlalchemy.__version__}"]) + "\n")

    def environment(requirements: list[str]) -> Path:
        key = tuple(sorted(requirements))
        if key not in made:
            home = tmp_path_factory.mktemp("venv")
            venv.create(home, with_pip=True)
            python = home / "bin" / "python"
            install = [str(python), "-m", "pip", "install", "-q", "-c", str(constraints)]
            subprocess.run([*install, *key], check=True, capture_output=True, text=True)
            made[key] = python
        return made[key]

    return environment


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT / "examples")))
def test_example_runs_on_its_own(example, tmp_path, fresh_environment):
    python = fresh_environment(script_metadata(example)["dependencies"])
    result = run_example(example, tmp_path, python=python)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
