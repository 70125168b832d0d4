import json
from pathlib import Path

import pytest

from cdc_lab.endpoints import EndpointError, env_var_for, load_endpoints

pytestmark = pytest.mark.unit


def write_endpoints(directory: Path, services: dict) -> Path:
    path = directory / ".lab" / "endpoints.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"lab": "cdc-lab", "services": services}))
    return path


def test_defaults_when_no_file(tmp_path):
    endpoints = load_endpoints(environ={}, start=tmp_path)
    assert endpoints["prometheus"].url == "http://127.0.0.1:9090"
    assert endpoints["prometheus"].source == "default"


def test_file_found_in_a_parent_directory(tmp_path):
    write_endpoints(tmp_path, {"prometheus": {"url": "http://127.0.0.1:19090"}})
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    endpoint = load_endpoints(environ={}, start=nested)["prometheus"]
    assert (endpoint.host, endpoint.port) == ("127.0.0.1", 19090)
    assert endpoint.source.endswith("endpoints.json")


def test_explicit_path_and_environment_override(tmp_path):
    path = write_endpoints(
        tmp_path, {"prometheus": {"url": "http://127.0.0.1:19090"}, "extra": {"url": "tcp://127.0.0.1:1"}}
    )
    environ = {"CDC_LAB_ENDPOINTS": str(path), env_var_for("prometheus"): "http://localhost:29090/"}
    endpoints = load_endpoints(environ=environ, start=Path("/"))
    assert endpoints["prometheus"].url == "http://localhost:29090"
    assert endpoints["prometheus"].port == 29090
    assert endpoints["prometheus"].source == "CDC_LAB_PROMETHEUS_URL"
    assert endpoints["extra"].port == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"lab": "x"}', "no 'services' object"),
        ('{"services": {"prometheus": {"port": 1}}}', "has no 'url' string"),
        ('{"services": {"prometheus": {"url": "http://nohost"}}}', "must have a host and a port"),
    ],
)
def test_bad_file_names_the_problem(tmp_path, content, message):
    path = tmp_path / "endpoints.json"
    path.write_text(content)
    with pytest.raises(EndpointError, match=message):
        load_endpoints(environ={"CDC_LAB_ENDPOINTS": str(path)}, start=tmp_path)


def test_env_var_name():
    assert env_var_for("webhook-sink") == "CDC_LAB_WEBHOOK_SINK_URL"
