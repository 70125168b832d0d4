"""The lab's streaming job: Debezium's change events, read from Kafka by Spark Structured Streaming and applied to
Delta tables with the Change Data Feed on, in the columns and types of the events' schema (cdc_batch does each
micro-batch). A stream follows one table's topic into one Delta table, or every topic a pattern matches (topics
made later too) into <root>/<topic>.

The query runs on the lab's Spark through Spark Connect, in a Spark Connect session of its own (its idempotent-write
settings never touch the caller's session). Spark's Kafka source reads on the workers; the foreachBatch function
runs in the Connect server's Python, which is the client's minor version (see spark_base_suite). Its checkpoint
(the Kafka offsets of each batch) and Delta's idempotent writes (app id and batch id in the commit) make a restart
neither lose nor repeat a change.

Run it by hand for one of your tables (it runs until interrupted):

    .venv/bin/python -m cdc_lab.services.spark.cdc_stream customers

Everything it needs (the Kafka address on the lab's network, the topic's naming, the Delta volume, the trigger)
comes from the lab's manifest.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdc_lab.core.manifest import role
from cdc_lab.core.wait import WaitTimeout
from cdc_lab.services.kafka_connect import debezium_types
from cdc_lab.services.spark import cdc_batch
from cdc_lab.services.spark.delta import DeltaPath
from cdc_lab.services.spark.leftovers import checkpoint_holder

# Seconds the streaming job may take from its start to its first batch of events (its session's start, the Python
# worker's, the Kafka source's first offsets, the Delta table's creation).
FIRST_BATCH_TIMEOUT_S = 90
# The lock a stream's user takes (tests, bench), a dot file in the Delta root: one stream at a time in the Spark
# Connect server, whose memory limit has room for one foreachBatch Python worker beside everything else.
STREAM_LOCK = ".cdc-stream.lock"
# Seconds a stopped stream's table and checkpoint must stay removed before they count as gone (a write already under
# way in the Connect server can land after the first removal).
STOPPED_WRITES_SETTLE_S = 1.0
# How many tables a batch of a stream over many topics changes at once (threads in the foreachBatch worker: a MERGE
# is mostly the driver's planning and commit; 6 tables' batches took 14.4 s one at a time, 9.1 s four at a time).
PARALLEL_TABLES = 4
# Where a stream over many topics writes the failure of one topic's batch (beside its tables).
ERRORS_DIR = "_errors"
# Starts of a query whose foreachBatch Python worker did not connect back to the Connect server in time. Spark waits
# 10 s for it, a wait no setting changes (PythonWorkerFactory.createSimpleWorker selects on the socket for 10000 ms).
# The worker's imports (pyspark's Connect client: pandas, pyarrow, grpc) cost 1.6 s of CPU; beside the busy driver
# JVM's threads and the executor on 2 cores they took 8-13 s of wall time under the suite's load (measured in the
# Connect container at load average 10-13; 2.3 s when the JVM's threads were niced, which its unprivileged container
# cannot do), and a soak run saw three late starts in a row. So a late start is tried again after a pause that grows
# (the load is bursts of Delta operations): 6 starts over about 90 s.
START_PAUSES_S = (2.0, 4.0, 8.0, 12.0, 16.0)
START_ATTEMPTS = len(START_PAUSES_S) + 1
WORKER_NOT_BACK = "Python worker failed to connect back"


@dataclass(frozen=True)
class CdcStream:
    """Where a stream reads and writes, as the Spark containers see it: one ``topic`` into the table at ``path``,
    or every topic ``pattern`` matches into <``path``>/<topic> (one topic's failure then goes to
    <``path``>/_errors/<topic>.txt and the others go on)."""

    topic: str
    path: str
    checkpoint: str
    kafka: str
    trigger: str = "1 second"
    keys: tuple[str, ...] = field(default=())
    pattern: str | None = None

    @property
    def app_id(self) -> str:
        """Delta's idempotent-write app id: the same for a restart from the same checkpoint."""
        return "cdc-lab-" + hashlib.sha1(f"{self.checkpoint}|{self.path}".encode()).hexdigest()[:16]

    @property
    def errors(self) -> str | None:
        return f"{self.path}/{ERRORS_DIR}" if self.pattern else None

    @property
    def name(self) -> str:
        return f"cdc_{self.app_id.removeprefix('cdc-lab-')}"

    @classmethod
    def from_manifest(
        cls, topic: str, path: str, checkpoint: str, keys: tuple[str, ...] = (), pattern: str | None = None
    ) -> CdcStream:
        stream = role("spark")["cdc_stream"]
        return cls(
            topic=topic,
            path=path,
            checkpoint=checkpoint,
            kafka=role("kafka")["addresses"]["kafka"],
            trigger=stream["trigger"],
            keys=keys,
            pattern=pattern,
        )


