"""The official web UIs, driven in a real browser (Playwright on Debian's chromium): Alertmanager's user story 2,
scenario by scenario, and Prometheus' classic UI. Screenshots of what the lab serves land in .lab/reports/ui/.

Every alert and silence a test makes (in the API or through the UI) is expired or resolved by the alert_session
fixture afterwards, pass or fail. Every wait has a deadline.
"""

import json
import time
import urllib.parse

import pytest

from cdc_lab.core.wait import wait_until
from cdc_lab.services.alertmanager.client import ui_alert_group, ui_alerts_url, wait_for_alert_on_ui

pytestmark = pytest.mark.ui

VISIBLE_WITHIN_S = 5  # user story 2, scenario 1: a posted alert appears in the UI within 5 s
UI_ACTION_S = 15  # a click or keystroke taking effect in the UI, with room for a loaded machine
SEVERITY_RECEIVERS = [("critical", "critical"), ("warning", "warning"), ("info", "default")]


def screenshot(page, reports_dir, name):
    target = reports_dir / "ui" / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    return target


@pytest.mark.alertmanager
def test_the_official_ui_and_every_asset_it_loads_answer_200(alertmanager_endpoint, ui_page):
    loaded = []
    ui_page.on("response", lambda response: loaded.append((response.url, response.status)))
    ui_page.goto(f"{alertmanager_endpoint.url}/#/alerts")
    ui_page.get_by_role("link", name="New Silence").wait_for(timeout=VISIBLE_WITHIN_S * 1000)
    ui_page.wait_for_load_state("networkidle")
    assets = [(url, status) for url, status in loaded if url.startswith(alertmanager_endpoint.url)]
    assert [asset for asset in assets if asset[1] != 200] == []
    names = {url.rsplit("/", 1)[-1].split("?")[0] for url, _ in assets}
    assert {"script.js", "bootstrap.min.css", "font-awesome.min.css", "elm-datepicker.css"} <= names, names
    assert ui_page.title() == "Alertmanager"


@pytest.mark.alertmanager
def test_posted_alert_appears_in_the_ui_within_5s(alert_session, alertmanager_endpoint, ui_page, lab_reports_dir):
    """US2 scenario 1. The time from the API post to the alert on screen is written to the reports."""
    name = alert_session.new_name("ui_visible")
    posted = time.monotonic()
    alert_session.fire(alert_session.alert(name, severity="critical"))
    wait_for_alert_on_ui(ui_page, alertmanager_endpoint.url, name, VISIBLE_WITHIN_S)
    seconds = time.monotonic() - posted
    (lab_reports_dir / "ui").mkdir(exist_ok=True)
    (lab_reports_dir / "ui" / "alert-visible-seconds.json").write_text(json.dumps({"alert": name, "seconds": seconds}))
    assert seconds < VISIBLE_WITHIN_S
    screenshot(ui_page, lab_reports_dir, "alertmanager-alerts")


@pytest.mark.alertmanager
def test_alerts_show_under_the_receiver_their_severity_routes_to(alert_session, alertmanager_endpoint, ui_page):
    """US2 scenario 2: the UI groups alerts by receiver, and its receiver filter shows each receiver's alerts only."""
    names = {severity: alert_session.new_name(f"ui_{severity}") for severity, _ in SEVERITY_RECEIVERS}
    alert_session.fire(*(alert_session.alert(name, severity=severity) for severity, name in names.items()))
    for severity, receiver in SEVERITY_RECEIVERS:
        wait_for_alert_on_ui(ui_page, alertmanager_endpoint.url, names[severity], UI_ACTION_S)
        group = ui_page.locator("div.mb-3", has=ui_alert_group(ui_page, names[severity]))
        assert group.locator("button").first.inner_text().strip() == receiver

        wait_for_alert_on_ui(ui_page, alertmanager_endpoint.url, names[severity], UI_ACTION_S, receiver=receiver)
        others = [name for other, name in names.items() if other != severity]
        assert all(ui_alert_group(ui_page, other).count() == 0 for other in others), f"{receiver} shows {others}"


