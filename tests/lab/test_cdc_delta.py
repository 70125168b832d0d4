"""MySQL to Delta end to end: rows changed in MySQL, captured by Debezium into Kafka, applied to a Delta table by the
lab's streaming job (Spark Structured Streaming, foreachBatch MERGE) and read back by Spark and by delta-rs.

Each test has its own MySQL table; the run's CDC mirror (one streaming query for the whole run, the ``cdc_mirror``
fixture) keeps a Delta table of its topic. Rows are compared as typed values (MySQL's DECIMAL is a Delta decimal
of the same precision and scale).
"""

from decimal import Decimal

import pytest

from cdc_lab.services.spark.delta import SparkDeltaEngine
from cdc_lab.services.spark.mirror import (
    ITEM_COLUMNS,
    delta_rs_rows,
    insert_items,
    spark_rows,
)
from cdc_lab.services.spark.run_mirror import MIRROR_BOUND_S, MIRRORED_TEST_TIMEOUT_S

pytestmark = [pytest.mark.cdc_delta, pytest.mark.delta, pytest.mark.timeout(MIRRORED_TEST_TIMEOUT_S)]

ROWS = 150


def execute(connection, *statements):
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def mirrored(connection, table, timeout=MIRROR_BOUND_S):
    return table.wait_mirrored(connection, timeout)


def test_inserts_updates_and_deletes_on_150_rows_leave_delta_equal_to_mysql_for_spark_and_delta_rs(
    mirrored_table, mysql_connect, spark
):
    table = mirrored_table("mirror", ITEM_COLUMNS)
    connection = mysql_connect()
    insert_items(connection, table.name, range(1, ROWS + 1))
    execute(
        connection,
        f"UPDATE {table.name} SET qty = qty * 10, name = CONCAT(name, '-v2') WHERE id % 3 = 0",
        f"UPDATE {table.name} SET price = NULL WHERE id BETWEEN 40 AND 49",
        f"DELETE FROM {table.name} WHERE id % 5 = 0",
        f"UPDATE {table.name} SET qty = qty + 1 WHERE id % 3 = 0",  # a second update of the same rows
        f"DELETE FROM {table.name} WHERE id > 140",
    )
    expected = mirrored(connection, table)
    assert len(expected) == ROWS - ROWS // 5 - 8  # 150, less every fifth, less 141..149 that were not
    assert delta_rs_rows(table.delta.host) == expected
    assert spark_rows(spark, table.delta.container) == expected
    assert expected[2] == {"id": 3, "name": "item-3-v2", "qty": 31, "price": Decimal("3.25")}
    schema = {f.name: f.dataType.simpleString() for f in spark.read.format("delta").load(table.delta.container).schema}
    assert schema == {"id": "int", "name": "string", "qty": "int", "price": "decimal(10,2)"}


def test_change_data_feed_shows_each_insert_update_and_delete_with_its_change_type(
    mirrored_table, mysql_connect, spark
):
    table = mirrored_table("cdf", ITEM_COLUMNS)
    connection = mysql_connect()
    insert_items(connection, table.name, range(1, ROWS + 1))
    mirrored(connection, table)
    # Each phase applied before the next, so that a batch never folds an insert and its update into one change.
    execute(connection, f"UPDATE {table.name} SET qty = qty + 1000 WHERE id <= 50")
    mirrored(connection, table)
    execute(connection, f"DELETE FROM {table.name} WHERE id > 120")
    mirrored(connection, table)

    changes = SparkDeltaEngine(spark).changes(table.delta)
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
    assert by_type["delete"][130]["price"] == Decimal("130.25")
    versions = {kind: {change["_commit_version"] for change in rows.values()} for kind, rows in by_type.items()}
    assert max(versions["insert"]) < min(versions["update_postimage"]) <= max(versions["update_postimage"])
    assert max(versions["update_postimage"]) < min(versions["delete"])
