"""Where the lab's services listen.

`make lab` writes `.lab/endpoints.json`; tests and users read it through `load_endpoints`. The file's path can be
set with ``CDC_LAB_ENDPOINTS`` and any single endpoint overridden with ``CDC_LAB_<SERVICE>_URL``
(for example ``CDC_LAB_PROMETHEUS_URL=http://127.0.0.1:19090``), so the same tests can run against a lab that
listens elsewhere (NFR-009).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ENDPOINTS_ENV = "CDC_LAB_ENDPOINTS"
DEFAULT_RELATIVE_PATH = Path(".lab") / "endpoints.json"

# Where each service listens when the lab runs with its defaults and no endpoints file exists yet.
DEFAULT_URLS: Mapping[str, str] = {
    "prometheus": "http://127.0.0.1:9090",
    "alertmanager": "http://127.0.0.1:9093",
    "webhook-sink": "http://127.0.0.1:9095",
    "mysql": "mysql://127.0.0.1:3306",
    "spark": "sc://127.0.0.1:15002",
    "spark-master-ui": "http://127.0.0.1:8080",
    "spark-app-ui": "http://127.0.0.1:4040",
}


class EndpointError(ValueError):
    """An endpoints file or override that cannot be used; the message says which one and why."""


@dataclass(frozen=True)
class Endpoint:
    """One service's address."""

    service: str
    url: str
    host: str
    port: int
    source: str

    @classmethod
    def from_url(cls, service: str, url: str, source: str) -> Endpoint:
        parts = urlsplit(url if "://" in url else f"tcp://{url}")
        if not parts.hostname or parts.port is None:
            raise EndpointError(f"{source}: endpoint of {service!r} must have a host and a port, got {url!r}")
        return cls(service=service, url=url.rstrip("/"), host=parts.hostname, port=parts.port, source=source)


def env_var_for(service: str) -> str:
    """The environment variable that overrides a service's URL."""
    return f"CDC_LAB_{service.upper().replace('-', '_')}_URL"


def find_endpoints_file(environ: Mapping[str, str], start: Path) -> Path | None:
    """The endpoints file: ``CDC_LAB_ENDPOINTS`` if set, else ``.lab/endpoints.json`` here or in a parent."""
    explicit = environ.get(ENDPOINTS_ENV)
    if explicit:
        return Path(explicit)
    for directory in (start, *start.parents):
        candidate = directory / DEFAULT_RELATIVE_PATH
        if candidate.is_file():
            return candidate
    return None


def _read_file(path: Path) -> dict[str, str]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise EndpointError(f"{path} is not valid JSON ({exc}); re-run `make lab` to rewrite it") from exc
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict):
        raise EndpointError(f"{path} has no 'services' object; re-run `make lab` to rewrite it")
    urls: dict[str, str] = {}
    for name, entry in services.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise EndpointError(f"{path}: service {name!r} has no 'url' string")
        urls[name] = entry["url"]
    return urls


def load_endpoints(environ: Mapping[str, str] | None = None, start: Path | None = None) -> dict[str, Endpoint]:
    """Every known service's endpoint: defaults, then the endpoints file, then environment overrides."""
    env = os.environ if environ is None else environ
    path = find_endpoints_file(env, start or Path.cwd())
    endpoints = {name: Endpoint.from_url(name, url, "default") for name, url in DEFAULT_URLS.items()}
    if path is not None:
        for name, url in _read_file(path).items():
            endpoints[name] = Endpoint.from_url(name, url, str(path))
    for name in list(endpoints):
        override = env.get(env_var_for(name))
        if override:
            endpoints[name] = Endpoint.from_url(name, override, env_var_for(name))
    return endpoints


def load_features(environ: Mapping[str, str] | None = None, start: Path | None = None) -> dict[str, dict[str, object]]:
    """What the running lab can do beyond its services (e.g. ``spark_delta``: available, reason)."""
    env = os.environ if environ is None else environ
    path = find_endpoints_file(env, start or Path.cwd())
    if path is None or not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EndpointError(f"{path} is not valid JSON ({exc}); re-run `make lab` to rewrite it") from exc
    features = document.get("features", {}) if isinstance(document, dict) else {}
    return features if isinstance(features, dict) else {}
