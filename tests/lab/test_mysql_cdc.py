"""MySQL for CDC in the live lab: the server's prerequisites for Debezium (binary log, row format, GTIDs), the CDC
user's exact grants and the spec's table. The capture itself, read from Debezium's events, is in test_cdc.py."""

import pytest

from cdc_lab.core.manifest import role
from cdc_lab.services.mysql.client import connect

pytestmark = [pytest.mark.mysql]

# MariaDB names two of MySQL's privileges differently; both mean the same grant.
PRIVILEGE_ALIASES = {"BINLOG MONITOR": "REPLICATION CLIENT", "REPLICATION REPLICA": "REPLICATION SLAVE"}


def server_variables(connection):
    with connection.cursor() as cursor:
        cursor.execute("SHOW GLOBAL VARIABLES")
        return {name.lower(): value for name, value in cursor.fetchall()}


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
    # MariaDB 11.4+ needs two more for Debezium's MariaDB connector: legacy event positions, uncompressed events.
    expected.update(
        {"gtid_strict_mode": "ON", "binlog_legacy_event_pos": "ON", "log_bin_compress": "OFF"}
        if is_mariadb
        else {"gtid_mode": "ON", "enforce_gtid_consistency": "ON"}
    )
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
