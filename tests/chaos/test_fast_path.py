"""The no-op path of `make lab` (cdc_lab.lab.fast_path) is taken only when it may be: a lab as the record left it is
settled with no change; a stopped container is started from its record alone, the others untouched (the decision's
other branches: tests/unit/test_fast_path_plan.py); with no container at all (`make down`) the containers start from
their records. `ansible-playbook site.yml` from the virtualenv is `make lab`: the same lines, the same result."""

from __future__ import annotations

import re
import subprocess

import pytest

from cdc_lab.core.containers import ContainerState, container_for, docker, lab_container_names
from tests.chaos.conftest import LAB_SERVICES, lab_is_whole, make, venv_env
from tests.conftest import PROJECT_DIR, VENV_BIN

pytestmark = pytest.mark.chaos

NOTHING_CHANGED = "nothing changed since the last run"


def changed_count(output: str) -> int:
    counts = re.findall(r"^\S+\s+: ok=\d+\s+changed=(\d+)", output, re.MULTILINE)
    assert counts, f"no recap in:\n{output[-3000:]}"
    return sum(int(count) for count in counts)


def test_a_lab_as_recorded_is_settled_with_no_change(lab_restored):
    first = make("lab")
    assert first.returncode == 0, first.stdout[-3000:]
    second = make("lab")
    assert second.returncode == 0, second.stdout[-3000:]
    assert NOTHING_CHANGED in second.stdout, second.stdout[-3000:]
    assert changed_count(second.stdout) == 0
    for service in LAB_SERVICES:
        assert service in second.stdout, f"the settled run does not name {service}:\n{second.stdout}"
    assert "endpoints:" in second.stdout


def test_a_stopped_container_is_started_from_its_record_alone(lab_restored):
    assert make("lab").returncode == 0
    name = container_for("webhook-sink")
    others = {service: ContainerState.of(container_for(service)).started_at for service in LAB_SERVICES}
    docker("stop", name)
    result = make("lab")
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"{name} is exited" in result.stdout, result.stdout[-3000:]
    assert f"starting {name} from the record, not converging every task" in result.stdout, result.stdout[-3000:]
    assert re.search(r"^\s+webhook-sink\s+image \S+\s+started\b", result.stdout, re.MULTILINE), result.stdout
    assert ContainerState.of(name).health == "healthy"
    untouched = {service: ContainerState.of(container_for(service)).started_at for service in LAB_SERVICES}
    assert {s: t for s, t in untouched.items() if s != "webhook-sink"} == {
        s: t for s, t in others.items() if s != "webhook-sink"
    }, "a container that ran as recorded was started again"
    again = make("lab")
    assert NOTHING_CHANGED in again.stdout, again.stdout[-3000:]


def test_after_make_down_the_containers_start_from_their_records(lab_restored):
    assert make("lab").returncode == 0
    assert make("down").returncode == 0
    assert lab_container_names() == []
    result = make("lab")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "starting the containers from their records" in result.stdout, result.stdout[-3000:]
    for service in LAB_SERVICES:
        assert re.search(rf"^\s+{re.escape(service)}\s+image cached\s+created\b", result.stdout, re.MULTILINE), (
            f"{service} was not created from its record:\n{result.stdout}"
        )
    assert lab_is_whole()
    again = make("lab")
    assert NOTHING_CHANGED in again.stdout, again.stdout[-3000:]
    assert changed_count(again.stdout) == 0


def test_ansible_playbook_site_yml_is_make_lab(lab_restored):
    by_make = make("lab")
    assert by_make.returncode == 0, by_make.stdout[-3000:]
    direct = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "site.yml"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=900,
        env=venv_env(),
        check=False,
    )
    assert direct.returncode == 0, direct.stdout[-3000:]
    assert changed_count(direct.stdout) == 0

    def lines(output: str) -> list[str]:
        # The lines a person reads, less the log file's name and the times.
        return [
            re.sub(r"[0-9.]+ s\b", "_ s", line)
            for line in output.splitlines()
            if line.startswith("  ") and "full log:" not in line
        ]

    second_by_make = make("lab")
    assert lines(direct.stdout) == lines(second_by_make.stdout), (direct.stdout, second_by_make.stdout)
