"""Kafka Connect's REST API from the host, and the lab's Debezium connector as its manifest declares it.

A test's own connector starts from the lab's connector configuration (same server, same credentials reference) with
its own name, topic prefix, server id and schema history topic, and captures only the tables it names.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

import requests

from cdc_lab.core.manifest import role
from cdc_lab.core.wait import wait_until

REQUEST_TIMEOUT_S = 30.0
# Replica server ids of test connectors: far from the server's and the lab connector's own.
TEST_SERVER_IDS = (500_000, 4_000_000)


class ConnectError(RuntimeError):
    """The worker refused a request; the message carries its answer."""


@dataclass(frozen=True)
class LabConnector:
    """The connector the lab registers: its name, topic prefix, database and whole configuration."""

    name: str
    topic_prefix: str
    database: str
    config: dict[str, str]

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any] | None = None) -> LabConnector:
        declared = role("kafka_connect", manifest)["connector"]
        return cls(
            name=declared["name"],
            topic_prefix=declared["topic_prefix"],
            database=declared["database"],
            config={key: str(value) for key, value in declared["config"].items()},
        )

    def topic(self, table: str, prefix: str | None = None) -> str:
        """The topic of a table's change events: <prefix>.<database>.<table>."""
        return f"{prefix or self.topic_prefix}.{self.database}.{table}"

    def transaction_topic(self, prefix: str | None = None) -> str:
        """Where Debezium writes transaction boundaries (BEGIN and END, with per-table event counts)."""
        return f"{prefix or self.topic_prefix}.transaction"

    def for_test(self, tables: list[str], **overrides: str) -> tuple[str, dict[str, str]]:
        """A name and configuration for a test's own connector capturing ``tables`` of the lab's database."""
        token = uuid.uuid4().hex[:10]
        prefix = f"t{token}"
        config = dict(self.config)
        config.update(
            {
                "topic.prefix": prefix,
                "database.server.id": str(random.randint(*TEST_SERVER_IDS)),
                "table.include.list": ",".join(f"{self.database}.{table}" for table in tables),
                "schema.history.internal.kafka.topic": f"{prefix}.schema-history",
            }
        )
        config.update(overrides)
        return f"t_{token}", config


def failed_parts(status: dict[str, Any]) -> list[dict[str, Any]]:
    """The connector's and its tasks' entries of a status that are FAILED."""
    return [item for item in [status["connector"], *status.get("tasks", [])] if item["state"] == "FAILED"]


class ConnectClient:
    """Kafka Connect's REST API."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._session = requests.Session()

    def _call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 202, 204)) -> Any:
        response = self._session.request(method, f"{self.url}{path}", json=body, timeout=REQUEST_TIMEOUT_S)
        if response.status_code not in ok:
            raise ConnectError(f"{method} {path}: HTTP {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else None

    def plugins(self) -> dict[str, str]:
        """The connector plugins the worker found in its plugin path: class -> version."""
        return {plugin["class"]: plugin["version"] for plugin in self._call("GET", "/connector-plugins")}

    def connectors(self) -> list[str]:
        return list(self._call("GET", "/connectors"))

    def config(self, name: str) -> dict[str, str]:
        return dict(self._call("GET", f"/connectors/{name}/config"))

    def status(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/connectors/{name}/status"))

    def validate(self, config: dict[str, str]) -> list[str]:
        """The plugin's objections to a configuration, one line per setting ("name: message")."""
        plugin = config["connector.class"].rsplit(".", 1)[-1]
        answer = self._call("PUT", f"/connector-plugins/{plugin}/config/validate", config)
        return [
            f"{entry['value']['name']}: {message}"
            for entry in answer.get("configs", [])
            for message in entry.get("value", {}).get("errors", [])
        ]

    def put(self, name: str, config: dict[str, str]) -> None:
        self._call("PUT", f"/connectors/{name}/config", config)

    def pause(self, name: str) -> None:
        self._call("PUT", f"/connectors/{name}/pause")

    def resume(self, name: str) -> None:
        self._call("PUT", f"/connectors/{name}/resume")

    def stop(self, name: str) -> None:
        self._call("PUT", f"/connectors/{name}/stop")

    def restart(self, name: str) -> None:
        self._call("POST", f"/connectors/{name}/restart?includeTasks=true&onlyFailed=false")

    def delete(self, name: str) -> None:
        self._call("DELETE", f"/connectors/{name}", ok=(200, 204, 404))

    def binlog_offset(self, name: str) -> tuple[str, int] | None:
        """Where in the binary log the connector would resume (its committed source offset: file, position), or
        None before it committed one (Kafka Connect's offsets API, KIP-875)."""
        for entry in self._call("GET", f"/connectors/{name}/offsets").get("offsets", []):
            offset = entry.get("offset") or {}
            if "file" in offset and "pos" in offset:
                return str(offset["file"]), int(offset["pos"])
        return None

    def states(self, name: str) -> tuple[str, list[str]]:
        """The connector's state and its tasks' states."""
        status = self.status(name)
        return status["connector"]["state"], [task["state"] for task in status.get("tasks", [])]

    def wait_for(self, name: str, state: str, *, timeout: float) -> dict[str, Any]:
        """Wait until the connector and all its tasks (at least one; none when STOPPED) are in ``state``; a FAILED
        connector or task ends the wait at once, with its trace."""

        def reached() -> dict[str, Any] | None:
            status = self.status(name)
            tasks = status.get("tasks", [])
            if failed_parts(status) and state != "FAILED":
                return status
            if status["connector"]["state"] != state:
                return None
            if state == "STOPPED":  # a stopped connector has no tasks: they are gone once it reports none
                return status if not tasks else None
            return status if tasks and all(task["state"] == state for task in tasks) else None

        status = wait_until(reached, timeout=timeout, interval=0.25, what=f"connector {name} to be {state}")
        failed = failed_parts(status)
        if failed and state != "FAILED":
            raise ConnectError(f"connector {name} FAILED: {failed[0].get('trace', '(no trace)')[:3000]}")
        return status
