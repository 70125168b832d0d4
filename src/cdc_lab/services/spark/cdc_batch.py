"""What the streaming job does with each micro-batch of Debezium's change events: apply them to Delta tables, one
table per topic, with the columns and types of the events' own schema.

This module runs inside the Spark Connect server (its Python, the client's minor version), where cdc_lab is not
installed: the job pickles it (and debezium_types, the one type mapping) by value, so it imports nothing but
pyspark and the standard library.

Each batch holds Kafka records (topic, partition, offset, key and value as JSON strings: Debezium's JsonConverter
with schemas, so every event carries its schema). Per topic:

- The batch's schema versions are found in one aggregate (normally one version; two or more around a DDL change).
- The Delta table is made from the newest schema, every column with its Delta type (debezium_types), NULL so far or
  not, and the Change Data Feed on; the key columns (the Kafka key's fields) are kept as a table property.
- A schema change of the table: a new column is added (``ALTER TABLE ADD COLUMNS``, or a rewrite when it has a
  default that the rows already there must take); a dropped, renamed (same position, new name) or retyped column
  rewrites the table (``CREATE OR REPLACE TABLE ... AS SELECT``, a new version). The table then never needs a Delta
  reader feature that delta-rs lacks (column mapping, type widening).
- Per key only the batch's last event counts (a key's events are in one partition, in commit order): snapshot
  reads (``op=r``) and creates insert, updates upsert, deletes (``op=d``) delete, tombstones are skipped, and a
  TRUNCATE (``op=t``) removes every row its events do not bring back. All of it is one MERGE, carrying Delta's
  idempotent-write settings (app id, batch id), so a batch run again after a failure commits nothing twice.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

# Functions, not the module: a module object would be pickled with its loader (under pytest, an object that holds
# the capture's files), and functions of a module pickled by value travel with the globals they use.
from cdc_lab.services.kafka_connect.debezium_types import delta_type, quote, row_fields, to_delta, wire_type

OP = "__cdc_op"
POSITION = "__cdc_pos"
RANK = "__cdc_rank"
SCHEMA_ID = "__cdc_schema"
TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"
# Delta copies a MERGE's source (two Spark jobs) before it reads it twice, unless the source is Delta scans alone: a
# guard against a source that gives other rows the second time. This one is the batch, persisted by apply_changes
# (one Kafka read per batch, not one per table), and each key's newest event by (partition, offset), unique: the
# same rows every time. Delta then also refuses a cached source, a guard for cached Delta tables (a cache does not
# pin their version); this source reads no Delta table. Set in the stream's own session.
MERGE_SOURCE_SETTINGS = {
    "spark.databricks.delta.merge.materializeSource": "none",
    "spark.databricks.delta.merge.failSourceCachedAfterMaterialization": "false",
}
# The table property that keeps the table's key columns (a batch of TRUNCATE events alone carries no key).
KEYS_PROPERTY = "cdc.keys"
CDF_PROPERTY = "delta.enableChangeDataFeed"
# Every table supports timestamp_ntz from its creation (DATETIME's type): Delta refuses to add such a column to a
# table made without the feature. delta-rs reads tables with it.
NTZ_FEATURE = "delta.feature.timestampNtz"

Field = dict[str, Any]


def sql_string(text: str) -> str:
    """A Spark SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def target_path(settings: dict[str, Any], topic: str) -> str:
    """Where a topic's table is: the stream's one table, or <root>/<topic> for a stream over many topics."""
    return str(settings["path"]) if settings.get("path") else f"{settings['root'].rstrip('/')}/{topic}"


@dataclass(frozen=True)
class Version:
    """One schema of a topic's events in the batch."""

    schema_id: int
    fields: list[Field]
    newest: tuple[int, int]


@dataclass
class TopicBatch:
    """What the batch holds for one topic: its schema versions (oldest first), its key's fields, the binlog
    position of its last TRUNCATE."""

    topic: str
    versions: list[Version] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    truncated: tuple[str, int] | None = None

    @property
    def fields(self) -> list[Field]:
        return self.versions[-1].fields


def renamed(old: list[tuple[str, str]], new: list[Field]) -> dict[str, str]:
    """Columns renamed between two schemas: new name -> old name, where the column count stayed and a column at the
    same position has a name the other schema lacks (MySQL's RENAME COLUMN and CHANGE COLUMN keep the position; a
    CHANGE COLUMN may retype it too). Any other change of names is a column dropped and another added."""
    if len(old) != len(new):
        return {}
    old_names = {name for name, _ in old}
    new_names = {f["field"] for f in new}
    found = {}
    for (old_name, _), new_field in zip(old, new, strict=True):
        new_name = new_field["field"]
        if old_name != new_name and old_name not in new_names and new_name not in old_names:
            found[new_name] = old_name
    return found


