"""Test data the Spark and Delta fixtures leave behind: table directories under the lab's Delta root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.manifest import role

TITLE = "Spark"
UNREACHABLE = (OSError,)
SPARK_WAREHOUSE = "warehouse"  # spark.sql.warehouse.dir of the lab's Spark; the directory itself is Spark's


def delta_tables(delta_root: Path) -> list[str]:
    """Table directories the ``delta_table`` fixture (or a Spark ``saveAsTable``) made under the lab's Delta root."""
    if not delta_root.is_dir():
        return []
    found = []
    for entry in sorted(delta_root.iterdir()):
        if entry.name == SPARK_WAREHOUSE and entry.is_dir():
            found += [f"{SPARK_WAREHOUSE}/{table.name}" for table in sorted(entry.iterdir())]
        elif not entry.name.startswith("."):
            found.append(entry.name)
    return found


def leftovers(manifest: dict[str, Any], endpoints: dict[str, Endpoint]) -> dict[str, list[str]]:
    return {"Delta tables": delta_tables(Path(role("spark", manifest)["delta"]["host_dir"]))}
