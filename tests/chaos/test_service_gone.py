"""A service going away mid-suite (FR-008): with Alertmanager stopped after the first of its tests, the rest of
its tests skip within a second each, naming the service and how to start it, and the other tests are unaffected.
In strict mode the same tests fail with that reason."""

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from cdc_lab.core.containers import container_for, docker
from tests.chaos.conftest import record_recovery, venv_env, wait_serving
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.chaos

SKIP_WITHIN_S = 1.0
REASON = "Alertmanager is not available at"
HOW_TO_START = "start the lab with `make lab`"

# Loaded into the inner pytest run: stops Alertmanager once the first test has finished (torn down included).
STOPPER = """
import subprocess

_stopped = []


def pytest_runtest_logreport(report):
    if report.when == "teardown" and not _stopped:
        _stopped.append(report.nodeid)
        subprocess.run(["docker", "stop", "{name}"], check=True, capture_output=True, timeout=60)
"""


def run_suite(tmp_path, *args: str) -> list[dict[str, object]]:
    """Run pytest on the Alertmanager and Prometheus tests (one process, in order); return each test's outcome."""
    report = tmp_path / f"junit-{len(list(tmp_path.glob('junit-*')))}.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", f"--junitxml={report}", *args,
         "tests/lab/test_alertmanager.py", "tests/lab/test_prometheus.py"],
        cwd=PROJECT_DIR, env={**venv_env(), "PYTHONPATH": str(tmp_path)}, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    outcomes = []
    for case in ET.parse(report).getroot().iter("testcase"):
        result = next((child for child in case if child.tag in ("skipped", "failure", "error")), None)
        outcomes.append(
            {
                "file": case.get("classname", "").rsplit(".", 1)[-1],
                "name": case.get("name"),
                "time": float(case.get("time", 0)),
                "outcome": result.tag if result is not None else "passed",
                "message": (result.get("message") or "") + (result.text or "") if result is not None else "",
            }
        )
    return outcomes


@pytest.mark.timeout(900)
def test_alertmanager_stopped_mid_suite_skips_its_tests_fast_and_strict_mode_fails_them(tmp_path, lab_restored):
    name = container_for("alertmanager")
    (tmp_path / "chaos_stopper.py").write_text(STOPPER.format(name=name))
    try:
        outcomes = run_suite(tmp_path, "-p", "chaos_stopper")
        first, *rest = [o for o in outcomes if o["file"] == "test_alertmanager"]
        assert first["outcome"] == "passed", first
        assert rest, "no Alertmanager test ran after the stop"
        for outcome in rest:
            assert outcome["outcome"] == "skipped", outcome
            assert REASON in outcome["message"], outcome
            assert HOW_TO_START in outcome["message"], outcome
            assert outcome["time"] < SKIP_WITHIN_S, f"{outcome['name']} took {outcome['time']} s to skip"
        others = [o for o in outcomes if o["file"] != "test_alertmanager"]
        assert others, "the Prometheus tests did not run"
        assert all(o["outcome"] == "passed" for o in others), others

        strict = run_suite(tmp_path, "--lab-strict")
        for outcome in (o for o in strict if o["file"] == "test_alertmanager"):
            assert outcome["outcome"] in ("failure", "error"), outcome  # a failed setup is an error in JUnit
            assert "strict mode" in outcome["message"], outcome
            assert REASON in outcome["message"], outcome
        assert all(o["outcome"] == "passed" for o in strict if o["file"] != "test_alertmanager"), strict
    finally:
        docker("start", name)
        back = wait_serving("alertmanager", 30)
    slowest = max(o["time"] for o in rest)
    record_recovery("Alertmanager stopped mid-suite, then started", back, f"{len(rest)} skips, slowest {slowest:.3f} s")
