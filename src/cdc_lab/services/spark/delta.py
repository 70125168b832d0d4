"""Two independent Delta Lake engines behind one interface, so every data-quality check runs on each engine the
lab has: Spark (Delta Lake on Spark, through Spark Connect) and delta-rs (the `deltalake` package, in-process).

A table is addressed by a ``DeltaPath``: the same directory as the host sees it (delta-rs) and as the Spark
containers see it (the Delta volume is backed by the host directory).
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

Row = dict[str, Any]
# The end of every name DeltaPath.unique gives: what tells a test's table from a user's (e.g. `make stream`'s).
UNIQUE_NAME = re.compile(r".+_[0-9a-f]{12}$")
CHANGE_TYPE = "_change_type"
COMMIT_VERSION = "_commit_version"


@dataclass(frozen=True)
class DeltaPath:
    """One table directory, seen from the host and from inside the Spark containers."""

    host: Path
    container: str

    @classmethod
    def unique(cls, host_root: Path, container_root: str, hint: str) -> DeltaPath:
        """A new table path named <hint>_<12 hex digits> (the name the leftover check knows as test data)."""
        name = f"{hint}_{uuid.uuid4().hex[:12]}"
        return cls(host_root / name, f"{container_root.rstrip('/')}/{name}")

    def remove(self, settle: float = 0.0, timeout: float = 15.0) -> None:
        """Remove the directory. With ``settle``, remove it again until it has stayed away that many seconds
        (bounded by ``timeout``): a write already under way in Spark, such as a stopped stream's last MERGE and its
        checksum file, can land after the first removal."""
        shutil.rmtree(self.host, ignore_errors=True)
        deadline = time.monotonic() + timeout
        gone_since = time.monotonic()
        while time.monotonic() - gone_since < settle and time.monotonic() < deadline:
            time.sleep(0.1)
            if self.host.exists():
                shutil.rmtree(self.host, ignore_errors=True)
                gone_since = time.monotonic()


class DeltaEngine(Protocol):
    """What the data-quality checks need of an engine. Types are Arrow type names (int32, int64, string, ...)."""

    name: str

    def write(
        self,
        table: DeltaPath,
        rows: list[Row],
        schema: dict[str, str],
        *,
        mode: str = "append",
        merge_schema: bool = False,
    ) -> None: ...
    def read(self, table: DeltaPath, version: int | None = None) -> list[Row]: ...
    def schema(self, table: DeltaPath) -> dict[str, str]: ...
    def version(self, table: DeltaPath) -> int: ...
    def upsert(self, table: DeltaPath, rows: list[Row], schema: dict[str, str], key: str) -> None: ...
    def update(self, table: DeltaPath, predicate: str, updates: dict[str, str]) -> None: ...
    def delete(self, table: DeltaPath, predicate: str) -> None: ...
    def changes(self, table: DeltaPath, starting_version: int = 0) -> list[Row]: ...
    def widen_column(self, table: DeltaPath, column: str, new_type: str) -> None: ...
    def drop_column(self, table: DeltaPath, column: str) -> None: ...


def arrow_schema(schema: dict[str, str]) -> pa.Schema:
    return pa.schema([(name, getattr(pa, kind)()) for name, kind in schema.items()])


def sorted_rows(rows: list[Row], key: str = "id") -> list[Row]:
    return sorted(rows, key=lambda row: (row.get(key) is None, row.get(key), str(row)))


class DeltaRsEngine:
    """delta-rs (the `deltalake` package), reading and writing the host's side of the Delta volume."""

    name = "delta-rs"

    def write(
        self,
        table: DeltaPath,
        rows: list[Row],
        schema: dict[str, str],
        *,
        mode: str = "append",
        merge_schema: bool = False,
    ) -> None:
        data = pa.Table.from_pylist(rows, schema=arrow_schema(schema))
        exists = DeltaTable.is_deltatable(str(table.host))
        write_deltalake(
            str(table.host),
            data,
            mode=mode,  # type: ignore[arg-type]
            schema_mode="merge" if merge_schema else None,
            configuration=None if exists else {"delta.enableChangeDataFeed": "true"},
        )

    def _table(self, table: DeltaPath, version: int | None = None) -> DeltaTable:
        return DeltaTable(str(table.host), version=version)

    def read(self, table: DeltaPath, version: int | None = None) -> list[Row]:
        return sorted_rows(self._table(table, version).to_pyarrow_table().to_pylist())

    def schema(self, table: DeltaPath) -> dict[str, str]:
        arrow = pa.schema(self._table(table).schema())
        return {field.name: str(field.type) for field in arrow}

    def version(self, table: DeltaPath) -> int:
        return self._table(table).version()

    def upsert(self, table: DeltaPath, rows: list[Row], schema: dict[str, str], key: str) -> None:
        source = pa.Table.from_pylist(rows, schema=arrow_schema(schema))
        (
            self._table(table)
            .merge(source, predicate=f"t.{key} = s.{key}", source_alias="s", target_alias="t")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )

    def update(self, table: DeltaPath, predicate: str, updates: dict[str, str]) -> None:
        self._table(table).update(updates=updates, predicate=predicate)

    def delete(self, table: DeltaPath, predicate: str) -> None:
        self._table(table).delete(predicate)

    def changes(self, table: DeltaPath, starting_version: int = 0) -> list[Row]:
        reader = self._table(table).load_cdf(starting_version=starting_version)
        return pa.RecordBatchReader.from_stream(reader).read_all().to_pylist()

    def _rewrite(self, table: DeltaPath, data: pa.Table) -> None:
        write_deltalake(str(table.host), data, mode="overwrite", schema_mode="overwrite")

    def widen_column(self, table: DeltaPath, column: str, new_type: str) -> None:
        """delta-rs has no type widening: the table is rewritten with the wider type (a new schema version)."""
        data = self._table(table).to_pyarrow_table()
        index = data.schema.get_field_index(column)
        self._rewrite(table, data.set_column(index, column, data.column(column).cast(getattr(pa, new_type)())))

    def drop_column(self, table: DeltaPath, column: str) -> None:
        """delta-rs has no DROP COLUMN: the table is rewritten without it (a new schema version)."""
        self._rewrite(table, self._table(table).to_pyarrow_table().drop_columns([column]))


