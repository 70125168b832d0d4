"""The lab's manifest, `.lab/lab.json`: the one contract between `make lab` and the Python side.

`make lab` writes it (the lab_endpoints role) from each role's one declaration of its service (``<role>_manifest``):
the lab's name and state directory, the features it has, every endpoint, and per role its containers, database and
account names, worker count and mounts. The plugin, the clients, the bench, the leftover check and the chaos tests
read those values here and nowhere else, so `make lab ANSIBLE_ARGS="-e mysql_database=shop"` reaches them all.

Found at ``CDC_LAB_MANIFEST`` if set, else ``.lab/lab.json`` in the working directory or a parent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MANIFEST_ENV = "CDC_LAB_MANIFEST"
MANIFEST_PATH = Path(".lab") / "lab.json"


class ManifestError(ValueError):
    """The manifest is missing, unreadable or lacks what was asked for; the message says which and what to run."""


def find_manifest(environ: Mapping[str, str] | None = None, start: Path | None = None) -> Path | None:
    """``CDC_LAB_MANIFEST`` if set, else ``.lab/lab.json`` here or in a parent directory."""
    env = os.environ if environ is None else environ
    explicit = env.get(MANIFEST_ENV)
    if explicit:
        return Path(explicit)
    here = start or Path.cwd()
    for directory in (here, *here.parents):
        candidate = directory / MANIFEST_PATH
        if candidate.is_file():
            return candidate
    return None


def read_manifest(environ: Mapping[str, str] | None = None, start: Path | None = None) -> dict[str, Any]:
    """The whole manifest; empty when there is none (the lab was never brought up here)."""
    path = find_manifest(environ, start)
    if path is None or not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not valid JSON ({exc}); re-run `make lab` to rewrite it") from exc
    if not isinstance(document, dict):
        raise ManifestError(f"{path} is not a JSON object; re-run `make lab` to rewrite it")
    document["_path"] = str(path)
    return document


def role(name: str, manifest: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One role's declaration of its service (containers, database, accounts, workers, mounts, ...)."""
    document = read_manifest() if manifest is None else manifest
    declared = document.get("roles", {}).get(name)
    if not isinstance(declared, dict):
        where = document.get("_path", MANIFEST_PATH)
        raise ManifestError(f"the lab's manifest ({where}) declares no {name!r}; run `make lab`")
    return declared


def lab_name(manifest: Mapping[str, Any] | None = None) -> str:
    document = read_manifest() if manifest is None else manifest
    if not isinstance(document.get("lab"), str):
        raise ManifestError(f"no lab manifest ({MANIFEST_PATH}) names the lab; run `make lab`")
    return str(document["lab"])


def containers(manifest: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Every container of the lab: service (as its label names it) -> container name, in the lab's role order."""
    document = read_manifest() if manifest is None else manifest
    found: dict[str, str] = {}
    for declared in document.get("roles", {}).values():
        found.update(declared.get("containers", {}))
    return found


def state_path(name: str, manifest: Mapping[str, Any] | None = None) -> Path:
    """A directory in the lab's state directory (`.lab/` beside the manifest), made if absent."""
    document = read_manifest() if manifest is None else manifest
    base = Path(document["state_dir"]) if document.get("state_dir") else Path.cwd() / MANIFEST_PATH.parent
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def addresses(manifest: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Where the lab's containers reach each other on its network (service -> host:port or URL), as each role
    declares it (what the services' own configuration points at, e.g. Prometheus at Alertmanager)."""
    document = read_manifest() if manifest is None else manifest
    found = document.get("addresses")
    if not isinstance(found, dict):
        raise ManifestError(f"the lab manifest ({MANIFEST_PATH}) has no addresses; re-run `make lab` to rewrite it")
    return {str(name): str(address) for name, address in found.items()}
