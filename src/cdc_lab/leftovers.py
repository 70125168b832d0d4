"""Test data left in the lab: what the suite's fixtures make must be gone when the suite ends (NFR-007).

Looks for what the fixtures create: MySQL tables named ``t_*`` in the lab's database, test connectors (``t_*``)
and their topics and the topics of test tables in Kafka, active Alertmanager
silences and alerts carrying the ``test="true"`` label, webhook-sink switches left on, and Delta table directories
in the host directory behind the Delta volume (all as the lab's manifest declares them). Alerts that Prometheus
fires from a switch resolve one evaluation after the switch goes off, so the check polls until nothing is left or
``settle`` seconds pass.

``python -m cdc_lab.leftovers`` prints what it found and exits 1 when anything is left, 2 when it could not look.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdc_lab.core.endpoints import Endpoint, load_endpoints
from cdc_lab.core.manifest import MANIFEST_ENV, ManifestError, find_manifest, read_manifest
from cdc_lab.core.wait import WaitTimeout, wait_until
from cdc_lab.services.alertmanager import leftovers as alertmanager_leftovers
from cdc_lab.services.kafka import leftovers as kafka_leftovers
from cdc_lab.services.kafka_connect import leftovers as kafka_connect_leftovers
from cdc_lab.services.mysql import leftovers as mysql_leftovers
from cdc_lab.services.spark import leftovers as spark_leftovers
from cdc_lab.services.webhook_sink import leftovers as webhook_sink_leftovers


@dataclass
class Leftovers:
    """What was found, by kind, and the services that could not be asked."""

    found: dict[str, list[str]] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not any(self.found.values()) and not self.unreachable

    def lines(self) -> list[str]:
        lines = [f"{kind}: {', '.join(items)}" for kind, items in sorted(self.found.items()) if items]
        lines += [f"could not check {service}: {why}" for service, why in sorted(self.unreachable.items())]
        return lines


# Each service's own check (cdc_lab.services.<service>.leftovers): its title, what means it could not be asked, and
# leftovers(manifest, endpoints) -> {kind: [items]}.
CHECKS = (
    mysql_leftovers,
    kafka_connect_leftovers,
    kafka_leftovers,
    alertmanager_leftovers,
    webhook_sink_leftovers,
    spark_leftovers,
)


def look(manifest: dict[str, Any], endpoints: dict[str, Endpoint]) -> Leftovers:
    """One look at every kind of test data."""
    result = Leftovers()
    for check in CHECKS:
        try:
            result.found.update(check.leftovers(manifest, endpoints))
        except check.UNREACHABLE as exc:
            result.unreachable[check.TITLE] = str(exc)
    return result


def find_leftovers(manifest_file: Path, *, settle: float = 30.0, interval: float = 1.0) -> Leftovers:
    """Look until nothing is left or ``settle`` seconds pass; return the last look.

    ``manifest_file`` is the lab's ``.lab/lab.json``: the endpoints, the database, the Delta root come from it.
    """
    environ = {**os.environ, MANIFEST_ENV: str(manifest_file)}
    manifest = read_manifest(environ)
    endpoints = load_endpoints(environ=environ)
    looks: list[Leftovers] = []

    def clean() -> bool:
        looks.append(look(manifest, endpoints))
        return looks[-1].clean

    with contextlib.suppress(WaitTimeout):
        wait_until(clean, timeout=settle, interval=interval, what="the test data to go")
    return looks[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cdc_lab.leftovers", description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to wait for test data to go (30)")
    args = parser.parse_args(argv)
    manifest_file = find_manifest()
    if manifest_file is None:
        print("cdc-lab: no .lab/lab.json here; run `make lab` first", file=sys.stderr)
        return 2
    try:
        result = find_leftovers(manifest_file, settle=args.settle)
    except ManifestError as exc:
        print(f"cdc-lab: {exc}", file=sys.stderr)
        return 2
    if result.clean:
        print("cdc-lab: the lab holds no test data")
        return 0
    print("cdc-lab: test data left in the lab:")
    for line in result.lines():
        print(f"  {line}")
    return 2 if result.unreachable and not any(result.found.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
