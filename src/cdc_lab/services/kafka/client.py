"""Kafka from the host: the bootstrap address, topics made and deleted, and readers that take every record of a
topic from its beginning, with a deadline.

Debezium's records are JSON with their schema (the worker's JsonConverter: ``{"schema": ..., "payload": ...}``): a
record's value is the change event's envelope (``before``, ``after``, ``source``, ``op``, ``ts_ms``,
``transaction``), or None for the tombstone that follows a delete; its key holds the row's primary key. A record
keeps both schemas, and ``row``/``before``/``after`` decode the images by them (exact decimals, dates, times, bytes:
cdc_lab.services.kafka_connect.debezium_types).
"""

from __future__ import annotations

import decimal
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.probe import ANSWER_TIMEOUT_S, CONNECT_TIMEOUT_S, Busy
from cdc_lab.core.wait import WaitTimeout, wait_until
from cdc_lab.services.kafka_connect import debezium_types

# librdkafka's own timeouts for admin calls, in seconds.
ADMIN_TIMEOUT_S = 15.0
# Seconds a reader waits for its topic to be in the broker's metadata.
TOPIC_METADATA_TIMEOUT_S = 10.0


def bootstrap(endpoint: Endpoint) -> str:
    """The broker's listener for the host, as librdkafka wants it."""
    return f"{endpoint.host}:{endpoint.port}"


def admin(endpoint: Endpoint) -> AdminClient:
    # librdkafka's notices (level 6, e.g. events purged when a client is closed) stay quiet; warnings show.
    return AdminClient(
        {"bootstrap.servers": bootstrap(endpoint), "socket.connection.setup.timeout.ms": 5000, "log_level": 4}
    )


def topics(endpoint: Endpoint) -> set[str]:
    """Every topic the broker has (internal ones too)."""
    return set(admin(endpoint).list_topics(timeout=ADMIN_TIMEOUT_S).topics)


def create_topic(endpoint: Endpoint, name: str, partitions: int = 1) -> None:
    """Make a topic (one replica); one that already exists is fine."""
    client = admin(endpoint)  # kept until the result is in: a collected client cancels its requests
    futures = client.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    try:
        futures[name].result(timeout=ADMIN_TIMEOUT_S)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise


def delete_topics(endpoint: Endpoint, names: Iterable[str]) -> None:
    """Delete topics; ones already gone are fine."""
    wanted = sorted(set(names) & topics(endpoint))
    if not wanted:
        return
    client = admin(endpoint)  # kept until the results are in
    for name, future in client.delete_topics(wanted, operation_timeout=ADMIN_TIMEOUT_S).items():
        try:
            future.result(timeout=ADMIN_TIMEOUT_S)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise RuntimeError(f"deleting topic {name} failed: {exc}") from exc


@dataclass(frozen=True)
class Record:
    """One record of a topic: its key and value (the JSON payloads; value None: a tombstone) and their schemas."""

    topic: str
    partition: int
    offset: int
    key: Any
    value: Any
    timestamp_ms: int
    key_schema: dict[str, Any] | None = None
    value_schema: dict[str, Any] | None = None

    @property
    def op(self) -> str | None:
        """Debezium's operation: r (snapshot read), c, u, d, t (truncate); None for a tombstone or a non-change
        record."""
        return self.value.get("op") if isinstance(self.value, dict) else None

    def image(self, which: str) -> dict[str, Any] | None:
        """The ``before`` or ``after`` image, each column decoded by the event's schema."""
        if self.value is None or self.value_schema is None:
            return None
        return debezium_types.decode_row(self.value.get(which), debezium_types.row_fields(self.value_schema))

    @property
    def after(self) -> dict[str, Any] | None:
        return self.image("after")

    @property
    def before(self) -> dict[str, Any] | None:
        return self.image("before")

    @property
    def row(self) -> dict[str, Any] | None:
        """The row the event is about: its after image, or for a delete its before image."""
        return self.after if self.op != "d" else self.before


