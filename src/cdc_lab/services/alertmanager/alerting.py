"""Test alerts with a lifecycle: unique names, the `test="true"` label, and cleanup even when a test fails."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from cdc_lab.services.alertmanager.client import AlertmanagerClient, matcher, rfc3339
from cdc_lab.services.webhook_sink.client import WebhookSinkClient

TEST_LABEL = {"test": "true"}


@dataclass
class AlertSession:
    """Fires, silences and resolves alerts for one test, and undoes all of it in ``close()``."""

    alertmanager: AlertmanagerClient
    sink: WebhookSinkClient | None = None
    prefix: str = "cdclab"
    _fired: dict[tuple[tuple[str, str], ...], dict[str, Any]] = field(default_factory=dict)
    _silences: list[str] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)
    _switches: list[str] = field(default_factory=list)

    def new_name(self, hint: str) -> str:
        """A unique alertname for this test (so parallel tests never see each other's alerts)."""
        name = f"{self.prefix}_{hint}_{uuid.uuid4().hex[:10]}"
        self._names.add(name)
        return name

    def alert(self, alertname: str, severity: str = "warning", **labels: str) -> dict[str, Any]:
        """An alert body carrying the test label."""
        return {
            "labels": {"alertname": alertname, "severity": severity, **TEST_LABEL, **labels},
            "annotations": {"summary": f"cdc-lab test alert {alertname}"},
        }

    def fire(self, *alerts: dict[str, Any]) -> list[dict[str, Any]]:
        """Post alerts in one request; they stay firing until resolved (here or by ``close()``)."""
        for body in alerts:
            self._names.add(body["labels"]["alertname"])
            self._fired[tuple(sorted(body["labels"].items()))] = body
        self.alertmanager.post_alerts(list(alerts))
        return list(alerts)

    def resolve(self, *alerts: dict[str, Any]) -> None:
        """Resolve alerts now (endsAt = now)."""
        now = rfc3339(datetime.now(UTC))
        self.alertmanager.post_alerts([{**body, "endsAt": now} for body in alerts])
        for body in alerts:
            self._fired.pop(tuple(sorted(body["labels"].items())), None)

    def silence_alertname(self, alertname: str) -> str:
        """Silence every alert with this alertname; return the silence id."""
        silence_id = self.alertmanager.create_silence(
            [matcher("alertname", alertname), matcher("test", "true")], comment=f"cdc-lab test silence for {alertname}"
        )
        self._silences.append(silence_id)
        return silence_id

    def expire(self, silence_id: str) -> None:
        self.alertmanager.expire_silence(silence_id)
        self._silences.remove(silence_id)

    def adopt_silence(self, silence_id: str) -> None:
        """Own a silence made another way (e.g. through the web UI): ``close()`` expires it unless it already is."""
        self._silences.append(silence_id)

    def switch_on(self, hint: str) -> str:
        """Turn on a new sink switch, so Prometheus fires LabTestSwitch{name=<switch>}; return its name.

        ``close()`` turns it off again (Prometheus then resolves the alert at its next evaluation).
        """
        if self.sink is None:
            raise ValueError("switches live in the webhook sink; make the session with one")
        name = self.new_name(hint)
        self._switches.append(name)
        self.sink.set_switch(name, on=True)
        return name

    def close(self) -> list[str]:
        """Turn switches off, resolve what is still firing, expire what is still silencing, forget the sink's records.

        Returns the problems met (cleanup goes on past each one); the caller decides whether they matter.
        """
        problems: list[str] = []
        if self.sink is not None:
            for name in list(self._switches):
                try:
                    self.sink.set_switch(name, on=False)
                    self._switches.remove(name)
                except requests.RequestException as exc:
                    problems.append(f"turning off switch {name}: {exc}")
        if self._fired:
            try:
                self.resolve(*self._fired.values())
            except requests.RequestException as exc:
                problems.append(f"resolving {len(self._fired)} alert(s): {exc}")
        # Silences made another way (through the web UI) on this session's alerts, even by a test that failed
        # before it could adopt them.
        for name in sorted(self._names):
            try:
                for silence in self.alertmanager.silences(filters=[f'alertname="{name}"']):
                    if silence["status"]["state"] != "expired" and silence["id"] not in self._silences:
                        self._silences.append(silence["id"])
            except requests.RequestException as exc:
                problems.append(f"listing silences of {name}: {exc}")
        for silence_id in list(self._silences):
            try:
                if self.alertmanager.silence(silence_id)["status"]["state"] == "expired":
                    self._silences.remove(silence_id)
                    continue
                self.expire(silence_id)
            except requests.RequestException as exc:
                problems.append(f"expiring silence {silence_id}: {exc}")
        if self.sink is not None:
            for name in sorted(self._names):
                try:
                    self.sink.forget(name)
                except requests.RequestException as exc:
                    problems.append(f"forgetting sink records of {name}: {exc}")
        return problems
