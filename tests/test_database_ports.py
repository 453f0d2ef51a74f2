"""The throwaway servers of tests/databases.py start even when their first port is taken.

free_port() can only guess: the port it returns is free when it returns, and another process
may listen on it before the server binds it. The server then starts again on another port.
Run by `nox -s dialects` with tests/test_dialects.py (it needs the servers' binaries).
"""

from __future__ import annotations

import socket

import databases
import pytest
from test_dialects import SERVERS, require


@pytest.fixture
def first_port_taken(monkeypatch):
    """free_port() answers, once, a port that another socket listens on: the race, made sure."""
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    answers = iter([taken])
    real_free_port = databases.free_port
    monkeypatch.setattr(databases, "free_port", lambda: next(answers, None) or real_free_port())
    yield taken
    squatter.close()


@pytest.mark.parametrize("name", list(SERVERS))
def test_a_server_whose_port_was_taken_starts_on_another(name, first_port_taken):
    require(name)
    server = SERVERS[name][0]
    from sqlalchemy import create_engine, text

    with server() as url:
        assert url.port != first_port_taken, "the server did not take the squatted port"
        assert url.timings.get("port retries") == 1, url.timings
        assert ("127.0.0.1", url.port) in databases.listening_addresses(url.pid)
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                assert connection.scalar(text("SELECT 1")) == 1
        finally:
            engine.dispose()