def _decode(raw: bytes | None) -> tuple[Any, dict[str, Any] | None]:
    """A JSON record's payload and schema (a record without a schema envelope: itself, and None). Numbers with a
    fraction are read as exact decimals (a Connect Decimal is a JSON number; ``decode`` makes floats of the rest)."""
    if raw is None:
        return None, None
    data = json.loads(raw, parse_float=decimal.Decimal)
    if isinstance(data, dict) and data.keys() == {"schema", "payload"}:
        return data["payload"], data["schema"]
    return data, None


class TopicReader:
    """Reads a topic from its beginning (every partition), or from its current end with ``from_end``, keeping every
    record seen in order per partition."""

    def __init__(self, endpoint: Endpoint, topic: str, *, from_end: bool = False) -> None:
        self.topic = topic
        self.records: list[Record] = []
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap(endpoint),
                "group.id": f"cdc-lab-test-{uuid.uuid4().hex[:12]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 50,
                "socket.connection.setup.timeout.ms": 5000,
            }
        )

        def described() -> Any:
            found = self._consumer.list_topics(topic, timeout=ADMIN_TIMEOUT_S).topics.get(topic)
            if found is None or found.error is not None or not found.partitions:
                raise LookupError(found and found.error)
            return found

        # A topic just made can be unknown to the broker's metadata for a moment after its creation returned (the
        # controller commits it first; seen once in CI): bounded, then the broker's last answer.
        try:
            metadata = wait_until(described, timeout=TOPIC_METADATA_TIMEOUT_S, interval=0.2, what=f"topic {topic}")
        except WaitTimeout as exc:
            raise RuntimeError(f"topic {topic} is not on the broker ({exc})") from None
        starts = {p: OFFSET_BEGINNING for p in metadata.partitions}
        if from_end:  # the end now, resolved before anything else is written (not OFFSET_END, resolved later)
            for p in metadata.partitions:
                starts[p] = self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=ADMIN_TIMEOUT_S)[1]
        self._consumer.assign([TopicPartition(topic, p, offset) for p, offset in sorted(starts.items())])

    def poll(self, seconds: float = 0.2) -> list[Record]:
        """The records there now, or the first to arrive within ``seconds`` and those with it (none is fine)."""
        fresh = []
        first = self._consumer.poll(seconds)  # returns as soon as a record is there
        messages = [] if first is None else [first, *self._consumer.consume(num_messages=500, timeout=0)]
        for message in messages:
            if message.error() is not None:
                if message.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(f"reading {self.topic}: {message.error()}")
            key, key_schema = _decode(message.key())
            value, value_schema = _decode(message.value())
            fresh.append(
                Record(
                    topic=message.topic(),
                    partition=message.partition(),
                    offset=message.offset(),
                    key=key,
                    value=value,
                    timestamp_ms=message.timestamp()[1],
                    key_schema=key_schema,
                    value_schema=value_schema,
                )
            )
        self.records.extend(fresh)
        return fresh

    def read_until(self, done: Callable[[list[Record]], bool], *, timeout: float, what: str = "") -> list[Record]:
        """Poll until ``done(records so far)`` holds; at most ``timeout`` seconds, then fail saying what was seen."""
        deadline = time.monotonic() + timeout
        while not done(self.records):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(r.offset, r.op, r.key) for r in self.records][-10:]
                raise AssertionError(
                    f"{what or 'the awaited records'} did not arrive on {self.topic} within {timeout:g} s: "
                    f"{len(self.records)} records so far (last: {seen})"
                )
            self.poll(min(0.2, remaining))
        return self.records

    def close(self) -> None:
        self._consumer.close()


def probe(endpoint: Endpoint, timeout: float = ANSWER_TIMEOUT_S) -> str | None:
    """None when the broker answers a metadata request within ``timeout`` seconds, else why not (at once when its
    port refuses the connection)."""
    try:
        socket.create_connection((endpoint.host, endpoint.port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        return f"no TCP connection to {endpoint.host}:{endpoint.port} ({exc.strerror or exc})"
    try:
        admin(endpoint).list_topics(timeout=timeout)
    except KafkaException as exc:
        error = exc.args[0]
        if error.code() == KafkaError._TIMED_OUT:
            return Busy(f"no metadata from the broker within {timeout:g} s")
        return f"no metadata from the broker: {error.str()}"
    return None
