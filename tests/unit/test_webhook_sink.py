"""The webhook sink's HTTP API, served in-process on a free loopback port."""

import threading

import pytest
import requests

from cdc_lab.images.webhook_sink import make_server
from cdc_lab.services.webhook_sink.client import WebhookSinkClient

pytestmark = pytest.mark.unit


@pytest.fixture
def sink():
    server = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = WebhookSinkClient(f"http://127.0.0.1:{server.server_address[1]}")
    yield client
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def payload(receiver, *names, status="firing"):
    return {
        "receiver": receiver,
        "status": status,
        "groupLabels": {"alertname": names[0]},
        "alerts": [{"labels": {"alertname": name}, "status": status} for name in names],
    }


def test_records_and_filters_by_receiver_and_alertname(sink):
    requests.post(f"{sink.base_url}/hook/critical", json=payload("critical", "a"), timeout=5).raise_for_status()
    requests.post(f"{sink.base_url}/hook/warning", json=payload("warning", "b"), timeout=5).raise_for_status()
    assert [n["receiver"] for n in sink.notifications()] == ["critical", "warning"]
    assert [n["payload"]["receiver"] for n in sink.notifications(receiver="warning")] == ["warning"]
    assert [n["receiver"] for n in sink.notifications(alertname="a")] == ["critical"]
    assert sink.notifications(receiver="critical", alertname="b") == []


def test_forget_removes_only_that_alertname(sink):
    for name in ("a", "b", "a"):
        requests.post(f"{sink.base_url}/hook/default", json=payload("default", name), timeout=5).raise_for_status()
    assert sink.forget("a") == 2
    assert [n["payload"]["groupLabels"]["alertname"] for n in sink.notifications()] == ["b"]


def test_switches_and_counts_show_in_metrics(sink):
    requests.post(f"{sink.base_url}/hook/default", json=payload("default", "a"), timeout=5).raise_for_status()
    sink.set_switch("s1", on=True)
    sink.set_switch("s2", on=False)
    metrics = requests.get(f"{sink.base_url}/metrics", timeout=5).text
    assert 'cdc_lab_webhook_notifications_total{receiver="default"} 1' in metrics
    assert 'cdc_lab_test_switch{name="s1"} 1' in metrics
    assert 'cdc_lab_test_switch{name="s2"} 0' in metrics


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/hook/critical", b"not json", 400),
        ("post", "/hook/critical", b"[1, 2]", 400),
        ("post", "/hook/bad%20name", b"{}", 404),
        ("put", "/switch/s1", b"2", 400),
        ("delete", "/notifications", b"", 400),
        ("get", "/nothing", b"", 404),
    ],
)
def test_bad_requests_are_refused(sink, method, path, body, status):
    response = requests.request(method, f"{sink.base_url}{path}", data=body, timeout=5)
    assert response.status_code == status
    assert "error" in response.json()
