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
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sitebuild import SiteBuild, build_site, copy_sources

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


# In the order they start: the first is the one most tests wait for.
JOBS: dict[str, Callable[[Path], object]] = {
    "site": build_the_site,
    "hosted": build_as_hosted,
}


class SharedWork:
    """The jobs of one test run, each started at most once, one at a time, in JOBS order.

    One at a time: a build is one busy process and the tests go on beside it; two builds at
    once would only slow down the one the next tests wait for.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shared-build")
        self._started: dict[str, Future] = {}
        self._lock = threading.Lock()

    def start(self, names) -> None:
        with self._lock:
            for name in JOBS:
                if name in names and name not in self._started:
                    self._started[name] = self._pool.submit(JOBS[name], self.directory)

    def result(self, name: str):
        self.start({name})
        return self._started[name].result()

    def close(self) -> None:
        for future in self._started.values():
            future.cancel()
        self._pool.shutdown(wait=True)


def needed_jobs(fixture_names) -> set[str]:
    return set(JOBS) & set(fixture_names)
