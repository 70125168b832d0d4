"""Test data the Kafka fixtures leave behind: the topics of test tables (``<prefix>.<database>.t_*``) and of test
connectors (``t<token>.*``)."""

from __future__ import annotations

import re
from typing import Any

from confluent_kafka import KafkaException

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.services.kafka.client import topics
from cdc_lab.services.kafka_connect.client import LabConnector

TITLE = "Kafka"
UNREACHABLE = (KafkaException, OSError)
TEST_CONNECTOR_TOPIC = re.compile(r"^t[0-9a-f]{10}([.]|$)")


def test_topics(endpoint: Endpoint, connector: LabConnector) -> list[str]:
    table_topics = connector.topic("t_")
    return sorted(t for t in topics(endpoint) if t.startswith(table_topics) or TEST_CONNECTOR_TOPIC.match(t))


def leftovers(manifest: dict[str, Any], endpoints: dict[str, Endpoint]) -> dict[str, list[str]]:
    return {"Kafka topics": test_topics(endpoints["kafka"], LabConnector.from_manifest(manifest))}
