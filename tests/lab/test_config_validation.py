"""Configuration the services' own tools reject is never installed, and the running service keeps its own.

Each test runs one role of the real play with a value that passes the variable checks but that amtool or promtool
rejects, then checks the play failed on that tool's word and that the installed file and the loaded
configuration are unchanged.
"""

import json

import pytest

from cdc_lab.core.wait import wait_until
from tests.conftest import run_playbook


def run_role(role: str, extra_vars: dict):
    return run_playbook("playbooks/lab.yml", "--tags", role, "-e", json.dumps(extra_vars), timeout=300)


@pytest.fixture
def restore_role(project_dir):
    """Re-run a role with the lab's own settings afterwards if a test left its installed configuration changed."""
    watched: dict[str, tuple] = {}

    def watch(role: str, path):
        watched[role] = (path, path.read_text())

    yield watch
    for role, (path, text) in watched.items():
        if path.read_text() != text:
            result = run_role(role, {})
            assert result.returncode == 0, f"restoring {role} failed:\n{result.stdout[-2000:]}"


@pytest.mark.alertmanager
def test_amtool_rejection_leaves_alertmanager_serving_its_configuration(alertmanager, project_dir, restore_role):
    installed = project_dir / ".lab" / "config" / "alertmanager" / "alertmanager.yml"
    restore_role("alertmanager", installed)
    before_file = installed.read_text()
    before_loaded = alertmanager.status()["config"]["original"]
    # A route to a receiver that does not exist (the role's own preflight would catch it; here amtool must).
    result = run_role("alertmanager", {"alertmanager_severity_routes": {"critical": "nobody"}})
    assert result.returncode != 0
    assert "failed to validate" in result.stdout
    assert 'undefined receiver \\"nobody\\"' in result.stdout
    assert installed.read_text() == before_file
    assert alertmanager.status()["config"]["original"] == before_loaded
    assert alertmanager.ready()


@pytest.mark.prometheus
def test_promtool_rejection_leaves_prometheus_serving_its_configuration(prometheus, project_dir, restore_role):
    installed = project_dir / ".lab" / "config" / "prometheus" / "prometheus.yml"
    restore_role("prometheus", installed)
    before_file = installed.read_text()
    before_loaded = prometheus.loaded_config()
    broken = [{"job_name": "broken", "scrape_interval": "every so often", "static_configs": [{"targets": ["x:1"]}]}]
    result = run_role("prometheus", {"prometheus_extra_scrape_configs": broken})
    assert result.returncode != 0
    assert "failed to validate" in result.stdout
    assert installed.read_text() == before_file
    assert prometheus.loaded_config() == before_loaded
    assert wait_until(prometheus.ready, timeout=5, what="Prometheus ready")