SPARK_TYPES = {"int32": "INT", "int64": "BIGINT", "string": "STRING", "float64": "DOUBLE", "bool": "BOOLEAN"}
ARROW_TYPES = {"int": "int32", "bigint": "int64", "string": "string", "double": "float64", "boolean": "bool"}


@dataclass
class SparkDeltaEngine:
    """Delta Lake on Spark through Spark Connect, on the containers' side of the Delta volume."""

    spark: Any  # pyspark.sql.connect.session.SparkSession
    name: str = "spark"

    def _ref(self, table: DeltaPath) -> str:
        return f"delta.`{table.container}`"

    def _frame(self, rows: list[Row], schema: dict[str, str]) -> Any:
        ddl = ", ".join(f"`{name}` {SPARK_TYPES[kind]}" for name, kind in schema.items())
        return self.spark.createDataFrame([tuple(row.get(name) for name in schema) for row in rows], ddl)

    def write(
        self,
        table: DeltaPath,
        rows: list[Row],
        schema: dict[str, str],
        *,
        mode: str = "append",
        merge_schema: bool = False,
    ) -> None:
        writer = self._frame(rows, schema).write.format("delta").mode(mode)
        if merge_schema:
            writer = writer.option("mergeSchema", "true")
        writer.save(table.container)

    def read(self, table: DeltaPath, version: int | None = None) -> list[Row]:
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return sorted_rows([row.asDict() for row in reader.load(table.container).collect()])

    def schema(self, table: DeltaPath) -> dict[str, str]:
        frame = self.spark.read.format("delta").load(table.container)
        return {field.name: ARROW_TYPES[field.dataType.simpleString()] for field in frame.schema.fields}

    def version(self, table: DeltaPath) -> int:
        history = self.spark.sql(f"DESCRIBE HISTORY {self._ref(table)}").select("version").collect()
        return max(row.version for row in history)

    def upsert(self, table: DeltaPath, rows: list[Row], schema: dict[str, str], key: str) -> None:
        view = f"upsert_{uuid.uuid4().hex[:8]}"
        self._frame(rows, schema).createOrReplaceTempView(view)
        self.spark.sql(
            f"MERGE INTO {self._ref(table)} t USING {view} s ON t.`{key}` = s.`{key}` "
            "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
        ).collect()

    def update(self, table: DeltaPath, predicate: str, updates: dict[str, str]) -> None:
        assignments = ", ".join(f"`{column}` = {value}" for column, value in updates.items())
        self.spark.sql(f"UPDATE {self._ref(table)} SET {assignments} WHERE {predicate}").collect()

    def delete(self, table: DeltaPath, predicate: str) -> None:
        self.spark.sql(f"DELETE FROM {self._ref(table)} WHERE {predicate}").collect()

    def changes(self, table: DeltaPath, starting_version: int = 0) -> list[Row]:
        frame = (
            self.spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", starting_version)
            .load(table.container)
        )
        return [row.asDict() for row in frame.collect()]

    def widen_column(self, table: DeltaPath, column: str, new_type: str) -> None:
        """Delta type widening (Delta 3.2+): a metadata change, no rewrite."""
        self.spark.sql(f"ALTER TABLE {self._ref(table)} SET TBLPROPERTIES ('delta.enableTypeWidening' = 'true')")
        self.spark.sql(f"ALTER TABLE {self._ref(table)} ALTER COLUMN `{column}` TYPE {SPARK_TYPES[new_type]}")

    def drop_column(self, table: DeltaPath, column: str) -> None:
        """DROP COLUMN needs column mapping by name (a protocol upgrade)."""
        self.spark.sql(
            f"ALTER TABLE {self._ref(table)} SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name', "
            "'delta.minReaderVersion' = '2', 'delta.minWriterVersion' = '5')"
        )
        self.spark.sql(f"ALTER TABLE {self._ref(table)} DROP COLUMN `{column}`")
