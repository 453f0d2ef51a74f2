"""Two builds of the same sources give the same pages: elsewhere, in parallel, offline, hosted."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shared_builds import HOSTED_BASE_URL, NO_NETWORK, network_namespace_refusal
from sitebuild import EXAMPLE_PAGES, NARRATIVE_HTML

PAGES = EXAMPLE_PAGES + NARRATIVE_HTML


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


def require_no_network() -> None:
    """Skip when the network cannot be cut here; fail on CI (CI is set), which runs as root."""
    refusal = network_namespace_refusal()
    if refusal and os.environ.get("CI"):
        pytest.fail(f"cannot cut the network on CI: {refusal}")
    if refusal:
        pytest.skip(f"cannot cut the network here: {refusal}")


def test_the_probe_reaches_the_host_when_there_is_a_network():
    reached = reached_from(())
    assert reached and all(reached.values()), reached


def test_the_offline_build_runs_where_no_address_of_the_host_can_be_reached():
    require_no_network()
    reached = reached_from(NO_NETWORK)
    assert set(reached) == set(host_addresses()), reached
    assert not any(reached.values()), f"the namespace still reached the host: {reached}"


def test_the_build_needs_no_network(hosted):
    """The twin (tests/shared_builds.py) ran in a network namespace of its own."""
    require_no_network()
    assert hosted.prefix == NO_NETWORK, hosted.prefix
    assert hosted.returncode == 0, hosted.output


# What names a page's own address: only a build that knows where the site lives has it.
ADDRESSED = [
    re.compile(r'\n[ \t]*<meta property="og:url" content="[^"]*" ?/?>'),
    re.compile(r'\n[ \t]*<link rel="canonical" href="[^"]*" ?/?>'),
]
# The 404 page links from the site's root (sphinxext/not_found_links.py): from the sub-path.
HOSTED_ROOT = '"/' + HOSTED_BASE_URL.split("/", 3)[3]


def without_addresses(html: str) -> str:
    for pattern in ADDRESSED:
        html = pattern.sub("", html)
    html = html.replace(HOSTED_ROOT, '"/')
    return "\n".join(line.rstrip() for line in html.splitlines())


@pytest.mark.parametrize("page", PAGES)
def test_two_clean_builds_in_different_directories_are_identical(site, hosted, page):
    """`site` and its twin, built in another directory, with no network, in parallel and under
    a sub-path (tests/shared_builds.py): only the address a page names may differ."""
    assert site.project != hosted.project
    assert without_addresses(hosted.page(page)) == without_addresses(site.page(page))


def test_two_clean_builds_serve_the_same_run_assets(site, hosted):
    """'Run in your browser' (sphinxext/browser_run.py): the same bytes in both builds."""
    run = Path("_static") / "run"
    files = sorted(p.relative_to(site.html) for p in (site.html / run).rglob("*") if p.is_file())
    assert files, "no run assets in the site"
    for relative in files:
        assert (hosted.html / relative).read_bytes() == (site.html / relative).read_bytes()
