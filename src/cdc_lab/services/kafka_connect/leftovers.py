"""Test data the Kafka Connect fixtures leave behind: test connectors (named ``t_*``)."""

from __future__ import annotations

from typing import Any

import requests

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.services.kafka_connect.client import ConnectClient, ConnectError

TITLE = "Kafka Connect"
UNREACHABLE = (ConnectError, requests.RequestException)


def leftovers(manifest: dict[str, Any], endpoints: dict[str, Endpoint]) -> dict[str, list[str]]:
    names = ConnectClient(endpoints["kafka-connect"].url).connectors()
    return {"Kafka Connect connectors": sorted(name for name in names if name.startswith("t_"))}
