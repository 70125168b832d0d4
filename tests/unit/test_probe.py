"""The probes tell a service that is down (refused: a plain reason, at once) from one that is up and slow to answer
(``Busy``: the service fixtures ask it again), against real sockets on 127.0.0.1."""

import socket
import time

import pytest

from cdc_lab.core.probe import Busy, probe_greeting, probe_http

pytestmark = pytest.mark.unit


@pytest.fixture
def silent_server():
    """A port that accepts connections (the kernel's backlog) and never says or answers anything."""
    server = socket.create_server(("127.0.0.1", 0))
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.fixture
def closed_port():
    with socket.create_server(("127.0.0.1", 0)) as server:
        return server.getsockname()[1]


def test_a_server_that_takes_the_connection_and_stays_silent_is_busy(silent_server):
    started = time.monotonic()
    why = probe_http(f"http://127.0.0.1:{silent_server}/health", timeout=0.3)
    assert isinstance(why, Busy), why
    assert "within 0.3 s" in why
    assert time.monotonic() - started < 3
    assert isinstance(probe_greeting("127.0.0.1", silent_server, timeout=0.3), Busy)


def test_a_refused_connection_is_down_not_busy(closed_port):
    for why in (probe_http(f"http://127.0.0.1:{closed_port}/health"), probe_greeting("127.0.0.1", closed_port)):
        assert why is not None
        assert not isinstance(why, Busy), why
