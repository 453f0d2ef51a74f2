"""The suite's shared builds (tests/shared_builds.py) and the order tests run in."""

import os
from pathlib import Path

import pytest

from shared_builds import HOSTED_BASE_URL, JOBS, SharedWork, needed_jobs
from sitebuild import EXAMPLES, SiteBuild, example_page

__all__ = ["HOSTED_BASE_URL"]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "quick: needs none of the shared work (no site build): `-m quick`"
    )


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(session, config, items):
    """The files whose tests need no shared work run first, while it is done; then the others,
    in the order their work is ready. A file's tests stay together, in order (and in one
    pytest-xdist worker: `--dist loadfile`). A test that needs none of it is marked `quick`."""
    order = list(JOBS)
    rank: dict[str, int] = {}
    browsing: set[str] = set()
    for item in items:
        needs = [order.index(name) + 1 for name in needed_jobs(item.fixturenames)]
        module = item.nodeid.split("::")[0]
        rank[module] = max([rank.get(module, 0), *needs])
        if not needs:
            item.add_marker(pytest.mark.quick)
        if "browser" in item.fixturenames:
            browsing.add(module)
    # Of the files waiting for the same work, those that drive the browser (the longest) first:
    # with two workers (noxfile.PARALLEL), the other takes the short ones beside them.
    items.sort(
        key=lambda item: (rank[module := item.nodeid.split("::")[0]], module not in browsing)
    )


def shared_directory(tmp_path_factory) -> Path:
    """Where this run's shared work goes: one directory for all of pytest-xdist's workers (their
    temporary directories are siblings under the run's own)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return tmp_path_factory.mktemp("shared")
    directory = tmp_path_factory.getbasetemp().parent / "shared"
    directory.mkdir(exist_ok=True)
    return directory


@pytest.fixture(scope="session", autouse=True)
def shared_work(tmp_path_factory, request):
    """Starts, before the first test, every shared build a collected test needs."""
    alone = [
        item.callspec.params["example"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_example_runs_on_its_own"
    ]
    work = SharedWork(shared_directory(tmp_path_factory), {"standalone": (alone,)})
    work.start({name for item in request.session.items for name in item.fixturenames})
    yield work
    work.close()


@pytest.fixture(scope="session")
def site(shared_work) -> SiteBuild:
    """The whole site, built once per test run from a clean copy of the sources."""
    built = shared_work.result("site")
    assert built.returncode == 0, built.output
    return built


@pytest.fixture(scope="session")
def hosted(shared_work) -> SiteBuild:
    """The site as the Pages workflow builds it, under a sub-path, examples run; also the twin
    that tests/test_reproducible.py compares with `site` (tests/shared_builds.py)."""
    built = shared_work.result("hosted")
    assert built.returncode == 0, built.output
    return built


@pytest.fixture(scope="session")
def recordings(shared_work) -> dict[Path, dict]:
    """Every example run again on its own, by the recorder (tests/shared_builds.py)."""
    return shared_work.result("recordings")


@pytest.fixture(scope="session")
def standalone(shared_work) -> dict[Path, dict]:
    """Every example the collected tests name, run as a reader runs it (tests/shared_builds.py)."""
    return shared_work.result("standalone")


@pytest.fixture(scope="session")
def page_models(site, shared_work) -> dict[Path, list]:
    """Every example page of `site`, read back into cells (tests/page_model.py), once a run."""
    # Imported here: `nox -s versions` runs tests with pytest and SQLAlchemy only (no bs4).
    from page_model import parse_page

    def read_every_page() -> dict[Path, list]:
        return {example: parse_page(site.page(example_page(example))) for example in EXAMPLES}

    return shared_work.once("page_models", read_every_page)
