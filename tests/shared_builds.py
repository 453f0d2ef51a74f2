"""The work many tests share, made once per test run and started before any test needs it.

Building the whole site takes most of a run's time, and one build (one Python process) uses one
core: so the builds a run needs start in the background as soon as collection shows which tests
will run (``conftest.pytest_collection_finish``), while the tests that need no build run first
(``conftest.pytest_collection_modifyitems`` puts them first). A test that needs a build waits for
it in its fixture. A file run alone starts only the builds its own tests need.

Each job is named after the session fixture that returns it (conftest.py):

``site``
    The whole site, built once from a clean copy of the sources, examples run.
``hosted``
    The site as the Pages workflow builds it, and a reproducibility twin of ``site``: another
    clean copy in another directory, built in parallel (``-j 2``, and Sphinx-Gallery's own
    parallel runs), with no network at all where the kernel allows a network namespace (always
    on CI), under the sub-path ``HOSTED_BASE_URL``. Apart from what names a page's address
    (``tests/test_reproducible.py`` lists it), its pages are ``site``'s, byte for byte.
``recordings``
    Every example run again on its own by ``tests/record_example.py``, with listeners of its
    own and none of the capture layer: what the page models, the pictures and the hidden
    asserts are compared with.
``standalone``
    Every example (of those the collected tests name) run as a reader runs it: copied into an
    empty directory, under ``python -I``, in a fresh virtual environment holding exactly what
    its PEP 723 block declares (``tests/test_examples_standalone.py`` reads the results).

The builds take turns on one lane, the runs (recordings, then the standalone runs) on another:
the two lanes start together, and the standalone runs go on while the browser tests are under
way. (A lower priority for the jobs other than the site was tried and dropped: under load, the
recorder, starved, ran into its timeout.)

With pytest-xdist's workers (``nox -s tests`` runs two: noxfile.PARALLEL), each job is still
done once per run: the first worker to claim it does it and leaves its result in the run's
shared directory, where the other reads it.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sitebuild import (
    EXAMPLES,
    ROOT,
    SiteBuild,
    build_site,
    copy_sources,
    run_example,
    script_metadata,
)

RECORDER = Path(__file__).with_name("record_example.py")

# A GitHub Pages project site: the Pages workflow passes its base URL, with the repository's path.
HOSTED_BASE_URL = "https://example.org/session-sync/"

# A command run after this prefix has a network namespace of its own: only a loopback, down.
NO_NETWORK = ("unshare", "--net", "--map-root-user")


def network_namespace_refusal() -> str | None:
    """Why this machine cannot run a command without network, or None when it can."""
    if not shutil.which("unshare"):
        return "the unshare command is not installed"
    probe = subprocess.run([*NO_NETWORK, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"the kernel refused a network namespace: {probe.stderr.strip()}"
    return None


def build_the_site(directory: Path) -> SiteBuild:
    return build_site(copy_sources(directory / "site"))


def build_as_hosted(directory: Path) -> SiteBuild:
    project = copy_sources(directory / "elsewhere" / "project")
    env = {
        "SESSION_SYNC_BASE_URL": HOSTED_BASE_URL.rstrip("/"),
        "READTHEDOCS_CANONICAL_URL": "",
        "SESSION_SYNC_PARALLEL": "2",
    }
    prefix = () if network_namespace_refusal() else NO_NETWORK
    return build_site(project, "-j", "2", env=env, prefix=prefix)


def example_slug(example: Path) -> str:
    """An example's name for the files made for it: section--name.py."""
    return "--".join(example.parts[-2:])


def output_file(example: Path, directory: Path) -> Path:
    return directory / (example_slug(example) + ".json")


def run_recorder(examples: list[Path], directory: Path) -> None:
    """One recorder process for these examples (each example runs in a child of its own)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}
    env["MPLBACKEND"] = "Agg"
    arguments = [str(part) for ex in examples for part in (ex, output_file(ex, directory))]
    subprocess.run(
        [sys.executable, "-I", str(RECORDER), *arguments],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def read_recording(example: Path, directory: Path) -> dict:
    output = output_file(example, directory)
    if not output.exists():
        raise RuntimeError(f"the recorder wrote nothing for {example}")
    return json.loads(output.read_text(encoding="utf-8"))


def record_examples(examples: list[Path], directory: Path) -> dict[Path, dict]:
    """Two recorder processes at a time, each taking every other example."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(
            pool.map(lambda share: run_recorder(share, directory), (examples[::2], examples[1::2]))
        )
    return {example: read_recording(example, directory) for example in examples}


def record_every_example(directory: Path) -> dict[Path, dict]:
    (directory / "recordings").mkdir()
    return record_examples(EXAMPLES, directory / "recordings")


