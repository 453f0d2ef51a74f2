import pytest

from sitebuild import SiteBuild, build_site, copy_sources


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> SiteBuild:
    """The whole site, built once per test run from a clean copy of the sources."""
    built = build_site(copy_sources(tmp_path_factory.mktemp("site")))
    assert built.returncode == 0, built.output
    return built


# A GitHub Pages project site: the Pages workflow passes its base URL, with the repository's path.
HOSTED_BASE_URL = "https://example.org/session-sync/"


@pytest.fixture(scope="session")
def hosted(tmp_path_factory) -> SiteBuild:
    """The site built as the Pages workflow builds it, under a sub-path (examples not run)."""
    project = copy_sources(tmp_path_factory.mktemp("hosted"))
    env = {"SESSION_SYNC_BASE_URL": HOSTED_BASE_URL.rstrip("/"), "READTHEDOCS_CANONICAL_URL": ""}
    built = build_site(project, "-D", "plot_gallery=0", env=env)
    assert built.returncode == 0, built.output
    return built
