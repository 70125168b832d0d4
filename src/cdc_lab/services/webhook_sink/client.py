"""A client for the lab's webhook sink (see cdc_lab.images.webhook_sink for the service itself)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

DEFAULT_TIMEOUT_S = 5.0


@dataclass
class WebhookSinkClient:
    """Reads what Alertmanager delivered to the sink, and flips the sink's alert switches."""

    base_url: str
    timeout: float = DEFAULT_TIMEOUT_S
    session: requests.Session = field(default_factory=requests.Session)

    def notifications(self, *, receiver: str | None = None, alertname: str | None = None) -> list[dict[str, Any]]:
        """Recorded notifications (``receiver``, ``received_at``, ``payload``), oldest first."""
        params = {key: value for key, value in (("receiver", receiver), ("alertname", alertname)) if value}
        response = self.session.get(f"{self.base_url}/notifications", params=params, timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def forget(self, alertname: str) -> int:
        """Drop the notifications carrying an alert name; return how many."""
        response = self.session.delete(
            f"{self.base_url}/notifications", params={"alertname": alertname}, timeout=self.timeout
        )
        response.raise_for_status()
        return response.json()["removed"]

    def set_switch(self, name: str, on: bool) -> None:
        """Set the gauge cdc_lab_test_switch{name=...} that Prometheus's LabTestSwitch rule watches."""
        response = self.session.put(f"{self.base_url}/switch/{name}", data=b"1" if on else b"0", timeout=self.timeout)
        response.raise_for_status()
