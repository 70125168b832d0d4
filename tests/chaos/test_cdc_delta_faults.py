"""Faults under the MySQL-to-Delta stream, each on a stream of its own (the ``cdc_stream`` fixture), never the run's
shared mirror:

- the Kafka Connect worker killed while rows are being written: Debezium resumes from its stored offsets
  (redelivering what it had not committed), and the streaming job's MERGE by key keeps the Delta table equal to
  MySQL: no row lost, none twice;
- the stream's foreachBatch Python worker killed mid-stream: the query fails, starts again from its checkpoint, and
  Delta's idempotent writes let no batch commit twice.
"""

import time

import pytest

from cdc_lab.core.containers import container_for
from cdc_lab.core.wait import wait_until
from cdc_lab.services.spark.delta import SparkDeltaEngine
from cdc_lab.services.spark.mirror import ITEM_COLUMNS, insert_items, spark_rows, wait_until_mirrored
from tests.chaos.conftest import JVM_RECOVERY_BOUND_S, crash, record_recovery, wait_serving
from tests.conftest import BackgroundWrites

pytestmark = [pytest.mark.chaos, pytest.mark.cdc_delta, pytest.mark.delta]

ROWS = 300
CATCH_UP_S = 120  # the Delta table mirrors MySQL this long after the worker is back
KILLED_ROWS = 150
RESTART_BOUND_S = 90  # a change is in the Delta table this long after the query's restart from its checkpoint


@pytest.mark.timeout(500)
def test_kafka_connect_killed_mid_stream_leaves_delta_equal_to_mysql(
    mysql_connect, captured_table, cdc_stream, connect_client, lab_connector, lab_restored
):
    table = captured_table("connectkill", ITEM_COLUMNS)
    connection = mysql_connect()
    insert_items(connection, table.name, range(1, 11))
    job = cdc_stream(table.topic, "connectkill")
    job.wait_for_data()
    writer_connection = mysql_connect()
    batches = [range(start, min(start + 5, ROWS + 1)) for start in range(11, ROWS + 1, 5)]
    # Small transactions over several seconds: the kill lands inside them.
    writes = BackgroundWrites(lambda ids: insert_items(writer_connection, table.name, ids), batches, pause=0.05)
    writes.wait_started()
    killed_at = time.monotonic()
    crash(container_for("kafka-connect"))  # SIGKILL: offsets not yet committed are redelivered
    writes.finish()
    wait_serving("kafka-connect", JVM_RECOVERY_BOUND_S * 2)
    wait_until(
        lambda: connect_client.states(lab_connector.name) == ("RUNNING", ["RUNNING"]),
        timeout=JVM_RECOVERY_BOUND_S,
        what=f"{lab_connector.name} running again",
    )
    expected = wait_until_mirrored(connection, table.name, job.table.host, CATCH_UP_S)
    caught_up = time.monotonic() - killed_at
    assert [row["id"] for row in expected] == list(range(1, ROWS + 1))
    assert job.query.isActive, f"the stream stopped: {job.query.exception()}"
    assert spark_rows(job.session, job.table.container) == expected  # Spark too: one row per key, MySQL's values
    record_recovery(
        "Kafka Connect SIGKILLed while rows stream into Delta",
        caught_up,
        f"{ROWS} rows, Delta equal to MySQL (none lost, none twice)",
    )


@pytest.mark.timeout(400)
def test_query_killed_mid_stream_restarts_from_its_checkpoint_losing_and_repeating_nothing(
    captured_table, cdc_stream, mysql_connect
):
    table = captured_table("killed", ITEM_COLUMNS)
    connection = mysql_connect()
    insert_items(connection, table.name, range(1, 11))
    job = cdc_stream(table.topic, "killed")
    job.wait_for_data()
    writer_connection = mysql_connect()
    batches = [range(start, min(start + 5, KILLED_ROWS + 1)) for start in range(11, KILLED_ROWS + 1, 5)]
    # Small transactions over a few seconds: the kill lands inside them.
    writes = BackgroundWrites(lambda ids: insert_items(writer_connection, table.name, ids), batches, pause=0.1)
    try:
        writes.wait_started()
        job.kill_python_worker()
        wait_until(
            lambda: not job.query.isActive, timeout=CATCH_UP_S, what="the query to fail after its worker was killed"
        )
        assert job.query.exception() is not None
    finally:
        writes.finish()
    job.restart()
    expected = wait_until_mirrored(connection, table.name, job.table.host, RESTART_BOUND_S)
    assert [row["id"] for row in expected] == list(range(1, KILLED_ROWS + 1))
    inserts = [c["id"] for c in SparkDeltaEngine(job.session).changes(job.table) if c["_change_type"] == "insert"]
    assert sorted(inserts) == list(range(1, KILLED_ROWS + 1)), "a row was inserted twice, or never"
