"""The lab's webhook sink: where every Alertmanager receiver delivers, so tests can verify delivery.

Standard library only: it runs in its own container (``python3 webhook_sink.py``) with Debian's python3.

HTTP API:
- ``POST /hook/<receiver>``: record a notification (Alertmanager's webhook JSON) under that receiver.
- ``GET /notifications?receiver=R&alertname=A``: the recorded notifications, oldest first, filtered by the
  receiver they were delivered to and/or an alert name any of their alerts carries.
- ``DELETE /notifications?alertname=A``: forget the notifications carrying that alert name (test cleanup).
- ``PUT /switch/<name>`` with body ``1`` or ``0``: set the gauge ``cdc_lab_test_switch{name="<name>"}``, which a
  Prometheus rule watches, so tests can make Prometheus fire an alert.
- ``GET /metrics``: Prometheus text format (notifications received, switches).
- ``GET /-/healthy``: 200 when serving.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_NOTIFICATIONS = 10_000
MAX_BODY_BYTES = 4 * 1024 * 1024


def alertnames(payload: dict[str, Any]) -> set[str]:
    """Every alertname a webhook payload carries (its group labels and each alert's labels)."""
    names = {payload.get("groupLabels", {}).get("alertname")}
    names.update(alert.get("labels", {}).get("alertname") for alert in payload.get("alerts", []))
    return {name for name in names if isinstance(name, str)}


class NotificationStore:
    """Thread-safe, bounded record of notifications and switch values."""

    def __init__(self, capacity: int = MAX_NOTIFICATIONS) -> None:
        self._lock = threading.Lock()
        self._notifications: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._received: dict[str, int] = {}
        self._switches: dict[str, int] = {}

    def record(self, receiver: str, payload: dict[str, Any]) -> None:
        entry = {"receiver": receiver, "received_at": time.time(), "payload": payload}
        with self._lock:
            self._notifications.append(entry)
            self._received[receiver] = self._received.get(receiver, 0) + 1

    def find(self, receiver: str | None = None, alertname: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self._notifications)
        return [
            entry
            for entry in entries
            if (receiver is None or entry["receiver"] == receiver)
            and (alertname is None or alertname in alertnames(entry["payload"]))
        ]

    def forget(self, alertname: str) -> int:
        with self._lock:
            keep = [entry for entry in self._notifications if alertname not in alertnames(entry["payload"])]
            removed = len(self._notifications) - len(keep)
            self._notifications.clear()
            self._notifications.extend(keep)
        return removed

    def set_switch(self, name: str, value: int) -> None:
        with self._lock:
            self._switches[name] = value

    def metrics(self) -> str:
        with self._lock:
            received = dict(self._received)
            switches = dict(self._switches)
        lines = [
            "# HELP cdc_lab_webhook_notifications_total Notifications received, by receiver.",
            "# TYPE cdc_lab_webhook_notifications_total counter",
            *(f'cdc_lab_webhook_notifications_total{{receiver="{r}"}} {n}' for r, n in sorted(received.items())),
            "# HELP cdc_lab_test_switch Switches tests flip to make Prometheus fire the LabTestSwitch alert.",
            "# TYPE cdc_lab_test_switch gauge",
            *(f'cdc_lab_test_switch{{name="{s}"}} {v}' for s, v in sorted(switches.items())),
        ]
        return "\n".join(lines) + "\n"


def _label_safe(value: str) -> bool:
    return bool(value) and len(value) <= 200 and all(c.isalnum() or c in "-_." for c in value)


class SinkHandler(BaseHTTPRequestHandler):
    server_version = "cdc-lab-webhook-sink/1"
    store: NotificationStore  # set on the subclass made by make_server

    def log_message(self, format: str, *args: Any) -> None:
        return  # one line per request would drown the container's log; /metrics counts them

    def _send(self, status: HTTPStatus, body: object, content_type: str = "application/json") -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"body over {MAX_BODY_BYTES} bytes"})
            return None
        return self.rfile.read(length)

    def _parts(self) -> tuple[list[str], dict[str, str]]:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        return [part for part in url.path.split("/") if part], query

    def do_GET(self) -> None:
        parts, query = self._parts()
        if parts == ["-", "healthy"]:
            self._send(HTTPStatus.OK, {"status": "ok"})
        elif parts == ["notifications"]:
            self._send(HTTPStatus.OK, self.store.find(query.get("receiver"), query.get("alertname")))
        elif parts == ["metrics"]:
            self._send(HTTPStatus.OK, self.store.metrics(), "text/plain; version=0.0.4")
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": f"no such resource: {self.path}"})

    def do_POST(self) -> None:
        parts, _ = self._parts()
        if len(parts) != 2 or parts[0] != "hook" or not _label_safe(parts[1]):
            self._send(HTTPStatus.NOT_FOUND, {"error": "POST /hook/<receiver>"})
            return
        body = self._body()
        if body is None:
            return
        try:
            payload = json.loads(body)
        except json.JSONDecodeError as exc:
            self._send(HTTPStatus.BAD_REQUEST, {"error": f"not JSON: {exc}"})
            return
        if not isinstance(payload, dict):
            self._send(HTTPStatus.BAD_REQUEST, {"error": "the payload must be a JSON object"})
            return
        self.store.record(parts[1], payload)
        self._send(HTTPStatus.OK, {"recorded": True})

    def do_PUT(self) -> None:
        parts, _ = self._parts()
        body = self._body()
        if body is None:
            return
        if len(parts) != 2 or parts[0] != "switch" or not _label_safe(parts[1]) or body.strip() not in (b"0", b"1"):
            self._send(HTTPStatus.BAD_REQUEST, {"error": "PUT /switch/<name> with body 0 or 1"})
            return
        self.store.set_switch(parts[1], int(body.strip()))
        self._send(HTTPStatus.OK, {"switch": parts[1], "value": int(body.strip())})

    def do_DELETE(self) -> None:
        parts, query = self._parts()
        if parts != ["notifications"] or not query.get("alertname"):
            self._send(HTTPStatus.BAD_REQUEST, {"error": "DELETE /notifications?alertname=<name>"})
            return
        self._send(HTTPStatus.OK, {"removed": self.store.forget(query["alertname"])})


def make_server(host: str, port: int, store: NotificationStore | None = None) -> ThreadingHTTPServer:
    """A sink server bound to host:port (port 0 picks a free one); call serve_forever() to run it."""
    handler = type("BoundSinkHandler", (SinkHandler,), {"store": store or NotificationStore()})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # All interfaces inside its container; Docker publishes the port on 127.0.0.1 only.
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(list(argv) if argv is not None else None)
    server = make_server(args.host, args.port)
    # As a container's PID 1 the process gets no default SIGTERM handler: stop promptly when Docker asks.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    print(f"webhook sink listening on {args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
