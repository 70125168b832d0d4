"""Test data the webhook-sink fixtures leave behind: switches a test turned on and did not turn off."""

from __future__ import annotations

import re
from typing import Any

import requests

from cdc_lab.core.endpoints import Endpoint

TITLE = "the webhook sink"
UNREACHABLE = (requests.RequestException,)
SWITCH_ON = re.compile(r'^cdc_lab_test_switch\{name="([^"]+)"\} 1$', re.MULTILINE)
HTTP_TIMEOUT_S = 5.0


def sink_switches(endpoint: Endpoint) -> list[str]:
    """Webhook-sink switches a test turned on and did not turn off."""
    response = requests.get(f"{endpoint.url}/metrics", timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    return sorted(SWITCH_ON.findall(response.text))


def leftovers(manifest: dict[str, Any], endpoints: dict[str, Endpoint]) -> dict[str, list[str]]:
    return {"webhook-sink switches on": sink_switches(endpoints["webhook-sink"])}
