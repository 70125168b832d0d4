"""pytest plugin (entry point `cdc_lab`): markers, strict mode, and the fixtures of every service (loaded from each
service's own module).

A service fixture probes its service (a service that is down is told within a second). When the service does not
answer the test is skipped with a reason naming the service and how to start it; under ``--lab-strict`` (or
``CDC_LAB_STRICT=1``) that skip, or any other skip of a lab test, is turned into a failure that carries the skip's
reason (see ``cdc_lab.core.strict``).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Generator
from pathlib import Path

import pytest

from cdc_lab.core.endpoints import load_endpoints
from cdc_lab.core.fixtures import require_service
from cdc_lab.core.manifest import ManifestError
from cdc_lab.core.strict import strict_from_env

# The fixtures, each service's beside its client (cdc_lab.services.<service>.fixtures), the lab-wide ones in
# cdc_lab.core.fixtures.
pytest_plugins = [
    "cdc_lab.core.fixtures",
    "cdc_lab.services.prometheus.fixtures",
    "cdc_lab.services.alertmanager.fixtures",
    "cdc_lab.services.webhook_sink.fixtures",
    "cdc_lab.services.mysql.fixtures",
    "cdc_lab.services.kafka.fixtures",
    "cdc_lab.services.kafka_connect.fixtures",
    "cdc_lab.services.spark.fixtures",
]

MARKERS: dict[str, str] = {
    "unit": "needs no lab service",
    "lab": "needs the live lab (added to every test with a service marker)",
    "prometheus": "needs Prometheus",
    "alertmanager": "needs Alertmanager",
    "mysql": "needs MySQL",
    "kafka": "needs Kafka",
    "kafka_connect": "needs Kafka Connect (with Debezium)",
    "cdc": "reads Debezium's change events from Kafka (MySQL, Kafka, Kafka Connect)",
    "cdc_delta": "streams Debezium's events into Delta with the lab's Spark job (MySQL, Kafka, Kafka Connect, Spark)",
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
    "kafka": ("kafka",),
    "kafka_connect": ("kafka", "kafka-connect"),
    "cdc": ("mysql", "kafka", "kafka-connect"),
    "cdc_delta": ("mysql", "kafka", "kafka-connect", "spark"),
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
        "--lab-progress",
        default=None,
        metavar="FILE",
        help="write the run's progress (counts by outcome, the failures so far) to FILE as it goes (`make verify`)",
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
    path = config.getoption("--lab-progress")
    if path and getattr(config, "workerinput", None) is None:  # the controller sees every test's report
        config.pluginmanager.register(Progress(Path(path)), "cdc_lab_progress")


class Progress:
    """The run's progress in a file, rewritten at most every WRITE_EVERY_S and at the end: one JSON object (tests
    done of those collected, counts by outcome, the failed tests' names, the running tests with their seconds so far,
    seconds since the start). The verification
    play prints it while pytest runs (the summary callback), so a person sees a slow run is not a hung one."""

    WRITE_EVERY_S = 2.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = time.monotonic()
        self.written = 0.0
        self.total = 0
        self.outcomes: Counter[str] = Counter()
        self.failed: list[str] = []
        self.running: dict[str, float] = {}  # test id -> when it started

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)
        self.write(force=True)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        self.total = max(self.total, len(ids))
        self.write(force=True)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.running[nodeid] = time.monotonic()
        self.write()

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.running.pop(nodeid, None)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome = "failed" if report.failed else report.outcome
            self.outcomes[outcome] += 1
            if report.failed:
                self.failed.append(report.nodeid)
        elif report.when == "teardown" and report.failed:
            self.outcomes["error"] += 1
            self.failed.append(report.nodeid + " (teardown)")
        self.write()

    def pytest_sessionfinish(self) -> None:
        self.write(force=True, finished=True)

    def write(self, *, force: bool = False, finished: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.written < self.WRITE_EVERY_S:
            return
        self.written = now
        state = {
            "done": sum(self.outcomes.values()),
            "total": self.total,
            "outcomes": dict(self.outcomes),
            "failed": self.failed[-5:],
            "failed_count": len(self.failed),
            "seconds": round(now - self.started, 1),
            "running": {nodeid: round(now - since, 1) for nodeid, since in self.running.items()},
            "finished": finished,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, self.path)


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
