"""Deleting the topics of test tables without stalling the lab's connector.

The lab's connector captures every table of the lab's database, the tests' own among them, into
``<prefix>.<database>.<table>``. A topic deleted while the connector may still write to it is never made again:
Kafka Connect made it once and remembers, the broker makes no topic by itself, and the connector's producer waits
for it forever while its status says RUNNING (seen after a MySQL crash made Debezium read the binary log again
from its last committed offset). So a test table's topic goes only once its table is dropped and the connector's
committed offset has passed that drop: no change of the table is then left for it to write, even after a restart.

A connector's offset is the start of the last event it handled, so after a trailing DROP it still points at the
DROP. The binary log's end is noted, then one more event is written there (``DROP TABLE IF EXISTS`` of a table
that never exists: logged, and handled by Debezium as a schema change); once the connector's committed offset has
reached it, everything before, every test table's drop among it, is behind the connector. The test run's
controller does this once, at the end of the run.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.wait import WaitTimeout, wait_until
from cdc_lab.services.kafka.client import delete_topics, topics
from cdc_lab.services.kafka_connect.client import ConnectClient, LabConnector
from cdc_lab.services.mysql.client import MysqlSettings, binlog_position, connect, tables_like

# Seconds the connector has to commit an offset past the drops (it commits every offset.flush.interval.ms, 1 s).
PASSED_TIMEOUT_S = 30.0
TEST_TABLE_PREFIX = "t_"
# The table of the marker event: never made, only dropped "if it exists" (not a t_* name: no test table).
MARKER_TABLE = "cdc_lab_offset_marker"


@dataclass(frozen=True)
class Retired:
    deleted: list[str]
    kept: list[str]
    why_kept: str = ""


def retire_dropped_table_topics(endpoints: dict[str, Endpoint], timeout: float = PASSED_TIMEOUT_S) -> Retired:
    """Delete the lab connector's topics of test tables (``t_*``) that no longer exist in MySQL, once the
    connector has read past their drops; keep them (saying why) when it does not within ``timeout``."""
    connector = LabConnector.from_manifest()
    settings = MysqlSettings.from_manifest()
    prefix = connector.topic(TEST_TABLE_PREFIX)
    candidates = sorted(t for t in topics(endpoints["kafka"]) if t.startswith(prefix))
    if not candidates:
        return Retired([], [])
    existing = tables_like(endpoints["mysql"], settings)
    doomed = [t for t in candidates if t.removeprefix(connector.topic("")) not in existing]
    if not doomed:
        return Retired([], [])
    end = binlog_position(endpoints["mysql"], settings)
    connection = connect(endpoints["mysql"], settings.account("app"), settings.database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS `{MARKER_TABLE}`")
    finally:
        connection.close()
    client = ConnectClient(endpoints["kafka-connect"].url)
    try:
        wait_until(
            lambda: (client.binlog_offset(connector.name) or ("", 0)) >= end,
            timeout=timeout,
            interval=0.25,
            what=f"the connector {connector.name} to commit an offset at or past {end[0]}:{end[1]}",
        )
    except WaitTimeout as exc:
        return Retired([], doomed, str(exc))
    delete_topics(endpoints["kafka"], doomed)
    return Retired(doomed, [])
