"""Bad input fails before anything changes and names the variable (the preflight play, run for real).

Every case is a host of its own in one inventory (each `localhost`, its variables the case's), so one run of
`ansible-playbook playbooks/lab.yml --tags preflight` checks them all, as Ansible runs hosts side by side: a failed
host stops there, the others go on. A run per case cost about 15 s of CPU each on these 2-core machines, one run of
all of them about as much as four. The same for `site.yml` itself (every play), which must stop in the preflight
play for every bad value: nothing built, started or written. The results of each run are shared by the test
processes of the run (the first to need them runs the play under a file lock).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from filelock import FileLock

from tests.conftest import PROJECT_DIR, VENV_BIN, child_env

pytestmark = pytest.mark.unit

PLAY_TIMEOUT_S = 300


def default(role: str, name: str):
    """A role's default value (its one source), so a test does not restate it."""
    return yaml.safe_load((PROJECT_DIR / "roles" / role / "defaults" / "main.yml").read_text())[name]


def as_vars(extra_var: str) -> dict[str, Any]:
    """What `-e <extra_var>` sets: a JSON document's keys, or name=value with the value as a string."""
    if extra_var.startswith("{"):
        return json.loads(extra_var)
    name, _, value = extra_var.partition("=")
    return {name: value}


RECEIVERS = [
    {"name": "critical", "url": "http://webhook-sink/hook/critical"},
    {"name": "warning", "url": "http://webhook-sink/hook/warning"},
    {"name": "default", "url": "https://hooks.example.com/x"},
]
BAD_VALUES = [
    ("prometheus_port=70000", "prometheus_port must be a TCP port from 1 to 65535 (got 70000)"),
    ("prometheus_memory=lots", "prometheus_memory must be a memory size like 256m or 1g"),
    ("lab_image_source=docker-hub", "lab_image_source"),
    ("prometheus_retention=forever", "prometheus_retention must be a Prometheus duration"),
    ("lab_publish_address=0.0.0.0", "lab_publish_address must be a loopback address"),
    ("prometheus_memory=8g", "over lab_memory_budget"),
    (
        f"alertmanager_port={default('prometheus', 'prometheus_port')}",
        "Two services publish the same port: alertmanager_port, prometheus_port",
    ),
    (
        '{"alertmanager_receivers": [{"name": "default", "url": "https://hooks.example.com/x"}]}',
        "Receiver 'default' in alertmanager_receivers sends to https://hooks.example.com/x, which is outside the lab",
    ),
    (
        '{"alertmanager_severity_routes": {"page": "critical"}}',
        "alertmanager_severity_routes routes severity 'page' to receiver 'critical': unknown severity",
    ),
    ("alertmanager_group_wait=soon", "alertmanager_group_wait must be a duration"),
    ("mysql_image_source=percona", "mysql_image_source"),
    ("mysql_server_id=1", "mysql_server_id must be 2..4294967295 (got 1)"),
    (
        f"mysql_port={default('alertmanager', 'alertmanager_port')}",
        "Two services publish the same port: alertmanager_port, mysql_port",
    ),
]
WHOLE_SITE = [
    ("mysql_port=0", "mysql_port must be a TCP port from 1 to 65535 (got 0)"),
    ("lab_fast_path=maybe", "lab_fast_path must be true or false (got 'maybe')"),
    ("spark_worker_container_memory=1.5 gigs", "spark_worker_container_memory must be a memory size"),
    ("lab_image_source=quay", "lab_image_source"),
    (
        '{"alertmanager_receivers": [{"name": "critical", "url": "http://10.0.0.1/hook"}]}',
        "sends to http://10.0.0.1/hook, which is outside the lab",
    ),
    ('{"alertmanager_severity_routes": {"fatal": "critical"}}', "unknown severity"),
]


@dataclass
class HostResult:
    """What one case's host did in the run: whether it failed, every message of its failed tasks, its recap, the
    plays it ran tasks in."""

    variables: dict[str, Any] = field(default_factory=dict)
    failed: bool = False
    messages: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    plays: list[str] = field(default_factory=list)

    @property
    def said(self) -> str:
        return "\n".join(self.messages)


def messages(result: dict[str, Any]) -> Iterator[str]:
    """A failed result's messages, a loop's items' among them."""
    if result.get("msg"):
        yield str(result["msg"])
    for item in result.get("results", []) or []:
        if isinstance(item, dict) and item.get("failed"):
            yield from messages(item)


def run_cases(playbook: str, cases: dict[str, dict[str, Any]], work: Path, *args: str) -> dict[str, HostResult]:
    """One run of ``playbook`` over an inventory with a host per case (its variables the case's); each host's
    results, read from Ansible's JSON output."""
    hosts = {
        name: {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "lab_project_dir": str(PROJECT_DIR),  # the inventory is not the project's own
            **variables,
        }
        for name, variables in cases.items()
    }
    work.mkdir(parents=True, exist_ok=True)
    (work / "group_vars").unlink(missing_ok=True)
    (work / "group_vars").symlink_to(PROJECT_DIR / "group_vars")
    inventory = work / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump({"all": {"children": {"lab": {"hosts": hosts}, "lab_converge": {"hosts": {}}}}})
    )
    run = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), playbook, *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=PLAY_TIMEOUT_S,
        env={**child_env(), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_FORKS": "8"},
        check=False,
    )
    try:
        report = json.loads(run.stdout)
    except ValueError:
        raise AssertionError(f"no JSON from ansible-playbook (exit {run.returncode}): {run.stderr[-3000:]}") from None
    results = {name: HostResult(variables, stats=report["stats"].get(name, {})) for name, variables in cases.items()}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                entry = results[host]
                if play["play"]["name"] not in entry.plays:
                    entry.plays.append(play["play"]["name"])
                if result.get("failed"):
                    entry.failed = True
                    entry.messages.extend(messages(result))
    return results


