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

The builds take turns on one lane, the recordings run on another: they start together.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sitebuild import EXAMPLES, SiteBuild, build_site, copy_sources

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


def output_file(example: Path, directory: Path) -> Path:
    return directory / ("--".join(example.parts[-2:]) + ".json")


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


# Each job and its lane, in the order they are ready: the tests that need the first run first.
JOBS: dict[str, tuple[Callable[[Path], object], str]] = {
    "recordings": (record_every_example, "runs"),
    "site": (build_the_site, "builds"),
    "hosted": (build_as_hosted, "builds"),
}


class SharedWork:
    """The jobs of one test run, each started at most once, in JOBS order, one at a time on
    each lane.

    One build at a time: a build is one busy process and the tests go on beside it; two builds
    at once would only slow down the one the next tests wait for.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lanes = {
            lane: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"shared-{lane}")
            for lane in {lane for _, lane in JOBS.values()}
        }
        self._started: dict[str, Future] = {}
        self._lock = threading.Lock()

    def start(self, names) -> None:
        with self._lock:
            for name, (job, lane) in JOBS.items():
                if name in names and name not in self._started:
                    self._started[name] = self._lanes[lane].submit(job, self.directory)

    def result(self, name: str):
        self.start({name})
        return self._started[name].result()

    def close(self) -> None:
        for future in self._started.values():
            future.cancel()
        for lane in self._lanes.values():
            lane.shutdown(wait=True)


def needed_jobs(fixture_names) -> set[str]:
    return set(JOBS) & set(fixture_names)
