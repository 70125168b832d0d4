"""The test run's CDC mirror: one streaming job per pytest run that follows the topics of every table the run's
tests mirror (named ``t_m<run>_*``, by the lab's connector and by any test connector) into Delta tables, one per
topic, under ``cdc_mirror_<run>/`` in the lab's Delta root.

One query for the whole run, not one per test: a stream's start (its Spark Connect session, the foreachBatch
Python worker, the first batch) costs more than the changes most tests make, and the Spark Connect server's memory
has room for one such worker. The first test that needs the mirror starts it, in whichever xdist worker, under a
file lock, and writes its Spark Connect session id and query id to ``.cdc-mirror-<run>.json`` beside it; the
others find it there. The run's controller (the xdist controller, or the only process) stops it when the run ends
and removes its tables and checkpoint; a mirror left by a run that was killed is stopped by the next run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from cdc_lab.services.spark import cdc_stream
from cdc_lab.services.spark.delta import DeltaPath

RUN_ENV = "CDC_LAB_RUN_ID"
STATE_GLOB = ".cdc-mirror-*.json"
LOCK = ".cdc-mirror.lock"
# Bounded by the first worker's start of the mirror (its late Python worker tried again, cdc_stream.START_PAUSES_S) and
# its warm-up row (START_TIMEOUT_S), under pytest-timeout's 300 s.
LOCK_TIMEOUT_S = 240
# Seconds the mirror's first batch may take (its session, Python worker and the Kafka source's first offsets).
START_TIMEOUT_S = cdc_stream.FIRST_BATCH_TIMEOUT_S
# Seconds a change committed in MySQL may take to be in the mirror's Delta table: the batch under way when it lands,
# then the batch that carries it. Under the suite's load on 2 cores one batch of the typed mirror took 36.7 s (CI, a
# new machine: 10 rows, the other tests' tables in the same batch), so two are about 75 s; the bound was 60 s.
MIRROR_BOUND_S = 120
# pytest-timeout for a test that waits for the mirror up to three times (it fails at MIRROR_BOUND_S, not at this).
MIRRORED_TEST_TIMEOUT_S = 3 * MIRROR_BOUND_S + 120


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def table_prefix(run: str) -> str:
    """The MySQL tables the run's mirror follows begin with this."""
    return f"t_m{run[:8]}_"


def topic_pattern(run: str, database: str) -> str:
    """Every topic of the run's mirrored tables, whichever connector (the lab's, a test's) writes it."""
    return rf"[^.]+\.{re.escape(database)}\.{re.escape(table_prefix(run))}.+"


def any_topic_pattern(run: str) -> re.Pattern[str]:
    """The same, whichever database: what a test's cleanup leaves for the end of the run (the mirror reads them)."""
    return re.compile(rf"[^.]+\.[^.]+\.{re.escape(table_prefix(run))}.+")


@dataclass(frozen=True)
class RunMirror:
    """A run's mirror: where its tables are (host and containers) and the Spark Connect session and query that
    keep them."""

    run: str
    root: DeltaPath
    checkpoint: DeltaPath
    session_id: str
    query_id: str
    owner_pid: int = 0
    spark_url: str = ""

    def table(self, topic: str) -> DeltaPath:
        """The Delta table the mirror keeps of ``topic``."""
        return DeltaPath(self.root.host / topic, f"{self.root.container}/{topic}")

    def error(self, topic: str) -> str | None:
        """What went wrong applying ``topic``'s events, if anything did (the mirror goes on with the others)."""
        path = self.root.host / cdc_stream.ERRORS_DIR / f"{topic}.txt"
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def as_state(self) -> dict[str, str]:
        return {
            "run": self.run,
            "root": str(self.root.host),
            "root_container": self.root.container,
            "checkpoint": str(self.checkpoint.host),
            "checkpoint_container": self.checkpoint.container,
            "session_id": self.session_id,
            "query_id": self.query_id,
            "owner_pid": str(self.owner_pid),
            "spark_url": self.spark_url,
        }

    @classmethod
    def from_state(cls, state: dict[str, str]) -> RunMirror:
        return cls(
            run=state["run"],
            root=DeltaPath(Path(state["root"]), state["root_container"]),
            checkpoint=DeltaPath(Path(state["checkpoint"]), state["checkpoint_container"]),
            session_id=state["session_id"],
            query_id=state["query_id"],
            owner_pid=int(state.get("owner_pid") or 0),
            spark_url=state.get("spark_url", ""),
        )

    def status(self) -> str:
        """What the mirror's query is doing (for a wait's report): its status, error and last progress."""
        try:
            query = query_of(attach(self.spark_url, self.session_id), self.query_id)
        except Exception as exc:  # the report of a failure must not fail itself
            return f"the mirror's session does not answer: {exc}"
        if query is None:
            return describe_failure(None)
        return ("running: " if query.isActive else "STOPPED: ") + cdc_stream.describe(query, brief=True)