def new_paths(spark_role: dict[str, Any], host_root: Path, hint: str) -> tuple[DeltaPath, DeltaPath]:
    """A new Delta table and checkpoint for a stream (named as the leftover check knows test data), each seen from
    the host and from the containers."""
    mount = spark_role["delta"]["mount"].rstrip("/")
    holder = checkpoint_holder(spark_role)
    return DeltaPath.unique(host_root, mount, hint), DeltaPath.unique(host_root / holder, f"{mount}/{holder}", hint)


def start(spark: Any, stream: CdcStream) -> Any:
    """Start the streaming query on ``spark`` (a Spark Connect session) and return it. A start that fails because
    the foreachBatch Python worker was late (WORKER_NOT_BACK) is tried again, START_ATTEMPTS in all."""
    for attempt, pause in enumerate(START_PAUSES_S, start=1):
        try:
            return _start(spark, stream)
        except Exception as error:  # pyspark's SparkException of Spark Connect; only this failure is tried again
            if WORKER_NOT_BACK not in str(error):
                raise
            print(
                f"cdc-lab: stream {stream.name}: the foreachBatch Python worker did not connect back to the Spark "
                f"Connect server in time (start {attempt} of {START_ATTEMPTS}); starting again in {pause:g} s",
                file=sys.stderr,
            )
            time.sleep(pause)
    return _start(spark, stream)


def _start(spark: Any, stream: CdcStream) -> Any:
    # The batch function runs where cdc_lab is not installed: its modules travel with it.
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(debezium_types)
    cloudpickle.register_pickle_by_value(cdc_batch)
    settings = {
        "path": None if stream.pattern else stream.path,
        "root": stream.path if stream.pattern else None,
        "errors": stream.errors,
        "keys": list(stream.keys),
        "app_id": stream.app_id,
        "view": stream.app_id.removeprefix("cdc-lab-"),
        "parallel": PARALLEL_TABLES if stream.pattern else 1,
    }
    source = spark.readStream.format("kafka").option("kafka.bootstrap.servers", stream.kafka)
    if stream.pattern:
        # Topics the pattern matches later are found at the next trigger; a test topic deleted under the stream
        # is not an error.
        source = source.option("subscribePattern", stream.pattern).option("failOnDataLoss", "false")
    else:
        source = source.option("subscribe", stream.topic)
    events = (
        source.option("startingOffsets", "earliest")
        .load()
        .selectExpr("topic", "partition", "offset", "CAST(key AS STRING) AS key", "CAST(value AS STRING) AS value")
    )
    return (
        events.writeStream.queryName(stream.name)
        .foreachBatch(functools.partial(cdc_batch.apply_changes, settings))
        .option("checkpointLocation", stream.checkpoint)
        .trigger(processingTime=stream.trigger)
        .start()
    )


