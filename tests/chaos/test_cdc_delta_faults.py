"""A fault under the MySQL-to-Delta stream: the Kafka Connect worker killed while rows are being written. Debezium
resumes from its stored offsets (redelivering what it had not committed), and the streaming job's MERGE by key
keeps the Delta table equal to MySQL: no row lost, none twice."""

import time

import pytest

from cdc_lab.core.containers import container_for
from cdc_lab.core.wait import wait_until
from cdc_lab.services.spark.mirror import ITEM_COLUMNS, insert_items, spark_rows, wait_until_mirrored
from tests.chaos.conftest import JVM_RECOVERY_BOUND_S, crash, record_recovery, wait_serving
from tests.conftest import BackgroundWrites

pytestmark = [pytest.mark.chaos, pytest.mark.cdc_delta, pytest.mark.delta]

ROWS = 300
CATCH_UP_S = 120  # the Delta table mirrors MySQL this long after the worker is back


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
