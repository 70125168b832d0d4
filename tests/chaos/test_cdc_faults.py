"""Faults in the CDC pipeline: the broker killed in the middle of a burst loses no row, and a connector configuration
naming a table that does not exist fails `make lab` naming it while the running connector stays as it was."""

import time

import pytest

from cdc_lab.core.containers import container_for
from cdc_lab.core.wait import wait_until
from tests.chaos.conftest import assert_every_row_at_least_once, crash, make, record_recovery, wait_serving
from tests.conftest import BackgroundWrites

pytestmark = [pytest.mark.chaos, pytest.mark.cdc]

BURST = 300
CAPTURE_AFTER_RESTART_S = 120


@pytest.mark.timeout(400)
def test_broker_killed_mid_burst_loses_no_row(mysql_connect, captured_table, lab_restored):
    table = captured_table("brokerkill", "id INT PRIMARY KEY, payload VARCHAR(40) NOT NULL")
    connection = mysql_connect()

    def insert(i):
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {table.name} VALUES (%s, %s)", (i, f"row-{i}"))

    writes = BackgroundWrites(insert, range(BURST), pause=0.01)  # a burst over a few seconds: the kill lands inside
    writes.wait_started()
    killed_at = time.monotonic()
    crash(container_for("kafka"))  # SIGKILL: no clean shutdown, no flush
    writes.finish()
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
