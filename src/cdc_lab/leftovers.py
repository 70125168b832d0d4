"""Test data left in the lab: what the suite's fixtures make must be gone when the suite ends (NFR-007).

Looks for what the fixtures create: MySQL tables named ``t_*`` in the lab's database, active Alertmanager
silences and alerts carrying the ``test="true"`` label, webhook-sink switches left on, and Delta table directories
in the host directory behind the Delta volume (all as the lab's manifest declares them). Alerts that Prometheus
fires from a switch resolve one evaluation after the switch goes off, so the check polls until nothing is left or
``settle`` seconds pass.

``python -m cdc_lab.leftovers`` prints what it found and exits 1 when anything is left, 2 when it could not look.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import mysql.connector
import requests

from cdc_lab.alertmanager import AlertmanagerClient
from cdc_lab.endpoints import Endpoint, load_endpoints
from cdc_lab.manifest import MANIFEST_ENV, ManifestError, find_manifest, read_manifest, role
from cdc_lab.mysql import CredentialsError, MysqlSettings, connect

TEST_TABLE_PATTERN = "t\\_%"
SWITCH_ON = re.compile(r'^cdc_lab_test_switch\{name="([^"]+)"\} 1$', re.MULTILINE)
HTTP_TIMEOUT_S = 5.0


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


def mysql_tables(endpoint: Endpoint, settings: MysqlSettings) -> list[str]:
    """Tables the ``mysql_table`` fixture made (``t_*``) still in the lab's database."""
    connection = connect(endpoint, settings.account("app"), None)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE %s",
                (settings.database, TEST_TABLE_PATTERN),
            )
            return sorted(f"{settings.database}.{row[0]}" for row in cursor.fetchall())
    finally:
        connection.close()


def alertmanager_leftovers(endpoint: Endpoint) -> tuple[list[str], list[str]]:
    """Active silences matching test alerts, and active alerts labelled ``test="true"``."""
    client = AlertmanagerClient(endpoint.url)
    try:
        silences = [
            f"{silence['id']} ({silence.get('comment', '')})"
            for silence in client.silences()
            if silence["status"]["state"] == "active"
            and any(m["name"] == "test" and m["value"] == "true" for m in silence["matchers"])
        ]
        alerts = sorted(
            alert["labels"].get("alertname", "?") + (f"/{alert['labels']['name']}" if "name" in alert["labels"] else "")
            for alert in client.alerts(filters=['test="true"'])
        )
        return silences, alerts
    finally:
        client.session.close()


def sink_switches(endpoint: Endpoint) -> list[str]:
    """Webhook-sink switches a test turned on and did not turn off."""
    response = requests.get(f"{endpoint.url}/metrics", timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    return sorted(SWITCH_ON.findall(response.text))


SPARK_WAREHOUSE = "warehouse"  # spark.sql.warehouse.dir of the lab's Spark; the directory itself is Spark's


def delta_tables(delta_root: Path) -> list[str]:
    """Table directories the ``delta_table`` fixture (or a Spark ``saveAsTable``) made under the lab's Delta root."""
    if not delta_root.is_dir():
        return []
    found = []
    for entry in sorted(delta_root.iterdir()):
        if entry.name == SPARK_WAREHOUSE and entry.is_dir():
            found += [f"{SPARK_WAREHOUSE}/{table.name}" for table in sorted(entry.iterdir())]
        elif not entry.name.startswith("."):
            found.append(entry.name)
    return found


def look(manifest: dict[str, object], endpoints: dict[str, Endpoint]) -> Leftovers:
    """One look at every kind of test data."""
    result = Leftovers()
    try:
        result.found["MySQL tables"] = mysql_tables(endpoints["mysql"], MysqlSettings.from_manifest(manifest))
    except (CredentialsError, mysql.connector.Error, OSError) as exc:
        result.unreachable["MySQL"] = str(exc)
    try:
        silences, alerts = alertmanager_leftovers(endpoints["alertmanager"])
        result.found["active test silences"] = silences
        result.found["active test alerts"] = alerts
    except requests.RequestException as exc:
        result.unreachable["Alertmanager"] = str(exc)
    try:
        result.found["webhook-sink switches on"] = sink_switches(endpoints["webhook-sink"])
    except requests.RequestException as exc:
        result.unreachable["the webhook sink"] = str(exc)
    result.found["Delta tables"] = delta_tables(Path(role("spark", manifest)["delta"]["host_dir"]))
    return result


def find_leftovers(manifest_file: Path, *, settle: float = 30.0, interval: float = 1.0) -> Leftovers:
    """Look until nothing is left or ``settle`` seconds pass; return the last look.

    ``manifest_file`` is the lab's ``.lab/lab.json``: the endpoints, the database, the Delta root come from it.
    """
    environ = {**os.environ, MANIFEST_ENV: str(manifest_file)}
    manifest = read_manifest(environ)
    endpoints = load_endpoints(environ=environ)
    deadline = time.monotonic() + settle
    while True:
        result = look(manifest, endpoints)
        if result.clean or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


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
