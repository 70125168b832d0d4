"""Warm a new Spark Connect server up: its first Delta write, MERGE, read and change-feed read, before anyone
else's.

A new driver and executor load and compile the classes of each kind of query the first time it runs. Measured at
the start of a `make verify` right after the server was recreated, with the four test workers and the run's CDC
mirror all at it at once on 2 cores: the first Delta writes took 92 s and 110 s, the mirror's first batch 119 s
(past its 90 s bound), the same operations seconds each later in the run. Alone, the same first operations take a
fraction of that. `make lab` runs this once per Spark Connect container (a marker file in the container says it
ran); it prints what it did, and ``changed`` only when it warmed the server.

    .venv/bin/python -m cdc_lab.services.spark.warm_up
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from cdc_lab.core.containers import container_for, docker
from cdc_lab.core.endpoints import load_endpoints, load_features
from cdc_lab.core.manifest import role
from cdc_lab.services.spark.delta import DeltaPath, SparkDeltaEngine

# In the container's own filesystem: gone when the container is made again (a new server), kept across a restart.
MARKER = "/tmp/cdc-lab-warmed-up"
HINT = "warmup"


def warmed(container: str) -> bool:
    return docker("exec", container, "test", "-e", MARKER, check=False).returncode == 0


def warm_up(url: str, table: DeltaPath | None) -> list[str]:
    """Run the lab's first queries on the server at ``url`` (Delta ones on ``table`` when there is one); return
    what each took."""
    from pyspark.sql import SparkSession

    took: list[str] = []
    session = SparkSession.builder.remote(url).create()

    def step(what: str, action: Callable[[], object]) -> None:
        started = time.monotonic()
        action()
        took.append(f"{what} {time.monotonic() - started:.1f} s")

    try:
        step("a query", lambda: session.sql("SELECT 1").collect())
        if table is not None:
            delta, engine = table, SparkDeltaEngine(session)
            schema = {"id": "int32", "v": "string"}
            step("a Delta write", lambda: engine.write(delta, [{"id": 1, "v": "a"}], schema))
            step("a MERGE", lambda: engine.upsert(delta, [{"id": 1, "v": "b"}, {"id": 2, "v": "c"}], schema, "id"))
            step("a read", lambda: engine.read(delta))
            step("a change-feed read", lambda: engine.changes(delta))
    finally:
        session.stop()
    return took


def main() -> int:
    container = container_for("spark-connect")
    if warmed(container):
        print("already warm: this Spark Connect container has run the lab's first queries")
        return 0
    spark_role = role("spark")
    delta_ready = bool(load_features().get("spark_delta", {}).get("available"))
    table = None
    if delta_ready:
        table = DeltaPath.unique(Path(spark_role["delta"]["host_dir"]), spark_role["delta"]["mount"], HINT)
    started = time.monotonic()
    try:
        took = warm_up(load_endpoints()["spark"].url, table)
    finally:
        if table is not None:
            table.remove()
    docker("exec", container, "touch", MARKER)
    print(f"warmed up in {time.monotonic() - started:.1f} s: {', '.join(took)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
