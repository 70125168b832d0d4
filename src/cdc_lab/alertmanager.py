"""A client for the Alertmanager API v2 (alerts, silences, status) on requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from cdc_lab.probe import answers_ok

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
