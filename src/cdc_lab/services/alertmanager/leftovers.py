"""Test data the Alertmanager fixtures leave behind: active silences and alerts labelled ``test="true"``."""

from __future__ import annotations

from typing import Any

import requests

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.services.alertmanager.client import AlertmanagerClient

TITLE = "Alertmanager"
UNREACHABLE = (requests.RequestException,)


def alertmanager_leftovers(endpoint: Endpoint) -> tuple[list[str], list[str]]:
    """Active silences matching test alerts, and active alerts labelled ``test="true"``."""
    client = AlertmanagerClient(endpoint.url)
    try:
        silences = [
            f"{silence['id']} ({silence.get('comment', '')})"
            for silence in client.silences()
            if silence["status"]["state"] == "active"
            and any(m["name"] == "test" and m["value"] == "true" for m in silence["matchers"])
        ]
        alerts = sorted(
            alert["labels"].get("alertname", "?") + (f"/{alert['labels']['name']}" if "name" in alert["labels"] else "")
            for alert in client.alerts(filters=['test="true"'])
        )
        return silences, alerts
    finally:
        client.session.close()


def leftovers(manifest: dict[str, Any], endpoints: dict[str, Endpoint]) -> dict[str, list[str]]:
    silences, alerts = alertmanager_leftovers(endpoints["alertmanager"])
    return {"active test silences": silences, "active test alerts": alerts}
