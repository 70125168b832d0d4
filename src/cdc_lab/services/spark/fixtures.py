"""Fixtures for the lab's Spark: a Spark Connect session, Delta on Spark when the lab has it, Delta table paths
removed afterwards, each Delta engine (delta-rs and Spark), a test's own CDC stream, and the run's CDC mirror with
the tables it mirrors."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException
from filelock import FileLock, Timeout

from cdc_lab.core.containers import container_for, docker
from cdc_lab.core.endpoints import Endpoint, load_endpoints
from cdc_lab.core.fixtures import require_service
from cdc_lab.core.manifest import ManifestError, role
from cdc_lab.core.wait import wait_until
from cdc_lab.services import SERVICES
from cdc_lab.services.kafka.client import create_topic, delete_topics, topics
from cdc_lab.services.kafka.fixtures import RUN_LONG_TOPICS
from cdc_lab.services.kafka.leftovers import TEST_CONNECTOR_TOPIC
from cdc_lab.services.kafka_connect.client import LabConnector
from cdc_lab.services.mysql.client import MysqlSettings
from cdc_lab.services.spark import cdc_stream as cdc_stream_module
from cdc_lab.services.spark import run_mirror
from cdc_lab.services.spark.cdc_stream import FIRST_BATCH_TIMEOUT_S, STOPPED_WRITES_SETTLE_S, STREAM_LOCK, CdcStream
from cdc_lab.services.spark.delta import DeltaEngine, DeltaPath, DeltaRsEngine, SparkDeltaEngine
from cdc_lab.services.spark.mirror import wait_until_mirrored
from cdc_lab.services.spark.run_mirror import RunMirror

# How long a test may wait for the streams' lock.
STREAM_LOCK_TIMEOUT_S = 240
# How many tests at once, across the run's processes, may drive Delta on Spark (a Delta write, MERGE or change-feed
# read on Spark, or the run's CDC mirror, whose batches grow with the tables its tests change). Each Delta operation
# costs the Connect server's driver and the one worker about a second of CPU; with every xdist worker at it, the 2
# cores of these machines were shared by all of them, the mirror's batches took over 60 s and its tests timed out.
# The other processes go on with tests that do not need Spark.
SPARK_SLOTS = 2
SPARK_SLOT_TIMEOUT_S = 600
# The module Spark Connect runs (in its own Python process) for a streaming query's foreachBatch function.
FOREACH_BATCH_WORKER = "pyspark.sql.connect.streaming.worker.foreach_batch_worker"

_spark_sessions: dict[str, Any] = {}
_mirrors: dict[str, RunMirror] = {}
# What an xdist worker is told by its controller (pytest_configure_node): the run's id and the controller's PID.
RUN_INPUT = "cdc_lab_run"
CONTROLLER_INPUT = "cdc_lab_controller_pid"
RUN_KEY = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    config.stash[RUN_KEY] = workerinput[RUN_INPUT] if workerinput else run_mirror.new_run_id()
    # The run's mirror follows its tables' topics, a test connector's among them: those wait for the run's end.
    config.stash.setdefault(RUN_LONG_TOPICS, []).append(run_mirror.any_topic_pattern(config.stash[RUN_KEY]))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """The xdist controller tells each worker the run it belongs to (and so which mirror is the run's)."""
    node.workerinput[RUN_INPUT] = node.config.stash[RUN_KEY]
    node.workerinput[CONTROLLER_INPUT] = os.getpid()


def controller_pid(config: pytest.Config) -> int:
    workerinput = getattr(config, "workerinput", None)
    return int(workerinput[CONTROLLER_INPUT]) if workerinput else os.getpid()


def is_controller(config: pytest.Config) -> bool:
    return getattr(config, "workerinput", None) is None


def _mirror_place(config: pytest.Config) -> tuple[str, Path] | None:
    """Spark Connect's URL and the Delta root, when the lab has Spark and it answers (else nothing to do)."""
    try:
        endpoint = load_endpoints()["spark"]
        root = Path(role("spark")["delta"]["host_dir"])
    except (ManifestError, KeyError):
        return None
    if SERVICES["spark"].probe(endpoint) is not None:
        return None
    return endpoint.url, root


def pytest_sessionstart(session: pytest.Session) -> None:
    """The controller stops the mirrors of runs that were killed before their end."""
    if not is_controller(session.config):
        return
    root = _mirror_place(session.config) if _any_mirror_state() else None
    if root is not None:
        run_mirror.stop_stale(*root)


def _any_mirror_state() -> bool:
    try:
        return any(Path(role("spark")["delta"]["host_dir"]).glob(run_mirror.STATE_GLOB))
    except (ManifestError, KeyError, OSError):
        return False


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for spark_session in _spark_sessions.values():
        spark_session.stop()
    _spark_sessions.clear()
    if is_controller(session.config) and _any_mirror_state():
        place = _mirror_place(session.config)
        if place is not None:
            run_mirror.stop(place[0], place[1], session.config.stash[RUN_KEY])
            _delete_test_connector_topics(run_mirror.any_topic_pattern(session.config.stash[RUN_KEY]))


def _delete_test_connector_topics(pattern: re.Pattern[str]) -> None:
    """The topics test connectors wrote of the run's mirrored tables (their connectors are gone, the mirror has
    stopped). The lab connector's go once it has read past the tables' drops (cdc_lab.services.kafka_connect)."""
    try:
        kafka = load_endpoints()["kafka"]
        doomed = {t for t in topics(kafka) if pattern.fullmatch(t) and TEST_CONNECTOR_TOPIC.match(t)}
    except (ManifestError, KeyError, KafkaException):
        return
    delete_topics(kafka, doomed)


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
def spark_slot(delta_root: Path) -> Generator[int, None, None]:
    """One of the run's SPARK_SLOTS for Delta on Spark, held for the test (waiting, bounded, for one to be free)."""
    locks = [FileLock(delta_root / f".spark-slot-{index}.lock") for index in range(SPARK_SLOTS)]
    held = wait_until(
        lambda: next((lock for lock in locks if _try(lock)), None),
        timeout=SPARK_SLOT_TIMEOUT_S,
        interval=0.2,
        what=f"one of the {SPARK_SLOTS} slots for Delta on Spark (other tests hold them)",
    )
    try:
        yield locks.index(held)
    finally:
        held.release()


def _try(lock: FileLock) -> bool:
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    return True


@pytest.fixture
def spark_delta(spark: Any, lab_features: dict[str, dict[str, Any]], spark_slot: int) -> Any:
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


@pytest.fixture(scope="session")
def lab_run(request: pytest.FixtureRequest) -> str:
    """This test run's id (12 hex digits), the same in every xdist worker of the run."""
    return request.config.stash[RUN_KEY]


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


@dataclass(frozen=True)
class MirroredTable:
    """A test's MySQL table that the run's CDC mirror keeps in Delta: its name, the lab connector's topic of it, and
    the Delta table the mirror writes from that topic (``delta_of`` names the one of another connector's topic)."""

    name: str
    topic: str
    mirror: RunMirror

    @property
    def delta(self) -> DeltaPath:
        return self.mirror.table(self.topic)

    def delta_of(self, topic: str) -> DeltaPath:
        return self.mirror.table(topic)

    def wait_mirrored(self, connection: Any, timeout: float, key: str = "id", topic: str | None = None) -> list[Any]:
        """Wait (bounded) until the Delta table of ``topic`` (the lab connector's by default) equals MySQL's rows;
        fail at once with the stream's error for it, or on timeout with what differs and the mirror's state."""
        topic = topic or self.topic
        return wait_until_mirrored(
            connection,
            self.name,
            self.delta_of(topic).host,
            timeout,
            key,
            failure=lambda: self.mirror.error(topic),
            explain=self.mirror.status,
        )


def _mirrored(
    mysql_table: Callable[..., str],
    lab_connector: LabConnector,
    kafka_endpoint: Endpoint,
    mirror: RunMirror,
    run: str,
    hint: str,
    columns: str,
) -> MirroredTable:
    """A table of the run's mirror (named for the run, dropped by ``mysql_table`` afterwards) and its topic, made
    first so the mirror finds it at once."""
    name = f"{run_mirror.table_prefix(run)}{hint}_{uuid.uuid4().hex[:6]}"
    mysql_table(hint, columns, name=name)
    topic = lab_connector.topic(name)
    create_topic(kafka_endpoint, topic)
    return MirroredTable(name, topic, mirror)


@pytest.fixture
def cdc_mirror(
    request: pytest.FixtureRequest,
    spark_delta: Any,
    spark_endpoint: Endpoint,
    spark_settings: dict[str, Any],
    delta_root: Path,
    mysql_settings: MysqlSettings,
    lab_run: str,
    mysql_table: Callable[..., str],
    mysql_connect: Callable[[], Any],
    lab_connector: LabConnector,
    kafka_endpoint: Endpoint,
) -> RunMirror:
    """The run's CDC mirror (cdc_lab.services.spark.run_mirror): one streaming query for the whole run that keeps
    a Delta table of every topic of the run's mirrored tables. Started by the first test that asks for it, which
    waits (START_TIMEOUT_S) for it to mirror a row of a table of its own; stopped, its tables and checkpoint
    removed, when the run ends."""
    mirror = _mirrors.get(lab_run)
    if mirror is None:

        def warm_up(started: RunMirror) -> None:
            columns = "id INT PRIMARY KEY"
            table = _mirrored(mysql_table, lab_connector, kafka_endpoint, started, lab_run, "warmup", columns)
            connection = mysql_connect()
            with connection.cursor() as cursor:
                cursor.execute(f"INSERT INTO `{table.name}` VALUES (1)")
            table.wait_mirrored(connection, run_mirror.START_TIMEOUT_S)

        mirror = run_mirror.ensure(
            spark_endpoint.url,
            spark_settings,
            delta_root,
            lab_run,
            mysql_settings.database,
            controller_pid(request.config),
            warm_up,
        )
        _mirrors[lab_run] = mirror
    return mirror


@pytest.fixture
def mirrored_table(
    mysql_table: Callable[..., str],
    cdc_mirror: RunMirror,
    lab_connector: LabConnector,
    kafka_endpoint: Endpoint,
    lab_run: str,
) -> Callable[[str, str], MirroredTable]:
    """Create a table (dropped afterwards, pass or fail) that the lab's connector captures and the run's mirror
    keeps in Delta: ``mirrored_table(hint, columns)``. Its topic is made first, so the mirror finds it at once."""

    def create(hint: str, columns: str) -> MirroredTable:
        return _mirrored(mysql_table, lab_connector, kafka_endpoint, cdc_mirror, lab_run, hint, columns)

    return create
