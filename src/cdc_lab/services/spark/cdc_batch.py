"""What the streaming job does with each micro-batch of Debezium's change events: apply them to a Delta table.

This module runs inside the Spark Connect server (its Python, the client's minor version), where cdc_lab is not
installed: the job pickles it by value, so it imports nothing but pyspark and the standard library.

Each batch holds Kafka records (partition, offset, key and value as JSON strings, Debezium's JsonConverter without
schemas). Per primary key only the batch's last event counts (a topic's events of one key are in one partition, in
commit order). Snapshot reads (``op=r``) and creates are inserts, updates upsert, deletes (``op=d``) delete;
tombstones carry nothing and are skipped. Column types are inferred from the events' JSON (``schema_of_variant_agg``);
a column the table lacks is added first (schema evolution), and a column the table has keeps its type. The MERGE
carries Delta's idempotent-write settings (app id, batch id), so a batch run again after a failure commits nothing
twice.
"""

from __future__ import annotations

import os
from typing import Any

OP_COLUMN = "__cdc_op"
TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def sql_type(variant_type: str) -> str:
    """Spark SQL's name for a type schema_of_variant_agg reports (OBJECT<...> is a STRUCT<...>)."""
    return variant_type.replace("OBJECT<", "STRUCT<")


def json_path(name: str) -> str:
    """A variant path to a top-level field, as a SQL string literal."""
    if any(char in name for char in "'\"\\"):
        raise ValueError(f"column {name!r}: the job takes no quote or backslash in a column's name")
    return f"'$[\"{name}\"]'"


def table_columns(spark: Any, path: str) -> dict[str, str] | None:
    """The Delta table's columns and types, or None when there is no table at ``path`` yet (this runs on the
    driver, which has the Delta volume mounted)."""
    if not os.path.isdir(os.path.join(path, "_delta_log")):
        return None
    fields = spark.read.format("delta").load(path).schema.fields
    return {field.name: field.dataType.simpleString() for field in fields}


def object_fields(object_type: str) -> dict[str, str]:
    """The top-level fields of a type schema_of_variant_agg reports, ``OBJECT<a: BIGINT, b: OBJECT<c: STRING>>``,
    in its order; VOID (every value null) where no value had a type."""
    if not object_type.startswith("OBJECT<") or not object_type.endswith(">"):
        return {}
    body = object_type[len("OBJECT<") : -1]
    fields: dict[str, str] = {}
    depth, start, in_name = 0, 0, False
    for index, char in enumerate(body + ","):
        if char == "`":
            in_name = not in_name
        elif in_name:
            continue
        elif char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        elif char == "," and depth == 0:
            name, _, kind = body[start:index].strip().partition(": ")
            fields[name.strip("`").replace("``", "`")] = kind.strip()
            start = index + 1
    return fields


def apply_changes(settings: dict[str, Any], batch: Any, batch_id: int) -> None:
    """Apply one micro-batch of Debezium events to the Delta table at ``settings['path']``."""
    spark = batch.sparkSession
    view = f"cdc_batch_{settings['view']}_{batch_id}"
    batch.where("value IS NOT NULL").selectExpr(
        "partition",
        "offset",
        "parse_json(key) AS k",
        "variant_get(parse_json(value), '$.op', 'string') AS op",
        "CASE WHEN variant_get(parse_json(value), '$.op', 'string') = 'd'"
        " THEN variant_get(parse_json(value), '$.before', 'variant')"
        " ELSE variant_get(parse_json(value), '$.after', 'variant') END AS row",
        # The columns in the table's order (a variant object keeps its fields sorted by name).
        "json_object_keys(CASE WHEN variant_get(parse_json(value), '$.op', 'string') = 'd'"
        " THEN get_json_object(value, '$.before') ELSE get_json_object(value, '$.after') END) AS names",
    ).createOrReplaceTempView(view)
    try:
        _apply(spark, settings, view, batch_id)
    finally:
        spark.catalog.dropTempView(view)


def _apply(spark: Any, settings: dict[str, Any], view: str, batch_id: int) -> None:
    target = f"delta.{quote(settings['path'])}"
    # One pass over the batch: the columns' types, the key's fields, the newest event's column order.
    shape = spark.sql(
        "SELECT schema_of_variant_agg(row) AS row_type, schema_of_variant_agg(k) AS key_type,"
        f" max_by(names, struct(partition, offset)) AS names FROM {view}"
    ).first()
    inferred = object_fields(shape["row_type"] or "") if shape else {}
    if not inferred:
        return  # only tombstones
    order = list(shape["names"] or [])
    ranked = sorted(inferred, key=lambda name: (name not in order, order.index(name) if name in order else 0, name))
    keys = list(settings.get("keys") or []) or list(object_fields(shape["key_type"] or ""))
    missing = [key for key in keys if key not in inferred]
    if not keys or missing:
        raise ValueError(
            f"the events of {settings['topic']} name no primary key ({keys or 'no key fields'}; columns"
            f" {ranked}): a table without a primary key needs `keys` set to columns that identify a row"
        )
    existing = table_columns(spark, settings["path"])
    # The table's columns keep their order and types; new ones follow in the events' order.
    columns = {name: kind for name, kind in (existing or {}).items() if name in inferred}
    for name in ranked:
        if name not in columns and inferred[name] != "VOID":  # all null here: typed by a later batch with a value
            columns[name] = sql_type(inferred[name])
    definitions = ", ".join(f"{quote(name)} {kind}" for name, kind in columns.items() if name not in (existing or {}))
    if existing is None:
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {target} ({definitions}) USING DELTA"
            " TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')"
        )
    elif definitions:
        spark.sql(f"ALTER TABLE {target} ADD COLUMNS ({definitions})")
    latest = f"{view}_latest"
    values = ", ".join(
        f"variant_get(row, {json_path(name)}, '{kind}') AS {quote(name)}" for name, kind in columns.items()
    )
    key_values = ", ".join(f"variant_get(row, {json_path(name)}, '{columns[name]}')" for name in keys)
    spark.sql(
        f"SELECT {values}, op AS {OP_COLUMN} FROM (SELECT *, row_number() OVER (PARTITION BY {key_values}"
        f" ORDER BY partition DESC, offset DESC) AS newest FROM {view}) WHERE newest = 1"
    ).createOrReplaceTempView(latest)
    on = " AND ".join(f"t.{quote(name)} <=> s.{quote(name)}" for name in keys)
    names = [quote(name) for name in columns]
    merge = (
        f"MERGE INTO {target} t USING {latest} s ON {on}"
        f" WHEN MATCHED AND s.{OP_COLUMN} = 'd' THEN DELETE"
        " WHEN MATCHED THEN UPDATE SET " + ", ".join(f"t.{name} = s.{name}" for name in names) + ""
        f" WHEN NOT MATCHED AND s.{OP_COLUMN} <> 'd' THEN INSERT ({', '.join(names)})"
        f" VALUES ({', '.join('s.' + name for name in names)})"
    )
    spark.conf.set(TXN_APP_ID, settings["app_id"])
    spark.conf.set(TXN_VERSION, str(batch_id))
    try:
        spark.sql(merge).collect()
    finally:
        spark.conf.unset(TXN_APP_ID)
        spark.conf.unset(TXN_VERSION)
        spark.catalog.dropTempView(latest)