def sources(old: list[tuple[str, str]], new: list[Field]) -> dict[str, str | None]:
    """For each new column, the old column its values come from (same name, or renamed), or None (added)."""
    names = {name for name, _ in old}
    moved = renamed(old, new)
    return {f["field"]: f["field"] if f["field"] in names else moved.get(f["field"]) for f in new}


def default_sql(column: Field) -> str:
    """The column's default (its schema's, as Debezium read it from the table's DDL) as a Delta value, or NULL."""
    kind = delta_type(column)
    if column.get("default") is None:
        return f"CAST(NULL AS {kind})"
    literal = sql_string(json.dumps({"v": column["default"]}))
    wire = sql_string(f"struct<v:{wire_type(column)}>")
    return f"CAST({to_delta(f'from_json({literal}, {wire}).v', column)} AS {kind})"


def columns_sql(fields: list[Field]) -> str:
    return ", ".join(f"{quote(f['field'])} {delta_type(f)}" for f in fields)


def properties_sql(keys: list[str]) -> str:
    keys_value = sql_string(json.dumps(keys))
    return (
        f"TBLPROPERTIES ({sql_string(CDF_PROPERTY)} = 'true', {sql_string(NTZ_FEATURE)} = 'supported',"
        f" {sql_string(KEYS_PROPERTY)} = {keys_value})"
    )


def first_sql(target: str, source: str, names: list[str], keys: list[str]) -> str:
    """A new table made from its first batch in one commit: CREATE TABLE ... AS SELECT of each key's newest event
    that is not a delete (instead of a CREATE TABLE and a MERGE; it carries the batch's idempotent-write settings as
    a MERGE does, so a batch run again finds it done)."""
    columns = ", ".join(quote(name) for name in names)
    return (
        f"CREATE TABLE {target} USING DELTA {properties_sql(keys)} AS SELECT {columns} FROM {source} WHERE {OP} <> 'd'"
    )


def rewrite_sql(target: str, keys: list[str], select: str) -> str:
    """The table rewritten in a new schema (CREATE OR REPLACE TABLE ... AS SELECT: one new version)."""
    return f"CREATE OR REPLACE TABLE {target} USING DELTA {properties_sql(keys)} AS {select}"


def schema_change(
    target: str, existing: list[tuple[str, str]] | None, fields: list[Field], keys: list[str]
) -> str | None:
    """The statement that gives an existing table the newest schema's columns, or None when it has them (or when
    there is no table yet: its first batch makes it, ``first_sql``)."""
    if existing is None:
        return None
    wanted = [(f["field"], delta_type(f)) for f in fields]
    if wanted == existing:
        return None
    added = fields[len(existing) :]
    if wanted[: len(existing)] == existing and all(f.get("default") is None for f in added):
        return f"ALTER TABLE {target} ADD COLUMNS ({columns_sql(added)})"
    # Anything else (a column dropped, renamed, retyped, added with a default or between others) rewrites the
    # table in the new schema's columns and order.
    origin = sources(existing, fields)
    projection = ", ".join(
        f"CAST({quote(origin[f['field']])} AS {delta_type(f)}) AS {quote(f['field'])}"
        if origin[f["field"]] is not None
        else f"{default_sql(f)} AS {quote(f['field'])}"
        for f in fields
    )
    return rewrite_sql(target, keys, f"SELECT {projection} FROM {target}")


def envelope_wire(fields: list[Field]) -> str:
    row = "struct<" + ",".join(f"{quote(f['field'])}:{wire_type(f)}" for f in fields) + ">"
    return f"struct<payload:struct<before:{row},after:{row},op:string,source:struct<file:string,pos:bigint>>>"


def version_sql(view: str, topic: str, version: Version, newest: list[Field]) -> str:
    """The events of one schema version, each column as the newest schema's Delta column (renamed ones by their new
    name, dropped ones left out, added ones at their default)."""
    origin = sources([(f["field"], delta_type(f)) for f in version.fields], newest)
    by_name = {f["field"]: f for f in version.fields}
    columns = []
    for column in newest:
        source = origin[column["field"]]
        value = to_delta(f"r.{quote(source)}", by_name[source]) if source is not None else default_sql(column)
        columns.append(f"CAST({value} AS {delta_type(column)}) AS {quote(column['field'])}")
    # No filter touches the parsed event: a conjunction may be evaluated in any order, and Spark hoists a shared
    # from_json out of it, so a filter on a parsed field would parse the other topics' events too (FAILFAST: and fail
    # on them). The operation and the binlog position the filters need come from the view, read with JSON paths.
    mine = f"topic = {sql_string(topic)} AND {SCHEMA_ID} = {version.schema_id}"
    parsed = f"from_json(value, {sql_string(envelope_wire(version.fields))}, map('mode', 'FAILFAST')).payload"
    return (
        f"SELECT partition, offset, {OP}, {POSITION}, {', '.join(columns)} FROM ("
        f"SELECT partition, offset, {OP}, {POSITION}, CASE WHEN e.op = 'd' THEN e.before ELSE e.after END AS r FROM ("
        f"SELECT partition, offset, {OP}, {POSITION}, {parsed} AS e FROM {view} WHERE {mine}))"
    )