def shared(tmp_path_factory: pytest.TempPathFactory, name: str, make: Any) -> dict[str, HostResult]:
    """``make(work)``'s results, made once for the whole test run (its xdist workers share the directory above
    their own)."""
    basetemp = tmp_path_factory.getbasetemp()
    root = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp
    path = root / f"{name}.json"
    with FileLock(str(path) + ".lock"):
        if not path.is_file():
            made = make(root / name)
            path.write_text(json.dumps({host: vars(result) for host, result in made.items()}))
    return {host: HostResult(**data) for host, data in json.loads(path.read_text()).items()}


@pytest.fixture(scope="session")
def busy_port() -> Generator[int, None, None]:
    """A port something other than the lab listens on, for the whole run."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture(scope="session")
def preflight(tmp_path_factory, busy_port) -> dict[str, HostResult]:
    """The preflight play (`--tags preflight`) over every case: the defaults, each bad value, a port in use, an
    external receiver refused and one explicitly allowed."""
    # The process that runs the play holds its busy port while it runs (the others' results name that one).
    cases = {"defaults": {}, "port_in_use": {"prometheus_port": str(busy_port)}}
    cases |= {f"bad_{i:02d}": as_vars(extra) for i, (extra, _) in enumerate(BAD_VALUES)}
    cases["external_refused"] = {"alertmanager_receivers": RECEIVERS}
    cases["external_allowed"] = {"alertmanager_receivers": RECEIVERS, "alertmanager_allow_external_receivers": True}
    return shared(
        tmp_path_factory, "preflight", lambda work: run_cases("playbooks/lab.yml", cases, work, "--tags", "preflight")
    )


@pytest.fixture(scope="session")
def whole_site(tmp_path_factory) -> dict[str, HostResult]:
    """`site.yml` (what `make lab` runs) over each case that must stop it in the preflight play; -v shows every
    play's banner in the log."""
    cases = {f"site_{i:02d}": as_vars(extra) for i, (extra, _) in enumerate(WHOLE_SITE)}
    return shared(tmp_path_factory, "whole-site", lambda work: run_cases("site.yml", cases, work))


def test_defaults_pass(preflight):
    assert not preflight["defaults"].failed, preflight["defaults"].said


@pytest.mark.parametrize(("case", "named"), [(f"bad_{i:02d}", named) for i, (_, named) in enumerate(BAD_VALUES)])
def test_bad_value_fails_naming_the_variable(preflight, case, named):
    result = preflight[case]
    assert result.failed, f"{case} passed the preflight"
    assert named in result.said, result.said


@pytest.mark.parametrize(("case", "named"), [(f"site_{i:02d}", named) for i, (_, named) in enumerate(WHOLE_SITE)])
def test_whole_site_play_stops_before_any_change(whole_site, case, named):
    """`make lab` itself (site.yml, every play) stops in the preflight play: nothing built, started or written."""
    result = whole_site[case]
    assert result.failed
    assert named in result.said, result.said
    assert result.stats.get("changed") == 0, result.stats
    assert "Bring the lab up" not in result.plays, result.plays


def test_port_in_use_by_something_else_is_refused(preflight, busy_port):
    said = preflight["port_in_use"].said
    assert preflight["port_in_use"].failed
    port = int(preflight["port_in_use"].variables["prometheus_port"])
    assert f"Port {port} (prometheus_port) is already in use" in said, said
    suggested = int(re.search(r"-e prometheus_port=(\d+)", said)[1])
    assert port < suggested <= 65535, "the advice must name a port, and another one"
    if port == busy_port:  # the run was this process's: its port is still held, the suggested one free
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", suggested))


def test_preflight_covers_every_role_the_lab_runs():
    plays = yaml.safe_load((PROJECT_DIR / "playbooks" / "lab.yml").read_text())
    (converge,) = [play for play in plays if "roles" in play]
    roles = [entry["role"] for entry in converge["roles"]]
    group_vars = yaml.safe_load((PROJECT_DIR / "group_vars" / "all" / "lab.yml").read_text())
    assert group_vars["lab_roles"] == ["lab_preflight", *roles]
    for role in roles:
        assert (PROJECT_DIR / "roles" / role / "tasks" / "preflight.yml").is_file(), role


def test_external_receiver_passes_only_when_explicitly_allowed(preflight):
    assert preflight["external_refused"].failed
    assert "Receiver 'default' in alertmanager_receivers" in preflight["external_refused"].said
    assert not preflight["external_allowed"].failed, preflight["external_allowed"].said
