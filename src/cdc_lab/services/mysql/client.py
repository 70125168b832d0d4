"""The lab's MySQL: where it listens, the generated credentials, and connections for tests and fixtures."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mysql.connector
from mysql.connector.abstracts import MySQLConnectionAbstract
from mysql.connector.pooling import PooledMySQLConnection

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.manifest import role

CREDENTIALS_ENV = "CDC_LAB_CREDENTIALS_DIR"


class CredentialsError(RuntimeError):
    """A generated password file is missing or unreadable; the message says which and what to run."""


@dataclass(frozen=True)
class Account:
    user: str
    password: str

    def __repr__(self) -> str:  # never show the password
        return f"Account(user={self.user!r}, password=***)"


@dataclass(frozen=True)
class MysqlSettings:
    """What the mysql role declares in the lab's manifest: the database, and per account role (app, cdc) its user
    and the file holding its generated password."""

    database: str
    accounts: dict[str, tuple[str, Path]]

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any] | None = None) -> MysqlSettings:
        declared = role("mysql", manifest)
        accounts = {
            name: (str(entry["user"]), Path(entry["password_file"])) for name, entry in declared["accounts"].items()
        }
        return cls(database=str(declared["database"]), accounts=accounts)

    def account(self, account: str, environ: Mapping[str, str] | None = None) -> Account:
        """The account whose password `make lab` generated (CDC_LAB_CREDENTIALS_DIR overrides the directory)."""
        user, path = self.accounts[account]
        env = os.environ if environ is None else environ
        if env.get(CREDENTIALS_ENV):
            path = Path(env[CREDENTIALS_ENV]) / path.name
        try:
            password = path.read_text(encoding="utf-8").split()[0]
        except (OSError, IndexError) as exc:
            raise CredentialsError(
                f"cannot read the MySQL {account} password from {path} ({exc}); run `make lab`"
            ) from exc
        return Account(user, password)


def connect(
    endpoint: Endpoint, account: Account, database: str | None, *, autocommit: bool = True
) -> PooledMySQLConnection | MySQLConnectionAbstract:
    """A mysql-connector-python connection to the lab's server."""
    return mysql.connector.connect(
        host=endpoint.host,
        port=endpoint.port,
        user=account.user,
        password=account.password,
        database=database,
        autocommit=autocommit,
        connection_timeout=5,
        use_pure=True,
    )


BinlogPosition = tuple[str, int]


def binlog_position(endpoint: Endpoint, settings: MysqlSettings) -> BinlogPosition:
    """Where the server's binary log ends now (file, position), asked as the CDC user (it has the privilege)."""
    connection = connect(endpoint, settings.account("cdc"), None)
    try:
        with connection.cursor() as cursor:
            try:
                cursor.execute("SHOW BINLOG STATUS")  # MariaDB 10.5.2+
            except mysql.connector.Error:
                cursor.execute("SHOW MASTER STATUS")  # MySQL before 8.4
            row = cursor.fetchone()
    finally:
        connection.close()
    if not row:
        raise RuntimeError("the server reports no binary log position (is log_bin on?)")
    return str(row[0]), int(row[1])


def tables_like(endpoint: Endpoint, settings: MysqlSettings, pattern: str = "t\\_%") -> set[str]:
    """The tables of the lab's database whose names match ``pattern`` (the fixtures' tables: ``t_*``)."""
    connection = connect(endpoint, settings.account("app"), None)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE %s",
                (settings.database, pattern),
            )
            return {str(row[0]) for row in cursor.fetchall()}
    finally:
        connection.close()