def latest_sql(view: str, batch: TopicBatch, keys: list[str]) -> str:
    """Each key's newest event after the batch's last TRUNCATE (if any), in the newest schema's columns."""
    union = " UNION ALL ".join(version_sql(view, batch.topic, v, batch.fields) for v in batch.versions)
    after = ""
    if batch.truncated:
        after = (
            f" AND {POSITION} > named_struct('file', {sql_string(batch.truncated[0])}, 'pos', {batch.truncated[1]}L)"
        )
    order = ", ".join(quote(key) for key in keys)
    return (
        f"SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY {order} ORDER BY partition DESC, offset DESC)"
        f" AS {RANK} FROM ({union}) WHERE {OP} <> 't'{after}) WHERE {RANK} = 1"
    )


def merge_sql(target: str, source: str, names: list[str], keys: list[str], truncated: bool) -> str:
    on = " AND ".join(f"t.{quote(key)} <=> s.{quote(key)}" for key in keys)
    quoted = [quote(name) for name in names]
    return (
        f"MERGE INTO {target} t USING {source} s ON {on}"
        f" WHEN MATCHED AND s.{OP} = 'd' THEN DELETE"
        " WHEN MATCHED THEN UPDATE SET " + ", ".join(f"t.{name} = s.{name}" for name in quoted) + ""
        f" WHEN NOT MATCHED AND s.{OP} <> 'd' THEN INSERT ({', '.join(quoted)})"
        f" VALUES ({', '.join('s.' + name for name in quoted)})"
        + (" WHEN NOT MATCHED BY SOURCE THEN DELETE" if truncated else "")
    )


def table_columns(spark: Any, path: str) -> list[tuple[str, str]] | None:
    """The Delta table's columns and types, or None when there is no table at ``path`` yet (this runs on the
    driver, which has the Delta volume mounted)."""
    if not os.path.isdir(os.path.join(path, "_delta_log")):
        return None
    return [(f.name, f.dataType.simpleString()) for f in spark.read.format("delta").load(path).schema.fields]


def table_keys(spark: Any, target: str) -> list[str]:
    rows = spark.sql(f"SHOW TBLPROPERTIES {target} ({sql_string(KEYS_PROPERTY)})").collect()
    value = rows[0]["value"] if rows else ""
    return list(json.loads(value)) if value.startswith("[") else []


def batch_shapes(spark: Any, view: str) -> dict[str, TopicBatch]:
    """One aggregate over the batch: per topic its schema versions, key fields and last TRUNCATE position."""
    rows = spark.sql(
        f"SELECT topic, {SCHEMA_ID} AS id, first(get_json_object(value, '$.schema')) AS schema,"
        " max(get_json_object(key, '$.schema')) AS key_schema, max(struct(partition, offset)) AS newest,"
        " max(CASE WHEN get_json_object(value, '$.payload.op') = 't' THEN"
        " struct(get_json_object(value, '$.payload.source.file') AS file,"
        " CAST(get_json_object(value, '$.payload.source.pos') AS BIGINT) AS pos) END) AS truncated"
        f" FROM {view} GROUP BY topic, {SCHEMA_ID}"
    ).collect()
    batches: dict[str, TopicBatch] = {}
    for row in sorted(rows, key=lambda r: (r["topic"], tuple(r["newest"]))):
        batch = batches.setdefault(row["topic"], TopicBatch(row["topic"]))
        batch.versions.append(Version(int(row["id"]), row_fields(json.loads(row["schema"])), tuple(row["newest"])))
        if row["key_schema"]:
            batch.keys = [f["field"] for f in json.loads(row["key_schema"]).get("fields", [])]
        if row["truncated"] is not None:
            cut = (row["truncated"]["file"], int(row["truncated"]["pos"]))
            batch.truncated = max(batch.truncated or cut, cut)
    return batches


@dataclass(frozen=True)
class Prepared:
    """A topic's table in the newest schema, and the view of its events to MERGE."""

    topic: str
    target: str
    source: str
    names: list[str]
    keys: list[str]
    truncated: bool
    new: bool


