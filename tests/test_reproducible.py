"""Two builds of the same sources give the same pages: elsewhere, in parallel, and offline."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sitebuild import EXAMPLE_PAGES, NARRATIVE_HTML, build_site, copy_sources

PAGES = EXAMPLE_PAGES + NARRATIVE_HTML


# A command run after this prefix has a network namespace of its own: only a loopback, down.
NO_NETWORK = ("unshare", "--net", "--map-root-user")
CONNECT = """
import socket, sys
for host, port in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        print(host, error)
    else:
        print(host, "reached")
"""


def host_addresses() -> list[str]:
    """127.0.0.1 and the address this machine reaches other machines from, if it has one."""
    addresses = ["127.0.0.1"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address = probe.getsockname()[0]
        except OSError:
            address = None
    if address and not address.startswith("127."):
        addresses.append(address)
    return addresses


def reached_from(prefix: tuple[str, ...]) -> dict[str, bool]:
    """Which of this machine's addresses a command run after `prefix` can connect to.

    A server listens on each address here, outside any namespace; the command is a fresh
    Python that connects to each. With a network, every connection succeeds.
    """
    servers = []
    try:
        for address in host_addresses():
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            servers.append(server)
            server.bind((address, 0))
            server.listen()
        targets = [str(part) for s in servers for part in s.getsockname()]
        probe = subprocess.run(
            [*prefix, sys.executable, "-c", CONNECT, *targets],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        for server in servers:
            server.close()
    assert probe.returncode == 0, probe.stderr
    lines = dict(line.split(" ", 1) for line in probe.stdout.splitlines())
    return {address: said == "reached" for address, said in lines.items()}


def network_namespace_refusal() -> str | None:
    """Why this machine cannot run a command without network, or None when it can."""
    if not shutil.which("unshare"):
        return "the unshare command is not installed"
    probe = subprocess.run([*NO_NETWORK, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"the kernel refused a network namespace: {probe.stderr.strip()}"
    return None


def require_no_network() -> None:
    """Skip when the network cannot be cut here; fail on CI (CI is set), which runs as root."""
    refusal = network_namespace_refusal()
    if refusal and os.environ.get("CI"):
        pytest.fail(f"cannot cut the network on CI: {refusal}")
    if refusal:
        pytest.skip(f"cannot cut the network here: {refusal}")


@pytest.fixture(scope="session")
def offline_site(tmp_path_factory):
    """A second clean build, in another directory, with no network at all."""
    require_no_network()
    return build_site(
        copy_sources(tmp_path_factory.mktemp("elsewhere") / "project"), prefix=NO_NETWORK
    )


def test_the_probe_reaches_the_host_when_there_is_a_network():
    reached = reached_from(())
    assert reached and all(reached.values()), reached


def test_the_offline_build_runs_where_no_address_of_the_host_can_be_reached():
    require_no_network()
    reached = reached_from(NO_NETWORK)
    assert set(reached) == set(host_addresses()), reached
    assert not any(reached.values()), f"the namespace still reached the host: {reached}"


def test_the_build_needs_no_network(offline_site):
    assert offline_site.returncode == 0, offline_site.output


@pytest.mark.parametrize("page", PAGES)
def test_two_clean_builds_in_different_directories_are_identical(site, offline_site, page):
    assert offline_site.returncode == 0, offline_site.output
    assert offline_site.page(page) == site.page(page)


def test_a_parallel_build_gives_the_same_pages(site, tmp_path):
    parallel = build_site(copy_sources(tmp_path), "-j", "2", env={"SESSION_SYNC_PARALLEL": "2"})
    assert parallel.returncode == 0, parallel.output
    for page in PAGES:
        assert parallel.page(page) == site.page(page), page


def test_two_clean_builds_serve_the_same_run_assets(site, offline_site):
    """'Run in your browser' (sphinxext/browser_run.py): the same bytes in both builds."""
    assert offline_site.returncode == 0, offline_site.output
    run = Path("_static") / "run"
    files = sorted(p.relative_to(site.html) for p in (site.html / run).rglob("*") if p.is_file())
    assert files, "no run assets in the site"
    for relative in files:
        assert (offline_site.html / relative).read_bytes() == (site.html / relative).read_bytes()
