"""Helpers for the fault tests (marker `chaos`): each breaks the live lab on purpose and restores it.

They run one at a time (`make chaos`), after `make verify`, never in parallel with other tests.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest
import requests

from cdc_lab.core.containers import ContainerState, container_for, docker, wait_healthy
from cdc_lab.core.endpoints import Endpoint, load_endpoints
from cdc_lab.core.manifest import MANIFEST_ENV, containers, read_manifest
from cdc_lab.core.wait import wait_until
from cdc_lab.services.kafka.client import Record
from cdc_lab.services.kafka.client import probe as kafka_probe
from cdc_lab.services.kafka_connect.client import ConnectClient, LabConnector
from cdc_lab.services.mysql.client import MysqlSettings, connect
from tests.conftest import PROJECT_DIR, child_env

MANIFEST = PROJECT_DIR / ".lab" / "lab.json"
# The lab's services, by their containers' cdc-lab.service label, as the lab's manifest declares them.
LAB_SERVICES = list(containers(read_manifest({MANIFEST_ENV: str(MANIFEST)})))
# NFR-005/006: a crashed service is healthy and answering again within this many seconds of the crash (the JVMs of
# Spark and Kafka take longer: the master's recovery of its workers and application, Connect's rejoining its group
# and restarting the connector).
JVM_RECOVERY_BOUND_S = 60.0
DEFAULT_RECOVERY_BOUND_S = 30.0
REPORT = PROJECT_DIR / ".lab" / "reports" / "chaos-recovery.json"


def recovery_bound(service: str) -> float:
    return JVM_RECOVERY_BOUND_S if service.startswith(("spark-", "kafka")) else DEFAULT_RECOVERY_BOUND_S


@pytest.fixture(scope="session", autouse=True)
def fresh_recovery_report() -> None:
    """Each chaos run starts its own recovery report."""
    REPORT.unlink(missing_ok=True)


def record_recovery(fault: str, seconds: float, detail: str = "") -> None:
    """Append a fault's recovery time to .lab/reports/chaos-recovery.json (the closing note quotes it)."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    entries = json.loads(REPORT.read_text()) if REPORT.is_file() else []
    entries.append({"fault": fault, "recovered_in_s": round(seconds, 1), "detail": detail, "at": time.time()})
    REPORT.write_text(json.dumps(entries, indent=2) + "\n")


