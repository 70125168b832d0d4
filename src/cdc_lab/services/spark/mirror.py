"""Comparing a MySQL table with the Delta table the streaming job keeps from it: the rows as each side reads them
(MySQL, delta-rs on the host, Spark), compared as typed values, and a bounded wait until they are equal.

MySQL's rows are what mysql-connector-python returns (int, Decimal, str, datetime, bytes, ...); the Delta table's
are what Arrow gives for its columns (delta-rs directly, Spark through ``DataFrame.toArrow``), so both engines
return the same Python types. A table whose columns have no Python value equal to MySQL's (TIME as microseconds,
BIT as bytes, ...) passes ``expected``, which says what each MySQL row is in Delta (see tests/lab/test_cdc_types.py);
nothing is turned into strings on either side.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from cdc_lab.core.wait import WaitTimeout, wait_until

Row = dict[str, Any]
RECHECK_S = 2.0

# The sample table of the tests and the bench: a key, text, an integer and a decimal that may be NULL.
ITEM_COLUMNS = "id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, qty INT NOT NULL, price DECIMAL(10,2)"


class MirrorFailed(AssertionError):
    """The stream could not apply the table's events: its own error."""


def insert_items(connection: Any, table: str, ids: Any) -> None:
    """Insert sample rows (id, item-<id>, qty <id>, price <id>.25) in one statement; committed when the connection
    is in autocommit."""
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO `{table}` (id, name, qty, price) VALUES (%s, %s, %s, %s)",
            [(i, f"item-{i}", i, f"{i}.25") for i in ids],
        )


def delta_version(path: Path) -> int | None:
    """The table's latest version, from its log's file names alone (None while there is no table): a cheap way to
    tell that nothing changed since the last look."""
    try:
        names = [entry.name for entry in (path / "_delta_log").iterdir()]
    except OSError:
        return None
    versions = [int(name[:20]) for name in names if name.endswith(".json") and name[:20].isdigit()]
    return max(versions) if versions else None


def ordered(rows: list[Row], key: str) -> list[Row]:
    return sorted(rows, key=lambda row: row[key])


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
    """The Delta table's rows read by Spark (through Spark Connect, as Arrow), by key."""
    return ordered(spark.read.format("delta").load(path).toArrow().to_pylist(), key)


def difference(expected: list[Row], actual: list[Row] | None, key: str = "id") -> str:
    """What differs, shortly: counts, keys missing or extra, and the first row that differs (its differing
    columns)."""
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
        first = changed[0]
        columns = sorted(set(mine[first]) | set(theirs[first]))
        diffs = {c: (mine[first].get(c, "<no column>"), theirs[first].get(c, "<no column>")) for c in columns}
        diffs = {c: pair for c, pair in diffs.items() if pair[0] != pair[1]}
        parts.append(f"differs at {first} (column: (MySQL, Delta)): {diffs}")
    return "; ".join(parts)


def wait_until_mirrored(
    connection: Any,
    table: str,
    path: Path,
    timeout: float,
    key: str = "id",
    *,
    expected: Callable[[Row], Row] | None = None,
    failure: Callable[[], str | None] | None = None,
    explain: Callable[[], str] | None = None,
) -> list[Row]:
    """Wait (bounded) until the Delta table at ``path`` (read by delta-rs) holds exactly MySQL's rows (each as
    ``expected`` says it is in Delta); return them as Delta holds them. On timeout, say what differs (and what
    ``explain`` says of the stream); when ``failure`` reports the stream's error for the table, fail with it at
    once."""

    # MySQL and Delta are read again when the table has a new version, or every RECHECK_S (MySQL may change
    # without the stream having anything to apply yet); otherwise the last comparison stands.
    seen: dict[str, Any] = {"version": -2, "at": 0.0, "why": "not compared yet"}

    def mirrored() -> list[Row] | str:
        error = failure() if failure is not None else None
        if error:
            return error
        version = delta_version(path)
        if version == seen["version"] and time.monotonic() - seen["at"] < RECHECK_S:
            raise AssertionError(seen["why"])
        seen.update(version=version, at=time.monotonic())
        rows = mysql_rows(connection, table, key)
        if expected is not None:
            rows = [expected(row) for row in rows]
        actual = delta_rs_rows(path, key) if version is not None else None
        if actual != rows:
            seen["why"] = difference(rows, actual, key)
            raise AssertionError(seen["why"])
        return rows or [{}]  # an empty table mirrored is a result too

    try:
        result = wait_until(
            mirrored, timeout=timeout, interval=0.2, what=f"the Delta table {path.name} to mirror {table}"
        )
    except WaitTimeout as exc:
        stream = f"; the stream: {explain()}" if explain is not None else ""
        raise WaitTimeout(
            f"the Delta table {path.name} did not mirror MySQL's {table} within {timeout:g} s: {exc}{stream}"
        ) from None
    if isinstance(result, str):
        raise MirrorFailed(f"the stream failed to apply {table}'s events to {path.name}:\n{result}")
    return [] if result == [{}] else result