def prepare_topic(spark: Any, settings: dict[str, Any], view: str, batch: TopicBatch, index: int) -> Prepared:
    """Give the topic's table the newest schema (made, added to or rewritten) and make the view of each key's
    newest event. Runs with no idempotent-write settings: a DDL commit must not take the batch's transaction id."""
    path = target_path(settings, batch.topic)
    target = f"delta.{quote(path)}"
    names = [f["field"] for f in batch.fields]
    existing = table_columns(spark, path)
    keys = list(settings.get("keys") or []) or batch.keys or (table_keys(spark, target) if existing else [])
    missing = [key for key in keys if key not in names]
    if not keys or missing:
        raise ValueError(
            f"the events of {batch.topic} name no primary key ({keys or 'no key fields'}; columns {names}): a table"
            " without a primary key needs `keys` set to columns that identify a row"
        )
    change = schema_change(target, existing, batch.fields, keys)
    if change is not None:
        spark.sql(change).collect()
    source = f"{view}_{index}_latest"
    spark.sql(latest_sql(view, batch, keys)).createOrReplaceTempView(source)
    return Prepared(batch.topic, target, source, names, keys, batch.truncated is not None, existing is None)


def merge(spark: Any, prepared: Prepared) -> None:
    if prepared.new:
        sql = first_sql(prepared.target, prepared.source, prepared.names, prepared.keys)
    else:
        sql = merge_sql(prepared.target, prepared.source, prepared.names, prepared.keys, prepared.truncated)
    spark.sql(sql).collect()


def record_failure(settings: dict[str, Any], topic: str, error: BaseException) -> None:
    """A stream over many topics keeps going when one topic's batch fails: the failure is written to
    <errors>/<topic>.txt, where whoever waits for that table reads it."""
    os.makedirs(settings["errors"], exist_ok=True)
    with open(os.path.join(settings["errors"], f"{topic}.txt"), "a", encoding="utf-8") as handle:
        handle.write("".join(traceback.format_exception(error)) + "\n")


def each_topic(settings: dict[str, Any], work: Callable[[Any], Any], items: list[tuple[str, Any]]) -> list[Any]:
    """``work(item)`` for each (topic, item), at most ``settings['parallel']`` at once (a MERGE is mostly the
    driver's planning and commit, and the topics' tables are independent); the results of those that succeeded. A
    failure is the topic's alone when the stream writes errors to files; otherwise it is raised."""
    with ThreadPoolExecutor(max_workers=max(1, int(settings.get("parallel") or 1))) as pool:
        futures = [(topic, pool.submit(work, item)) for topic, item in items]
    done = []
    for topic, future in futures:
        error = future.exception()
        if error is None:
            done.append(future.result())
        elif settings.get("errors"):
            record_failure(settings, topic, error)
        else:
            raise error
    return done


def apply_changes(settings: dict[str, Any], batch: Any, batch_id: int) -> None:
    """Apply one micro-batch of Debezium events to the Delta table of each of its topics: every table's schema
    first, then the MERGEs, each carrying Delta's idempotent-write settings (the stream's app id, the batch id:
    the same for every table, each of which keeps its own record of them)."""
    spark = batch.sparkSession
    view = f"cdc_batch_{settings['view']}_{batch_id}"
    for key, value in MERGE_SOURCE_SETTINGS.items():
        spark.conf.set(key, value)
    events = batch.where("value IS NOT NULL").selectExpr(
        "topic",
        "partition",
        "offset",
        "key",
        "value",
        f"xxhash64(get_json_object(value, '$.schema')) AS {SCHEMA_ID}",
        f"get_json_object(value, '$.payload.op') AS {OP}",
        "named_struct('file', get_json_object(value, '$.payload.source.file'),"
        f" 'pos', CAST(get_json_object(value, '$.payload.source.pos') AS BIGINT)) AS {POSITION}",
    )
    # Read from Kafka once: the aggregate, each table's schema and its MERGE read the batch again.
    events.persist()
    events.createOrReplaceTempView(view)
    prepared: list[Prepared] = []
    try:
        topics = list(batch_shapes(spark, view).values())
        prepared = each_topic(
            settings,
            lambda item: prepare_topic(spark, settings, view, item[1], item[0]),
            [(t.topic, (index, t)) for index, t in enumerate(topics)],
        )
        spark.conf.set(TXN_APP_ID, settings["app_id"])
        spark.conf.set(TXN_VERSION, str(batch_id))
        try:
            each_topic(settings, lambda p: merge(spark, p), [(p.topic, p) for p in prepared])
        finally:
            spark.conf.unset(TXN_APP_ID)
            spark.conf.unset(TXN_VERSION)
    finally:
        for done in prepared:
            spark.catalog.dropTempView(done.source)
        spark.catalog.dropTempView(view)
        events.unpersist()
