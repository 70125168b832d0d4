"""pytest plugin (entry point `cdc_lab`): markers, one fixture per lab service, strict mode.

A service fixture probes its service within a second. When the service does not answer the test is skipped with
a reason naming the service and how to start it; under ``--lab-strict`` (or ``CDC_LAB_STRICT=1``) that skip, or
any other skip of a lab test, is turned into a failure that carries the skip's reason (see ``cdc_lab.strict``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from cdc_lab.alerting import AlertSession
from cdc_lab.alertmanager import AlertmanagerClient
from cdc_lab.browser import BrowserMissing, chromium
from cdc_lab.cdc import BinlogCapture
from cdc_lab.delta_engines import DeltaEngine, DeltaPath, DeltaRsEngine, SparkDeltaEngine
from cdc_lab.endpoints import Endpoint, load_endpoints, load_features
from cdc_lab.manifest import ManifestError, role, state_path
from cdc_lab.mysql import Account, CredentialsError, MysqlSettings, connect
from cdc_lab.prometheus import PrometheusClient
from cdc_lab.services import SERVICES
from cdc_lab.sink_client import WebhookSinkClient
from cdc_lab.strict import strict_from_env

MARKERS: dict[str, str] = {
    "unit": "needs no lab service",
    "lab": "needs the live lab (added to every test with a service marker)",
    "prometheus": "needs Prometheus",
    "alertmanager": "needs Alertmanager",
    "mysql": "needs MySQL",
    "cdc": "reads MySQL's binlog (change data capture)",
    "spark": "needs Spark (standalone master, worker, Spark Connect)",
    "delta": "reads or writes Delta tables",
    "ui": "drives a service's web UI in a real browser (Debian's chromium, headless)",
    "chaos": "breaks the live lab on purpose and restores it (run one at a time by `make chaos`, never by default)",
}
# Markers that make a test a lab test (it gets the `lab` marker, and strict mode's rules).
LAB_MARKERS = frozenset(MARKERS) - {"unit", "lab"}
# The services a marker promises: a marked test is probed for each before it runs, and skipped (failed in strict
# mode) with the service's reason when one does not answer, whatever fixtures it uses.
MARKER_SERVICES: dict[str, tuple[str, ...]] = {
    "prometheus": ("prometheus",),
    "alertmanager": ("alertmanager",),
    "mysql": ("mysql",),
    "cdc": ("mysql",),
    "spark": ("spark",),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cdc-lab")
    group.addoption(
        "--lab-strict",
        action="store_true",
        default=False,
        help="fail, instead of skip, lab tests whose service is unavailable (also: CDC_LAB_STRICT=1)",
    )
    group.addoption(
        "--lab-chaos",
        action="store_true",
        default=False,
        help="also run the tests marked chaos, which break the live lab on purpose (see `make chaos`)",
    )


def is_strict(config: pytest.Config) -> bool:
    return bool(config.getoption("--lab-strict")) or strict_from_env()


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = {mark.name for mark in item.iter_markers()}
        if names & LAB_MARKERS and "lab" not in names:
            item.add_marker(pytest.mark.lab)
    if not config.getoption("--lab-chaos"):
        chaos = [item for item in items if item.get_closest_marker("chaos") is not None]
        if chaos:
            config.hook.pytest_deselected(items=chaos)
            items[:] = [item for item in items if item.get_closest_marker("chaos") is None]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    services = {service for mark in item.iter_markers() for service in MARKER_SERVICES.get(mark.name, ())}
    if services:
        try:
            endpoints = load_endpoints()
        except ManifestError as exc:
            pytest.fail(str(exc), pytrace=False)
        for name in sorted(services):
            require_service(endpoints, name)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("lab") is not None
        and is_strict(item.config)
    ):
        reason = _skip_reason(report).removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"strict mode (--lab-strict / CDC_LAB_STRICT=1): lab test skipped: {reason}"
    return report


@pytest.fixture(scope="session")
def lab_endpoints() -> dict[str, Endpoint]:
    """Every service's endpoint (from the lab's manifest, .lab/lab.json, and CDC_LAB_<SERVICE>_URL)."""
    try:
        return load_endpoints()
    except ManifestError as exc:
        pytest.fail(str(exc), pytrace=False)


def require_service(endpoints: dict[str, Endpoint], name: str) -> Endpoint:
    """The service's endpoint if it answers within a second; otherwise skip the test, saying why."""
    service = SERVICES[name]
    endpoint = endpoints[name]
    why = service.probe(endpoint)
    if why is not None:
        pytest.skip(service.unavailable_reason(endpoint, why))
    return endpoint


@pytest.fixture
def prometheus_endpoint(lab_endpoints: dict[str, Endpoint]) -> Endpoint:
    """Prometheus's endpoint, probed; skips (fails in strict mode) when it does not answer."""
    return require_service(lab_endpoints, "prometheus")


@pytest.fixture
def prometheus(prometheus_endpoint: Endpoint) -> Generator[PrometheusClient, None, None]:
    """A client for the lab's Prometheus."""
    client = PrometheusClient(prometheus_endpoint.url)
    yield client
    client.session.close()


@pytest.fixture
def alertmanager_endpoint(lab_endpoints: dict[str, Endpoint]) -> Endpoint:
    """Alertmanager's endpoint, probed; skips (fails in strict mode) when it does not answer."""
    return require_service(lab_endpoints, "alertmanager")


