"""Faults in the CDC pipeline: the broker killed in the middle of a burst loses no row, and a connector configuration
naming a table that does not exist fails `make lab` naming it while the running connector stays as it was."""

import threading
import time

import pytest

from cdc_lab.core.containers import container_for
from cdc_lab.core.wait import wait_until
from tests.chaos.conftest import assert_every_row_at_least_once, crash, make, record_recovery, wait_serving

pytestmark = [pytest.mark.chaos, pytest.mark.cdc]

BURST = 300
CAPTURE_AFTER_RESTART_S = 120


@pytest.mark.timeout(400)
def test_broker_killed_mid_burst_loses_no_row(mysql_connect, captured_table, lab_restored):
    table = captured_table("brokerkill", "id INT PRIMARY KEY, payload VARCHAR(40) NOT NULL")
    connection = mysql_connect()
    half_written = threading.Event()
    failures: list[BaseException] = []

    def write_burst():
        try:
            with connection.cursor() as cursor:
                for i in range(BURST):
                    cursor.execute(f"INSERT INTO {table.name} VALUES (%s, %s)", (i, f"row-{i}"))
                    if i == BURST // 3:
                        half_written.set()
                    time.sleep(0.01)  # a burst spread over a few seconds, so the kill lands inside it
        except BaseException as exc:  # reported by the test thread below
            failures.append(exc)
            half_written.set()

    writer = threading.Thread(target=write_burst, name="burst")
    writer.start()
    assert half_written.wait(timeout=60), "the burst did not start"
    killed_at = time.monotonic()
    crash(container_for("kafka"))  # SIGKILL: no clean shutdown, no flush
    writer.join(timeout=120)
    assert not failures, f"MySQL refused the burst: {failures[0]!r}"
    wait_serving("kafka", CAPTURE_AFTER_RESTART_S)
    records = table.events.read_until(
        lambda records: len({r.value["after"]["id"] for r in records if r.value}) >= BURST,
        timeout=CAPTURE_AFTER_RESTART_S,
        what=f"all {BURST} rows after the broker's restart",
    )
    caught_up = time.monotonic() - killed_at
    duplicates = assert_every_row_at_least_once(records, list(range(BURST)))
    record_recovery(
        "Kafka broker SIGKILLed mid-burst",
        caught_up,
        f"{BURST} rows, none lost, {len(duplicates)} redelivered",
    )


@pytest.mark.timeout(600)
def test_connector_naming_a_missing_table_fails_make_lab_and_leaves_the_connector_alone(
    connect_client, lab_connector, lab_restored
):
    before = connect_client.config(lab_connector.name)
    missing = f"{lab_connector.database}.no_such_table"
    result = make("lab", f'ANSIBLE_ARGS=-e \'{{"kafka_connect_tables": ["{missing}"]}}\'', timeout=600)
    assert result.returncode != 0, "make lab accepted a table that does not exist"
    assert f"kafka_connect_tables names tables that do not exist in MySQL: {missing}" in result.stdout
    assert connect_client.config(lab_connector.name) == before
    assert wait_until(
        lambda: connect_client.states(lab_connector.name) == ("RUNNING", ["RUNNING"]),
        timeout=30,
        what=f"{lab_connector.name} running",
    )