def make(target: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run `make <target>` in the project, as a user would, without colour; capture its output."""
    return subprocess.run(
        ["make", "--no-print-directory", target, *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=venv_env(),
        check=False,
    )


# Seconds one probe query may take. A query on a Connect server whose application has no executor yet (a master
# just restarted) waits for one with no end, inside a gRPC call that neither a wait's deadline nor pytest-timeout's
# signal can cut short (it hung a CI run past its test's 300 s): past this, it is interrupted and counts as "not yet".
SPARK_QUERY_DEADLINE_S = 20


def spark_scalar(url: str, sql: str, deadline: float = SPARK_QUERY_DEADLINE_S) -> Any:
    """The first value of a query run through a new Spark Connect session (so a restarted server is really asked),
    within ``deadline`` seconds; otherwise its operations are interrupted and TimeoutError is raised."""
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(url).create()
    result: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(session.sql(sql).collect()[0][0])
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    worker = threading.Thread(target=run, name="spark-probe", daemon=True)
    worker.start()
    worker.join(deadline)
    try:
        if worker.is_alive():
            session.interruptAll()
            raise TimeoutError(f"Spark Connect did not answer {sql!r} within {deadline:g} s")
        if failure:
            raise failure[0]
        return result[0]
    finally:
        session.stop()


def answers(service: str, endpoints: dict[str, Endpoint]) -> Callable[[], bool]:
    """A check that the service does its job (not just that its port is open)."""

    def prometheus() -> bool:
        body = requests.get(f"{endpoints['prometheus'].url}/api/v1/query", params={"query": "up"}, timeout=5).json()
        return body["status"] == "success" and bool(body["data"]["result"])

    def alertmanager() -> bool:
        status = requests.get(f"{endpoints['alertmanager'].url}/api/v2/status", timeout=5).json()
        return "name: critical" in status["config"]["original"]  # its receivers' URLs show as <secret>

    def webhook_sink() -> bool:
        return requests.get(f"{endpoints['webhook-sink'].url}/notifications", timeout=5).ok

    def mysql() -> bool:
        settings = MysqlSettings.from_manifest(read_manifest({MANIFEST_ENV: str(MANIFEST)}))
        connection = connect(endpoints["mysql"], settings.account("app"), settings.database)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                return cursor.fetchone() == (1,)
        finally:
            connection.close()

    def spark() -> bool:
        master = requests.get(f"{endpoints['spark-master-ui'].url}/json/", timeout=5).json()
        apps = [f"{app['name']} {app['state']}" for app in master["activeapps"]]
        if master["status"] != "ALIVE" or len(apps) != 1 or not master["aliveworkers"]:
            # An exception, so a timed-out wait says what the master was missing.
            raise AssertionError(
                f"master {master['status']}, applications {apps}, alive workers {master['aliveworkers']}"
            )
        granted = master["activeapps"][0]["cores"]
        running = sum(w["coresused"] for w in master["workers"] if w["state"] == "ALIVE")
        if granted and not running:
            # Seen once in CI after the master's restarts: the master counts the application's cores on an executor
            # of a worker that is gone, so it starts no other and every job waits.
            workers = [f"{w['id']} {w['state']} cores used {w['coresused']}" for w in master["workers"]]
            raise AssertionError(f"the application holds {granted} cores but no alive worker runs any: {workers}")
        return spark_scalar(endpoints["spark"].url, "SELECT sum(id) FROM range(1000)") == 499500

    def kafka() -> bool:
        return kafka_probe(endpoints["kafka"]) is None

    def kafka_connect() -> bool:
        connector = LabConnector.from_manifest(read_manifest({MANIFEST_ENV: str(MANIFEST)}))
        return ConnectClient(endpoints["kafka-connect"].url).states(connector.name) == ("RUNNING", ["RUNNING"])

    checks = {
        "prometheus": prometheus,
        "alertmanager": alertmanager,
        "webhook-sink": webhook_sink,
        "mysql": mysql,
        "kafka": kafka,
        "kafka-connect": kafka_connect,
    }
    return checks.get(service, spark)


def wait_serving(service: str, timeout: float) -> float:
    """Wait (bounded) until the service's container is healthy and the service answers; return seconds waited."""
    started = time.monotonic()
    wait_healthy(container_for(service), timeout)
    remaining = max(timeout - (time.monotonic() - started), 1.0)
    wait_until(answers(service, load_endpoints()), timeout=remaining, interval=0.5, what=f"{service} to answer")
    return time.monotonic() - started


def reset_restart_budget(service: str) -> None:
    """Restart the service's container by hand, which resets Docker's restart count, and wait until it serves."""
    docker("restart", container_for(service), timeout=120)
    wait_serving(service, recovery_bound(service) * 2)


def crash(container: str) -> None:
    """Make the container's main process die with an error, from inside: SIGKILL to every process but
    docker-init (PID 1), which then exits 137, a failure Docker's on-failure policy restarts."""
    docker("exec", container, "sh", "-c", "kill -KILL -1")


def lab_is_whole() -> bool:
    """Every lab service has its container, running and healthy."""
    try:
        states = [ContainerState.of(container_for(service)) for service in LAB_SERVICES]
    except (LookupError, subprocess.CalledProcessError):
        return False
    return all(state.status == "running" and state.health == "healthy" for state in states)


@pytest.fixture
def lab_restored() -> Generator[None, None, None]:
    """After a fault test, pass or fail: `make lab` unless every service's container is there and healthy."""
    yield
    if not lab_is_whole():
        result = make("lab")  # it waits, bounded, until every container is healthy
        assert result.returncode == 0, "restoring the lab with `make lab` failed:\n" + result.stdout[-3000:]
        assert lab_is_whole(), "`make lab` passed but a lab service is missing or unhealthy"


@pytest.fixture
def passwords() -> dict[str, str]:
    directory = PROJECT_DIR / ".lab" / "credentials"
    return {path.name: path.read_text().split()[0] for path in directory.iterdir() if path.is_file()}


def venv_env() -> dict[str, str]:
    """The environment for child processes (``child_env``), pointed at this checkout's lab."""
    return {**child_env(), MANIFEST_ENV: str(MANIFEST)}


def assert_every_row_at_least_once(records: list[Record], ids: list[int]) -> list[Record]:
    """At-least-once delivery: every row's event is there, and an event seen twice is the same change redelivered
    (the same binlog file, position and row), never a new one. Returns the duplicates."""
    seen: dict[int, tuple[str, int, int]] = {}
    duplicates = []
    for record in records:
        if record.value is None:
            continue
        row = record.value["after"]["id"]
        source = record.value["source"]
        position = (source["file"], source["pos"], source["row"])
        if row in seen:
            assert seen[row] == position, f"row {row} arrived twice from different changes: {seen[row]} and {position}"
            duplicates.append(record)
        seen[row] = position
    missing = sorted(set(ids) - set(seen))
    assert not missing, f"{len(missing)} rows lost: {missing[:20]}"
    return duplicates
