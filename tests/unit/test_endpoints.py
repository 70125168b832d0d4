import json
from pathlib import Path

import pytest

from cdc_lab.core.endpoints import EndpointError, env_var_for, load_endpoints
from cdc_lab.core.manifest import ManifestError, containers, role

pytestmark = pytest.mark.unit


def write_manifest(directory: Path, services: dict, roles: dict | None = None) -> Path:
    path = directory / ".lab" / "lab.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"lab": "a-lab", "services": services, "roles": roles or {}}))
    return path


def test_no_manifest_no_endpoints_but_overrides(tmp_path):
    assert load_endpoints(environ={}, start=tmp_path) == {}
    endpoints = load_endpoints(environ={"CDC_LAB_WEBHOOK_SINK_URL": "http://127.0.0.1:1"}, start=tmp_path)
    assert endpoints["webhook-sink"].port == 1


def test_manifest_found_in_a_parent_directory(tmp_path):
    write_manifest(tmp_path, {"prometheus": {"url": "http://127.0.0.1:19090"}})
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    endpoint = load_endpoints(environ={}, start=nested)["prometheus"]
    assert (endpoint.host, endpoint.port) == ("127.0.0.1", 19090)
    assert endpoint.source.endswith("lab.json")


def test_explicit_path_and_environment_override(tmp_path):
    path = write_manifest(
        tmp_path, {"prometheus": {"url": "http://127.0.0.1:19090"}, "extra": {"url": "tcp://127.0.0.1:1"}}
    )
    environ = {"CDC_LAB_MANIFEST": str(path), env_var_for("prometheus"): "http://localhost:29090/"}
    endpoints = load_endpoints(environ=environ, start=Path("/"))
    assert endpoints["prometheus"].url == "http://localhost:29090"
    assert endpoints["prometheus"].port == 29090
    assert endpoints["prometheus"].source == "CDC_LAB_PROMETHEUS_URL"
    assert endpoints["extra"].port == 1


def test_roles_declare_containers_and_settings(tmp_path, monkeypatch):
    path = write_manifest(
        tmp_path,
        {},
        {"mysql": {"containers": {"mysql": "a-lab-mysql"}, "database": "shop"}, "spark": {"containers": {"x": "y"}}},
    )
    monkeypatch.setenv("CDC_LAB_MANIFEST", str(path))
    assert role("mysql")["database"] == "shop"
    assert containers() == {"mysql": "a-lab-mysql", "x": "y"}
    with pytest.raises(ManifestError, match="declares no 'kafka'; run `make lab`"):
        role("kafka")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"lab": "x"}', "no 'services' object"),
        ('{"services": {"prometheus": {"port": 1}}}', "has no 'url' string"),
        ('{"services": {"prometheus": {"url": "http://nohost"}}}', "must have a host and a port"),
    ],
)
def test_bad_manifest_names_the_problem(tmp_path, content, message):
    path = tmp_path / "lab.json"
    path.write_text(content)
    with pytest.raises(ManifestError, match=message):
        load_endpoints(environ={"CDC_LAB_MANIFEST": str(path)}, start=tmp_path)


def test_env_var_name():
    assert env_var_for("webhook-sink") == "CDC_LAB_WEBHOOK_SINK_URL"


def test_bad_override_is_refused():
    with pytest.raises(EndpointError, match="must have a host and a port"):
        load_endpoints(environ={"CDC_LAB_PROMETHEUS_URL": "nohost"}, start=Path("/"))
