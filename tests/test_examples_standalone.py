"""A reader copies an example into a project and runs it with what the example declares.

Each example declares its needs in a PEP 723 block (``# /// script``), which ``uv run`` and
``pipx run`` read. Here each example runs in a fresh virtual environment holding exactly those
packages (at the versions this run verifies: its own SQLAlchemy, the rest as pinned), copied
into an empty directory, under ``python -I``.
"""

import ast
import json
import subprocess
import sys
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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


def environment_key(requirements: list[str]) -> tuple[str, ...]:
    """What an environment holds: each distribution with its extras. The versions come from
    the pins (and this run's SQLAlchemy); each example's own specifiers are checked against
    them (test_example_runs_on_its_own), as pip would."""
    parsed = (Requirement(requirement) for requirement in requirements)
    return tuple(
        sorted(
            canonicalize_name(r.name) + (f"[{','.join(sorted(r.extras))}]" if r.extras else "")
            for r in parsed
        )
    )


@pytest.fixture(scope="session")
def fresh_environment(tmp_path_factory, request):
    """A virtual environment per set of declared distributions, made once per test run: all
    that the collected examples need, made side by side as soon as the first is asked for."""
    # This run verifies the SQLAlchemy it runs on (`nox -s versions` installs 2.0, 2.1, 1.4).
    pins = [
        line
        for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
        if not line.lower().startswith(("sqlalchemy==", "#"))
    ]
    constraints = tmp_path_factory.mktemp("constraints") / "constraints.txt"
    constraints.write_text("\n".join([*pins, f"sqlalchemy=={sqlalchemy.__version__}"]) + "\n")

    def make(key: tuple[str, ...]) -> tuple[Path, dict[str, str]]:
        home = tmp_path_factory.mktemp("venv")
        venv.create(home, with_pip=False)  # this run's pip installs into it
        python = home / "bin" / "python"
        install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
        subprocess.run([*install, "-c", str(constraints), *key], check=True, capture_output=True)
        listed = subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(python), "list", "--format=json"],
            check=True,
            capture_output=True,
            text=True,
        )
        installed = {canonicalize_name(d["name"]): d["version"] for d in json.loads(listed.stdout)}
        return python, installed

    keys = {
        environment_key(script_metadata(item.callspec.params["example"])["dependencies"])
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_example_runs_on_its_own"
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        made = {key: pool.submit(make, key) for key in sorted(keys)}

        def environment(requirements: list[str]) -> tuple[Path, dict[str, str]]:
            key = environment_key(requirements)
            if key not in made:
                made[key] = pool.submit(make, key)
            return made[key].result()

        yield environment


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT / "examples")))
def test_example_runs_on_its_own(example, tmp_path, fresh_environment):
    requirements = script_metadata(example)["dependencies"]
    python, installed = fresh_environment(requirements)
    for requirement in map(Requirement, requirements):
        version = installed[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{example.name} declares {requirement}, but this run verifies {version}"
        )
    result = run_example(example, tmp_path, python=python)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
