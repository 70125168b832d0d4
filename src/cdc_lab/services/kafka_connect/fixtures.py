"""Fixtures for Kafka Connect and Debezium: the worker's client, the lab's connector, tables captured by it (each
with its topic and a reader of it), and a test's own connectors, deleted with their topics afterwards."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import pytest

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.fixtures import require_service
from cdc_lab.core.manifest import ManifestError
from cdc_lab.core.wait import wait_until
from cdc_lab.services.kafka.client import TopicReader
from cdc_lab.services.kafka.fixtures import TopicJanitor
from cdc_lab.services.kafka_connect.client import ConnectClient, LabConnector

# Seconds a connector may take to reach RUNNING (a new one snapshots its tables first).
CONNECTOR_START_TIMEOUT_S = 60


@dataclass(frozen=True)
class CapturedTable:
    """A test's table in the lab's database, the topic of its change events, and a reader of that topic."""

    name: str
    topic: str
    events: TopicReader


@dataclass(frozen=True)
class TestConnector:
    """A test's own Debezium connector: its name, topic prefix and configuration."""

    __test__ = False  # not a test class, whatever its name

    name: str
    prefix: str
    config: dict[str, str]


@pytest.fixture
def kafka_connect_endpoint(lab_endpoints: dict[str, Endpoint]) -> Endpoint:
    """Kafka Connect's REST API, probed (GET /health); skips (fails in strict mode) when it does not answer."""
    return require_service(lab_endpoints, "kafka-connect")


@pytest.fixture
def connect_client(kafka_connect_endpoint: Endpoint) -> ConnectClient:
    return ConnectClient(kafka_connect_endpoint.url)


@pytest.fixture(scope="session")
def lab_connector() -> LabConnector:
    """The Debezium connector `make lab` registers, as the lab's manifest declares it."""
    try:
        return LabConnector.from_manifest()
    except ManifestError as exc:
        pytest.skip(f"Kafka Connect is not in the lab's manifest ({exc})")


@pytest.fixture
def captured_table(
    mysql_table: Callable[[str, str], str],
    lab_connector: LabConnector,
    kafka_topics: TopicJanitor,
    topic_reader: Callable[..., TopicReader],
    connect_client: ConnectClient,
) -> Callable[[str, str], CapturedTable]:
    """Create a table the lab's connector captures, its topic (made first, so the reader starts at its beginning)
    and a reader of it. The table is dropped and the topic deleted afterwards, pass or fail."""
    state, tasks = connect_client.states(lab_connector.name)
    if state != "RUNNING" or tasks != ["RUNNING"]:
        pytest.fail(
            f"the lab's connector {lab_connector.name} is {state} (tasks {tasks}); run `make lab`", pytrace=False
        )

    def create(hint: str, columns: str) -> CapturedTable:
        table = mysql_table(hint, columns)
        topic = kafka_topics.create(lab_connector.topic(table))
        return CapturedTable(table, topic, topic_reader(topic))

    return create


@pytest.fixture
def test_connector(
    connect_client: ConnectClient, lab_connector: LabConnector, kafka_topics: TopicJanitor
) -> Generator[Callable[..., TestConnector], None, None]:
    """Register a test's own connector capturing the given tables, its settings overridden by ``overrides``
    (wait=False returns before it runs). It is deleted afterwards with every topic of its prefix, pass or fail."""
    registered: list[str] = []

    def register(tables: list[str], *, wait: bool = True, overrides: dict[str, str] | None = None) -> TestConnector:
        name, config = lab_connector.for_test(tables, **(overrides or {}))
        # Its topics (<prefix>, <prefix>.schema-history, <prefix>.<database>.<table>, ...), and the topics of the
        # same tables that the lab's own connector (which captures the whole database) makes.
        kafka_topics.track(prefix=config["topic.prefix"])
        for table in tables:
            kafka_topics.track(lab_connector.topic(table))
        registered.append(name)
        connect_client.put(name, config)
        if wait:
            connect_client.wait_for(name, "RUNNING", timeout=CONNECTOR_START_TIMEOUT_S)
        return TestConnector(name, config["topic.prefix"], config)

    yield register
    # Stopped first (its tasks shut down, so nothing writes to its topics any more), then deleted; its topics are
    # deleted after this, by kafka_topics.
    for name in registered:
        if name in connect_client.connectors():
            connect_client.stop(name)
            connect_client.wait_for(name, "STOPPED", timeout=60)
            connect_client.delete(name)
    wait_until(
        lambda: not set(registered) & set(connect_client.connectors()),
        timeout=30,
        what=f"connectors {registered} to be deleted",
    )
