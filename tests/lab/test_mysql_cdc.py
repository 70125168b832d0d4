"""MySQL for CDC in the live lab: the server's prerequisites, and binlog capture of single rows, bulk loads,
mixed, rolled-back and concurrent transactions, schema changes and restarts from a saved position.

Each test works on its own table (the mysql_table fixture drops it afterwards, pass or fail) and reads the binlog
filtered to that table, so parallel tests never see each other's changes.
"""

import threading
import time

import pytest

from cdc_lab.core.manifest import role
from cdc_lab.services.mysql.binlog import BinlogCapture
from cdc_lab.services.mysql.client import connect
from tests.conftest import run_concurrently

pytestmark = [pytest.mark.mysql, pytest.mark.cdc]

CAPTURE_BOUND_S = 10  # every committed change is captured within this many seconds
PRODUCT_COLUMNS = "id INT PRIMARY KEY, name VARCHAR(255) NOT NULL, description VARCHAR(512), weight FLOAT"
# MariaDB names two of MySQL's privileges differently; both mean the same grant.
PRIVILEGE_ALIASES = {"BINLOG MONITOR": "REPLICATION CLIENT", "REPLICATION REPLICA": "REPLICATION SLAVE"}


def server_variables(connection):
    with connection.cursor() as cursor:
        cursor.execute("SHOW GLOBAL VARIABLES")
        return {name.lower(): value for name, value in cursor.fetchall()}


def execute(connection, *statements):
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def test_server_meets_the_cdc_prerequisites(mysql_connect):
    mysql_server = role("mysql")["server"]
    variables = server_variables(mysql_connect())
    is_mariadb = "mariadb" in variables["version"].lower()
    expected = {
        "log_bin": "ON",
        "binlog_format": "ROW",
        "binlog_row_image": "FULL",
        "server_id": str(mysql_server["server_id"]),
        "binlog_expire_logs_seconds": str(mysql_server["binlog_expire_seconds"]),
    }
    expected.update({"gtid_strict_mode": "ON"} if is_mariadb else {"gtid_mode": "ON", "enforce_gtid_consistency": "ON"})
    wrong = {name: variables.get(name) for name, value in expected.items() if variables.get(name) != value}
    assert not wrong, f"CDC prerequisites not met (variable: actual value): {wrong}; expected {expected}"


def test_cdc_user_has_exactly_its_grants(mysql_endpoint, mysql_cdc_account):
    connection = connect(mysql_endpoint, mysql_cdc_account, database=None)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW GRANTS")
            grants = [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()
    global_grants = [g for g in grants if " ON *.* TO " in g]
    assert len(global_grants) == 1, f"{len(grants)} grant lines for {mysql_cdc_account.user}"
    privileges = global_grants[0].split("GRANT ", 1)[1].split(" ON *.*", 1)[0].split(", ")
    normalised = sorted(PRIVILEGE_ALIASES.get(p, p) for p in privileges)
    assert normalised == sorted(["SELECT", "RELOAD", "SHOW DATABASES", "REPLICATION SLAVE", "REPLICATION CLIENT"])
    assert all(" ON *.* TO " in g or "USAGE" in g for g in grants), "the CDC user has grants beyond its global ones"


def test_products_table_of_the_spec_exists(mysql_connect):
    with mysql_connect().cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name = 'products' ORDER BY ordinal_position"
        )
        columns = cursor.fetchall()
    assert [(name, kind) for name, kind, _ in columns] == [
        ("id", "int"),
        ("name", "varchar"),
        ("description", "varchar"),
        ("weight", "float"),
    ]


def test_insert_yields_one_create_event_with_the_full_after_image(
    mysql_connect, mysql_table, binlog_capture, mysql_settings
):
    table = mysql_table("insert", PRODUCT_COLUMNS)
    capture = binlog_capture(table)
    execute(mysql_connect(), f"INSERT INTO {table} VALUES (101, 'scooter', 'Small 2-wheel scooter', 3.14)")
    (event,) = capture.read_until(lambda events: len(events) >= 1, timeout=CAPTURE_BOUND_S)
    assert event.op == "c"
    assert event.before is None
    assert event.after == {
        "id": 101,
        "name": "scooter",
        "description": "Small 2-wheel scooter",
        "weight": pytest.approx(3.14),
    }
    assert (event.source["db"], event.source["table"]) == (mysql_settings.database, table)
    assert event.source["file"].startswith("mysql-bin.")
    assert event.source["pos"] > 0
    assert event.source["gtid"]
    assert event.transaction["id"] == event.source["gtid"]
    assert capture.read_available() == []


