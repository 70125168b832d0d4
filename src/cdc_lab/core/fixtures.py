"""The lab-wide fixtures: the endpoints and features of the lab's manifest, the probe every service fixture goes
through (``require_service``), where reports go, and the browser for the web UI tests."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from cdc_lab.core.browser import BrowserMissing, chromium
from cdc_lab.core.endpoints import Endpoint, load_endpoints, load_features
from cdc_lab.core.manifest import ManifestError, state_path
from cdc_lab.core.probe import Busy
from cdc_lab.core.wait import WaitTimeout, wait_until
from cdc_lab.services import SERVICES


@pytest.fixture(scope="session")
def lab_endpoints() -> dict[str, Endpoint]:
    """Every service's endpoint (from the lab's manifest, .lab/lab.json, and CDC_LAB_<SERVICE>_URL)."""
    try:
        return load_endpoints()
    except ManifestError as exc:
        pytest.fail(str(exc), pytrace=False)


# Seconds a service that takes connections but is slow to answer (cdc_lab.core.probe.Busy) has before its tests are
# skipped: under the suite's load on 2 cores, Kafka Connect's /health once took over the probe's 5 s (its herder
# busy with a test connector), and a lab that is up is not a lab that is missing.
BUSY_GRACE_S = 30.0


def require_service(endpoints: dict[str, Endpoint], name: str) -> Endpoint:
    """The service's endpoint if it answers (a refused connection tells at once; a busy one is asked again for
    BUSY_GRACE_S: cdc_lab.core.probe); otherwise skip the test, saying why."""
    service = SERVICES[name]
    endpoint = endpoints[name]
    answers = [service.probe(endpoint)]
    if isinstance(answers[0], Busy):

        def answered() -> bool:
            answers.append(service.probe(endpoint))
            return not isinstance(answers[-1], Busy)

        try:
            wait_until(answered, timeout=BUSY_GRACE_S, interval=1.0, what=f"{name} to answer")
        except WaitTimeout:
            answers.append(Busy(f"{answers[0]}, nor in the {BUSY_GRACE_S:g} s after"))
    why = answers[-1]
    if why is not None:
        pytest.skip(service.unavailable_reason(endpoint, why))
    return endpoint


@pytest.fixture(scope="session")
def lab_features() -> dict[str, dict[str, Any]]:
    """What the running lab can do beyond its services (from the lab's manifest)."""
    try:
        return load_features()
    except ManifestError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def lab_reports_dir() -> Path:
    """Where the lab's reports and screenshots go (.lab/reports, beside the endpoints file)."""
    return state_path("reports")


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
