"""Alertmanager in the live lab: routing, grouping, inhibition, silencing and delivery, against the real service.

Every alert carries test="true" and a unique alertname; the alert_session fixture resolves, expires and forgets
everything a test made, even when the test fails. Every wait polls with a deadline.
"""

import pytest
import yaml

from cdc_lab.core.manifest import addresses, lab_name
from cdc_lab.core.wait import wait_until

pytestmark = pytest.mark.alertmanager

VISIBLE_WITHIN_S = 5  # user story 2: a posted alert is visible within 5 s
DELIVERED_WITHIN_S = 15  # group_wait (1 s) plus the webhook round trip, with room for a loaded machine
SEVERITY_RECEIVERS = [("critical", "critical"), ("warning", "warning"), ("info", "default")]


def alerts_named(alertmanager, name, **kwargs):
    return alertmanager.alerts(filters=[f'alertname="{name}"'], **kwargs)


def test_ready_and_healthy(alertmanager):
    assert alertmanager.ready()
    assert alertmanager.healthy()


def test_status_reports_the_rendered_configuration(alertmanager, project_dir):
    status = alertmanager.status()
    major, minor = (int(part) for part in status["versionInfo"]["version"].split(".")[:2])
    assert (major, minor) >= (0, 26)
    loaded = yaml.safe_load(status["config"]["original"])
    rendered = yaml.safe_load((project_dir / ".lab" / "config" / "alertmanager" / "alertmanager.yml").read_text())
    assert loaded["route"]["receiver"] == rendered["route"]["receiver"] == "default"
    assert [(r["receiver"], r["matchers"]) for r in loaded["route"]["routes"]] == [
        (r["receiver"], r["matchers"]) for r in rendered["route"]["routes"]
    ]
    # Alertmanager masks webhook URLs as secrets in its status; the delivery tests prove where they point.
    assert [r["name"] for r in loaded["receivers"]] == [r["name"] for r in rendered["receivers"]]
    assert all(r["webhook_configs"][0]["send_resolved"] for r in loaded["receivers"])
    rendered_urls = [r["webhook_configs"][0]["url"] for r in rendered["receivers"]]
    assert all(url.startswith(f"http://{addresses()['webhook-sink']}/hook/") for url in rendered_urls)


def test_posted_alert_is_visible_through_the_api_within_5s(alert_session, alertmanager):
    name = alert_session.new_name("visible")
    alert_session.fire(alert_session.alert(name))
    (alert,) = wait_until(lambda: alerts_named(alertmanager, name), timeout=VISIBLE_WITHIN_S, what=f"{name} in the API")
    assert alert["labels"]["test"] == "true"
    assert alert["status"]["state"] in {"active", "unprocessed"}


def test_alerts_sharing_a_group_key_arrive_in_one_notification(alert_session, webhook_sink):
    name = alert_session.new_name("group")
    alert_session.fire(*(alert_session.alert(name, severity="warning", instance=f"node-{i}") for i in range(3)))
    notifications = wait_until(
        lambda: webhook_sink.notifications(receiver="warning", alertname=name),
        timeout=DELIVERED_WITHIN_S,
        what=f"the {name} group's notification",
    )
    first = notifications[0]["payload"]
    assert first["groupLabels"] == {"alertname": name}
    assert sorted(a["labels"]["instance"] for a in first["alerts"]) == ["node-0", "node-1", "node-2"]


def test_critical_inhibits_warning_with_the_same_alertname(alert_session, alertmanager, webhook_sink):
    name = alert_session.new_name("inhibit")
    alert_session.fire(alert_session.alert(name, severity="critical"), alert_session.alert(name, severity="warning"))

    def warning_inhibited():
        warnings = [a for a in alerts_named(alertmanager, name) if a["labels"]["severity"] == "warning"]
        return warnings and warnings[0]["status"]["state"] == "suppressed" and warnings[0]["status"]["inhibitedBy"]

    wait_until(warning_inhibited, timeout=VISIBLE_WITHIN_S, what=f"the warning {name} to be inhibited")
    wait_until(
        lambda: webhook_sink.notifications(receiver="critical", alertname=name),
        timeout=DELIVERED_WITHIN_S,
        what=f"the critical {name} delivered",
    )
    assert webhook_sink.notifications(receiver="warning", alertname=name) == []


