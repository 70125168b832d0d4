"""Test data the Spark and Delta fixtures leave behind: table directories under the lab's Delta root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.manifest import role

TITLE = "Spark"
UNREACHABLE = (OSError,)
SPARK_WAREHOUSE = "warehouse"  # spark.sql.warehouse.dir of the lab's Spark; the directory itself is Spark's


def delta_tables(delta_root: Path, holders: tuple[str, ...] = (SPARK_WAREHOUSE,)) -> list[str]:
    """Table directories the ``delta_table`` fixture (or a Spark ``saveAsTable``) made under the lab's Delta root,
    and what lies in its holding directories (Spark's warehouse, the streaming job's checkpoints)."""
    if not delta_root.is_dir():
        return []
    found = []
    for entry in sorted(delta_root.iterdir()):
        if entry.name in holders and entry.is_dir():
            found += [f"{entry.name}/{table.name}" for table in sorted(entry.iterdir())]
        elif not entry.name.startswith("."):
            found.append(entry.name)
    return found


def checkpoint_holder(spark: dict[str, Any]) -> str:
    """The streaming job's checkpoint directory, relative to the Delta volume's root."""
    return spark["cdc_stream"]["checkpoints"].removeprefix(spark["delta"]["mount"].rstrip("/") + "/")


def leftovers(manifest: dict[str, Any], endpoints: dict[str, Endpoint]) -> dict[str, list[str]]:
    spark = role("spark", manifest)
    holders = (SPARK_WAREHOUSE, checkpoint_holder(spark))
    return {"Delta tables and checkpoints": delta_tables(Path(spark["delta"]["host_dir"]), holders)}
