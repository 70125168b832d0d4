"""Fixtures for the lab's webhook sink, where every Alertmanager receiver delivers."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.fixtures import require_service
from cdc_lab.services.webhook_sink.client import WebhookSinkClient


@pytest.fixture
def webhook_sink(lab_endpoints: dict[str, Endpoint]) -> Generator[WebhookSinkClient, None, None]:
    """A client for the lab's webhook sink, where every Alertmanager receiver delivers."""
    client = WebhookSinkClient(require_service(lab_endpoints, "webhook-sink").url)
    yield client
    client.session.close()
