"""How `make lab`'s record check (cdc_lab.lab.fast_path) decides from what `docker ps` shows: settled, start some
containers from their records, or converge every task. The chaos tests run each path on the live lab; this checks
every branch of the decision on Docker's own `docker ps --format '{{json .}}'` fields."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.unit

sys.path.insert(0, str(PROJECT_DIR / "collections"))
from ansible_collections.cdc_lab.lab.plugins.action.fast_path import ActionModule  # noqa: E402

SPECS = [
    {"name": "lab-db", "service": "db", "config_hash": "h-db", "healthcheck": {"test": ["CMD", "true"]}},
    {"name": "lab-sink", "service": "sink", "config_hash": "h-sink", "healthcheck": {"test": ["CMD", "true"]}},
]


def ps(name: str, state: str = "running", status: str = "Up 5 minutes (healthy)", config_hash: str = "") -> dict:
    spec = next((spec for spec in SPECS if spec["name"] == name), {"config_hash": "h-x"})
    labels = f"cdc-lab.lab=lab,cdc-lab.config-hash={config_hash or spec['config_hash']}"
    return {"Names": name, "State": state, "Status": status, "Labels": labels}


def test_every_container_as_recorded_is_settled():
    plan = ActionModule.compare(SPECS, [ps("lab-db"), ps("lab-sink")])
    assert plan["path"] == "unchanged"
    assert [line["action"] for line in plan["containers"]] == ["unchanged", "unchanged"]


@pytest.mark.parametrize(
    ("sink", "why"),
    [
        (None, "lab-sink is missing"),
        (ps("lab-sink", "exited", "Exited (137) 3 seconds ago"), "lab-sink is exited (Exited (137) 3 seconds ago)"),
        (ps("lab-sink", "created", "Created"), "lab-sink is created (Created)"),
    ],
)
def test_a_gone_or_stopped_container_alone_is_started(sink, why):
    plan = ActionModule.compare(SPECS, [ps("lab-db"), *([sink] if sink else [])])
    assert plan["path"] == "start"
    assert [spec["name"] for spec in plan["start"]] == ["lab-sink"]
    assert [line["name"] for line in plan["containers"]] == ["lab-db"]
    assert plan["why"].startswith(why)


@pytest.mark.parametrize(
    ("containers", "why"),
    [
        ([ps("lab-db", config_hash="h-other"), ps("lab-sink")], "lab-db runs another configuration"),
        ([ps("lab-db", "exited", "Exited (0)", config_hash="h-other")], "lab-db runs another configuration"),
        ([ps("lab-db", status="Up 9 minutes (unhealthy)"), ps("lab-sink")], "lab-db is running"),
        ([ps("lab-db"), ps("lab-sink"), ps("lab-extra")], "containers the lab does not declare: lab-extra"),
    ],
)
def test_anything_else_converges_every_task(containers, why):
    plan = ActionModule.compare(SPECS, containers)
    assert plan["path"] == "full"
    assert plan["why"].startswith(why), plan["why"]


def test_a_container_its_restart_policy_just_started_is_waited_for():
    plan = ActionModule.compare(SPECS, [ps("lab-db", status="Up 2 seconds (health: starting)"), ps("lab-sink")])
    assert plan["path"] == "start"
    assert plan["start"] == []
    assert plan["why"].startswith("lab-db is starting")
