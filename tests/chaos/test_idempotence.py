"""Idempotence, measured the way Molecule does it: converge with `site.yml` (a container removed, so the run has
something to make: the record check makes it from its record), run it again through ansible-runner, and the second
run changes nothing on any host (naming each task that did). `--check` on the up lab changes
nothing either. Both run every task (`lab_fast_path=false`), so each task's own idempotence is what is measured;
a third run, the usual way, is settled by the record (cdc_lab.lab.fast_path) with no change. The second run is at
-vvv, and no generated password may appear in its output (SEC-005)."""

from pathlib import Path
from typing import Any

import ansible_runner
import pytest

from cdc_lab.core.containers import container_for, docker, wait_healthy
from tests.chaos.conftest import venv_env
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.chaos


def run_site(private_dir: Path, *, verbosity: int = 0, cmdline: str | None = None) -> Any:
    private_dir.mkdir(parents=True, exist_ok=True)
    return ansible_runner.run(
        private_data_dir=str(private_dir),
        project_dir=str(PROJECT_DIR),
        playbook="site.yml",
        inventory=str(PROJECT_DIR / "inventory" / "hosts.yml"),
        envvars=venv_env(),
        verbosity=verbosity,
        cmdline=cmdline,
        quiet=True,
        timeout=900,
    )


def fast_path(runner: Any) -> dict[str, Any]:
    """What the run's first task (cdc_lab.lab.fast_path) decided."""
    for event in runner.events:
        data = event.get("event_data", {})
        action = data.get("resolved_action") or data.get("task_action") or ""
        if event["event"] == "runner_on_ok" and action.endswith("fast_path"):
            return data.get("res", {})
    raise AssertionError("the run has no cdc_lab.lab.fast_path result")


def changed_tasks(runner: Any) -> list[str]:
    """Each task that reported a change, as `<host>: <task>`."""
    return [
        f"{event['event_data'].get('host')}: {event['event_data'].get('task')}"
        for event in runner.events
        if event["event"] == "runner_on_ok" and event["event_data"].get("res", {}).get("changed")
    ]


@pytest.mark.timeout(1800)
def test_second_run_through_ansible_runner_changes_nothing_and_prints_no_password(tmp_path, passwords, lab_restored):
    # Knock one service out so the converge run has something to do.
    docker("rm", "-f", container_for("webhook-sink"))

    converge = run_site(tmp_path / "converge")
    converge_output = converge.stdout.read()
    assert converge.status == "successful", converge_output[-4000:]
    assert sum(converge.stats["changed"].values()) > 0, "the converge run should have re-created the webhook sink"
    wait_healthy(container_for("webhook-sink"), 30)

    second = run_site(tmp_path / "idempotence", verbosity=3, cmdline="-e lab_fast_path=false")
    output = second.stdout.read()
    assert second.status == "successful", output[-4000:]
    assert set(second.stats["ok"]) == {"localhost"}
    changed = {host: count for host, count in second.stats["changed"].items() if count}
    assert not changed, f"the second run changed {changed}: {changed_tasks(second)}"
    for name, password in passwords.items():
        assert password not in output, f"{name} appears in the -vvv output of site.yml"
        assert password not in converge_output, f"{name} appears in the output of site.yml"

    assert fast_path(second)["path"] == "full", fast_path(second)

    check = run_site(tmp_path / "check", cmdline="--check -e lab_fast_path=false")
    assert check.status == "successful", check.stdout.read()[-4000:]
    changed = {host: count for host, count in check.stats["changed"].items() if count}
    assert not changed, f"--check on the up lab reports changes {changed}: {changed_tasks(check)}"

    settled = run_site(tmp_path / "settled")
    assert settled.status == "successful", settled.stdout.read()[-4000:]
    assert fast_path(settled)["path"] == "unchanged", fast_path(settled)
    changed = {host: count for host, count in settled.stats["changed"].items() if count}
    assert not changed, f"the settled run changed {changed}: {changed_tasks(settled)}"
