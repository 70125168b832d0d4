"""Change data capture end to end in the live lab: rows written to MySQL, read back as Debezium's own change events
from Kafka (the lab's connector in Kafka Connect, or a test's own connector where the scenario needs one).

Each test works on its own table (dropped afterwards) and reads only that table's topic (deleted afterwards), so
parallel tests never see each other's changes. Nothing here builds an event: every envelope is Debezium's.
"""

import threading
import time

import pytest

from cdc_lab.core.wait import wait_until
from cdc_lab.services.kafka.client import create_topic, topics
from cdc_lab.services.kafka_connect.client import ConnectError
from tests.conftest import run_concurrently

pytestmark = [pytest.mark.cdc, pytest.mark.mysql, pytest.mark.kafka_connect]

# Every committed change reaches its topic within this many seconds (the bulk insert's 150 rows too). How fast is
# `make bench`'s to measure (150 rows committed to all on the topic, median; goal 2 s): a time asserted here, beside
# the suite's other tests on 2 cores, failed a run at 15.8 s on a just-started lab.
CAPTURE_BOUND_S = 30
PRODUCT_COLUMNS = "id INT PRIMARY KEY, name VARCHAR(255) NOT NULL, description VARCHAR(512), weight FLOAT"


def execute(connection, *statements):
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def changes(records):
    """The change events among a topic's records (tombstones left out)."""
    return [record for record in records if record.value is not None]


def row_of(record):
    event = record.value
    return event["after"] if event["after"] is not None else event["before"]


def test_insert_yields_a_create_event_with_the_full_after_image_and_its_source(
    mysql_connect, captured_table, mysql_settings, lab_connector
):
    table = captured_table("insert", PRODUCT_COLUMNS)
    execute(mysql_connect(), f"INSERT INTO {table.name} VALUES (101, 'scooter', 'Small 2-wheel scooter', 3.14)")
    (record,) = table.events.read_until(lambda records: len(records) >= 1, timeout=CAPTURE_BOUND_S)
    event = record.value
    assert record.key == {"id": 101}
    assert event["op"] == "c"
    assert event["before"] is None
    assert record.after == {
        "id": 101,
        "name": "scooter",
        "description": "Small 2-wheel scooter",
        "weight": pytest.approx(3.14),
    }
    source = event["source"]
    assert (source["db"], source["table"], source["name"]) == (
        mysql_settings.database,
        table.name,
        lab_connector.topic_prefix,
    )
    assert source["snapshot"] == "false"
    assert source["file"].startswith("mysql-bin.")
    assert source["pos"] > 0
    assert source["gtid"], "the event names the transaction's GTID"
    assert abs(source["ts_ms"] - time.time() * 1000) < 120_000
    assert event["transaction"]["id"], "Debezium's transaction metadata is on"
    assert event["transaction"]["total_order"] == 1


def test_update_yields_before_and_after_images(mysql_connect, captured_table):
    table = captured_table("update", PRODUCT_COLUMNS)
    connection = mysql_connect()
    execute(
        connection,
        f"INSERT INTO {table.name} VALUES (102, 'car battery', '12V', 8.1)",
        f"UPDATE {table.name} SET weight = 5.5, description = '12V, light' WHERE id = 102",
    )
    created, updated = table.events.read_until(lambda records: len(records) >= 2, timeout=CAPTURE_BOUND_S)
    assert (created.op, updated.op) == ("c", "u")
    assert updated.before == {
        "id": 102,
        "name": "car battery",
        "description": "12V",
        "weight": pytest.approx(8.1),
    }
    assert updated.after == {
        "id": 102,
        "name": "car battery",
        "description": "12V, light",
        "weight": pytest.approx(5.5),
    }
    assert updated.offset > created.offset


def test_delete_yields_the_before_image_then_a_tombstone(mysql_connect, captured_table):
    table = captured_table("delete", PRODUCT_COLUMNS)
    connection = mysql_connect()
    execute(
        connection,
        f"INSERT INTO {table.name} VALUES (103, 'hammer', '16oz', 0.5)",
        f"DELETE FROM {table.name} WHERE id = 103",
    )
    created, deleted, tombstone = table.events.read_until(lambda records: len(records) >= 3, timeout=CAPTURE_BOUND_S)
    assert created.op == "c"
    assert deleted.op == "d"
    assert deleted.before == {"id": 103, "name": "hammer", "description": "16oz", "weight": pytest.approx(0.5)}
    assert deleted.value["after"] is None
    assert tombstone.value is None, "a delete is followed by a tombstone, so compaction can drop the key"
    assert tombstone.key == deleted.key == {"id": 103}


