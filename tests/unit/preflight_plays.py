"""The preflight plays the preflight tests judge, run for real: ``playbooks/lab.yml --tags preflight`` and the whole
``site.yml``, each once per test run over an inventory with a host per case (each `localhost`, its variables the
case's). Ansible runs hosts side by side: a failed host stops there, the others go on.

A run per case cost about 15 s of CPU each on these 2-core machines, one run of all of them about as much as four;
the two runs still take 60-90 s under the suite's load. So they start in the background as soon as the run has
collected a preflight test (the first xdist worker to get there starts them, in a thread of its own; the others
see its mark), and the tests, late in the run's order, find the results ready: no worker sits waiting for them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdc_lab.core.wait import wait_until
from tests.conftest import PROJECT_DIR, VENV_BIN, child_env

PLAY_TIMEOUT_S = 300
# The plays run beside the suite's start, when the run's CDC mirror starts its foreachBatch Python worker, which
# Spark gives a fixed 10 s to connect back; at full priority the plays' CPU (8 forks each) made it late in 1 of 5
# soak runs three starts in a row. Lower priority: the lab's processes come first, the plays take the rest.
NICENESS = 10
STARTED = "preflight-plays.started"


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
        ["nice", "-n", str(NICENESS), str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), playbook, *args],
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


def cases(busy_port: int) -> dict[str, dict[str, dict[str, Any]]]:
    """Each play's cases: the preflight play over the defaults, each bad value, a port in use (``busy_port``), an
    external receiver refused and one explicitly allowed; site.yml over each value that must stop it."""
    preflight = {"defaults": {}, "port_in_use": {"prometheus_port": str(busy_port)}}
    preflight |= {f"bad_{i:02d}": as_vars(extra) for i, (extra, _) in enumerate(BAD_VALUES)}
    preflight["external_refused"] = {"alertmanager_receivers": RECEIVERS}
    preflight["external_allowed"] = {"alertmanager_receivers": RECEIVERS, "alertmanager_allow_external_receivers": True}
    return {
        "preflight": preflight,
        # As `make lab -e <case>` runs it: an extra variable is part of the record's digest, so the run does not
        # settle from the record of the last `make lab` but converges, preflight first. These cases are host
        # variables, which that digest does not cover (CI settled five of six from the record, straight after
        # `make lab`), so each host turns the record check off, as its -e would have, unless it is the case.
        "whole-site": {
            f"site_{i:02d}": {"lab_fast_path": False} | as_vars(extra) for i, (extra, _) in enumerate(WHOLE_SITE)
        },
    }


PLAYS = {"preflight": ("playbooks/lab.yml", "--tags", "preflight"), "whole-site": ("site.yml",)}


def shared_root(config: pytest.Config) -> Path:
    """The directory the run's processes share: the run's base temporary directory (an xdist worker's is inside
    it). The tmp_path_factory fixture's own factory, which the test processes hold from their start."""
    basetemp = config._tmp_path_factory.getbasetemp()
    return basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp


def _run_all(root: Path) -> None:
    """Both plays, side by side, the busy port held while they run; each play's results (or its error) written to
    ``<root>/<play>.json`` once it is done."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        every = cases(sock.getsockname()[1])

        def one(name: str) -> None:
            try:
                made = run_cases(PLAYS[name][0], every[name], root / name, *PLAYS[name][1:])
                document: dict[str, Any] = {"results": {host: vars(result) for host, result in made.items()}}
            except Exception:  # reported by each test that needs the play
                document = {"error": traceback.format_exc()}
            temporary = root / f"{name}.json.tmp"
            temporary.write_text(json.dumps(document))
            os.replace(temporary, root / f"{name}.json")

        threads = [threading.Thread(target=one, args=(name,)) for name in PLAYS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def start(config: pytest.Config) -> None:
    """Start both plays in the background unless a process of this run has (the first to call this does)."""
    root = shared_root(config)
    try:
        os.close(os.open(root / STARTED, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    threading.Thread(target=_run_all, args=(root,), name="preflight-plays", daemon=True).start()


def results(config: pytest.Config, name: str) -> dict[str, HostResult]:
    """A play's results, waiting (bounded) for the background run; started now if nothing started it."""
    start(config)
    path = shared_root(config) / f"{name}.json"
    wait_until(path.is_file, timeout=2 * PLAY_TIMEOUT_S, interval=0.5, what=f"the {name} play's results ({path})")
    document = json.loads(path.read_text())
    if "error" in document:
        raise AssertionError(f"the {name} play could not be run:\n{document['error']}")
    return {host: HostResult(**data) for host, data in document["results"].items()}