def state_file(delta_root: Path, run: str) -> Path:
    return delta_root / f".cdc-mirror-{run}.json"


def attach(spark_url: str, session_id: str) -> Any:
    """A client of an existing Spark Connect session (the one a mirror's query runs in)."""
    from pyspark.sql import SparkSession

    return SparkSession.builder.remote(f"{spark_url.rstrip('/')}/;session_id={session_id}").create()


def query_of(session: Any, query_id: str) -> Any | None:
    with contextlib.suppress(Exception):
        return session.streams.get(query_id)
    return None


def ensure(
    spark_url: str,
    spark_role: dict[str, Any],
    delta_root: Path,
    run: str,
    database: str,
    owner_pid: int,
    warm_up: Callable[[RunMirror], None] | None = None,
) -> RunMirror:
    """The run's mirror, started now when no process of the run has started it yet. ``owner_pid`` is the run's
    controller, which stops it at the end (a mirror whose controller is gone is stale). A mirror started now is
    handed to ``warm_up`` before the lock is let go, so the other processes find it past its first batch: its start
    (its session, the foreachBatch Python worker, the first Delta table) took 25 s on a quiet lab and over 60 s under
    the suite's load on a new one, and was the first mirrored test's to wait for."""
    from pyspark.sql import SparkSession

    with FileLock(delta_root / LOCK, timeout=LOCK_TIMEOUT_S):
        path = state_file(delta_root, run)
        if path.is_file():
            mirror = RunMirror.from_state(json.loads(path.read_text(encoding="utf-8")))
            query = query_of(attach(spark_url, mirror.session_id), mirror.query_id)
            if query is not None and query.isActive:
                return mirror
            failure = describe_failure(query)
            raise RuntimeError(f"the run's CDC mirror (query {mirror.query_id}) stopped: {failure}")
        mount = spark_role["delta"]["mount"].rstrip("/")
        name = f"cdc_mirror_{run}"
        holder = spark_role["cdc_stream"]["checkpoints"]
        root = DeltaPath(delta_root / name, f"{mount}/{name}")
        checkpoint = DeltaPath(delta_root / holder.removeprefix(mount + "/") / name, f"{holder}/{name}")
        stream = cdc_stream.CdcStream.from_manifest(
            topic="", path=root.container, checkpoint=checkpoint.container, pattern=topic_pattern(run, database)
        )
        session = SparkSession.builder.remote(spark_url).create()
        query = cdc_stream.start(session, stream)
        mirror = RunMirror(run, root, checkpoint, session.session_id, str(query.id), owner_pid, spark_url)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(mirror.as_state()), encoding="utf-8")
        os.replace(temporary, path)
        if warm_up is not None:
            warm_up(mirror)
        return mirror


def describe_failure(query: Any) -> str:
    if query is None:
        return "its session has no such query any more (the Spark Connect server restarted?)"
    return cdc_stream.describe(query)


def stop(spark_url: str, delta_root: Path, run: str) -> None:
    """Stop a run's mirror and remove its tables, checkpoint and state (nothing to do when it never started)."""
    path = state_file(delta_root, run)
    if not path.is_file():
        return
    mirror = RunMirror.from_state(json.loads(path.read_text(encoding="utf-8")))
    try:
        session = attach(spark_url, mirror.session_id)
        with contextlib.suppress(Exception):
            cdc_stream.stop(query_of(session, mirror.query_id), session)
    finally:
        mirror.root.remove(settle=cdc_stream.STOPPED_WRITES_SETTLE_S)
        mirror.checkpoint.remove(settle=cdc_stream.STOPPED_WRITES_SETTLE_S)
        path.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_stale(spark_url: str, delta_root: Path) -> list[str]:
    """Stop the mirrors of runs whose controller is gone (a run killed before its end); return their ids. A run
    going on beside this one (a nested pytest run) keeps its mirror."""
    stale = []
    for path in sorted(delta_root.glob(STATE_GLOB)):
        with contextlib.suppress(OSError, ValueError, KeyError):
            mirror = RunMirror.from_state(json.loads(path.read_text(encoding="utf-8")))
            if not alive(mirror.owner_pid):
                stop(spark_url, delta_root, mirror.run)
                stale.append(mirror.run)
    return stale
