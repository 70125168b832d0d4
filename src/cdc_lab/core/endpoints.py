"""Where the lab's services listen: the endpoints of the lab's manifest (``cdc_lab.core.manifest``).

Any single endpoint can be overridden with ``CDC_LAB_<SERVICE>_URL`` (for example
``CDC_LAB_PROMETHEUS_URL=http://127.0.0.1:19090``), so the same tests can run against a lab that listens elsewhere
(NFR-009), even one whose manifest is not here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cdc_lab.core.manifest import ManifestError, read_manifest

OVERRIDE = re.compile(r"^CDC_LAB_(?P<service>[A-Z0-9_]+)_URL$")


class EndpointError(ManifestError):
    """A manifest entry or override that cannot be used; the message says which one and why."""


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


def _manifest_urls(document: Mapping[str, Any]) -> dict[str, str]:
    if not document:
        return {}
    path = document.get("_path", "the lab's manifest")
    services = document.get("services")
    if not isinstance(services, dict):
        raise EndpointError(f"{path} has no 'services' object; re-run `make lab` to rewrite it")
    urls: dict[str, str] = {}
    for name, entry in services.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise EndpointError(f"{path}: service {name!r} has no 'url' string")
        urls[name] = entry["url"]
    return urls


def load_endpoints(environ: Mapping[str, str] | None = None, start: Path | None = None) -> dict[str, Endpoint]:
    """Every service's endpoint: the manifest's, then the environment's overrides (which may name more)."""
    env = os.environ if environ is None else environ
    document = read_manifest(env, start)
    source = str(document.get("_path", ""))
    endpoints = {name: Endpoint.from_url(name, url, source) for name, url in _manifest_urls(document).items()}
    known = {env_var_for(name): name for name in endpoints}
    for variable, url in env.items():
        match = OVERRIDE.match(variable)
        if match and url:
            name = known.get(variable, match["service"].lower().replace("_", "-"))
            endpoints[name] = Endpoint.from_url(name, url, variable)
    return endpoints


def load_features(environ: Mapping[str, str] | None = None, start: Path | None = None) -> dict[str, dict[str, object]]:
    """What the running lab can do beyond its services (e.g. ``spark_delta``: available, reason)."""
    features = read_manifest(environ, start).get("features", {})
    return features if isinstance(features, dict) else {}
