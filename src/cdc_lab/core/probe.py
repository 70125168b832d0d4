"""Fast reachability probes: tell within a second whether a service answers, and if not, why."""

from __future__ import annotations

import socket

import requests

PROBE_TIMEOUT_S = 1.0


def probe_greeting(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when a server at host:port speaks first (as MySQL does with its handshake), else why not.

    A bare TCP connect is not enough: Docker's port proxy accepts connections even when the server behind it is
    down.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            if not sock.recv(4):
                return f"{host}:{port} closed the connection without a greeting"
            return None
    except OSError as exc:
        return f"no greeting from {host}:{port} ({exc.strerror or exc})"


def probe_grpc(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when a gRPC server (e.g. Spark Connect) completes the HTTP/2 handshake at host:port, else why not."""
    import grpc  # Spark Connect's own transport; imported here so the other probes do not need it

    try:  # a refused connection answers at once; gRPC's readiness wait would take the whole timeout
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"no TCP connection to {host}:{port} ({exc.strerror or exc})"
    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        return None
    except grpc.FutureTimeoutError:
        return f"no gRPC server answered at {host}:{port} within {timeout:g} s"
    finally:
        channel.close()


def probe_http(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when GET url answers 2xx within the timeout, else the reason it did not."""
    try:
        response = requests.get(url, timeout=timeout)
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
