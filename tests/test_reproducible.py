"""Two builds of the same sources give the same pages: elsewhere, in parallel, and offline."""

import shutil
import subprocess

import pytest

from sitebuild import EXAMPLE_PAGES, NARRATIVE_HTML, build_site, copy_sources

PAGES = EXAMPLE_PAGES + NARRATIVE_HTML


def network_namespace_refusal() -> str | None:
    """Why this machine cannot run a command without network, or None when it can."""
    if not shutil.which("unshare"):
        return "the unshare command is not installed"
    probe = subprocess.run(
        ["unshare", "--net", "--map-root-user", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"the kernel refused a network namespace: {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="session")
def offline_site(tmp_path_factory):
    """A second clean build, in another directory, with no network at all where possible."""
    refusal = network_namespace_refusal()
    prefix = () if refusal else ("unshare", "--net", "--map-root-user")
    built = build_site(
        copy_sources(tmp_path_factory.mktemp("elsewhere") / "project"), prefix=prefix
    )
    return built, refusal


def test_the_build_needs_no_network(offline_site):
    built, refusal = offline_site
    if refusal:
        pytest.skip(f"cannot cut the network here: {refusal}")
    probe = subprocess.run(
        [
            "unshare",
            "--net",
            "--map-root-user",
            "python3",
            "-c",
            "import socket; socket.create_connection(('192.0.2.1', 80), 2)",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.returncode != 0, "the namespace still had a network"
    assert built.returncode == 0, built.output


@pytest.mark.parametrize("page", PAGES)
def test_two_clean_builds_in_different_directories_are_identical(site, offline_site, page):
    built, _ = offline_site
    assert built.returncode == 0, built.output
    assert built.page(page) == site.page(page)


def test_a_parallel_build_gives_the_same_pages(site, tmp_path):
    parallel = build_site(copy_sources(tmp_path), "-j", "2", env={"SESSION_SYNC_PARALLEL": "2"})
    assert parallel.returncode == 0, parallel.output
    for page in PAGES:
        assert parallel.page(page) == site.page(page), page
