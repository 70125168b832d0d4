"""Comparing a MySQL table with the Delta table the streaming job keeps from it: the rows as each side reads them
(MySQL, delta-rs on the host, Spark), and a bounded wait until they are equal."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from cdc_lab.core.wait import WaitTimeout

Row = dict[str, Any]

# The sample table of the tests and the bench: a key, text, an integer and a decimal that may be NULL.
ITEM_COLUMNS = "id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, qty INT NOT NULL, price DECIMAL(10,2)"


def insert_items(connection: Any, table: str, ids: Any) -> None:
    """Insert sample rows (id, item-<id>, qty <id>, price <id>.25) in one statement; committed when the connection
    is in autocommit."""
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO `{table}` (id, name, qty, price) VALUES (%s, %s, %s, %s)",
            [(i, f"item-{i}", i, f"{i}.25") for i in ids],
        )


def normalise(row: Row) -> Row:
    """A row as the Delta table holds it: decimals arrive as strings (the connector's decimal.handling.mode)."""
    return {name: str(value) if isinstance(value, Decimal) else value for name, value in row.items()}


def ordered(rows: list[Row], key: str) -> list[Row]:
    return sorted((normalise(row) for row in rows), key=lambda row: row[key])


def mysql_rows(connection: Any, table: str, key: str = "id") -> list[Row]:
    """The table's rows in MySQL, by key."""
    connection.commit()  # a fresh snapshot on a connection that is not in autocommit
    with connection.cursor(dictionary=True) as cursor:
        cursor.execute(f"SELECT * FROM `{table}`")
        return ordered(cursor.fetchall(), key)


def delta_rs_rows(path: Path, key: str = "id") -> list[Row] | None:
    """The Delta table's rows read by delta-rs on the host, by key; None while there is no table yet."""
    try:
        return ordered(DeltaTable(str(path)).to_pyarrow_table().to_pylist(), key)
    except TableNotFoundError:
        return None


def spark_rows(spark: Any, path: str, key: str = "id") -> list[Row]:
    """The Delta table's rows read by Spark (through Spark Connect), by key."""
    return ordered([row.asDict() for row in spark.read.format("delta").load(path).collect()], key)


def difference(expected: list[Row], actual: list[Row] | None, key: str = "id") -> str:
    """What differs, shortly: counts, keys missing or extra, and the first row that differs."""
    if actual is None:
        return "no Delta table yet"
    mine = {row[key]: row for row in expected}
    theirs = {row[key]: row for row in actual}
    missing = sorted(set(mine) - set(theirs))
    extra = sorted(set(theirs) - set(mine))
    changed = [k for k in sorted(set(mine) & set(theirs)) if mine[k] != theirs[k]]
    parts = [f"MySQL {len(expected)} rows, Delta {len(actual)}"]
    if missing:
        parts.append(f"missing {missing[:10]}")
    if extra:
        parts.append(f"extra {extra[:10]}")
    if changed:
        parts.append(f"differs at {changed[0]}: MySQL {mine[changed[0]]} Delta {theirs[changed[0]]}")
    return "; ".join(parts)


def wait_until_mirrored(
    connection: Any, table: str, path: Path, timeout: float, key: str = "id", interval: float = 0.2
) -> list[Row]:
    """Wait (bounded) until the Delta table at ``path`` (read by delta-rs) holds exactly MySQL's rows; return them.
    On timeout, say what differs."""
    deadline = time.monotonic() + timeout
    while True:
        expected = mysql_rows(connection, table, key)
        actual = delta_rs_rows(path, key)
        if actual == expected:
            return expected
        if time.monotonic() >= deadline:
            raise WaitTimeout(
                f"the Delta table {path.name} did not mirror MySQL's {table} within {timeout:g} s: "
                + difference(expected, actual, key)
            )
        time.sleep(interval)
