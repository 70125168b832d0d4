"""A fresh clone at the path of an earlier one: the earlier checkout's data volumes are still there (`make down`
keeps them) but its `.lab/` (passwords, state) is gone. `make lab` must replace those volumes with empty ones and
say so, instead of failing on a MySQL data directory initialised with passwords nobody has any more."""

import contextlib
import time

import mysql.connector
import pytest

from cdc_lab.core.containers import container_for, docker, inspect
from tests.chaos.conftest import make, record_recovery
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.chaos

STATE_MARKER = PROJECT_DIR / ".lab" / "lab-state"  # lab_state_marker
DATA_SERVICES = ["mysql", "alertmanager", "prometheus", "kafka"]  # the services whose named volumes hold its data
# Docker reports a local volume's CreatedAt from its directory, which Kafka's checkpoints keep touching: the broker's
# volume is told apart by the cluster id its log directory was formatted with.
KAFKA_META = "/var/lib/kafka/data/meta.properties"
SENTINEL = "t_fresh_state_sentinel"  # a test table (t_*): the leftover check reports it if it survives


def data_volumes() -> dict[str, str]:
    """Each data volume of the lab's services, by name, with the time Docker created it (Kafka's: its cluster id)."""
    volumes = {}
    for service in DATA_SERVICES:
        for mount in inspect(container_for(service))[0]["Mounts"]:
            if mount["Type"] == "volume" and service == "kafka":
                meta = docker("exec", container_for(service), "cat", KAFKA_META).stdout
                volumes[mount["Name"]] = next(line for line in meta.splitlines() if line.startswith("cluster.id="))
            elif mount["Type"] == "volume":
                created = docker("volume", "inspect", "--format", "{{.CreatedAt}}", mount["Name"]).stdout.strip()
                volumes[mount["Name"]] = created
    return volumes


def sentinel_exists(mysql_connect) -> bool:
    with mysql_connect().cursor() as cursor:
        cursor.execute("SHOW TABLES LIKE %s", (SENTINEL,))
        return cursor.fetchone() is not None


@pytest.mark.timeout(600)
def test_fresh_lab_state_replaces_the_data_volumes_an_earlier_checkout_left(mysql_connect, lab_restored):
    before = data_volumes()
    assert len(before) == len(DATA_SERVICES), before
    with mysql_connect().cursor() as cursor:
        cursor.execute(f"CREATE TABLE {SENTINEL} (id INT PRIMARY KEY)")
    # What a fresh clone at this path sees: the volumes, and no mark that they belong to this lab state. The
    # passwords stay, so the suite's other tests keep theirs; the replaced volumes are initialised with them.
    STATE_MARKER.unlink()
    try:
        started = time.monotonic()
        result = make("lab", timeout=600)
        took = time.monotonic() - started
        assert result.returncode == 0, result.stdout[-4000:]
        assert STATE_MARKER.is_file(), "`make lab` did not mark the lab state as brought up"
        after = data_volumes()
        assert after.keys() == before.keys()
        for volume, created in before.items():
            assert f"{volume} already existed" in result.stdout, f"`make lab` did not say it replaced {volume}"
            assert after[volume] != created, f"{volume} was kept, not replaced"
        assert "an earlier checkout at this path left" in result.stdout
        assert not sentinel_exists(mysql_connect), "the MySQL data directory survived the replacement"
    finally:
        # MySQL down: lab_restored brings it back (a replaced volume holds no sentinel).
        with contextlib.suppress(mysql.connector.Error), mysql_connect().cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {SENTINEL}")
    second = make("lab", timeout=600)
    assert second.returncode == 0, second.stdout[-4000:]
    assert "an earlier checkout at this path left" not in second.stdout, "a second `make lab` replaced again"
    assert data_volumes() == after
    record_recovery(
        "fresh lab state beside an earlier checkout's volumes", took, f"`make lab` replaced {', '.join(sorted(before))}"
    )
