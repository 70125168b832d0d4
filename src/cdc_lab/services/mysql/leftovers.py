"""Test data the MySQL fixtures leave behind: tables named ``t_*`` in the lab's database (``mysql_table``)."""

from __future__ import annotations

from typing import Any

import mysql.connector

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.services.mysql.client import CredentialsError, MysqlSettings, tables_like

TITLE = "MySQL"
# What means the service could not be asked (rather than that something was left).
UNREACHABLE = (CredentialsError, mysql.connector.Error, OSError)
TEST_TABLE_PATTERN = "t\\_%"


def mysql_tables(endpoint: Endpoint, settings: MysqlSettings) -> list[str]:
    """Tables the ``mysql_table`` fixture made (``t_*``) still in the lab's database."""
    return sorted(f"{settings.database}.{name}" for name in tables_like(endpoint, settings, TEST_TABLE_PATTERN))


def leftovers(manifest: dict[str, Any], endpoints: dict[str, Endpoint]) -> dict[str, list[str]]:
    return {"MySQL tables": mysql_tables(endpoints["mysql"], MysqlSettings.from_manifest(manifest))}
