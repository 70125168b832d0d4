"""Fixtures for the lab's MySQL: the database and accounts of the manifest, connections, tables dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator
from typing import Any

import pytest

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.fixtures import require_service
from cdc_lab.core.manifest import ManifestError
from cdc_lab.services.mysql.client import Account, CredentialsError, MysqlSettings, connect


@pytest.fixture
def mysql_endpoint(lab_endpoints: dict[str, Endpoint]) -> Endpoint:
    """MySQL's endpoint, probed (the server's greeting); skips (fails in strict mode) when it does not answer."""
    return require_service(lab_endpoints, "mysql")


@pytest.fixture(scope="session")
def mysql_settings() -> MysqlSettings:
    """The database and accounts the mysql role declares in the lab's manifest."""
    try:
        return MysqlSettings.from_manifest()
    except ManifestError as exc:
        pytest.skip(f"MySQL is not in the lab's manifest ({exc})")


def _account(settings: MysqlSettings, account: str) -> Account:
    try:
        return settings.account(account)
    except CredentialsError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def mysql_app_account(mysql_settings: MysqlSettings) -> Account:
    """The application user (all privileges on the lab's database)."""
    return _account(mysql_settings, "app")


@pytest.fixture(scope="session")
def mysql_cdc_account(mysql_settings: MysqlSettings) -> Account:
    """The CDC user (SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT)."""
    return _account(mysql_settings, "cdc")


@pytest.fixture
def mysql_connect(
    mysql_endpoint: Endpoint, mysql_app_account: Account, mysql_settings: MysqlSettings
) -> Generator[Callable[..., Any], None, None]:
    """Open connections as the application user to the lab's database (autocommit unless asked); all are closed
    afterwards."""
    opened: list[Any] = []

    def open_connection(*, autocommit: bool = True) -> Any:
        connection = connect(mysql_endpoint, mysql_app_account, mysql_settings.database, autocommit=autocommit)
        opened.append(connection)
        return connection

    yield open_connection
    for connection in opened:
        connection.close()


@pytest.fixture
def mysql_table(
    mysql_connect: Callable[..., Any], mysql_settings: MysqlSettings
) -> Generator[Callable[..., str], None, None]:
    """Create tables with unique names in the lab's database; they are dropped afterwards, pass or fail.

    Call it with a name hint and the column definitions; it returns the table's name (``t_<hint>_<10 hex>``, or
    ``name`` when given: it must begin with ``t_``, the leftover check's mark of a test table).
    """
    admin = mysql_connect()
    created: list[str] = []

    def create(hint: str, columns: str, *, name: str | None = None) -> str:
        if name is not None and not name.startswith("t_"):
            raise ValueError(f"a test table's name begins with t_ (got {name!r})")
        name = name or f"t_{hint}_{uuid.uuid4().hex[:10]}"
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE TABLE `{mysql_settings.database}`.`{name}` ({columns}) ENGINE=InnoDB")
        created.append(name)
        return name

    yield create
    if not created:
        return
    # A fresh connection: the test may have restarted the server or broken the first connection.
    with mysql_connect().cursor() as cursor:
        for name in created:
            cursor.execute(f"DROP TABLE IF EXISTS `{mysql_settings.database}`.`{name}`")
