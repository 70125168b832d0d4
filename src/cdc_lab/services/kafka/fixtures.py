"""Fixtures for the lab's Kafka: its endpoint, topics deleted afterwards, and readers closed afterwards."""

from __future__ import annotations

import re
from collections.abc import Callable, Generator

import pytest

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.fixtures import require_service
from cdc_lab.services.kafka.client import TopicReader, create_topic, delete_topics, topics

# Topics a reader that lives as long as the run follows (the run's CDC mirror: cdc_lab.services.spark.fixtures sets
# it). A test does not delete them: a stream whose topic goes while it reads waits for the partition (60 s a try) and
# every table it mirrors falls behind. Whoever follows them deletes them at the end of the run, once it has stopped.
RUN_LONG_TOPICS = pytest.StashKey[list[re.Pattern[str]]]()


class TopicJanitor:
    """Topics (by name or by prefix) a test made or caused; all deleted when the test ends, pass or fail."""

    def __init__(self, endpoint: Endpoint, keep: list[re.Pattern[str]] | None = None) -> None:
        self.endpoint = endpoint
        self.keep = keep or []
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
        delete_topics(self.endpoint, {topic for topic in doomed if not any(p.fullmatch(topic) for p in self.keep)})


@pytest.fixture
def kafka_endpoint(lab_endpoints: dict[str, Endpoint]) -> Endpoint:
    """Kafka's endpoint for the host, probed (broker metadata); skips (fails in strict mode) when it does not answer."""
    return require_service(lab_endpoints, "kafka")


@pytest.fixture
def kafka_topics(kafka_endpoint: Endpoint, request: pytest.FixtureRequest) -> Generator[TopicJanitor, None, None]:
    """Make topics, or name the ones a test causes (exactly or by prefix); they are deleted afterwards, but for those
    a run-long reader follows (RUN_LONG_TOPICS), which go at the end of the run."""
    janitor = TopicJanitor(kafka_endpoint, request.config.stash.get(RUN_LONG_TOPICS, []))
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
