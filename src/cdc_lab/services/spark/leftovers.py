"""Test data the Spark and Delta fixtures leave behind: table directories under the lab's Delta root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.manifest import role
from cdc_lab.services.spark.delta import UNIQUE_NAME

TITLE = "Spark"
UNREACHABLE = (OSError,)
SPARK_WAREHOUSE = "warehouse"  # spark.sql.warehouse.dir of the lab's Spark; the directory itself is Spark's


def delta_tables(delta_root: Path, checkpoints: str = "") -> list[str]:
    """Table directories the fixtures (or a Spark ``saveAsTable``) made under the lab's Delta root, and the test
    streams' checkpoints. A fixture's names end in 12 hex digits (DeltaPath.unique): a table or checkpoint of the
    user's own, such as `make stream TABLE=orders` makes, is not test data."""
    if not delta_root.is_dir():
        return []
    found = []
    for entry in sorted(delta_root.iterdir()):
        if entry.name == SPARK_WAREHOUSE and entry.is_dir():
            found += [f"{SPARK_WAREHOUSE}/{table.name}" for table in sorted(entry.iterdir())]
        elif entry.name == checkpoints and entry.is_dir():
            found += [f"{checkpoints}/{c.name}" for c in sorted(entry.iterdir()) if UNIQUE_NAME.match(c.name)]
        elif UNIQUE_NAME.match(entry.name):
            found.append(entry.name)
    return found


def checkpoint_holder(spark: dict[str, Any]) -> str:
    """The streaming job's checkpoint directory, relative to the Delta volume's root."""
    return spark["cdc_stream"]["checkpoints"].removeprefix(spark["delta"]["mount"].rstrip("/") + "/")


def leftovers(manifest: dict[str, Any], endpoints: dict[str, Endpoint]) -> dict[str, list[str]]:
    spark = role("spark", manifest)
    return {"Delta tables and checkpoints": delta_tables(Path(spark["delta"]["host_dir"]), checkpoint_holder(spark))}