def environment_key(requirements: list[str]) -> tuple[str, ...]:
    """What an environment holds: each distribution with its extras. The versions come from
    the pins (and this run's SQLAlchemy); each example's own specifiers are checked against
    them (test_example_runs_on_its_own), as pip would."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    parsed = (Requirement(requirement) for requirement in requirements)
    return tuple(
        sorted(
            canonicalize_name(r.name) + (f"[{','.join(sorted(r.extras))}]" if r.extras else "")
            for r in parsed
        )
    )


def make_environment(key: tuple[str, ...], home: Path, constraints: Path) -> dict:
    """A virtual environment holding the distributions of `key`, at the pinned versions."""
    import venv

    from packaging.utils import canonicalize_name

    venv.create(home, with_pip=False)  # this run's pip installs into it
    python = home / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    # No bytecode compiled at install: an example imports few of the modules installed.
    install = [*pip, "install", "-q", "--no-compile", "--disable-pip-version-check"]
    install += ["-c", str(constraints), *key]
    subprocess.run(install, check=True, capture_output=True)
    listed = subprocess.run(
        [*pip, "list", "--format=json"], check=True, capture_output=True, text=True
    )
    installed = {canonicalize_name(d["name"]): d["version"] for d in json.loads(listed.stdout)}
    return {"python": python, "installed": installed}


def run_examples_alone(directory: Path, examples: list[Path]) -> dict[Path, dict]:
    """Each example run as a reader runs it, in an environment of what it declares: one
    environment per set of declared distributions (three made at a time), two runs at a time.
    An example's result: the versions installed, the return code, stdout and stderr."""
    import sqlalchemy

    directory = directory / "standalone"
    directory.mkdir()
    # This run verifies the SQLAlchemy it runs on (`nox -s versions` installs 2.0, 2.1, 1.4).
    pins = [
        line
        for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
        if not line.lower().startswith(("sqlalchemy==", "#"))
    ]
    constraints = directory / "constraints.txt"
    constraints.write_text("\n".join([*pins, f"sqlalchemy=={sqlalchemy.__version__}"]) + "\n")
    keys = {ex: environment_key(script_metadata(ex)["dependencies"]) for ex in examples}
    with ThreadPoolExecutor(max_workers=3) as makers, ThreadPoolExecutor(max_workers=2) as runs:
        made = {
            key: makers.submit(make_environment, key, directory / f"venv-{number}", constraints)
            for number, key in enumerate(sorted(set(keys.values())))
        }

        def run(example: Path) -> dict:
            environment = made[keys[example]].result()
            folder = directory / example_slug(example)
            folder.mkdir()
            ran = run_example(example, folder, python=environment["python"])
            return {
                "installed": environment["installed"],
                "returncode": ran.returncode,
                "stdout": ran.stdout,
                "stderr": ran.stderr,
            }

        started = {example: runs.submit(run, example) for example in examples}
        return {example: future.result() for example, future in started.items()}


# Each job and its lane, in the order they are ready: the tests that need the first run first.
JOBS: dict[str, tuple[Callable[..., object], str]] = {
    "site": (build_the_site, "builds"),
    "recordings": (record_every_example, "runs"),
    "hosted": (build_as_hosted, "builds"),
    "standalone": (run_examples_alone, "runs"),
}


class SharedWork:
    """The jobs of one test run, each done once for all of its processes (pytest-xdist's
    workers: `nox -s tests` runs two), in JOBS order, one at a time on each lane.

    One build at a time: a build is one busy process and the tests go on beside it; two builds
    at once would only slow down the one the next tests wait for. The first process to claim a
    job (an atomic mkdir in the run's shared directory) does it and leaves its result there; the
    others wait for that file.
    """

    def __init__(self, directory: Path, arguments: dict[str, tuple] | None = None) -> None:
        self.directory = directory
        self._arguments = arguments or {}
        self._lanes = {
            lane: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"shared-{lane}")
            for lane in {lane for _, lane in JOBS.values()}
        }
        self._started: dict[str, Future] = {}
        self._results: dict[str, object] = {}
        self._lock = threading.Lock()

    def _claimed(self, name: str) -> bool:
        try:
            (self.directory / f"{name}.claimed").mkdir(parents=True)
        except FileExistsError:
            return False
        return True

    def _publish(self, name: str, job: Callable[..., object], *arguments) -> object:
        try:
            result = job(*arguments)
        except BaseException as error:
            self._write(name, ("error", f"{type(error).__name__}: {error}"))
            raise
        self._write(name, ("result", result))
        return result

    def _write(self, name: str, outcome: tuple) -> None:
        partial = self.directory / f"{name}.pickle.partial"
        partial.write_bytes(pickle.dumps(outcome))
        partial.rename(self.directory / f"{name}.pickle")  # atomic: read whole or not at all

    def start(self, names) -> None:
        with self._lock:
            for name, (job, lane) in JOBS.items():
                if name in names and name not in self._started and self._claimed(name):
                    arguments = (self.directory, *self._arguments.get(name, ()))
                    self._started[name] = self._lanes[lane].submit(
                        self._publish, name, job, *arguments
                    )

    def result(self, name: str):
        self.start({name})
        if name in self._started:
            return self._started[name].result()
        if name not in self._results:
            self._results[name] = self._read(name)
        return self._results[name]

    def once(self, name: str, make: Callable[[], object]):
        """What `make()` returns, made by the first process of the run that asks for it, in
        that process (the others wait for it and read it)."""
        if name not in self._results:
            claimed = self._claimed(name)
            self._results[name] = self._publish(name, make) if claimed else self._read(name)
        return self._results[name]

    def _read(self, name: str):
        done = self.directory / f"{name}.pickle"
        while not done.exists():
            time.sleep(0.2)  # another process of this run is doing it
        kind, value = pickle.loads(done.read_bytes())
        if kind == "error":
            raise RuntimeError(f"the shared job {name!r} failed in another worker: {value}")
        return value

    def close(self) -> None:
        if not os.environ.get("PYTEST_XDIST_WORKER"):  # else another worker may wait for them
            for future in self._started.values():
                future.cancel()
        for lane in self._lanes.values():
            lane.shutdown(wait=True)


def needed_jobs(fixture_names) -> set[str]:
    return set(JOBS) & set(fixture_names)
