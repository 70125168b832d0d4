"""A small client for the Prometheus HTTP API (what the lab's tests need of it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
import yaml

from cdc_lab.core.probe import answers_ok

DEFAULT_TIMEOUT_S = 5.0


class PrometheusError(RuntimeError):
    """Prometheus answered with an error."""


@dataclass
class PrometheusClient:
    """Talks to one Prometheus server."""

    base_url: str
    timeout: float = DEFAULT_TIMEOUT_S
    session: requests.Session = field(default_factory=requests.Session)

    def _get(self, path: str, **params: str) -> Any:
        response = self.session.get(f"{self.base_url}{path}", params=params or None, timeout=self.timeout)
        response.raise_for_status()
        body = response.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def ready(self) -> bool:
        """Whether /-/ready answers 200."""
        return answers_ok(self.session, f"{self.base_url}/-/ready", self.timeout)

    def loaded_config(self) -> dict[str, Any]:
        """The configuration Prometheus is running with, parsed."""
        return yaml.safe_load(self._get("/api/v1/status/config")["yaml"])

    def active_targets(self) -> list[dict[str, Any]]:
        return self._get("/api/v1/targets", state="active")["activeTargets"]

    def target_health(self, job: str) -> list[str]:
        """The health ('up', 'down', 'unknown') of each active target of a job."""
        return [t["health"] for t in self.active_targets() if t["labels"].get("job") == job]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        return self._get("/api/v1/query", query=expr)["result"]

    def rule_groups(self) -> list[dict[str, Any]]:
        return self._get("/api/v1/rules")["groups"]

    def alertmanagers(self) -> list[str]:
        """URLs of the active Alertmanagers."""
        return [am["url"] for am in self._get("/api/v1/alertmanagers")["activeAlertmanagers"]]
