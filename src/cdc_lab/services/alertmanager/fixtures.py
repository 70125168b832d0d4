"""Fixtures for the lab's Alertmanager: its client, and test alerts cleaned up whatever the test's outcome."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.fixtures import require_service
from cdc_lab.services.alertmanager.alerting import AlertSession
from cdc_lab.services.alertmanager.client import AlertmanagerClient
from cdc_lab.services.webhook_sink.client import WebhookSinkClient


@pytest.fixture
def alertmanager_endpoint(lab_endpoints: dict[str, Endpoint]) -> Endpoint:
    """Alertmanager's endpoint, probed; skips (fails in strict mode) when it does not answer."""
    return require_service(lab_endpoints, "alertmanager")


@pytest.fixture
def alertmanager(alertmanager_endpoint: Endpoint) -> Generator[AlertmanagerClient, None, None]:
    """A client for the lab's Alertmanager (API v2)."""
    client = AlertmanagerClient(alertmanager_endpoint.url)
    yield client
    client.session.close()


@pytest.fixture
def alert_session(
    alertmanager: AlertmanagerClient, webhook_sink: WebhookSinkClient
) -> Generator[AlertSession, None, None]:
    """Fire, silence and resolve test alerts; everything is resolved, expired and forgotten afterwards,
    whether the test passed or not."""
    session = AlertSession(alertmanager, webhook_sink)
    yield session
    problems = session.close()
    if problems:
        pytest.fail("alert cleanup failed: " + "; ".join(problems), pytrace=False)
