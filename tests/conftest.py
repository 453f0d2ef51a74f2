import pytest

from sitebuild import SiteBuild, build_site, copy_sources


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> SiteBuild:
    """The whole site, built once per test run from a clean copy of the sources."""
    built = build_site(copy_sources(tmp_path_factory.mktemp("site")))
    assert built.returncode == 0, built.output
    return built