@pytest.fixture
def alertmanager(alertmanager_endpoint: Endpoint) -> Generator[AlertmanagerClient, None, None]:
    """A client for the lab's Alertmanager (API v2)."""
    client = AlertmanagerClient(alertmanager_endpoint.url)
    yield client
    client.session.close()


@pytest.fixture
def webhook_sink(lab_endpoints: dict[str, Endpoint]) -> Generator[WebhookSinkClient, None, None]:
    """A client for the lab's webhook sink, where every Alertmanager receiver delivers."""
    client = WebhookSinkClient(require_service(lab_endpoints, "webhook-sink").url)
    yield client
    client.session.close()


@pytest.fixture
def alert_session(
    alertmanager: AlertmanagerClient, webhook_sink: WebhookSinkClient
) -> Generator[AlertSession, None, None]:
    """Fire, silence and resolve test alerts; everything is resolved, expired and forgotten afterwards,
    whether the test passed or not."""
    session = AlertSession(alertmanager, webhook_sink)
    yield session
    problems = session.close()
    if problems:
        pytest.fail("alert cleanup failed: " + "; ".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def lab_browser() -> Generator[Any, None, None]:
    """Debian's chromium, headless, driven by Playwright (one per test process; a fresh profile each launch)."""
    try:
        with chromium() as browser:
            yield browser
    except BrowserMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def ui_page(lab_browser: Any) -> Generator[Any, None, None]:
    """A page in a browser context of its own (no cookies or storage shared with other tests), closed afterwards."""
    context = lab_browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def lab_reports_dir() -> Path:
    """Where the lab's reports and screenshots go (.lab/reports, beside the endpoints file)."""
    return state_path("reports")


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
) -> Generator[Callable[[str, str], str], None, None]:
    """Create tables with unique names in the lab's database; they are dropped afterwards, pass or fail.

    Call it with a name hint and the column definitions; it returns the table's name.
    """
    admin = mysql_connect()
    created: list[str] = []

    def create(hint: str, columns: str) -> str:
        name = f"t_{hint}_{uuid.uuid4().hex[:10]}"
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


@pytest.fixture
def binlog_capture(
    mysql_endpoint: Endpoint, mysql_cdc_account: Account, mysql_settings: MysqlSettings
) -> Callable[..., BinlogCapture]:
    """Make binlog readers (as the CDC user) that start at the server's current position."""

    def start(*tables: str) -> BinlogCapture:
        return BinlogCapture.from_now(
            mysql_endpoint, mysql_cdc_account, tables=list(tables) or None, schemas=[mysql_settings.database]
        )

    return start


_spark_sessions: dict[str, Any] = {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for spark_session in _spark_sessions.values():
        spark_session.stop()
    _spark_sessions.clear()


@pytest.fixture
def spark_endpoint(lab_endpoints: dict[str, Endpoint]) -> Endpoint:
    """Spark Connect's endpoint, probed (gRPC handshake); skips (fails in strict mode) when it does not answer."""
    return require_service(lab_endpoints, "spark")


@pytest.fixture
def spark(spark_endpoint: Endpoint) -> Any:
    """A Spark Connect session on the lab's Spark (one per test process, stopped at the end of the run)."""
    session = _spark_sessions.get(spark_endpoint.url)
    if session is None:
        from pyspark.sql import SparkSession

        session = SparkSession.builder.remote(spark_endpoint.url).getOrCreate()
        _spark_sessions[spark_endpoint.url] = session
    return session


@pytest.fixture(scope="session")
def lab_features() -> dict[str, dict[str, Any]]:
    """What the running lab can do beyond its services (from the lab's manifest)."""
    try:
        return load_features()
    except ManifestError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def spark_delta(spark: Any, lab_features: dict[str, dict[str, Any]]) -> Any:
    """The Spark session, when Spark has Delta Lake; otherwise a skip with the lab's one-line reason (which names
    the variable to set), and so a failure in strict mode."""
    feature = lab_features.get("spark_delta", {})
    if not feature.get("available"):
        pytest.skip(str(feature.get("reason") or "Delta Lake on Spark unavailable: the lab did not report it"))
    return spark


@pytest.fixture(scope="session")
def spark_settings() -> dict[str, Any]:
    """What the spark role declares in the lab's manifest: containers, worker count, the Delta volume."""
    try:
        return role("spark")
    except ManifestError as exc:
        pytest.skip(f"Spark is not in the lab's manifest ({exc})")


@pytest.fixture(scope="session")
def delta_root(spark_settings: dict[str, Any]) -> Path:
    """The host directory behind the lab's Delta volume."""
    root = Path(spark_settings["delta"]["host_dir"])
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def delta_table(delta_root: Path, spark_settings: dict[str, Any]) -> Generator[Callable[[str], DeltaPath], None, None]:
    """Unique Delta table paths (host and container views); each is removed afterwards, pass or fail."""
    made: list[DeltaPath] = []

    def make(hint: str) -> DeltaPath:
        path = DeltaPath.unique(delta_root, spark_settings["delta"]["mount"], hint)
        made.append(path)
        return path

    yield make
    for path in made:
        path.remove()


@pytest.fixture(params=["delta-rs", pytest.param("spark", marks=pytest.mark.spark)])
def delta_engine(request: pytest.FixtureRequest) -> DeltaEngine:
    """Each Delta engine: delta-rs (in-process) and Delta on Spark (through Spark Connect)."""
    if request.param == "spark":
        return SparkDeltaEngine(request.getfixturevalue("spark_delta"))
    return DeltaRsEngine()
