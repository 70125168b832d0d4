"""The lab's MySQL: where it listens, the generated credentials, and connections for tests and fixtures."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mysql.connector
from mysql.connector.abstracts import MySQLConnectionAbstract
from mysql.connector.pooling import PooledMySQLConnection

from cdc_lab.endpoints import Endpoint

CREDENTIALS_ENV = "CDC_LAB_CREDENTIALS_DIR"
DATABASE = "inventory"
APP_USER = "cdc_app"
CDC_USER = "cdc_reader"


class CredentialsError(RuntimeError):
    """A generated password file is missing or unreadable; the message says which and what to run."""


@dataclass(frozen=True)
class Account:
    user: str
    password: str

    def __repr__(self) -> str:  # never show the password
        return f"Account(user={self.user!r}, password=***)"


def credentials_dir(endpoints_file: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """Where `make lab` wrote the passwords: CDC_LAB_CREDENTIALS_DIR, else `credentials/` beside endpoints.json."""
    env = os.environ if environ is None else environ
    if env.get(CREDENTIALS_ENV):
        return Path(env[CREDENTIALS_ENV])
    base = endpoints_file.parent if endpoints_file is not None else Path.cwd() / ".lab"
    return base / "credentials"


def read_account(directory: Path, role: str, user: str) -> Account:
    """The account whose password `make lab` generated into <directory>/mysql-<role>-password."""
    path = directory / f"mysql-{role}-password"
    try:
        password = path.read_text(encoding="utf-8").split()[0]
    except (OSError, IndexError) as exc:
        raise CredentialsError(f"cannot read the MySQL {role} password from {path} ({exc}); run `make lab`") from exc
    return Account(user, password)


def connect(
    endpoint: Endpoint, account: Account, database: str | None = DATABASE, *, autocommit: bool = True
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
