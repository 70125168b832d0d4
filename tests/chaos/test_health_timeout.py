"""Health timeout (NFR-005): a container that never becomes healthy fails the play within its timeout, and the
error carries the container's last log lines and its health log."""

import re
import time

import pytest

from cdc_lab.core.containers import docker
from tests.chaos.conftest import record_recovery
from tests.conftest import run_playbook

pytestmark = pytest.mark.chaos

TIMEOUT_S = 8  # chaos_health_timeout in the playbook
CONTAINER = "cdc-lab-chaos-never-healthy"


@pytest.fixture
def never_healthy():
    yield CONTAINER
    docker("rm", "-f", CONTAINER, check=False)


def test_never_healthy_container_fails_the_play_within_its_timeout_with_logs_and_health_log(never_healthy):
    started = time.monotonic()
    result = run_playbook("tests/chaos/playbooks/never_healthy.yml", timeout=120)
    took = time.monotonic() - started
    output = result.stdout

    assert result.returncode != 0, output[-3000:]
    assert f"{never_healthy} did not become healthy within {TIMEOUT_S} s" in output, output[-3000:]
    waited = float(re.search(r"waited ([0-9.]+) s", output).group(1))
    # one poll (1 s delay plus an inspect) past the deadline at most, with room for a loaded machine
    assert TIMEOUT_S - 1 <= waited <= TIMEOUT_S + 3, f"the health wait took {waited} s for a {TIMEOUT_S} s timeout"
    assert "health unhealthy" in output
    assert "chaos: the health probe says no" in output, "the error lacks the health log"
    assert "chaos: started, and will never be healthy" in output, "the error lacks the container's log lines"
    record_recovery(f"never-healthy container, {TIMEOUT_S} s health timeout", waited, f"whole play {took:.1f} s")
