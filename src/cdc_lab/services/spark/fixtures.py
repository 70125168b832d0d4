"""Fixtures for the lab's Spark: a Spark Connect session, Delta on Spark when the lab has it, Delta table paths
removed afterwards, and each Delta engine (delta-rs and Spark)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock, Timeout

from cdc_lab.core.containers import container_for, docker
from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.fixtures import require_service
from cdc_lab.core.manifest import ManifestError, role
from cdc_lab.services.spark import cdc_stream as cdc_stream_module
from cdc_lab.services.spark.cdc_stream import FIRST_BATCH_TIMEOUT_S, STOPPED_WRITES_SETTLE_S, STREAM_LOCK, CdcStream
from cdc_lab.services.spark.delta import DeltaEngine, DeltaPath, DeltaRsEngine, SparkDeltaEngine

# How long a test may wait for the streams' lock.
STREAM_LOCK_TIMEOUT_S = 240
# The module Spark Connect runs (in its own Python process) for a streaming query's foreachBatch function.
FOREACH_BATCH_WORKER = "pyspark.sql.connect.streaming.worker.foreach_batch_worker"

_spark_sessions: dict[str, Any] = {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for spark_session in _spark_sessions.values():
        spark_session.stop()
    _spark_sessions.clear()


@pytest.fixture
def spark_endpoint(lab_endpoints: dict[str, Endpoint]) -> Endpoint:
    """Spark Connect's endpoint, probed (gRPC handshake); skips (fails in strict mode) when it does not answer."""
    return require_service(lab_endpoints, "spark")


@pytest.fixture
def spark(spark_endpoint: Endpoint) -> Any:
    """A Spark Connect session on the lab's Spark (one per test process, stopped at the end of the run)."""
    session = _spark_sessions.get(spark_endpoint.url)
    if session is None:
        from pyspark.sql import SparkSession

        session = SparkSession.builder.remote(spark_endpoint.url).getOrCreate()
        _spark_sessions[spark_endpoint.url] = session
    return session


@pytest.fixture
def spark_delta(spark: Any, lab_features: dict[str, dict[str, Any]]) -> Any:
    """The Spark session, when Spark has Delta Lake; otherwise a skip with the lab's one-line reason (which names
    the variable to set), and so a failure in strict mode."""
    feature = lab_features.get("spark_delta", {})
    if not feature.get("available"):
        pytest.skip(str(feature.get("reason") or "Delta Lake on Spark unavailable: the lab did not report it"))
    return spark


@pytest.fixture(scope="session")
def spark_settings() -> dict[str, Any]:
    """What the spark role declares in the lab's manifest: containers, worker count, the Delta volume."""
    try:
        return role("spark")
    except ManifestError as exc:
        pytest.skip(f"Spark is not in the lab's manifest ({exc})")


@pytest.fixture(scope="session")
def delta_root(spark_settings: dict[str, Any]) -> Path:
    """The host directory behind the lab's Delta volume."""
    root = Path(spark_settings["delta"]["host_dir"])
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def delta_table(delta_root: Path, spark_settings: dict[str, Any]) -> Generator[Callable[[str], DeltaPath], None, None]:
    """Unique Delta table paths (host and container views); each is removed afterwards, pass or fail."""
    made: list[DeltaPath] = []

    def make(hint: str) -> DeltaPath:
        path = DeltaPath.unique(delta_root, spark_settings["delta"]["mount"], hint)
        made.append(path)
        return path

    yield make
    for path in made:
        path.remove()


@pytest.fixture(params=["delta-rs", pytest.param("spark", marks=pytest.mark.spark)])
def delta_engine(request: pytest.FixtureRequest) -> DeltaEngine:
    """Each Delta engine: delta-rs (in-process) and Delta on Spark (through Spark Connect)."""
    if request.param == "spark":
        return SparkDeltaEngine(request.getfixturevalue("spark_delta"))
    return DeltaRsEngine()


@dataclass
class RunningStream:
    """A test's streaming job: the Delta table it writes (host and container views), its checkpoint, and the query
    running in a Spark Connect session of its own."""

    stream: CdcStream
    table: DeltaPath
    checkpoint: DeltaPath
    session: Any
    query: Any

    def wait_for_data(self, timeout: float = FIRST_BATCH_TIMEOUT_S) -> int:
        """Wait (bounded) for a batch that read events; return its id."""
        return cdc_stream_module.wait_for_data(self.query, timeout)

    def restart(self) -> None:
        """Start the query again from its checkpoint (the one before must have stopped)."""
        self.query = cdc_stream_module.start(self.session, self.stream)

    def stop(self) -> None:
        """Stop the query (its session stays open for a restart)."""
        if self.query.isActive:
            self.query.stop()

    def kill_python_worker(self) -> int:
        """SIGKILL the Python process that runs the query's foreachBatch function in the Spark Connect server (the
        caller makes sure no other stream runs: the tests that use this share an xdist group); return its PID."""
        container = container_for("spark-connect")
        found = docker("exec", container, "pgrep", "-f", FOREACH_BATCH_WORKER, check=False).stdout.split()
        if len(found) != 1:
            raise AssertionError(f"expected one foreachBatch worker in {container}, found PIDs {found}")
        docker("exec", container, "kill", "-KILL", found[0])
        return int(found[0])


@pytest.fixture
def cdc_stream(
    spark_delta: Any, spark_endpoint: Endpoint, spark_settings: dict[str, Any], delta_root: Path
) -> Generator[Callable[..., RunningStream], None, None]:
    """Start the lab's streaming job from a topic into a new Delta table, with its own checkpoint and Spark Connect
    session. Afterwards the query stops, the session closes, and the table and checkpoint are removed, pass or
    fail."""
    from pyspark.sql import SparkSession

    # One stream at a time in the Spark Connect server, whichever test process starts it: each runs a Python
    # worker there (one test kills its own by name), and two at once outgrow the server's memory limit.
    lock = FileLock(delta_root / STREAM_LOCK)
    try:
        lock.acquire(timeout=STREAM_LOCK_TIMEOUT_S)
    except Timeout:
        pytest.fail(
            f"another CDC stream held {delta_root / STREAM_LOCK} for {STREAM_LOCK_TIMEOUT_S} s (a stuck test run?)",
            pytrace=False,
        )
    running: list[RunningStream] = []
    paths: list[DeltaPath] = []

    def start(topic: str, hint: str, *, keys: tuple[str, ...] = ()) -> RunningStream:
        table, checkpoint = cdc_stream_module.new_paths(spark_settings, delta_root, hint)
        paths.extend([table, checkpoint])
        stream = CdcStream.from_manifest(topic, table.container, checkpoint.container, keys)
        session = SparkSession.builder.remote(spark_endpoint.url).create()
        job = RunningStream(stream, table, checkpoint, session, None)
        running.append(job)
        job.restart()
        return job

    try:
        yield start
    finally:
        _stop_streams(running, paths, lock)


def _stop_streams(running: list[RunningStream], paths: list[DeltaPath], lock: FileLock) -> None:
    try:
        for job in running:
            cdc_stream_module.stop(job.query, job.session)
    finally:
        try:
            for path in paths:
                path.remove(settle=STOPPED_WRITES_SETTLE_S)
        finally:
            lock.release()
