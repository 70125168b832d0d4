"""Restart policy (NFR-006): a crashed service comes back by itself; one that fails on every start gives up after
3 restarts with growing back-off, and the next `make lab` says so, with the logs, instead of hanging."""

import json
import time

import pytest

from cdc_lab.core.containers import ContainerState, container_for, docker, explain, recent_logs
from cdc_lab.core.wait import WaitTimeout, wait_until
from tests.chaos.conftest import (
    LAB_SERVICES,
    crash,
    make,
    record_recovery,
    recovery_bound,
    reset_restart_budget,
    wait_serving,
)
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.chaos

RETRIES = 3  # lab_restart_retries
DOCKER_FIRST_BACKOFF_S = 0.1  # Docker's restart manager waits 100 ms, then doubles the wait after each quick failure


def restart_count(name: str) -> int:
    return ContainerState.of(name).restart_count


def gave_up(state: ContainerState) -> bool:
    """Docker stopped restarting the container: it is down with every restart used."""
    return state.status == "exited" and state.restart_count == RETRIES


@pytest.mark.timeout(300)
@pytest.mark.parametrize("service", LAB_SERVICES)
def test_crashed_service_is_restarted_by_docker_and_serves_again(service, lab_restored):
    name = container_for(service)
    before = restart_count(name)
    bound = recovery_bound(service)

    crashed_at = time.monotonic()
    crash(name)
    try:
        try:
            wait_until(
                lambda: restart_count(name) > before, timeout=bound, interval=0.2, what=f"Docker to restart {name}"
            )
            wait_serving(service, max(bound - (time.monotonic() - crashed_at), 1.0))
        except WaitTimeout as exc:
            # The state and logs of the containers that decide whether it serves, for the failure report.
            involved = dict.fromkeys(
                [service] + (["spark-master", "spark-connect"] if service.startswith("spark") else [])
            )
            raise WaitTimeout(f"{exc}\n\n" + "\n\n".join(explain(container_for(s)) for s in involved)) from exc
        elapsed = time.monotonic() - crashed_at
        record_recovery(f"{service}: main process killed (exit 137)", elapsed, f"restart {before + 1} of {RETRIES}")
        assert elapsed <= bound, f"{service} took {elapsed:.1f} s to serve again (bound {bound:g} s)"
    finally:
        # Give the container its whole restart budget back, pass or fail.
        reset_restart_budget(service)
    assert restart_count(name) == 0


@pytest.mark.timeout(600)
def test_service_failing_on_every_start_stops_after_3_restarts_and_make_lab_reports_it(lab_restored):
    name = container_for("alertmanager")
    if restart_count(name):
        reset_restart_budget("alertmanager")
    config = PROJECT_DIR / ".lab" / "config" / "alertmanager" / "alertmanager.yml"
    good = config.read_text()
    since = str(time.time())
    # A hand edit that breaks the file the running Alertmanager reads at start (no amtool on this path).
    config.write_text(good + "\nthis is: [not a valid alertmanager config\n")
    try:
        crash(name)
        wait_until(
            lambda: gave_up(ContainerState.of(name)),
            timeout=60,
            interval=0.2,
            what=f"{name} to stop after {RETRIES} restarts",
        )
    finally:
        config.write_text(good)
    stopped = ContainerState.of(name)
    assert stopped.exit_code != 0
    events = docker(
        "events", "--since", since, "--until", str(time.time()), "--filter", f"container={name}",
        "--filter", "event=die", "--filter", "event=start", "--format", "{{json .}}",
    ).stdout.splitlines()  # fmt: skip
    timeline = [(event["Action"], int(event["timeNano"]) / 1e9) for event in map(json.loads, events)]
    actions = [action for action, _ in timeline]
    assert actions == ["die", "start"] * RETRIES + ["die"], timeline
    gaps = [start - die for (_, die), (_, start) in zip(timeline[0::2], timeline[1::2], strict=False)]
    for attempt, gap in enumerate(gaps):
        # Docker's back-off: 100 ms, 200 ms, 400 ms (lower bounds; starting a container adds to each)
        assert gap >= DOCKER_FIRST_BACKOFF_S * 2**attempt * 0.9, f"restart {attempt + 1} came after {gap:.3f} s: {gaps}"
    failure = "Loading configuration file failed"  # what Alertmanager logs at each failed start
    assert failure in recent_logs(name)

    started = time.monotonic()
    result = make("lab", timeout=600)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-4000:]
    output = result.stdout
    assert f"{name} had stopped: exit code {stopped.exit_code}" in output
    assert f"after {RETRIES} of {RETRIES} restarts (the restart policy gave up)" in output
    assert failure in output, "the report lacks the container's log lines"
    assert ContainerState.of(name).health == "healthy"
    assert restart_count(name) == 0
    record_recovery(
        "alertmanager: fails on every start (broken config on disk)",
        took,
        f"stopped after {RETRIES} restarts (gaps {', '.join(f'{g:.2f}' for g in gaps)} s); `make lab` reported it and "
        "restored the config",
    )
