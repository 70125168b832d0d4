"""Cleanup (NFR-007): a test that fails, and one that pytest-timeout stops, still leave no tables, rows, Kafka topics,
connectors, silences, switches, Delta tables, stream checkpoints or active test alerts behind."""

import subprocess
import sys
import time

import pytest

from cdc_lab.core.endpoints import load_endpoints
from cdc_lab.leftovers import find_leftovers
from cdc_lab.services.kafka_connect.retire import retire_dropped_table_topics
from tests.chaos.conftest import record_recovery, venv_env
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.chaos

# Each test makes one of everything the fixtures can make, then fails or hangs.
BROKEN_TESTS = """
import threading

import pytest

from cdc_lab.services.spark.delta import DeltaRsEngine


def make_everything(mysql_table, mysql_connect, alert_session, delta_table, captured_table, test_connector, cdc_stream):
    table = mysql_table("cleanup", "id INT PRIMARY KEY")
    with mysql_connect().cursor() as cursor:
        cursor.execute(f"INSERT INTO `{table}` VALUES (1), (2), (3)")
    captured = captured_table("cleanupcdc", "id INT PRIMARY KEY")
    with mysql_connect().cursor() as cursor:
        cursor.execute(f"INSERT INTO `{captured.name}` VALUES (1)")
    captured.events.read_until(lambda records: len(records) >= 1, timeout=30)
    cdc_stream(captured.topic, "cleanupstream").wait_for_data()  # a Delta table, a checkpoint, a running query
    test_connector([table], wait=False)
    name = alert_session.new_name("cleanup")
    alert = alert_session.alert(name)
    alert_session.fire(alert)
    alert_session.silence_alertname(name)
    alert_session.switch_on("cleanup")
    DeltaRsEngine().write(delta_table("cleanup"), [{"id": 1}], {"id": "int64"})


@pytest.mark.alertmanager
@pytest.mark.cdc_delta
def test_fails_after_making_everything(
    mysql_table, mysql_connect, alert_session, delta_table, captured_table, test_connector, cdc_stream
):
    make_everything(mysql_table, mysql_connect, alert_session, delta_table, captured_table, test_connector, cdc_stream)
    assert False, "this test fails on purpose"


@pytest.mark.alertmanager
@pytest.mark.cdc_delta
@pytest.mark.timeout(40)
def test_times_out_after_making_everything(
    mysql_table, mysql_connect, alert_session, delta_table, captured_table, test_connector, cdc_stream
):
    make_everything(mysql_table, mysql_connect, alert_session, delta_table, captured_table, test_connector, cdc_stream)
    threading.Event().wait(120)  # hangs on purpose: pytest-timeout ends it after 40 s
"""


@pytest.mark.timeout(300)
def test_failed_and_timed_out_tests_leave_no_test_data(tmp_path):
    # The topics of tables this run's earlier fault tests dropped go at the end of a run (not while the connector may
    # still write to them); this is that end-of-run step, so the run before this one is whole.
    retired = retire_dropped_table_topics(load_endpoints())
    assert not retired.kept, f"topics of dropped test tables could not be retired: {retired.why_kept}"
    before = find_leftovers(PROJECT_DIR / ".lab" / "lab.json", settle=30)
    assert before.clean, f"test data was left before this test: {before.lines()}"
    (tmp_path / "test_broken.py").write_text(BROKEN_TESTS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-rA", str(tmp_path / "test_broken.py")],
        cwd=tmp_path, env=venv_env(), capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert "FAILED test_broken.py::test_fails_after_making_everything" in result.stdout, result.stdout[-3000:]
    assert "FAILED test_broken.py::test_times_out_after_making_everything" in result.stdout, result.stdout[-3000:]
    assert "Timeout" in result.stdout, result.stdout[-3000:]
    assert "ERROR" not in result.stdout.split("short test summary info")[-1], "a fixture's cleanup failed"

    started = time.monotonic()
    after = find_leftovers(PROJECT_DIR / ".lab" / "lab.json", settle=60)
    assert after.clean, f"test data left behind: {after.lines()}"
    record_recovery("a failing and a timed-out test, then the leftover check", time.monotonic() - started)
