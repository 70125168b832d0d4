"""Prometheus in the live lab: ready, scraping itself, running the configuration the role rendered."""

import pytest
import yaml

from cdc_lab.core.manifest import containers
from cdc_lab.core.wait import wait_until

pytestmark = pytest.mark.prometheus


def test_ready(prometheus):
    assert prometheus.ready()


def test_self_scrape_target_is_up(prometheus):
    health = wait_until(
        lambda: prometheus.target_health("prometheus") == ["up"] and ["up"],
        timeout=30,
        interval=0.5,
        what="the prometheus job's target to be up",
    )
    assert health == ["up"]
    (sample,) = prometheus.query('up{job="prometheus"}')
    assert sample["value"][1] == "1"


def test_loaded_config_is_the_rendered_one(prometheus, project_dir):
    rendered = yaml.safe_load((project_dir / ".lab" / "config" / "prometheus" / "prometheus.yml").read_text())
    loaded = prometheus.loaded_config()
    for key in ("scrape_interval", "evaluation_interval", "external_labels"):
        assert loaded["global"][key] == rendered["global"][key], key
    assert loaded["rule_files"] == rendered["rule_files"]
    loaded_jobs = {job["job_name"]: job["static_configs"] for job in loaded["scrape_configs"]}
    rendered_jobs = {job["job_name"]: job["static_configs"] for job in rendered["scrape_configs"]}
    assert loaded_jobs == rendered_jobs


def test_lab_health_rules_are_loaded(prometheus):
    groups = {group["name"]: group for group in prometheus.rule_groups()}
    assert "cdc-lab-health" in groups
    expected = ["LabTargetDown", "LabTestSwitch"] + (
        ["KafkaConnectNotRunning"] if "kafka-connect" in containers() else []
    )
    assert [rule["name"] for rule in groups["cdc-lab-health"]["rules"]] == expected
    assert all(rule["health"] in {"ok", "unknown"} for rule in groups["cdc-lab-health"]["rules"])
