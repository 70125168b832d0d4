"""The configuration templates render to what the services expect, with the role's defaults and with overrides.

Rendering goes through Ansible's own templating with the group_vars and role defaults the lab uses.
"""

import pytest
import yaml

from cdc_lab.core.ansible_vars import lab_variables, template
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.unit


def lab_vars(**overrides) -> dict:
    """group_vars over every role's defaults (the lab's derived lists read every role's declaration), loaded the
    way Ansible loads them (trusted for templating), and the test's overrides."""
    return {**lab_variables(PROJECT_DIR), **overrides}


def evaluate(expression: str):
    """What an expression over the lab's variables comes to (what a role declares, not a value restated here)."""
    return template(lab_vars(), "{{ " + expression + " }}")


def render(role: str, template_name: str, **overrides):
    source = (PROJECT_DIR / "roles" / role / "templates" / template_name).read_text()
    return yaml.safe_load(template(lab_vars(**overrides), source))


def test_prometheus_config_defaults():
    config = render("prometheus", "prometheus.yml.j2")
    assert config["global"]["scrape_interval"] == "5s"
    assert config["global"]["external_labels"] == {"lab": "cdc-lab"}
    assert config["rule_files"] == ["/etc/cdc-lab/prometheus/rules/*.yml"]
    declared = evaluate("lab_manifests.values() | map(attribute='metrics', default={}) | map('list') | flatten")
    assert [job["job_name"] for job in config["scrape_configs"]] == ["prometheus", *sorted(declared)]
    assert {"alertmanager", "webhook-sink", "kafka", "kafka-connect"} <= set(declared)


def test_prometheus_extra_scrape_configs_are_appended():
    extra = [{"job_name": "app", "static_configs": [{"targets": ["app:8000"]}]}]
    config = render(
        "prometheus", "prometheus.yml.j2", prometheus_extra_scrape_configs=extra, prometheus_scrape_interval="15s"
    )
    assert config["global"]["scrape_interval"] == "15s"
    assert config["scrape_configs"][-1] == extra[0]
    assert [job["job_name"] for job in config["scrape_configs"]].count("app") == 1


def test_lab_rules_keep_prometheus_template_syntax():
    rules = render("prometheus", "lab.rules.yml.j2", prometheus_target_down_for="1m")
    rule = rules["groups"][0]["rules"][0]
    assert rule["alert"] == "LabTargetDown"
    assert rule["for"] == "1m"
    assert "{{ $labels.job }}" in rule["annotations"]["summary"]


def test_prometheus_sends_alerts_to_the_lab_alertmanager_and_scrapes_the_lab():
    config = render("prometheus", "prometheus.yml.j2")
    addresses = evaluate("lab_service_addresses")
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [addresses["alertmanager"]]
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs["prometheus"] == [f"localhost:{evaluate('prometheus_container_port')}"]
    # The services with their own metrics endpoint are scraped where the lab network reaches them.
    assert jobs["alertmanager"] == [addresses["alertmanager"]]
    assert jobs["webhook-sink"] == [addresses["webhook-sink"]]
    assert jobs["kafka"] == [f"{addresses['kafka'].split(':')[0]}:{evaluate('kafka_metrics_port')}"]
    assert jobs["kafka-connect"] == [
        f"{addresses['kafka-connect'].split(':')[0]}:{evaluate('kafka_connect_metrics_port')}"
    ]


def test_connect_rule_watches_connectors_and_tasks():
    rules = render("prometheus", "lab.rules.yml.j2")["groups"][0]["rules"]
    rule = next(rule for rule in rules if rule["alert"] == "KafkaConnectNotRunning")
    assert 'kafka_connect_connector_status{status!="running"}' in rule["expr"]
    assert 'kafka_connect_task_status{status!="running"}' in rule["expr"]
    assert rule["for"] == evaluate("prometheus_connect_not_running_for")
    assert "{{ $labels.connector }}" in rule["annotations"]["summary"]


def test_switchable_rule_is_rendered():
    rules = render("prometheus", "lab.rules.yml.j2")["groups"][0]["rules"]
    switch = next(rule for rule in rules if rule["alert"] == "LabTestSwitch")
    assert switch["expr"] == "cdc_lab_test_switch == 1"
    assert switch["labels"]["test"] == "true"


def test_alertmanager_route_tree_by_severity():
    config = render("alertmanager", "alertmanager.yml.j2")
    route = config["route"]
    assert route["receiver"] == "default"
    assert route["group_wait"] == "1s"
    assert route["group_by"] == ["alertname"]
    assert [(r["matchers"], r["receiver"]) for r in route["routes"]] == [
        (['severity="critical"'], "critical"),
        (['severity="warning"'], "warning"),
    ]
    assert config["inhibit_rules"] == [
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'], "equal": ["alertname"]}
    ]
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in config["receivers"]}
    sink = evaluate("lab_service_addresses['webhook-sink']")
    assert urls == {name: f"http://{sink}/hook/{name}" for name in ("critical", "warning", "default")}
    assert all(r["webhook_configs"][0]["send_resolved"] for r in config["receivers"])


def test_alertmanager_custom_routes_render():
    config = render(
        "alertmanager",
        "alertmanager.yml.j2",
        alertmanager_severity_routes={"info": "default", "critical": "critical"},
        alertmanager_group_by=["alertname", "service"],
    )
    assert [r["matchers"] for r in config["route"]["routes"]] == [['severity="critical"'], ['severity="info"']]
    assert config["route"]["group_by"] == ["alertname", "service"]
