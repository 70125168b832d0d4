"""MySQL to Delta end to end: rows changed in MySQL, captured by Debezium into Kafka, applied to a Delta table by the
lab's streaming job (Spark Structured Streaming, foreachBatch MERGE) and read back by Spark and by delta-rs.

Each test has its own MySQL table, topic, Delta table and checkpoint, all removed afterwards. The streams run one
at a time (the ``cdc_stream`` fixture holds a lock across the test processes), so one stream's Python worker is the
only one in the Spark Connect server (one test kills it) and the streams do not crowd the server's memory.
"""

import pytest

from cdc_lab.core.wait import wait_until
from cdc_lab.services.spark.delta import SparkDeltaEngine
from cdc_lab.services.spark.mirror import (
    ITEM_COLUMNS,
    delta_rs_rows,
    insert_items,
    mysql_rows,
    spark_rows,
    wait_until_mirrored,
)
from tests.conftest import BackgroundWrites

pytestmark = [pytest.mark.cdc_delta, pytest.mark.delta]

ROWS = 150
MIRROR_BOUND_S = 60  # a change committed in MySQL is in the Delta table within this many seconds
RESTART_BOUND_S = 90  # the same, across a restart of the streaming query


def execute(connection, *statements):
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def started_stream(captured_table, cdc_stream, mysql_connect, hint, ids=range(1, 11)):
    """A captured table with a first few rows, and the stream applying its events, its first batch done."""
    table = captured_table(hint, ITEM_COLUMNS)
    connection = mysql_connect()
    insert_items(connection, table.name, list(ids))
    job = cdc_stream(table.topic, hint)
    job.wait_for_data()
    return table, connection, job


def test_inserts_updates_and_deletes_on_150_rows_leave_delta_equal_to_mysql_for_spark_and_delta_rs(
    captured_table, cdc_stream, mysql_connect
):
    table, connection, job = started_stream(captured_table, cdc_stream, mysql_connect, "mirror")
    insert_items(connection, table.name, range(11, ROWS + 1))
    execute(
        connection,
        f"UPDATE {table.name} SET qty = qty * 10, name = CONCAT(name, '-v2') WHERE id % 3 = 0",
        f"UPDATE {table.name} SET price = NULL WHERE id BETWEEN 40 AND 49",
        f"DELETE FROM {table.name} WHERE id % 5 = 0",
        f"UPDATE {table.name} SET qty = qty + 1 WHERE id % 3 = 0",  # a second update of the same rows
        f"DELETE FROM {table.name} WHERE id > 140",
    )
    expected = wait_until_mirrored(connection, table.name, job.table.host, MIRROR_BOUND_S)
    assert len(expected) == ROWS - ROWS // 5 - 8  # 150, less every fifth, less 141..149 that were not
    assert delta_rs_rows(job.table.host) == expected
    assert spark_rows(job.session, job.table.container) == expected
    assert expected[2] == {"id": 3, "name": "item-3-v2", "qty": 31, "price": "3.25"}


def test_change_data_feed_shows_each_insert_update_and_delete_with_its_change_type(
    captured_table, cdc_stream, mysql_connect
):
    table, connection, job = started_stream(captured_table, cdc_stream, mysql_connect, "cdf", ids=range(1, ROWS + 1))
    wait_until_mirrored(connection, table.name, job.table.host, MIRROR_BOUND_S)
    # Each phase applied before the next, so that a batch never folds an insert and its update into one change.
    execute(connection, f"UPDATE {table.name} SET qty = qty + 1000 WHERE id <= 50")
    wait_until_mirrored(connection, table.name, job.table.host, MIRROR_BOUND_S)
    execute(connection, f"DELETE FROM {table.name} WHERE id > 120")
    wait_until_mirrored(connection, table.name, job.table.host, MIRROR_BOUND_S)

    changes = SparkDeltaEngine(job.session).changes(job.table)
    by_type: dict[str, dict[int, dict]] = {}
    for change in changes:
        kind = by_type.setdefault(change["_change_type"], {})
        assert change["id"] not in kind, f"{change['_change_type']} of row {change['id']} appears twice"
        kind[change["id"]] = change
    assert sorted(by_type) == ["delete", "insert", "update_postimage", "update_preimage"]
    assert sorted(by_type["insert"]) == list(range(1, ROWS + 1))
    assert sorted(by_type["update_preimage"]) == sorted(by_type["update_postimage"]) == list(range(1, 51))
    assert sorted(by_type["delete"]) == list(range(121, ROWS + 1))
    for i in range(1, 51):
        assert (by_type["update_preimage"][i]["qty"], by_type["update_postimage"][i]["qty"]) == (i, i + 1000)
    assert by_type["delete"][130]["name"] == "item-130"  # a delete carries the row as it was
    versions = {kind: {change["_commit_version"] for change in rows.values()} for kind, rows in by_type.items()}
    assert max(versions["insert"]) < min(versions["update_postimage"]) <= max(versions["update_postimage"])
    assert max(versions["update_postimage"]) < min(versions["delete"])


def test_query_killed_mid_stream_restarts_from_its_checkpoint_losing_and_repeating_nothing(
    captured_table, cdc_stream, mysql_connect
):
    table, connection, job = started_stream(captured_table, cdc_stream, mysql_connect, "killed")
    writer_connection = mysql_connect()
    batches = [range(start, min(start + 5, ROWS + 1)) for start in range(11, ROWS + 1, 5)]
    # Small transactions over a few seconds: the kill lands inside them.
    writes = BackgroundWrites(lambda ids: insert_items(writer_connection, table.name, ids), batches, pause=0.1)
    try:
        writes.wait_started()
        job.kill_python_worker()
        wait_until(
            lambda: not job.query.isActive, timeout=MIRROR_BOUND_S, what="the query to fail after its worker was killed"
        )
        assert job.query.exception() is not None
    finally:
        writes.finish()
    job.restart()
    expected = wait_until_mirrored(connection, table.name, job.table.host, RESTART_BOUND_S)
    assert [row["id"] for row in expected] == list(range(1, ROWS + 1))
    inserts = [c["id"] for c in SparkDeltaEngine(job.session).changes(job.table) if c["_change_type"] == "insert"]
    assert sorted(inserts) == list(range(1, ROWS + 1)), "a row was inserted twice, or never"


def test_a_column_added_in_mysql_reaches_the_delta_table_by_schema_evolution(captured_table, cdc_stream, mysql_connect):
    table, connection, job = started_stream(captured_table, cdc_stream, mysql_connect, "evolve")
    wait_until_mirrored(connection, table.name, job.table.host, MIRROR_BOUND_S)
    execute(
        connection,
        f"ALTER TABLE {table.name} ADD COLUMN colour VARCHAR(16)",
        f"UPDATE {table.name} SET colour = 'red' WHERE id <= 3",
        f"INSERT INTO {table.name} (id, name, qty, price, colour) VALUES (11, 'item-11', 11, '11.25', 'blue')",
    )
    expected = wait_until_mirrored(connection, table.name, job.table.host, MIRROR_BOUND_S)
    assert expected[0]["colour"] == "red"
    assert expected[-1]["colour"] == "blue"
    assert expected[5]["colour"] is None
    assert SparkDeltaEngine(job.session).schema(job.table)["colour"] == "string"
    assert spark_rows(job.session, job.table.container) == expected
    assert mysql_rows(connection, table.name) == delta_rs_rows(job.table.host)
