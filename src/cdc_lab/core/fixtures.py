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
from cdc_lab.services import SERVICES


@pytest.fixture(scope="session")
def lab_endpoints() -> dict[str, Endpoint]:
    """Every service's endpoint (from the lab's manifest, .lab/lab.json, and CDC_LAB_<SERVICE>_URL)."""
    try:
        return load_endpoints()
    except ManifestError as exc:
        pytest.fail(str(exc), pytrace=False)


def require_service(endpoints: dict[str, Endpoint], name: str) -> Endpoint:
    """The service's endpoint if it answers (a refused connection tells at once, a busy service has a few
    seconds: cdc_lab.core.probe); otherwise skip the test, saying why."""
    service = SERVICES[name]
    endpoint = endpoints[name]
    why = service.probe(endpoint)
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