def test_update_yields_before_and_after_images(mysql_connect, mysql_table, binlog_capture):
    table = mysql_table("update", PRODUCT_COLUMNS)
    connection = mysql_connect()
    execute(connection, f"INSERT INTO {table} VALUES (102, 'car battery', '12V', 8.1)")
    capture = binlog_capture(table)
    execute(connection, f"UPDATE {table} SET weight = 5.5, description = '12V, light' WHERE id = 102")
    (event,) = capture.read_until(lambda events: len(events) >= 1, timeout=CAPTURE_BOUND_S)
    assert event.op == "u"
    assert event.before == {"id": 102, "name": "car battery", "description": "12V", "weight": pytest.approx(8.1)}
    assert event.after == {"id": 102, "name": "car battery", "description": "12V, light", "weight": pytest.approx(5.5)}


def test_delete_yields_the_before_image(mysql_connect, mysql_table, binlog_capture):
    table = mysql_table("delete", PRODUCT_COLUMNS)
    connection = mysql_connect()
    execute(connection, f"INSERT INTO {table} VALUES (103, 'hammer', '16oz', 0.5)")
    capture = binlog_capture(table)
    execute(connection, f"DELETE FROM {table} WHERE id = 103")
    (event,) = capture.read_until(lambda events: len(events) >= 1, timeout=CAPTURE_BOUND_S)
    assert event.op == "d"
    assert event.before == {"id": 103, "name": "hammer", "description": "16oz", "weight": pytest.approx(0.5)}
    assert event.after is None


def test_bulk_insert_of_150_rows_yields_exactly_150_events(mysql_connect, mysql_table, binlog_capture):
    table = mysql_table("bulk", PRODUCT_COLUMNS)
    capture = binlog_capture(table)
    connection = mysql_connect(autocommit=False)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (id, name, description, weight) VALUES (%s, %s, %s, %s)",
            [(1000 + i, f"product-{i}", None, float(i)) for i in range(150)],
        )
    connection.commit()
    committed = time.monotonic()
    events = capture.read_until(lambda events: len(events) >= 150, timeout=CAPTURE_BOUND_S)
    captured_after = time.monotonic() - committed
    assert len(events) == 150
    assert all(event.op == "c" for event in events)
    ids = [event.after["id"] for event in events]
    assert len(set(ids)) == 150, "duplicated events"
    assert sorted(ids) == [1000 + i for i in range(150)]
    assert captured_after < CAPTURE_BOUND_S
    assert capture.read_available() == []


def test_mixed_transaction_keeps_commit_order_under_one_transaction_id(mysql_connect, mysql_table, binlog_capture):
    table = mysql_table("mixed", PRODUCT_COLUMNS)
    setup = mysql_connect()
    execute(setup, f"INSERT INTO {table} VALUES (1, 'a', NULL, 1.0), (2, 'b', NULL, 2.0)")
    capture = binlog_capture(table)
    connection = mysql_connect(autocommit=False)
    execute(
        connection,
        f"INSERT INTO {table} VALUES (3, 'c', NULL, 3.0)",
        f"UPDATE {table} SET name = 'a2' WHERE id = 1",
        f"DELETE FROM {table} WHERE id = 2",
        f"UPDATE {table} SET weight = 30.0 WHERE id = 3",
    )
    connection.commit()
    events = capture.read_until(lambda events: len(events) >= 4, timeout=CAPTURE_BOUND_S)
    assert [(e.op, (e.after or e.before)["id"]) for e in events] == [("c", 3), ("u", 1), ("d", 2), ("u", 3)]
    assert len({e.transaction["id"] for e in events}) == 1
    assert [e.transaction["total_order"] for e in events] == [1, 2, 3, 4]
    with setup.cursor() as cursor:
        cursor.execute(f"SELECT id, name, weight FROM {table} ORDER BY id")
        final = cursor.fetchall()
    assert final == [(1, "a2", 1.0), (3, "c", 30.0)]
    # Replaying the change events over the state before the transaction reproduces the table.
    replayed = {1: {"id": 1, "name": "a", "weight": 1.0}, 2: {"id": 2, "name": "b", "weight": 2.0}}
    for event in events:
        if event.op == "d":
            replayed.pop(event.before["id"])
        else:
            replayed[event.after["id"]] = event.after
    assert sorted((row["id"], row["name"], row["weight"]) for row in replayed.values()) == final


