"""Fast reachability probes: tell whether a service answers, and if not, why.

A service that is down is told within a second: its port refuses the connection (or nothing connects within
CONNECT_TIMEOUT_S). A service that is up but busy gets ANSWER_TIMEOUT_S to answer: on these 2-core machines, under
the suite's own load, Spark Connect's gRPC handshake took over 1 s about once in fifty probes (its driver's
garbage collector, the other tests' jobs), and a lab test that waits a moment is not a lab test that is skipped.
"""

from __future__ import annotations

import socket

import requests

CONNECT_TIMEOUT_S = 1.0
ANSWER_TIMEOUT_S = 5.0


class Busy(str):
    """A probe's reason when the service took the connection but did not answer within the time given: it is up,
    and busy (``require_service`` gives such a service more time; a refused connection is told at once)."""


def probe_greeting(host: str, port: int, timeout: float = ANSWER_TIMEOUT_S) -> str | None:
    """None when a server at host:port speaks first (as MySQL does with its handshake), else why not.

    A bare TCP connect is not enough: Docker's port proxy accepts connections even when the server behind it is
    down.
    """
    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:
        return f"no greeting from {host}:{port} ({exc.strerror or exc})"
    with sock:
        sock.settimeout(timeout)
        try:
            greeting = sock.recv(4)
        except TimeoutError:  # connected, and silent: busy (a connect that timed out is not)
            return Busy(f"no greeting from {host}:{port} within {timeout:g} s")
        except OSError as exc:
            return f"no greeting from {host}:{port} ({exc.strerror or exc})"
    if not greeting:
        return f"{host}:{port} closed the connection without a greeting"
    return None


def probe_grpc(host: str, port: int, timeout: float = ANSWER_TIMEOUT_S) -> str | None:
    """None when a gRPC server (e.g. Spark Connect) completes the HTTP/2 handshake at host:port, else why not."""
    import grpc  # Spark Connect's own transport; imported here so the other probes do not need it

    try:  # a refused connection answers at once; gRPC's readiness wait would take the whole timeout
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        return f"no TCP connection to {host}:{port} ({exc.strerror or exc})"
    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        return None
    except grpc.FutureTimeoutError:
        return Busy(f"no gRPC server answered at {host}:{port} within {timeout:g} s")
    finally:
        channel.close()


def probe_http(url: str, timeout: float = ANSWER_TIMEOUT_S) -> str | None:
    """None when GET url answers 2xx within the timeout, else the reason it did not (a refused connection at once)."""
    try:
        response = requests.get(url, timeout=(CONNECT_TIMEOUT_S, timeout))
    except requests.ReadTimeout:
        return Busy(f"GET {url} had no answer within {timeout:g} s")
    except requests.RequestException as exc:
        return f"GET {url} failed ({type(exc).__name__})"
    if not response.ok:
        return f"GET {url} answered {response.status_code}"
    return None


def answers_ok(session: requests.Session, url: str, timeout: float) -> bool:
    """Whether GET url answers 200 within the timeout (a health endpoint such as /-/ready)."""
    try:
        return session.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False