def test_bulk_insert_of_150_rows_is_captured_whole_within_the_bound(mysql_connect, captured_table):
    table = captured_table("bulk", PRODUCT_COLUMNS)
    connection = mysql_connect(autocommit=False)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table.name} (id, name, description, weight) VALUES (%s, %s, %s, %s)",
            [(1000 + i, f"product-{i}", None, float(i)) for i in range(150)],
        )
    connection.commit()
    records = table.events.read_until(lambda records: len(records) >= 150, timeout=CAPTURE_BOUND_S)
    assert all(record.op == "c" for record in records)
    ids = [record.value["after"]["id"] for record in records]
    assert ids == [1000 + i for i in range(150)], "every row once, in commit order"
    assert len({record.value["transaction"]["id"] for record in records}) == 1
    assert table.events.poll(1.0) == [], "nothing beyond the 150 rows"


def test_mixed_transaction_keeps_order_and_its_boundaries(
    mysql_connect, captured_table, topic_reader, kafka_endpoint, lab_connector
):
    table = captured_table("mixed", PRODUCT_COLUMNS)
    setup = mysql_connect()
    execute(setup, f"INSERT INTO {table.name} VALUES (1, 'a', NULL, 1.0), (2, 'b', NULL, 2.0)")
    table.events.read_until(lambda records: len(records) >= 2, timeout=CAPTURE_BOUND_S)
    create_topic(kafka_endpoint, lab_connector.transaction_topic())  # the lab's own topic: made if absent, kept
    boundaries = topic_reader(lab_connector.transaction_topic(), from_end=True)
    connection = mysql_connect(autocommit=False)
    execute(
        connection,
        f"INSERT INTO {table.name} VALUES (3, 'c', NULL, 3.0)",
        f"UPDATE {table.name} SET name = 'a2' WHERE id = 1",
        f"DELETE FROM {table.name} WHERE id = 2",
        f"UPDATE {table.name} SET weight = 30.0 WHERE id = 3",
    )
    connection.commit()
    events = changes(table.events.read_until(lambda records: len(changes(records)) >= 6, timeout=CAPTURE_BOUND_S))[2:]
    assert [(record.op, row_of(record)["id"]) for record in events] == [("c", 3), ("u", 1), ("d", 2), ("u", 3)]
    (transaction_id,) = {record.value["transaction"]["id"] for record in events}
    assert [record.value["transaction"]["total_order"] for record in events] == [1, 2, 3, 4]
    assert [record.value["transaction"]["data_collection_order"] for record in events] == [1, 2, 3, 4]

    def ours(records):
        return [r.value for r in records if r.value and r.value.get("id") == transaction_id]

    begin, end = ours(boundaries.read_until(lambda records: len(ours(records)) >= 2, timeout=CAPTURE_BOUND_S))
    assert (begin["status"], end["status"]) == ("BEGIN", "END")
    assert end["event_count"] == 4
    assert end["data_collections"] == [{"data_collection": f"{lab_connector.database}.{table.name}", "event_count": 4}]
    # Replaying the events over the rows before the transaction gives the table as MySQL has it.
    replayed = {1: {"id": 1, "name": "a", "weight": 1.0}, 2: {"id": 2, "name": "b", "weight": 2.0}}
    for record in events:
        if record.op == "d":
            replayed.pop(record.value["before"]["id"])
        else:
            replayed[record.value["after"]["id"]] = record.value["after"]
    with setup.cursor() as cursor:
        cursor.execute(f"SELECT id, name, weight FROM {table.name} ORDER BY id")
        final = cursor.fetchall()
    assert final == [(1, "a2", 1.0), (3, "c", 30.0)]
    assert sorted((row["id"], row["name"], row["weight"]) for row in replayed.values()) == final


def test_rolled_back_transaction_yields_nothing(mysql_connect, captured_table):
    table = captured_table("rollback", PRODUCT_COLUMNS)
    connection = mysql_connect(autocommit=False)
    execute(connection, f"INSERT INTO {table.name} VALUES (1, 'ghost', NULL, 0)", f"UPDATE {table.name} SET name = 'x'")
    connection.rollback()
    execute(mysql_connect(), f"INSERT INTO {table.name} VALUES (2, 'marker', NULL, 0)")
    records = table.events.read_until(lambda records: len(records) >= 1, timeout=CAPTURE_BOUND_S)
    assert [(record.op, record.value["after"]["name"]) for record in records] == [("c", "marker")]


def test_concurrent_writers_each_keep_their_transaction_together(mysql_connect, captured_table):
    table = captured_table("concurrent", PRODUCT_COLUMNS)
    writers = 4
    connections = [mysql_connect(autocommit=False) for _ in range(writers)]
    start = threading.Barrier(writers)

    def write(index):
        start.wait(timeout=10)
        for row in range(5):
            execute(connections[index], f"INSERT INTO {table.name} VALUES ({index * 100 + row}, 'w{index}', NULL, 0)")
        connections[index].commit()

    run_concurrently(write, writers, timeout=30)
    records = table.events.read_until(lambda records: len(records) >= writers * 5, timeout=CAPTURE_BOUND_S)
    runs = [records[i : i + 5] for i in range(0, len(records), 5)]
    for run in runs:
        assert len({record.value["after"]["name"] for record in run}) == 1, "a transaction's events were interleaved"
        assert len({record.value["transaction"]["id"] for record in run}) == 1
    assert sorted(run[0].value["after"]["name"] for run in runs) == [f"w{i}" for i in range(writers)]


