"""Fixtures for the lab's Prometheus."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.fixtures import require_service
from cdc_lab.services.prometheus.client import PrometheusClient


@pytest.fixture
def prometheus_endpoint(lab_endpoints: dict[str, Endpoint]) -> Endpoint:
    """Prometheus's endpoint, probed; skips (fails in strict mode) when it does not answer."""
    return require_service(lab_endpoints, "prometheus")


@pytest.fixture
def prometheus(prometheus_endpoint: Endpoint) -> Generator[PrometheusClient, None, None]:
    """A client for the lab's Prometheus."""
    client = PrometheusClient(prometheus_endpoint.url)
    yield client
    client.session.close()
