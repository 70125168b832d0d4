"""The configuration templates render to what the services expect, with the role's defaults and with overrides.

Rendering goes through Ansible's own templating with the group_vars and role defaults the lab uses.
"""

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.unit


LOADER = DataLoader()


def lab_vars(role: str, **overrides) -> dict:
    """group_vars over the role's defaults, loaded the way Ansible loads them (trusted for templating)."""
    variables: dict = {}
    for path in sorted((PROJECT_DIR / "group_vars" / "all").glob("*.yml")):
        variables.update(LOADER.load_from_file(str(path)) or {})
    for key, value in (
        LOADER.load_from_file(str(PROJECT_DIR / "roles" / role / "defaults" / "main.yml")) or {}
    ).items():
        variables.setdefault(key, value)
    variables.update(inventory_dir=str(PROJECT_DIR / "inventory"), **overrides)
    return variables


def render(role: str, template: str, **overrides):
    templar = Templar(loader=LOADER, variables=lab_vars(role, **overrides))
    source = trust_as_template((PROJECT_DIR / "roles" / role / "templates" / template).read_text())
    return yaml.safe_load(templar.template(source))


def test_prometheus_config_defaults():
    config = render("prometheus", "prometheus.yml.j2")
    assert config["global"]["scrape_interval"] == "5s"
    assert config["global"]["external_labels"] == {"lab": "cdc-lab"}
    assert config["rule_files"] == ["/etc/cdc-lab/prometheus/rules/*.yml"]
    assert [job["job_name"] for job in config["scrape_configs"]] == ["prometheus"]


def test_prometheus_extra_scrape_configs_are_appended():
    extra = [{"job_name": "app", "static_configs": [{"targets": ["app:8000"]}]}]
    config = render(
        "prometheus", "prometheus.yml.j2", prometheus_extra_scrape_configs=extra, prometheus_scrape_interval="15s"
    )
    assert config["global"]["scrape_interval"] == "15s"
    assert config["scrape_configs"][1] == extra[0]


def test_lab_rules_keep_prometheus_template_syntax():
    rules = render("prometheus", "lab.rules.yml.j2", prometheus_target_down_for="1m")
    (rule,) = rules["groups"][0]["rules"]
    assert rule["alert"] == "LabTargetDown"
    assert rule["for"] == "1m"
    assert "{{ $labels.job }}" in rule["annotations"]["summary"]
