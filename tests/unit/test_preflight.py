"""Bad input fails before anything changes and names the variable (the preflight play, run for real)."""

import json
import re
import socket

import pytest
import yaml

from tests.conftest import PROJECT_DIR, run_playbook

pytestmark = pytest.mark.unit


def default(role: str, name: str):
    """A role's default value (its one source), so a test does not restate it."""
    return yaml.safe_load((PROJECT_DIR / "roles" / role / "defaults" / "main.yml").read_text())[name]


def preflight(*extra_vars: str):
    args = ["playbooks/lab.yml", "--tags", "preflight"]
    for extra in extra_vars:
        args += ["-e", extra]
    return run_playbook(*args, timeout=120)


def test_defaults_pass():
    result = preflight()
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("extra_var", "named"),
    [
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
            "Receiver 'default' in alertmanager_receivers sends to https://hooks.example.com/x, "
            "which is outside the lab",
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
    ],
)
def test_bad_value_fails_naming_the_variable(extra_var, named):
    result = preflight(extra_var)
    assert result.returncode != 0
    assert named in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("extra_var", "named"),
    [
        ("mysql_port=0", "mysql_port must be a TCP port from 1 to 65535 (got 0)"),
        ("lab_fast_path=maybe", "lab_fast_path must be true or false (got 'maybe')"),
        ("spark_worker_container_memory=1.5 gigs", "spark_worker_container_memory must be a memory size"),
        ("lab_image_source=quay", "lab_image_source"),
        (
            '{"alertmanager_receivers": [{"name": "critical", "url": "http://10.0.0.1/hook"}]}',
            "sends to http://10.0.0.1/hook, which is outside the lab",
        ),
        ('{"alertmanager_severity_routes": {"fatal": "critical"}}', "unknown severity"),
    ],
)
def test_whole_site_play_stops_before_any_change(extra_var, named):
    """`make lab` itself (site.yml, every play) stops in the preflight play: nothing built, started or written."""
    result = run_playbook("site.yml", "-v", "-e", extra_var, timeout=120)  # -v: every play's banner on the screen
    assert result.returncode != 0
    assert named in result.stdout
    recap = re.findall(r"^\S+\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE)
    assert recap == ["0"], recap
    assert "PLAY [Bring the lab up]" not in result.stdout


def test_port_in_use_by_something_else_is_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = preflight(f"prometheus_port={port}")
    assert result.returncode != 0
    assert f"Port {port} (prometheus_port) is already in use" in result.stdout
    suggested = int(re.search(r"-e prometheus_port=(\d+)", result.stdout)[1])
    assert port < suggested <= 65535, "the advice must name a port, and another one"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", suggested))  # free when suggested, as the advice says


def test_preflight_covers_every_role_the_lab_runs():
    plays = yaml.safe_load((PROJECT_DIR / "playbooks" / "lab.yml").read_text())
    (converge,) = [play for play in plays if "roles" in play]
    roles = [entry["role"] for entry in converge["roles"]]
    group_vars = yaml.safe_load((PROJECT_DIR / "group_vars" / "all" / "lab.yml").read_text())
    assert group_vars["lab_roles"] == ["lab_preflight", *roles]
    for role in roles:
        assert (PROJECT_DIR / "roles" / role / "tasks" / "preflight.yml").is_file(), role


def test_external_receiver_passes_only_when_explicitly_allowed():
    receivers = [
        {"name": "critical", "url": "http://webhook-sink/hook/critical"},
        {"name": "warning", "url": "http://webhook-sink/hook/warning"},
        {"name": "default", "url": "https://hooks.example.com/x"},
    ]
    refused = preflight(json.dumps({"alertmanager_receivers": receivers}))
    assert refused.returncode != 0
    assert "Receiver 'default' in alertmanager_receivers" in refused.stdout
    allowed = preflight(
        json.dumps({"alertmanager_receivers": receivers, "alertmanager_allow_external_receivers": True})
    )
    assert allowed.returncode == 0, allowed.stdout[-3000:]
