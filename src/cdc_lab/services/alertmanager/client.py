"""A client for the Alertmanager API v2 (alerts, silences, status) on requests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import requests

from cdc_lab.core.probe import answers_ok
from cdc_lab.core.wait import wait_until

DEFAULT_TIMEOUT_S = 5.0


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def matcher(name: str, value: str, *, is_regex: bool = False, is_equal: bool = True) -> dict[str, Any]:
    """One silence matcher."""
    return {"name": name, "value": value, "isRegex": is_regex, "isEqual": is_equal}


@dataclass
class AlertmanagerClient:
    """Talks to one Alertmanager through its API v2."""

    base_url: str
    timeout: float = DEFAULT_TIMEOUT_S
    session: requests.Session = field(default_factory=requests.Session)

    def _url(self, path: str) -> str:
        return f"{self.base_url}/api/v2{path}"

    def _check(self, response: requests.Response) -> requests.Response:
        if not response.ok:
            raise requests.HTTPError(
                f"{response.request.method} {response.url} answered {response.status_code}: {response.text[:500]}",
                response=response,
            )
        return response

    def ready(self) -> bool:
        return answers_ok(self.session, f"{self.base_url}/-/ready", self.timeout)

    def healthy(self) -> bool:
        return answers_ok(self.session, f"{self.base_url}/-/healthy", self.timeout)

    def status(self) -> dict[str, Any]:
        """Cluster, version and the loaded configuration (``config.original``)."""
        return self._check(self.session.get(self._url("/status"), timeout=self.timeout)).json()

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Post alerts: each a dict with ``labels`` and optionally ``annotations``, ``startsAt``, ``endsAt``."""
        self._check(self.session.post(self._url("/alerts"), json=alerts, timeout=self.timeout))

    def alerts(
        self,
        *,
        filters: list[str] | None = None,
        receiver: str | None = None,
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
        unprocessed: bool = True,
    ) -> list[dict[str, Any]]:
        """Alerts matching label ``filters`` (e.g. ``alertname="x"``), optionally routed to ``receiver`` (a regex)."""
        params: dict[str, Any] = {
            "active": str(active).lower(),
            "silenced": str(silenced).lower(),
            "inhibited": str(inhibited).lower(),
            "unprocessed": str(unprocessed).lower(),
        }
        if filters:
            params["filter"] = filters
        if receiver is not None:
            params["receiver"] = receiver
        return self._check(self.session.get(self._url("/alerts"), params=params, timeout=self.timeout)).json()

    def create_silence(
        self,
        matchers: list[dict[str, Any]],
        *,
        duration: timedelta = timedelta(hours=1),
        comment: str = "cdc-lab test silence",
        created_by: str = "cdc-lab",
    ) -> str:
        """Create a silence starting now; return its id."""
        now = datetime.now(UTC)
        body = {
            "matchers": matchers,
            "startsAt": rfc3339(now),
            "endsAt": rfc3339(now + duration),
            "createdBy": created_by,
            "comment": comment,
        }
        response = self._check(self.session.post(self._url("/silences"), json=body, timeout=self.timeout))
        return response.json()["silenceID"]

    def silences(self, filters: list[str] | None = None) -> list[dict[str, Any]]:
        params = {"filter": filters} if filters else None
        return self._check(self.session.get(self._url("/silences"), params=params, timeout=self.timeout)).json()

    def silence(self, silence_id: str) -> dict[str, Any]:
        return self._check(self.session.get(self._url(f"/silence/{silence_id}"), timeout=self.timeout)).json()

    def expire_silence(self, silence_id: str) -> None:
        self._check(self.session.delete(self._url(f"/silence/{silence_id}"), timeout=self.timeout))


def ui_alerts_url(
    base_url: str, *, name: str | None = None, silenced: bool = False, receiver: str | None = None
) -> str:
    """The web UI's alerts page, filtered to one alertname and/or receiver, with or without silenced alerts."""
    query = {"silenced": str(silenced).lower(), "inhibited": "false", "muted": "false"}
    if name:
        query["filter"] = f'{{alertname="{name}"}}'
    if receiver:
        query["receiver"] = receiver
    return f"{base_url}/#/alerts?{urlencode(query, quote_via=quote)}"


def ui_alert_group(page: Any, name: str) -> Any:
    """The label of an alert's group on the UI's alerts page (a Playwright locator; the filter bar's matcher of the
    same text is not it)."""
    return page.locator("div.btn-group > span.btn", has_text=f'alertname="{name}"')


def wait_for_alert_on_ui(page: Any, base_url: str, name: str, timeout: float, receiver: str | None = None) -> float:
    """Load the UI's alerts page (filtered to the alert, or to a receiver) until the alert is on it (the UI shows
    what it fetched at load), within timeout seconds; return the seconds it took."""
    start = time.monotonic()
    url = ui_alerts_url(base_url, receiver=receiver) if receiver else ui_alerts_url(base_url, name=name)

    def on_screen() -> bool:
        page.goto(url)
        page.reload()
        try:
            ui_alert_group(page, name).wait_for(timeout=1000)
        except Exception:  # not rendered yet (Playwright's TimeoutError): load the page again until the deadline
            return False
        return True

    wait_until(on_screen, timeout=timeout, interval=0.1, what=f"{name} on the Alertmanager UI's alerts page")
    return time.monotonic() - start
