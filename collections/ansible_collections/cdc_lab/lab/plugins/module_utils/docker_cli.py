# Copyright: cdc-lab contributors. Apache-2.0.
"""What the lab's container modules share: the docker CLI, a container's health, the bounded wait for several
containers at once and the report of one that did not become healthy."""

from __future__ import annotations

import json
import time
from typing import Any

HASH_LABEL = "cdc-lab.config-hash"


class Docker:
    """The docker CLI, run through the module (so its errors fail the task with docker's own words)."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def run(self, *args: str, check: bool = True) -> tuple[int, str, str]:
        rc, out, err = self.module.run_command(["docker", *args])
        if check and rc != 0:
            self.module.fail_json(
                msg=f"docker {' '.join(args[:3])} ... failed (exit {rc}): {err.strip() or out.strip()}"
            )
        return rc, out, err

    def inspect(self, kind: str, name: str) -> dict[str, Any] | None:
        found = self.inspect_many(kind, [name])
        return found.get(name)

    def inspect_many(self, kind: str, names: list[str]) -> dict[str, dict[str, Any]]:
        """name -> inspect document, for those of names that exist (one docker call)."""
        if not names:
            return {}
        _, out, _ = self.run(kind, "inspect", *names, check=False)
        try:
            documents = json.loads(out) if out.strip().startswith("[") else []
        except ValueError:
            documents = []
        found = {}
        for document in documents:
            name = document.get("Name", "").lstrip("/")
            found[name] = document
        return found

    def logs(self, name: str, lines: int) -> list[str]:
        _, out, err = self.run("logs", "--tail", str(lines), name, check=False)
        return (out + err).strip().splitlines()


def health_of(container: dict[str, Any] | None) -> str:
    state = container["State"] if container else {}
    return (state.get("Health") or {}).get("Status", "none" if container else "missing")


def is_ready(container: dict[str, Any] | None) -> bool:
    status = health_of(container)
    return status == "healthy" or (status == "none" and bool((container or {}).get("State", {}).get("Running")))


def failure_report(docker: Docker, spec: dict[str, Any], container: dict[str, Any] | None, waited: float) -> str:
    state = (container or {}).get("State", {})
    health_log = [entry.get("Output", "").strip() for entry in (state.get("Health") or {}).get("Log", [])]
    lines = [
        f"{spec['name']} did not become healthy within {float(spec['health_timeout']):g} s (waited {waited:.1f} s; "
        f"state {state.get('Status', 'missing')}, health {health_of(container)}, restarts "
        f"{(container or {}).get('RestartCount', 0)} of {spec['restart_retries']}, exit code "
        f"{state.get('ExitCode', '?')}). Raise the timeout with the service's *_health_timeout variable if the host "
        "is just slow.",
        "Health log:",
        *health_log,
        f"Last {spec['log_lines']} log lines:",
        *docker.logs(spec["name"], spec["log_lines"]),
    ]
    return "\n".join(lines)


def wait_healthy(docker: Docker, specs: list[dict[str, Any]], started: dict[str, float]) -> tuple[dict, list[str]]:
    """Wait for every container of specs at once, each at most its health_timeout from its started time.

    Returns (name -> seconds it took, reports of those that did not become healthy). A container whose restart
    policy has given up is reported at once instead of at its deadline.
    """
    pending = {spec["name"]: spec for spec in specs}
    took: dict[str, float] = {}
    reports: list[str] = []
    while pending:
        found = docker.inspect_many("container", list(pending))
        now = time.monotonic()
        for name, spec in list(pending.items()):
            container = found.get(name)
            state = (container or {}).get("State", {})
            if is_ready(container):
                took[name] = round(now - started[name], 2)
                del pending[name]
                continue
            gave_up = state.get("Status") in ("exited", "dead") and (container or {}).get("RestartCount", 0) >= int(
                spec["restart_retries"]
            )
            if gave_up or now >= started[name] + float(spec["health_timeout"]):
                reports.append(failure_report(docker, spec, container, now - started[name]))
                del pending[name]
        if pending:
            time.sleep(0.25)
    return took, reports
