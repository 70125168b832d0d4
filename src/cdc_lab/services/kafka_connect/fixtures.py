"""Fixtures for Kafka Connect and Debezium: the worker's client, the lab's connector, tables captured by it (each
with its topic and a reader of it), and a test's own connectors, deleted with their topics afterwards.

The topics the lab's connector writes for test tables are not deleted by the test: the connector may still have
changes of the table to write (see cdc_lab.services.kafka_connect.retire); the run's controller deletes them at the
end of the run, once the connector has read past the tables' drops."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import pytest

from cdc_lab.core.endpoints import Endpoint, load_endpoints
from cdc_lab.core.fixtures import require_service
from cdc_lab.core.manifest import ManifestError
from cdc_lab.core.wait import wait_until
from cdc_lab.services import SERVICES
from cdc_lab.services.kafka.client import TopicReader, create_topic
from cdc_lab.services.kafka.fixtures import TopicJanitor
from cdc_lab.services.kafka_connect.client import ConnectClient, LabConnector
from cdc_lab.services.kafka_connect.retire import retire_dropped_table_topics

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
    mysql_table: Callable[..., str],
    lab_connector: LabConnector,
    kafka_endpoint: Endpoint,
    topic_reader: Callable[..., TopicReader],
    connect_client: ConnectClient,
) -> Callable[[str, str], CapturedTable]:
    """Create a table the lab's connector captures, its topic (made first, so the reader starts at its beginning)
    and a reader of it. The table is dropped afterwards, pass or fail; its topic goes at the end of the run."""
    state, tasks = connect_client.states(lab_connector.name)
    if state != "RUNNING" or tasks != ["RUNNING"]:
        pytest.fail(
            f"the lab's connector {lab_connector.name} is {state} (tasks {tasks}); run `make lab`", pytrace=False
        )

    def create(hint: str, columns: str) -> CapturedTable:
        table = mysql_table(hint, columns)
        topic = lab_connector.topic(table)
        create_topic(kafka_endpoint, topic)
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
        # Its topics (<prefix>, <prefix>.schema-history, <prefix>.<database>.<table>, ...): deleted once it is gone.
        kafka_topics.track(prefix=config["topic.prefix"])
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
            # A connector that FAILED (the test's scenario, or its bug) stops too; it is deleted either way.
            wait_until(
                lambda name=name: (
                    connect_client.states(name)[0] in ("STOPPED", "FAILED")
                    and "RUNNING" not in connect_client.states(name)[1]
                ),
                timeout=60,
                what=f"connector {name} to stop",
            )
            connect_client.delete(name)
    wait_until(
        lambda: not set(registered) & set(connect_client.connectors()),
        timeout=30,
        what=f"connectors {registered} to be deleted",
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """At the end of the run, its controller deletes the lab connector's topics of the test tables that are gone,
    once the connector has read past their drops (cdc_lab.services.kafka_connect.retire)."""
    if getattr(session.config, "workerinput", None) is not None:
        return
    try:
        endpoints = load_endpoints()
        LabConnector.from_manifest()
    except (ManifestError, KeyError):
        return
    if any(SERVICES[name].probe(endpoints[name]) for name in ("mysql", "kafka", "kafka-connect")):
        return
    retired = retire_dropped_table_topics(endpoints)
    if retired.kept:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"cdc-lab: kept {len(retired.kept)} topics of dropped test tables ({retired.why_kept}); the next run "
                "deletes them once the connector runs"
            )
