"""Change data capture from MySQL's binary log, on python-mysql-replication.

Events come out shaped like Debezium's change-event envelope: ``op`` (c, u, d), ``before``, ``after``,
``source`` (binlog file and position, GTID, database, table, server id), ``ts_ms`` and ``transaction``
(id, total order). A reader starts at the server's current position or at a saved ``Position``, and only ever
advances past whole transactions, so a reader restarted from ``position`` neither loses nor repeats events.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import GtidEvent, MariadbGtidEvent, QueryEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.wait import WaitTimeout, wait_until
from cdc_lab.services.mysql.client import Account

CONNECTOR = "cdc-lab"
_EVENTS = [GtidEvent, MariadbGtidEvent, QueryEvent, XidEvent, WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent]


@dataclass(frozen=True, order=True)
class Position:
    """A place in the binary log: the end of a committed transaction."""

    file: str
    pos: int


@dataclass(frozen=True)
class ChangeEvent:
    """One row change, in Debezium's envelope."""

    op: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    source: dict[str, Any]
    ts_ms: int
    transaction: dict[str, Any]

    @property
    def table(self) -> str:
        return f"{self.source['db']}.{self.source['table']}"


def current_position(endpoint: Endpoint, account: Account) -> Position:
    """The server's current end of the binary log."""
    connection = pymysql.connect(
        host=endpoint.host, port=endpoint.port, user=account.user, password=account.password, connect_timeout=5
    )
    try:
        with connection.cursor() as cursor:
            for statement in ("SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"):
                try:
                    cursor.execute(statement)
                except pymysql.err.ProgrammingError:
                    continue
                row = cursor.fetchone()
                if row is None:
                    raise RuntimeError("the server's binary log is off (log_bin): it cannot serve CDC")
                return Position(row[0], int(row[1]))
    finally:
        connection.close()
    raise RuntimeError("the server answers neither SHOW BINARY LOG STATUS nor SHOW MASTER STATUS")


@dataclass
class _Transaction:
    gtid: str | None = None
    events: list[ChangeEvent] = field(default_factory=list)


@dataclass
class BinlogCapture:
    """Reads row changes of the chosen tables from the binary log as the CDC user."""

    endpoint: Endpoint
    account: Account
    position: Position
    tables: list[str] | None = None
    schemas: list[str] | None = None
    server_id: int = field(default_factory=lambda: random.randint(1_000_000, 4_000_000_000))

    @classmethod
    def from_now(
        cls, endpoint: Endpoint, account: Account, *, tables: list[str] | None = None, schemas: list[str] | None = None
    ) -> BinlogCapture:
        """A reader that will see what is committed from now on."""
        return cls(endpoint, account, current_position(endpoint, account), tables=tables, schemas=schemas)

    def _stream(self) -> BinLogStreamReader:
        return BinLogStreamReader(
            connection_settings={
                "host": self.endpoint.host,
                "port": self.endpoint.port,
                "user": self.account.user,
                "password": self.account.password,
                "connect_timeout": 5,
            },
            server_id=self.server_id,
            blocking=False,
            resume_stream=True,
            log_file=self.position.file,
            log_pos=self.position.pos,
            only_events=_EVENTS,
            only_tables=self.tables,
            only_schemas=self.schemas,
            enable_logging=False,
        )

    def read_available(self) -> list[ChangeEvent]:
        """Every change committed since ``position``, in commit order; advances ``position`` past them."""
        stream = self._stream()
        changes: list[ChangeEvent] = []
        current = _Transaction()
        try:
            for event in stream:
                if isinstance(event, GtidEvent | MariadbGtidEvent):
                    current = _Transaction(gtid=str(event.gtid))
                elif isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
                    current.events.extend(self._changes(event, stream, current))
                elif isinstance(event, XidEvent) or (
                    isinstance(event, QueryEvent) and _query(event).upper() == "COMMIT"
                ):
                    changes.extend(current.events)
                    current = _Transaction()
                    self.position = Position(stream.log_file, stream.log_pos)
        finally:
            stream.close()
        return changes

    def read_until(
        self, done: Callable[[list[ChangeEvent]], bool], *, timeout: float, interval: float = 0.1
    ) -> list[ChangeEvent]:
        """Read until ``done(events so far)`` holds; raise ``WaitTimeout`` (with what was read) after ``timeout`` s."""
        events: list[ChangeEvent] = []

        def enough() -> bool:
            events.extend(self.read_available())
            return done(events)

        try:
            wait_until(enough, timeout=timeout, interval=interval, what="the binlog events")
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc}; the binlog reader had {len(events)} event(s): {events!r}") from None
        return events

    def _changes(
        self, event: WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent, stream: BinLogStreamReader, txn: _Transaction
    ) -> Iterable[ChangeEvent]:
        op = {WriteRowsEvent: "c", UpdateRowsEvent: "u", DeleteRowsEvent: "d"}[type(event)]
        already = len(txn.events)
        for index, row in enumerate(event.rows):
            if op == "c":
                before, after = None, dict(row["values"])
            elif op == "u":
                before, after = dict(row["before_values"]), dict(row["after_values"])
            else:
                before, after = dict(row["values"]), None
            order = already + index + 1
            yield ChangeEvent(
                op=op,
                before=before,
                after=after,
                source={
                    "version": CONNECTOR,
                    "connector": "mysql",
                    "ts_ms": event.timestamp * 1000,
                    "db": event.schema,
                    "table": event.table,
                    "server_id": event.packet.server_id,
                    "gtid": txn.gtid,
                    "file": stream.log_file,
                    "pos": stream.log_pos,
                    "row": index,
                },
                ts_ms=int(time.time() * 1000),
                transaction={"id": txn.gtid, "total_order": order, "data_collection_order": order},
            )


def _query(event: QueryEvent) -> str:
    query = event.query
    return (query.decode(errors="replace") if isinstance(query, bytes) else str(query)).strip()
