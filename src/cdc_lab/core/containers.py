"""The lab's containers as Docker sees them (through the docker CLI): find, inspect, and wait for health.

Every wait is bounded; a wait that runs out raises ``ContainerNotHealthy`` carrying the container's state,
restart count, health log and last log lines, so the failure says why.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from cdc_lab.core.manifest import lab_name
from cdc_lab.core.wait import WaitTimeout, wait_until

LAB_LABEL = "cdc-lab.lab"
SERVICE_LABEL = "cdc-lab.service"
DOCKER_TIMEOUT_S = 30.0
LOG_LINES = 30


class ContainerNotHealthy(AssertionError):
    """A container did not become healthy in time; the message has its state, health log and recent logs."""


def docker(*args: str, timeout: float = DOCKER_TIMEOUT_S, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI, capturing text output."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def lab_container_names(lab: str | None = None, *, running_only: bool = False) -> list[str]:
    """Names of the lab's containers (by label; the lab's name from its manifest unless given), sorted."""
    args = ["ps", "--format", "{{.Names}}", "--filter", f"label={LAB_LABEL}={lab or lab_name()}"]
    if not running_only:
        args.insert(1, "-a")
    return sorted(docker(*args).stdout.split())


def inspect(*names: str) -> list[dict[str, Any]]:
    """``docker inspect`` of the named containers."""
    return json.loads(docker("inspect", *names).stdout) if names else []


def container_for(service: str, lab: str | None = None) -> str:
    """The name of the container that runs a lab service (by its service label)."""
    names = docker(
        "ps", "-a", "--format", "{{.Names}}", "--filter", f"label={LAB_LABEL}={lab or lab_name()}",
        "--filter", f"label={SERVICE_LABEL}={service}",
    ).stdout.split()  # fmt: skip
    if len(names) != 1:
        raise LookupError(f"expected one container for lab service {service!r}, found {names}; run `make lab`")
    return names[0]


@dataclass(frozen=True)
class ContainerState:
    """The parts of ``docker inspect`` the lab's waits look at."""

    name: str
    status: str
    health: str
    restart_count: int
    exit_code: int
    health_log: tuple[str, ...]
    started_at: str = ""  # when its process last started (Docker's State.StartedAt)

    @classmethod
    def of(cls, name: str) -> ContainerState:
        (info,) = inspect(name)
        state = info["State"]
        health = state.get("Health") or {}
        return cls(
            name=name,
            status=state["Status"],
            health=health.get("Status", "none"),
            restart_count=int(info.get("RestartCount", 0)),
            exit_code=int(state.get("ExitCode", 0)),
            health_log=tuple(
                f"exit {entry.get('ExitCode')}: {entry.get('Output', '').strip() or '(no output)'}"
                for entry in health.get("Log") or []
            ),
            started_at=state.get("StartedAt", ""),
        )

    def describe(self) -> str:
        return (
            f"{self.name}: state {self.status}, health {self.health}, restarts {self.restart_count}, "
            f"exit code {self.exit_code}"
        )


def recent_logs(name: str, lines: int = LOG_LINES) -> str:
    """The container's last log lines (stdout and stderr together)."""
    result = docker("logs", "--tail", str(lines), name, check=False)
    return (result.stdout + result.stderr).strip()


def explain(name: str) -> str:
    """State, health log and recent logs of a container, for a failure message."""
    state = ContainerState.of(name)
    health_log = "\n".join(f"    {line}" for line in state.health_log) or "    (none)"
    logs = "\n".join(f"    {line}" for line in recent_logs(name).splitlines()) or "    (none)"
    return f"{state.describe()}\n  health log:\n{health_log}\n  last {LOG_LINES} log lines:\n{logs}"


def wait_healthy(name: str, timeout: float, *, interval: float = 0.5) -> float:
    """Wait until Docker reports the container healthy; return the seconds waited.

    Raises ``ContainerNotHealthy`` with the container's state, health log and recent logs when ``timeout`` passes.
    """
    started = time.monotonic()
    try:
        wait_until(
            lambda: ContainerState.of(name).health == "healthy", timeout=timeout, interval=interval, what=f"{name}"
        )
    except WaitTimeout:
        raise ContainerNotHealthy(f"not healthy within {timeout:g} s: {explain(name)}") from None
    return time.monotonic() - started


def parse_size(text: str) -> float:
    """Bytes in a size as ``docker stats`` prints it (``12.5MiB``, ``1.2GB``, ``0B``)."""
    units = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "kB": 1e3, "MB": 1e6, "GB": 1e9}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    return float(text)


def memory_in_use(lab: str | None = None) -> dict[str, float]:
    """Memory in use by each running lab container now, in bytes (``docker stats``)."""
    names = lab_container_names(lab, running_only=True)
    if not names:
        return {}
    output = docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", *names, timeout=60).stdout
    usage: dict[str, float] = {}
    for line in output.splitlines():
        if line.strip():
            name, used = line.split(" ", 1)
            usage[name] = parse_size(used.split("/")[0].strip())
    return usage