def stop(query: Any, session: Any) -> None:
    """Stop the query and close its session. What the batch function started in the session still runs after the
    query stops (its MERGE is an operation of its own in the Connect server), so it is interrupted first."""
    try:
        if query is not None and query.isActive:
            query.stop()
        session.interruptAll()
    finally:
        session.stop()


def describe(query: Any, brief: bool = False) -> str:
    """What a query is doing (for a timeout's message): its status, its error (``brief``: its first line), its last
    progress."""
    parts = [f"status {query.status}"]
    error = query.exception()
    if error is not None:
        parts.append(f"error: {str(error).splitlines()[0] if brief else error}")
    if query.lastProgress:
        progress = query.lastProgress
        applied = progress.durationMs.get("addBatch")
        parts.append(f"last batch {progress.batchId} ({progress.numInputRows} rows read, applied in {applied} ms)")
    return "; ".join(parts)


def wait_for_data(query: Any, timeout: float, after: int = -1, interval: float = 0.2) -> int:
    """Wait until the query has finished a batch numbered above ``after`` that read events; return its id. Fails at
    once, with the query's error, when the query stops; on timeout, with what the query is doing."""
    deadline = time.monotonic() + timeout
    while True:
        if not query.isActive:
            raise RuntimeError(f"streaming query {query.name} stopped: {describe(query)}")
        done = [p.batchId for p in query.recentProgress if p.batchId > after and p.numInputRows]
        if done:
            return int(max(done))
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for a batch of {query.name}: {describe(query)}")
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    from filelock import FileLock, Timeout
    from pyspark.sql import SparkSession

    from cdc_lab.core.endpoints import load_endpoints
    from cdc_lab.services.kafka.client import topics
    from cdc_lab.services.kafka_connect.client import LabConnector

    parser = argparse.ArgumentParser(description="Stream a captured table's changes into a Delta table.")
    parser.add_argument("table", help="a table of the lab's database that the lab's connector captures")
    parser.add_argument("--key", action="append", default=[], help="key column(s); default: the table's primary key")
    args = parser.parse_args(argv)
    endpoints = load_endpoints()
    spark_role = role("spark")
    mount = spark_role["delta"]["mount"]
    stream = CdcStream.from_manifest(
        topic=LabConnector.from_manifest().topic(args.table),
        path=f"{mount}/{args.table}",
        checkpoint=f"{spark_role['cdc_stream']['checkpoints']}/{args.table}",
        keys=tuple(args.key),
    )
    host_dir = Path(spark_role["delta"]["host_dir"])
    lock = FileLock(host_dir / STREAM_LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(
            f"cdc-lab: another stream runs (a test or `make bench` holds {host_dir / STREAM_LOCK}); the Spark Connect"
            " server's memory has room for one at a time",
            file=sys.stderr,
        )
        return 2
    spark = None
    query = None
    error = None
    try:
        # Kafka Connect makes a table's topic with its first change; Spark's Kafka source fails on a missing one.
        if stream.topic not in topics(endpoints["kafka"]):
            print(f"cdc-lab: waiting for {stream.topic}: the connector makes it with the table's first change")
            while stream.topic not in topics(endpoints["kafka"]):
                time.sleep(1)
        spark = SparkSession.builder.remote(endpoints["spark"].url).create()
        query = start(spark, stream)
        print(f"cdc-lab: streaming {stream.topic} into {stream.path} (host: {host_dir / args.table}); Ctrl-C stops")
        while query.isActive:
            time.sleep(5)
            print(f"cdc-lab: {describe(query, brief=True)}")
        error = query.exception()
    except KeyboardInterrupt:
        pass
    finally:
        try:
            if spark is not None:
                stop(query, spark)
        finally:
            lock.release()
    if error is not None:
        print(f"cdc-lab: the query failed: {error}", file=sys.stderr)
        return 1
    return 0


__all__ = ["CdcStream", "WaitTimeout", "describe", "start", "stop", "wait_for_data"]

if __name__ == "__main__":
    sys.exit(main())