def test_events_after_add_column_carry_the_new_column(mysql_connect, captured_table):
    table = captured_table("alter", PRODUCT_COLUMNS)
    execute(
        mysql_connect(),
        f"INSERT INTO {table.name} VALUES (1, 'before', NULL, 1.0)",
        f"ALTER TABLE {table.name} ADD COLUMN sku VARCHAR(32) NULL",
        f"INSERT INTO {table.name} VALUES (2, 'after', NULL, 2.0, 'SKU-2')",
        f"UPDATE {table.name} SET sku = 'SKU-1' WHERE id = 1",
    )
    first, second, third = table.events.read_until(lambda records: len(records) >= 3, timeout=CAPTURE_BOUND_S)
    assert "sku" not in first.value["after"]
    assert second.value["after"]["sku"] == "SKU-2"
    assert third.value["before"]["sku"] is None
    assert third.value["after"]["sku"] == "SKU-1"


def test_new_connector_snapshots_existing_rows_then_streams(
    mysql_connect, mysql_table, test_connector, lab_connector, kafka_endpoint, topic_reader
):
    table = mysql_table("snapshot", PRODUCT_COLUMNS)
    execute(
        mysql_connect(),
        f"INSERT INTO {table} VALUES (1, 'one', NULL, 1.0), (2, 'two', NULL, 2.0), (3, 'three', NULL, 3.0)",
    )
    connector = test_connector([table])
    topic = lab_connector.topic(table, connector.prefix)
    wait_until(lambda: topic in topics(kafka_endpoint), timeout=CAPTURE_BOUND_S, what=f"the snapshot's topic {topic}")
    events = topic_reader(topic)
    snapshot = events.read_until(lambda records: len(records) >= 3, timeout=CAPTURE_BOUND_S)
    assert [(record.op, record.value["after"]["id"]) for record in snapshot] == [("r", 1), ("r", 2), ("r", 3)]
    assert all(record.value["before"] is None for record in snapshot)
    assert all(
        record.value["source"]["snapshot"]
        in {"first", "true", "last", "first_in_data_collection", "last_in_data_collection"}
        for record in snapshot
    )
    execute(mysql_connect(), f"INSERT INTO {table} VALUES (4, 'four', NULL, 4.0)")
    streamed = events.read_until(lambda records: len(records) >= 4, timeout=CAPTURE_BOUND_S)[3]
    assert (streamed.op, streamed.value["after"]["id"], streamed.value["source"]["snapshot"]) == ("c", 4, "false")


def test_rows_written_while_the_connector_is_stopped_arrive_after_it_resumes(
    mysql_connect, mysql_table, test_connector, connect_client, lab_connector, kafka_endpoint, topic_reader
):
    table = mysql_table("stopped", PRODUCT_COLUMNS)
    connector = test_connector([table])
    connection = mysql_connect()
    execute(connection, f"INSERT INTO {table} VALUES (1, 'running', NULL, 0)")
    topic = lab_connector.topic(table, connector.prefix)
    wait_until(lambda: topic in topics(kafka_endpoint), timeout=CAPTURE_BOUND_S, what=f"the topic {topic}")
    events = topic_reader(topic)
    events.read_until(lambda records: len(records) >= 1, timeout=CAPTURE_BOUND_S)
    connect_client.stop(connector.name)
    connect_client.wait_for(connector.name, "STOPPED", timeout=30)
    for i in range(2, 6):
        execute(connection, f"INSERT INTO {table} VALUES ({i}, 'while stopped', NULL, 0)")
    assert events.poll(1.0) == [], "a stopped connector wrote events"
    connect_client.resume(connector.name)
    connect_client.wait_for(connector.name, "RUNNING", timeout=60)
    records = events.read_until(lambda records: len(records) >= 5, timeout=CAPTURE_BOUND_S)
    assert [record.value["after"]["id"] for record in records] == [1, 2, 3, 4, 5], "none lost, none repeated"
    assert events.poll(1.0) == []


def test_bad_connector_configuration_fails_naming_it_and_leaves_the_lab_as_it_was(
    mysql_table, connect_client, lab_connector
):
    table = mysql_table("badconfig", PRODUCT_COLUMNS)
    lab_config_before = connect_client.config(lab_connector.name)
    name, wrong = lab_connector.for_test([table], **{"database.password": "not-the-password"})
    refused = connect_client.validate(dict(wrong, name=name))
    assert any("Access denied for user" in line for line in refused), refused
    # Connect validates before it stores: the connector is refused with Debezium's own words, and not created.
    try:
        with pytest.raises(ConnectError, match=r"HTTP 400.*Access denied for user"):
            connect_client.put(name, wrong)
        assert name not in connect_client.connectors()
    finally:
        connect_client.delete(name)
    assert connect_client.states(lab_connector.name) == ("RUNNING", ["RUNNING"])
    assert connect_client.config(lab_connector.name) == lab_config_before
