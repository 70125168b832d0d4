"""`make bench`'s end-to-end figures: a change committed in MySQL until it is visible in the Delta table that the
lab's streaming job keeps (Debezium, Kafka, Spark Structured Streaming with foreachBatch MERGE, Delta read by
delta-rs on the host). Single-row changes give the latency distribution (p50, p99); a 150-row transaction the
burst's time to the last row."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from filelock import FileLock

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.manifest import role
from cdc_lab.core.wait import WaitTimeout
from cdc_lab.services.spark import cdc_stream
from cdc_lab.services.spark.cdc_stream import FIRST_BATCH_TIMEOUT_S, STOPPED_WRITES_SETTLE_S, STREAM_LOCK

BURST_ROWS = 150
SINGLE_CHANGES = 30  # at least 20 (the floor), enough for a p99 that is not the maximum by construction
VISIBLE_TIMEOUT_S = 60


class DeltaWatcher:
    """The Delta table as delta-rs sees it on the host, reloaded incrementally."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.table: DeltaTable | None = None

    def ids(self) -> set[int]:
        if self.table is None:
            try:
                self.table = DeltaTable(str(self.path))
            except TableNotFoundError:
                return set()
        else:
            self.table.update_incremental()
        return set(self.table.to_pyarrow_table(columns=["id"]).column("id").to_pylist())

    def wait(
        self, done: Callable[[set[int]], bool], what: str, timeout: float = VISIBLE_TIMEOUT_S, interval: float = 0.02
    ) -> float:
        """Poll until ``done(ids)``; return the moment (perf_counter) it was first seen."""
        deadline = time.monotonic() + timeout
        while True:
            ids = self.ids()
            if done(ids):
                return time.perf_counter()
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"{what}: not in the Delta table {self.path.name} after {timeout:g} s")
            time.sleep(interval)


@contextlib.contextmanager
def running_stream(spark_endpoint: Endpoint, topic: str, root: Path) -> Iterator[tuple[DeltaWatcher, Any]]:
    """The lab's streaming job from ``topic`` into a new Delta table (removed afterwards, with its checkpoint),
    holding the lock the test streams take."""
    from pyspark.sql import SparkSession

    table, checkpoint = cdc_stream.new_paths(role("spark"), root, "bench_stream")
    stream = cdc_stream.CdcStream.from_manifest(topic, table.container, checkpoint.container)
    with FileLock(root / STREAM_LOCK, timeout=300):
        session = SparkSession.builder.remote(spark_endpoint.url).create()
        query = None
        try:
            query = cdc_stream.start(session, stream)
            yield DeltaWatcher(table.host), query
        finally:
            cdc_stream.stop(query, session)
            table.remove(settle=STOPPED_WRITES_SETTLE_S)
            checkpoint.remove(settle=STOPPED_WRITES_SETTLE_S)


@dataclass
class StreamBench:
    """Seconds from commit to visible in Delta: each single-row change, and each 150-row burst; and the seconds each
    batch that read events took to apply (the query's addBatch duration)."""

    latencies: list[float]
    bursts: list[float]
    applied: list[float]


def cdc_to_delta(
    connection: Any, table: str, topic: str, spark_endpoint: Endpoint, root: Path, runs: int
) -> StreamBench:
    """Stream ``table``'s topic into Delta and time single-row inserts, then ``runs`` bursts of 150 rows. The
    connection is not in autocommit: each change is one commit."""
    result = StreamBench([], [], [])
    insert = f"INSERT INTO `{table}` VALUES (%s, %s)"

    def commit(rows: list[tuple[Any, ...]]) -> float:
        with connection.cursor() as cursor:
            cursor.executemany(insert, rows)
        connection.commit()
        return time.perf_counter()

    with running_stream(spark_endpoint, topic, root) as (delta, query):
        commit([(0, "warm-up")])
        delta.wait(lambda ids: 0 in ids, "the warm-up row (the stream's first batch)", FIRST_BATCH_TIMEOUT_S)
        for i in range(1, SINGLE_CHANGES + 1):
            committed = commit([(i, "single")])
            result.latencies.append(delta.wait(lambda ids, i=i: i in ids, f"row {i}") - committed)
        for run in range(runs):
            wanted = set(range(10_000 * (run + 1), 10_000 * (run + 1) + BURST_ROWS))
            committed = commit([(i, "burst") for i in sorted(wanted)])
            seen_all = delta.wait(lambda seen, wanted=wanted: wanted <= seen, f"the burst of run {run}")
            result.bursts.append(seen_all - committed)
        # The warm-up's first batch (the table's creation) aside: the steady state's batches.
        result.applied = [p.durationMs["addBatch"] / 1000 for p in query.recentProgress if p.numInputRows][1:]
    return result