def test_silence_suppresses_and_expiring_it_reactivates(alert_session, alertmanager):
    name = alert_session.new_name("silence")
    alert_session.fire(alert_session.alert(name))
    wait_until(lambda: alerts_named(alertmanager, name), timeout=VISIBLE_WITHIN_S, what=f"{name} in the API")
    silence_id = alert_session.silence_alertname(name)

    def state():
        (alert,) = alerts_named(alertmanager, name)
        return alert["status"]["state"], alert["status"]["silencedBy"]

    wait_until(lambda: state() == ("suppressed", [silence_id]), timeout=VISIBLE_WITHIN_S, what=f"{name} silenced")
    assert alertmanager.silence(silence_id)["status"]["state"] == "active"
    alert_session.expire(silence_id)
    wait_until(lambda: state() == ("active", []), timeout=VISIBLE_WITHIN_S, what=f"{name} active again")
    assert alertmanager.silence(silence_id)["status"]["state"] == "expired"


def test_non_matching_silence_leaves_other_alerts_alone(alert_session, alertmanager):
    silenced, other = alert_session.new_name("silenced"), alert_session.new_name("other")
    alert_session.fire(alert_session.alert(silenced), alert_session.alert(other))
    wait_until(lambda: alerts_named(alertmanager, other), timeout=VISIBLE_WITHIN_S, what=f"{other} in the API")
    silence_id = alert_session.silence_alertname(silenced)
    wait_until(
        lambda: [a["status"]["silencedBy"] for a in alerts_named(alertmanager, silenced)] == [[silence_id]],
        timeout=VISIBLE_WITHIN_S,
        what=f"{silenced} silenced",
    )
    (untouched,) = alerts_named(alertmanager, other)
    assert untouched["status"]["state"] == "active"
    assert untouched["status"]["silencedBy"] == []


def test_resolved_alert_produces_a_resolved_notification(alert_session, webhook_sink):
    name = alert_session.new_name("resolve")
    (alert,) = alert_session.fire(alert_session.alert(name, severity="critical"))
    wait_until(
        lambda: webhook_sink.notifications(receiver="critical", alertname=name),
        timeout=DELIVERED_WITHIN_S,
        what=f"the firing {name} notification",
    )
    alert_session.resolve(alert)
    resolved = wait_until(
        lambda: [
            n
            for n in webhook_sink.notifications(receiver="critical", alertname=name)
            if n["payload"]["status"] == "resolved"
        ],
        timeout=DELIVERED_WITHIN_S,
        what=f"the resolved {name} notification",
    )
    assert resolved[0]["payload"]["alerts"][0]["status"] == "resolved"
    assert resolved[0]["payload"]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"


def test_prometheus_lists_alertmanager_as_active(prometheus):
    urls = wait_until(
        lambda: [url for url in prometheus.alertmanagers() if addresses()["alertmanager"] in url],
        timeout=30,
        interval=0.5,
        what="Prometheus to discover the lab's Alertmanager",
    )
    assert urls == [f"http://{addresses()['alertmanager']}/api/v2/alerts"]


@pytest.mark.prometheus
def test_prometheus_rule_alert_arrives_in_alertmanager_and_at_the_sink(
    alert_session, alertmanager, webhook_sink, prometheus
):
    switch = alert_session.switch_on("switch")
    (fired,) = wait_until(
        lambda: alertmanager.alerts(filters=['alertname="LabTestSwitch"', f'name="{switch}"']),
        timeout=60,
        interval=0.5,
        what=f"Prometheus's LabTestSwitch alert for {switch} in Alertmanager",
    )
    assert fired["labels"]["test"] == "true"
    assert fired["labels"]["lab"] == lab_name()

    def delivered():
        return [
            n
            for n in webhook_sink.notifications(receiver="default", alertname="LabTestSwitch")
            if any(a["labels"].get("name") == switch for a in n["payload"]["alerts"])
        ]

    wait_until(delivered, timeout=DELIVERED_WITHIN_S, what=f"LabTestSwitch for {switch} at the sink")