@pytest.mark.alertmanager
def test_silence_made_in_the_ui_form_silences_the_alert_and_expires_from_the_ui(
    alert_session, alertmanager, alertmanager_endpoint, ui_page, lab_reports_dir
):
    """US2 scenario 3, through the New Silence form with real typing and clicks."""
    name = alert_session.new_name("ui_silence")
    alert_session.fire(alert_session.alert(name))
    creator = f"cdc-lab-ui-{name[-10:]}"

    ui_page.goto(f"{alertmanager_endpoint.url}/#/silences/new")
    # The form is ready once the UI has filled in the start time; typing before that can be reset.
    start = ui_page.locator("label:has-text('Start') + input")
    wait_until(lambda: start.input_value(), timeout=UI_ACTION_S, what="the New Silence form's start time")
    matchers = ui_page.locator("#filter-bar-matcher")
    for typed in (f'alertname="{name}"', 'test="true"'):
        matchers.click()
        matchers.press_sequentially(typed)
        matchers.press("Enter")
        ui_page.get_by_role("button", name=typed, exact=True).wait_for(timeout=UI_ACTION_S * 1000)
    fields = {
        ui_page.locator("label:has-text('Creator') + input"): creator,
        ui_page.locator("label:has-text('Comment') + textarea"): "silenced through the web UI",
    }
    for field, text in fields.items():
        field.click()
        field.press_sequentially(text)
    # Every keystroke reached the form's state (the UI re-renders each field from it) before Create is clicked.
    wait_until(
        lambda: all(field.input_value() == text for field, text in fields.items()),
        timeout=UI_ACTION_S,
        what="the typed creator and comment in the form",
    )
    ui_page.get_by_role("button", name="Create").click()
    # The UI shows the silence it made (ID, Created by, ...) once the API has taken it.
    ui_page.get_by_text("Created by", exact=True).wait_for(timeout=UI_ACTION_S * 1000)

    def made():
        return alertmanager.silences(filters=[f'alertname="{name}"'])

    (silence,) = wait_until(made, timeout=UI_ACTION_S, what=f"the UI's silence for {name} in the API")
    alert_session.adopt_silence(silence["id"])
    assert silence["createdBy"] == creator
    assert silence["status"]["state"] == "active"
    assert {(m["name"], m["value"]) for m in silence["matchers"]} == {("alertname", name), ("test", "true")}

    def suppressed():
        (alert,) = alertmanager.alerts(filters=[f'alertname="{name}"']) or [None]
        return alert and alert["status"]["state"] == "suppressed" and silence["id"] in alert["status"]["silencedBy"]

    wait_until(suppressed, timeout=VISIBLE_WITHIN_S, what=f"{name} suppressed by the silence")
    ui_page.goto(ui_alerts_url(alertmanager_endpoint.url, name=name, silenced=True))
    ui_alert_group(ui_page, name).wait_for(timeout=VISIBLE_WITHIN_S * 1000)
    ui_page.goto(ui_alerts_url(alertmanager_endpoint.url, name=name, silenced=False))
    ui_page.get_by_text("No alert groups found").wait_for(timeout=VISIBLE_WITHIN_S * 1000)
    assert ui_alert_group(ui_page, name).count() == 0

    ui_page.goto(f"{alertmanager_endpoint.url}/#/silences")
    ui_page.get_by_text(f"alertname={name}").first.wait_for(timeout=VISIBLE_WITHIN_S * 1000)
    screenshot(ui_page, lab_reports_dir, "alertmanager-silences")
    ui_page.goto(f"{alertmanager_endpoint.url}/#/silences/{silence['id']}")
    ui_page.get_by_text(creator, exact=True).wait_for(timeout=VISIBLE_WITHIN_S * 1000)
    ui_page.get_by_role("button", name="Expire").click()
    ui_page.get_by_role("button", name="Confirm").click()  # the UI asks before it expires a silence

    def expired():
        return alertmanager.silence(silence["id"])["status"]["state"] == "expired"

    wait_until(expired, timeout=VISIBLE_WITHIN_S, what=f"silence {silence['id']} expired from the UI")


@pytest.mark.prometheus
def test_prometheus_classic_ui_shows_the_lab_rule_and_a_query_of_the_targets(prometheus, ui_page, lab_reports_dir):
    base = prometheus.base_url
    ui_page.goto(f"{base}/classic/alerts")
    rules = [
        rule["name"] for group in prometheus.rule_groups() for rule in group["rules"] if rule["type"] == "alerting"
    ]
    assert rules, "Prometheus has no alert rules"
    for rule in rules:
        ui_page.get_by_text(rule, exact=False).first.wait_for(timeout=VISIBLE_WITHIN_S * 1000)
    screenshot(ui_page, lab_reports_dir, "prometheus-alerts")

    jobs = sorted({target["labels"]["job"] for target in prometheus.active_targets()})
    assert jobs, "Prometheus has no targets"
    query = urllib.parse.urlencode({"g0.expr": "up", "g0.tab": "1"})
    ui_page.goto(f"{base}/classic/graph?{query}")
    for job in jobs:
        ui_page.get_by_text(f'job="{job}"', exact=False).first.wait_for(timeout=VISIBLE_WITHIN_S * 1000)
    screenshot(ui_page, lab_reports_dir, "prometheus-query")
