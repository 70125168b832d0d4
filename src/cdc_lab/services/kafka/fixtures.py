"""Fixtures for the lab's Kafka: its endpoint, topics deleted afterwards, and readers closed afterwards."""

from __future__ import annotations

from collections.abc import Callable, Generator

import pytest

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.fixtures import require_service
from cdc_lab.services.kafka.client import TopicReader, create_topic, delete_topics, topics


class TopicJanitor:
    """Topics (by name or by prefix) a test made or caused; all deleted when the test ends, pass or fail."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.names: set[str] = set()
        self.prefixes: set[str] = set()

    def create(self, name: str) -> str:
        self.names.add(name)
        create_topic(self.endpoint, name)
        return name

    def track(self, name: str | None = None, *, prefix: str | None = None) -> None:
        if name:
            self.names.add(name)
        if prefix:
            self.prefixes.add(prefix)

    def clean(self) -> None:
        if not self.names and not self.prefixes:
            return
        doomed = set(self.names)
        if self.prefixes:
            doomed |= {topic for topic in topics(self.endpoint) if topic.startswith(tuple(self.prefixes))}
        delete_topics(self.endpoint, doomed)


@pytest.fixture
def kafka_endpoint(lab_endpoints: dict[str, Endpoint]) -> Endpoint:
    """Kafka's endpoint for the host, probed (broker metadata); skips (fails in strict mode) when it does not answer."""
    return require_service(lab_endpoints, "kafka")


@pytest.fixture
def kafka_topics(kafka_endpoint: Endpoint) -> Generator[TopicJanitor, None, None]:
    """Make topics, or name the ones a test causes (exactly or by prefix); they are deleted afterwards."""
    janitor = TopicJanitor(kafka_endpoint)
    yield janitor
    janitor.clean()


@pytest.fixture
def topic_reader(kafka_endpoint: Endpoint) -> Generator[Callable[..., TopicReader], None, None]:
    """Open readers of a topic from its beginning, or its current end with ``from_end=True`` (the topic must
    exist); closed afterwards."""
    readers: list[TopicReader] = []

    def open_reader(topic: str, *, from_end: bool = False) -> TopicReader:
        reader = TopicReader(kafka_endpoint, topic, from_end=from_end)
        readers.append(reader)
        return reader

    yield open_reader
    for reader in readers:
        reader.close()
