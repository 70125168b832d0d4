"""Docker daemon restart: `make lab` starts the daemon again and brings every service back healthy, and the MySQL
rows and Delta tables written before are intact, as are Kafka's topics and Connect's offsets: the connector carries
on where it was (no new snapshot, no row lost)."""

import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from cdc_lab.core.containers import ContainerState, container_for, docker, lab_container_names
from cdc_lab.core.endpoints import load_endpoints
from cdc_lab.core.wait import wait_until
from cdc_lab.services import SERVICES
from cdc_lab.services.spark.delta import DeltaRsEngine
from tests.chaos.conftest import assert_every_row_at_least_once, make, record_recovery, spark_scalar

pytestmark = pytest.mark.chaos

ROWS = 200
SCHEMA = {"id": "int64", "name": "string"}
SPARK_RECOVERY_DIR = "/var/lib/spark/recovery"  # spark_master_recovery_dir


def stop_docker_daemon(timeout: float = 90) -> None:
    """Stop the Docker daemon the way its service manager would (it stops the containers first)."""
    if Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "stop", "docker.socket", "docker.service"], check=True, timeout=timeout)
        return
    pids = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True, check=False).stdout.split()
    assert pids, "no dockerd process to stop"
    subprocess.run(["kill", "-TERM", *pids], check=True)
    wait_until(
        lambda: subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, check=False).returncode != 0,
        timeout=timeout,
        interval=0.5,
        what="dockerd to exit",
    )


@pytest.mark.timeout(900)
def test_daemon_restart_then_make_lab_brings_everything_back_with_data_intact(
    captured_table, mysql_connect, delta_table, lab_restored
):
    captured = captured_table("daemon", "id INT PRIMARY KEY, name VARCHAR(40) NOT NULL")
    table = captured.name
    marker = uuid.uuid4().hex
    with mysql_connect().cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO `{table}` (id, name) VALUES (%s, %s)",
            [(i, f"{marker}-{i}") for i in range(ROWS)],
        )
    captured.events.read_until(lambda records: len(records) >= ROWS, timeout=60, what=f"{ROWS} change events")
    delta = delta_table("daemon")
    engine = DeltaRsEngine()
    engine.write(delta, [{"id": i, "name": f"{marker}-{i}"} for i in range(ROWS)], SCHEMA)
    engine.write(delta, [{"id": ROWS, "name": f"{marker}-last"}], SCHEMA)
    version_before = engine.version(delta)
    rows_before = sorted(engine.read(delta), key=lambda row: row["id"])

    stop_docker_daemon()
    started = time.monotonic()
    result = make("lab", timeout=600)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-4000:]

    unhealthy = [s.describe() for s in map(ContainerState.of, lab_container_names()) if s.health != "healthy"]
    assert not unhealthy, unhealthy
    endpoints = load_endpoints()
    for name in ("prometheus", "alertmanager", "webhook-sink", "mysql", "spark", "kafka", "kafka-connect"):
        assert SERVICES[name].probe(endpoints[name]) is None, f"{name} does not answer after the daemon restart"

    # The master's recovery state holds only the applications and workers it has: a leftover entry at the server's
    # address could take the live application's place at the master's next restart.
    recovery = docker("exec", container_for("spark-master"), "ls", "-1", SPARK_RECOVERY_DIR).stdout.split()
    master = requests.get(f"{endpoints['spark-master-ui'].url}/json/", timeout=5).json()
    has = {app["id"] for app in master["activeapps"]} | {w["id"] for w in master["workers"] if w["state"] == "ALIVE"}
    assert {entry.split("_", 1)[1] for entry in recovery} == has, (recovery, master["activeapps"], master["workers"])

    with mysql_connect().cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*), SUM(name LIKE %s) FROM `{table}`", (f"{marker}-%",))
        assert cursor.fetchone() == (ROWS, ROWS)
    assert engine.version(delta) == version_before
    assert sorted(engine.read(delta), key=lambda row: row["id"]) == rows_before
    # The Spark containers see the same files through the lab's Delta volume (read as Parquet: no Delta jars here).
    assert spark_scalar(endpoints["spark"].url, f"SELECT COUNT(*) FROM parquet.`{delta.container}`") == ROWS + 1
    # Kafka kept the topic and Connect its offsets: a row written now follows the ones before, with no snapshot
    # of the table again (op r) and no row lost.
    with mysql_connect().cursor() as cursor:
        cursor.execute(f"INSERT INTO `{table}` (id, name) VALUES (%s, %s)", (ROWS, f"{marker}-after"))
    records = captured.events.read_until(
        lambda records: any(r.value and r.value["after"]["id"] == ROWS for r in records),
        timeout=120,
        what="the row written after the restart",
    )
    assert not [r for r in records if r.op == "r"], "the connector snapshotted the table again"
    duplicates = assert_every_row_at_least_once(records, list(range(ROWS + 1)))
    record_recovery(
        "Docker daemon stopped, then `make lab`",
        took,
        f"every service healthy; MySQL rows, Delta table, Kafka topic and Connect offsets intact "
        f"({len(duplicates)} events redelivered)",
    )