def test_rolled_back_transaction_yields_nothing(mysql_connect, mysql_table, binlog_capture):
    table = mysql_table("rollback", PRODUCT_COLUMNS)
    capture = binlog_capture(table)
    connection = mysql_connect(autocommit=False)
    execute(connection, f"INSERT INTO {table} VALUES (1, 'ghost', NULL, 0)", f"UPDATE {table} SET name = 'x'")
    connection.rollback()
    execute(mysql_connect(), f"INSERT INTO {table} VALUES (2, 'marker', NULL, 0)")
    events = capture.read_until(lambda events: len(events) >= 1, timeout=CAPTURE_BOUND_S)
    assert [(e.op, e.after["name"]) for e in events] == [("c", "marker")]


def test_interleaved_transactions_are_contiguous_and_in_commit_order(mysql_connect, mysql_table, binlog_capture):
    table = mysql_table("interleave", PRODUCT_COLUMNS)
    capture = binlog_capture(table)
    first, second = mysql_connect(autocommit=False), mysql_connect(autocommit=False)
    # Statements alternate between the two open transactions; the second commits first.
    for i in range(3):
        execute(first, f"INSERT INTO {table} VALUES ({10 + i}, 'first', NULL, 0)")
        execute(second, f"INSERT INTO {table} VALUES ({20 + i}, 'second', NULL, 0)")
    second.commit()
    first.commit()
    events = capture.read_until(lambda events: len(events) >= 6, timeout=CAPTURE_BOUND_S)
    assert [e.after["name"] for e in events] == ["second"] * 3 + ["first"] * 3
    assert len({e.transaction["id"] for e in events[:3]}) == 1
    assert len({e.transaction["id"] for e in events[3:]}) == 1
    assert events[0].transaction["id"] != events[3].transaction["id"]


def test_concurrent_writers_each_keep_their_transaction_together(mysql_connect, mysql_table, binlog_capture):
    table = mysql_table("concurrent", PRODUCT_COLUMNS)
    capture = binlog_capture(table)
    writers = 4
    connections = [mysql_connect(autocommit=False) for _ in range(writers)]
    start = threading.Barrier(writers)

    def write(index):
        start.wait(timeout=10)
        for row in range(5):
            execute(connections[index], f"INSERT INTO {table} VALUES ({index * 100 + row}, 'w{index}', NULL, 0)")
        connections[index].commit()

    run_concurrently(write, writers, timeout=30)
    events = capture.read_until(lambda events: len(events) >= writers * 5, timeout=CAPTURE_BOUND_S)
    runs = [events[i : i + 5] for i in range(0, len(events), 5)]
    for run in runs:
        assert len({e.after["name"] for e in run}) == 1, "a transaction's events were interleaved with another's"
        assert len({e.transaction["id"] for e in run}) == 1
    assert sorted(run[0].after["name"] for run in runs) == [f"w{i}" for i in range(writers)]


def test_events_after_add_column_carry_the_new_column(mysql_connect, mysql_table, binlog_capture):
    table = mysql_table("alter", PRODUCT_COLUMNS)
    capture = binlog_capture(table)
    connection = mysql_connect()
    execute(
        connection,
        f"INSERT INTO {table} VALUES (1, 'before', NULL, 1.0)",
        f"ALTER TABLE {table} ADD COLUMN sku VARCHAR(32) NULL",
        f"INSERT INTO {table} VALUES (2, 'after', NULL, 2.0, 'SKU-2')",
        f"UPDATE {table} SET sku = 'SKU-1' WHERE id = 1",
    )
    events = capture.read_until(lambda events: len(events) >= 3, timeout=CAPTURE_BOUND_S)
    assert "sku" not in events[0].after
    assert events[1].after["sku"] == "SKU-2"
    assert events[2].before["sku"] is None
    assert events[2].after["sku"] == "SKU-1"


def test_reader_restarted_from_saved_position_neither_loses_nor_repeats(
    mysql_endpoint, mysql_cdc_account, mysql_connect, mysql_table, binlog_capture, mysql_settings
):
    table = mysql_table("restart", PRODUCT_COLUMNS)
    capture = binlog_capture(table)
    connection = mysql_connect()
    for i in range(5):
        execute(connection, f"INSERT INTO {table} VALUES ({i}, 'batch1', NULL, 0)")
    first = capture.read_until(lambda events: len(events) >= 5, timeout=CAPTURE_BOUND_S)
    saved = capture.position
    for i in range(5, 10):
        execute(connection, f"INSERT INTO {table} VALUES ({i}, 'batch2', NULL, 0)")
    restarted = BinlogCapture(
        mysql_endpoint, mysql_cdc_account, saved, tables=[table], schemas=[mysql_settings.database]
    )
    second = restarted.read_until(lambda events: len(events) >= 5, timeout=CAPTURE_BOUND_S)
    assert [e.after["id"] for e in first] == list(range(5))
    assert [e.after["id"] for e in second] == list(range(5, 10))
    assert restarted.read_available() == []
