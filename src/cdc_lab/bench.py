"""`make bench`: the lab's performance against the spec's targets, as medians over several runs.

Quick figures (Spark session start, Delta writes, Alertmanager latency, CDC from a MySQL commit to Debezium's event
read from Kafka, and on to the row visible in Delta through the lab's streaming job) are measured ``--runs`` times
against the live lab. Lab cycles (``--cycles``, 0 to leave out) take the lab down and time `make lab` with cached
images, the no-op re-run and `make verify`, sampling the containers' memory during the suite. ``--cold`` also
removes the lab's images first and reports the time of each image build. The table shows median, min and max
beside each target; the same lands in ``.lab/reports/bench.json``. These machines are shared and noisy: read the
medians. ``bench.png`` beside it draws each figure against its target, and the end-to-end latency distribution.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

from cdc_lab import bench_plot, bench_stream
from cdc_lab.core.containers import memory_in_use
from cdc_lab.core.endpoints import Endpoint, load_endpoints, load_features
from cdc_lab.core.manifest import lab_name, role, state_path
from cdc_lab.services.kafka.client import TopicReader, create_topic
from cdc_lab.services.kafka_connect.client import LabConnector
from cdc_lab.services.kafka_connect.retire import retire_dropped_table_topics
from cdc_lab.services.mysql.client import MysqlSettings, connect

DELTA_ROWS = 1000
CDC_ROWS = 150
CDC_SINGLE_ROWS = 50
LATENCY_REQUESTS = 200


@dataclass
class Figure:
    name: str
    unit: str
    samples: list[float]
    target: float | None
    target_text: str

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def meets_target(self) -> bool | None:
        return None if self.target is None else self.median < self.target

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(median=self.median, min=min(self.samples), max=max(self.samples), meets_target=self.meets_target)
        return data


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def spark_session_start(endpoint: Endpoint, runs: int) -> Figure:
    from pyspark.sql import SparkSession

    def open_and_use() -> None:
        session = SparkSession.builder.remote(endpoint.url).create()
        try:
            session.range(1).count()
        finally:
            session.stop()

    return Figure(
        "Spark Connect session start + first query",
        "s",
        [timed(open_and_use) for _ in range(runs)],
        10.0,
        "< 10 s (NFR-001)",
    )


def delta_write_rs(root: Path, runs: int) -> Figure:
    import pyarrow as pa
    from deltalake import write_deltalake

    data = pa.table({"id": list(range(DELTA_ROWS)), "name": [f"row-{i}" for i in range(DELTA_ROWS)]})
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(dir=root) as directory:
            samples.append(timed(lambda d=directory: write_deltalake(d, data, mode="overwrite")))
    return Figure(f"{DELTA_ROWS}-row Delta write, delta-rs", "s", samples, 5.0, "< 5 s (NFR-002)")


def delta_spark(endpoint: Endpoint, root: Path, mount: str, runs: int) -> list[Figure]:
    """Delta Lake on Spark through Connect: a 1000-row write to a new table, a 1000-row MERGE into it (half
    updates, half inserts), and a read of its whole change feed; each run on a table of its own."""
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(endpoint.url).create()
    writes, merges, feeds = [], [], []
    names = [f"bench_{uuid.uuid4().hex[:10]}" for _ in range(runs)]
    try:
        frame = session.range(DELTA_ROWS).selectExpr("id", "concat('row-', id) AS name")
        source = session.range(DELTA_ROWS // 2, DELTA_ROWS + DELTA_ROWS // 2).selectExpr("id", "'merged' AS name")
        for name in names:
            path = f"{mount}/{name}"
            view = f"source_{name}"
            source.createOrReplaceTempView(view)
            merge = (
                f"MERGE INTO delta.`{path}` t USING {view} s ON t.id = s.id "
                "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
            )
            changes = session.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0)
            writes.append(timed(lambda p=path: frame.write.format("delta").save(p)))
            merges.append(timed(lambda m=merge: session.sql(m).collect()))
            feeds.append(timed(lambda p=path, c=changes: c.load(p).collect()))
    finally:
        session.stop()
        for name in names:
            shutil.rmtree(root / name, ignore_errors=True)
    return [
        Figure(f"{DELTA_ROWS}-row Delta write, Spark", "s", writes, 1.0, "<= 1 s goal (NFR-002: < 5 s)"),
        Figure(f"{DELTA_ROWS}-row Delta MERGE (half updates), Spark", "s", merges, 5.0, "< 5 s (NFR-002)"),
        Figure("Delta change feed read (write + MERGE: 2500 rows), Spark", "s", feeds, 5.0, "< 5 s (NFR-002)"),
    ]


def alertmanager_ui_latency(endpoint: Endpoint, runs: int) -> Figure:
    """From an alert posted to the API to its group on the web UI's alerts page (Debian's chromium, headless)."""
    from datetime import UTC, datetime

    from cdc_lab.core.browser import chromium
    from cdc_lab.services.alertmanager.client import AlertmanagerClient, rfc3339, wait_for_alert_on_ui

    client = AlertmanagerClient(endpoint.url)
    samples = []
    with chromium() as browser:
        page = browser.new_page()
        for _ in range(runs):
            alert = {"labels": {"alertname": f"cdclab_bench_ui_{uuid.uuid4().hex[:10]}", "test": "true"}}
            start = time.perf_counter()
            client.post_alerts([alert])
            try:
                wait_for_alert_on_ui(page, endpoint.url, alert["labels"]["alertname"], timeout=30)
                samples.append(time.perf_counter() - start)
            finally:
                client.post_alerts([{**alert, "endsAt": rfc3339(datetime.now(UTC))}])
    return Figure("Alertmanager: alert posted to visible in the web UI", "s", samples, 5.0, "< 5 s (US2 scenario 1)")


def alertmanager_latency(endpoint: Endpoint) -> list[Figure]:
    session = requests.Session()
    samples = []
    for _ in range(LATENCY_REQUESTS):
        start = time.perf_counter()
        session.get(f"{endpoint.url}/api/v2/alerts", timeout=5).raise_for_status()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p99 = samples[int(0.99 * (len(samples) - 1))]
    return [
        Figure(
            f"Alertmanager GET /api/v2/alerts p50 ({LATENCY_REQUESTS} requests)",
            "ms",
            samples,
            500.0,
            "< 500 ms (NFR-003)",
        ),
        Figure(
            f"Alertmanager GET /api/v2/alerts p99 ({LATENCY_REQUESTS} requests)",
            "ms",
            [p99],
            500.0,
            "< 500 ms (NFR-003)",
        ),
    ]


@contextlib.contextmanager
def captured_bench_table(endpoints: dict[str, Endpoint]) -> Iterator[tuple[Any, str, TopicReader]]:
    """A table the lab's connector captures, a connection to it, and a reader of its topic from now on; the table
    is dropped and the topic deleted afterwards."""
    settings = MysqlSettings.from_manifest()
    connector = LabConnector.from_manifest()
    connection = connect(endpoints["mysql"], settings.account("app"), settings.database, autocommit=False)
    table = f"t_bench_{uuid.uuid4().hex[:10]}"  # a test table's name: its topic goes as the fixtures' do
    topic = connector.topic(table)
    reader = None
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE `{settings.database}`.`{table}` (id INT PRIMARY KEY, v VARCHAR(32))")
        create_topic(endpoints["kafka"], topic)
        reader = TopicReader(endpoints["kafka"], topic)
        yield connection, table, reader
    finally:
        if reader is not None:
            reader.close()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS `{settings.database}`.`{table}`")
        connection.close()
        # Its topic only once the connector has read past the drop (cdc_lab.services.kafka_connect.retire).
        retire_dropped_table_topics(endpoints)


def cdc_capture(endpoints: dict[str, Endpoint], runs: int) -> list[Figure]:
    """Commit in MySQL to read from Debezium's topic: a 150-row transaction whole, and single rows (p50, p99)."""
    bursts: list[float] = []
    singles: list[float] = []
    with captured_bench_table(endpoints) as (connection, table, reader):
        seen = 0
        for run in range(runs):
            rows = [(run * 1000 + i, f"value-{i}") for i in range(CDC_ROWS)]
            with connection.cursor() as cursor:
                cursor.executemany(f"INSERT INTO `{table}` VALUES (%s, %s)", rows)
            connection.commit()
            committed = time.perf_counter()
            seen += CDC_ROWS
            reader.read_until(lambda records, seen=seen: len(records) >= seen, timeout=60)
            bursts.append(time.perf_counter() - committed)
        for i in range(CDC_SINGLE_ROWS):
            with connection.cursor() as cursor:
                cursor.execute(f"INSERT INTO `{table}` VALUES (%s, %s)", (100_000 + i, "single"))
            connection.commit()
            committed = time.perf_counter()
            seen += 1
            reader.read_until(lambda records, seen=seen: len(records) >= seen, timeout=60)
            singles.append((time.perf_counter() - committed) * 1000)
    p50, p99 = statistics.quantiles(singles, n=100)[49], statistics.quantiles(singles, n=100)[98]
    return [
        Figure(f"CDC: commit of {CDC_ROWS} rows to all read from Kafka", "s", bursts, 2.0, "<= 2 s (goal)"),
        Figure(f"CDC: one-row commit to read, p50 ({CDC_SINGLE_ROWS} rows)", "ms", [p50], None, ""),
        Figure(f"CDC: one-row commit to read, p99 ({CDC_SINGLE_ROWS} rows)", "ms", [p99], None, ""),
    ]


LATENCY_GOAL_S = 5.0  # commit to visible in Delta, p50, with a 1 s trigger (the goal)
BURST_GOAL_S = 10.0  # 150 rows committed at once, all visible in Delta


def cdc_to_delta(endpoints: dict[str, Endpoint], root: Path, runs: int) -> tuple[list[Figure], list[float]]:
    """MySQL commit to visible in the Delta table the lab's streaming job keeps: single rows (p50, p99) and bursts
    of 150 rows. Also returns each single row's latency, for the picture."""
    with captured_bench_table(endpoints) as (connection, table, reader):
        measured = bench_stream.cdc_to_delta(connection, table, reader.topic, endpoints["spark"], root, runs)
    quantiles = statistics.quantiles(measured.latencies, n=100)
    singles = len(measured.latencies)
    return [
        Figure(
            f"CDC to Delta: one-row commit to visible, p50 ({singles})",
            "s",
            [quantiles[49]],
            LATENCY_GOAL_S,
            f"<= {LATENCY_GOAL_S:g} s (goal)",
        ),
        Figure(f"CDC to Delta: one-row commit to visible, p99 ({singles})", "s", [quantiles[98]], None, ""),
        Figure(
            f"CDC to Delta: {bench_stream.BURST_ROWS}-row commit to all visible",
            "s",
            measured.bursts,
            BURST_GOAL_S,
            f"<= {BURST_GOAL_S:g} s (goal)",
        ),
        Figure("CDC to Delta: a batch's apply time (addBatch)", "s", measured.applied or [0.0], None, ""),
    ], measured.latencies


def memory_in_use_mib() -> float:
    """Memory in use by all the lab's containers now, in MiB (docker stats)."""
    return sum(memory_in_use().values()) / 2**20


def container_memory() -> Figure:
    return Figure(
        "memory in use by all lab containers", "MiB", [memory_in_use_mib()], 4096.0, "< 4 GiB (SC-008; goal <= 3 GiB)"
    )


def make(target: str, env: dict[str, str] | None = None, *args: str) -> tuple[float, str]:
    """Run `make <target> [args]` in the project; return its wall time and output; raise if it fails."""
    start = time.perf_counter()
    result = subprocess.run(
        ["make", target, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_FORCE_COLOR": "0", **(env or {})},
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(
            f"make {target} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
        )
    return elapsed, result.stdout


def lab_cycles(cycles: int) -> list[Figure]:
    """Time `make lab` from no containers (images cached), the no-op re-run (settled by the record, and with every
    task run), and `make verify` (with the memory peak)."""
    up, noop, every_task, verify, peak, after = [], [], [], [], [], []
    for _ in range(cycles):
        make("down")
        up.append(make("lab")[0])
        noop.append(make("lab")[0])
        every_task.append(make("lab", {}, "ANSIBLE_ARGS=-e lab_fast_path=false")[0])
        samples: list[float] = []
        done = threading.Event()

        def sample(store: list[float] = samples, stop: threading.Event = done) -> None:
            while not stop.wait(2.0):
                store.append(memory_in_use_mib())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            verify.append(make("verify")[0])
        finally:
            done.set()
            sampler.join(timeout=30)
        peak.append(max(samples, default=0.0))
        after.append(memory_in_use_mib())
    return [
        Figure("make lab: images cached, no containers", "s", up, 25.0, "<= 25 s (issue 13)"),
        Figure("make lab: no-op re-run (changed=0)", "s", noop, 5.0, "<= 5 s (issue 13)"),
        Figure("make lab: no-op, every task (lab_fast_path=false)", "s", every_task, 120.0, "< 2 min (SC-007)"),
        Figure("make verify: whole suite, 4 workers, strict", "s", verify, 300.0, "< 5 min (SC-001)"),
        Figure("memory in use during the suite (peak)", "MiB", peak, 4096.0, "< 4 GiB (SC-008; goal <= 3 GiB)"),
        Figure("memory in use after the suite", "MiB", after, 4096.0, "< 4 GiB (SC-008; goal <= 3 GiB)"),
    ]


# The lines `make lab` prints (callback cdc_lab.lab.summary) and the slowest tasks in its log.
BUILD_LINE = re.compile(r"^\s+(\S+)\s+image built in ([0-9.]+) s", re.MULTILINE)
DEBOOTSTRAP_LINE = re.compile(r"Debootstrap a minimal rootfs and import it for suite (\S+) -+ ([0-9.]+)s")
LATEST_LOG = Path(".lab") / "logs" / "latest.log"


def cold_start() -> list[Figure]:
    """Remove the lab's images, take it down, and time `make lab` from nothing, image by image."""
    make("down")
    images = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True, text=True, check=True
    ).stdout.split()
    lab_images = [image for image in images if image.startswith(f"{lab_name()}/")]
    if lab_images:
        subprocess.run(["docker", "rmi", "-f", *lab_images], capture_output=True, check=True)
    elapsed, output = make("lab")
    log = LATEST_LOG.read_text() if LATEST_LOG.is_file() else ""
    figures = [Figure("make lab from nothing (all images built)", "s", [elapsed], None, "(first run only; no target)")]
    for suite, seconds in DEBOOTSTRAP_LINE.findall(log):
        figures.append(
            Figure(f"  base image {suite} (debootstrap + import)", "s", [float(seconds)], None, "(part of the above)")
        )
    for service, seconds in BUILD_LINE.findall(output):
        figures.append(Figure(f"  image build for {service}", "s", [float(seconds)], None, "(part of the above)"))
    return figures


def render(figures: list[Figure]) -> str:
    header = f"{'figure':<58} {'median':>10} {'min':>10} {'max':>10}  target (runs)"
    lines = [header, "-" * len(header)]
    for figure in figures:
        verdict = {True: "met", False: "MISSED", None: ""}[figure.meets_target]
        lines.append(
            f"{figure.name:<58} {figure.median:>8.4g}{figure.unit:>2} {min(figure.samples):>8.4g}{figure.unit:>2} "
            f"{max(figure.samples):>8.4g}{figure.unit:>2}  {figure.target_text} {verdict} ({len(figure.samples)})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (the median is reported)")
    parser.add_argument("--cycles", type=int, default=3, help="lab cycles (make down, lab, lab, verify); 0 skips them")
    parser.add_argument("--cold", action="store_true", help="also time a cold start: remove the lab's images first")
    parser.add_argument("--output", type=Path, help="where the figures go (default: bench.json in .lab/reports)")
    args = parser.parse_args(argv)
    args.output = args.output or state_path("reports") / "bench.json"
    endpoints = load_endpoints()
    features = load_features()
    delta = role("spark")["delta"]
    root = Path(delta["host_dir"])
    root.mkdir(parents=True, exist_ok=True)

    figures = [spark_session_start(endpoints["spark"], args.runs), delta_write_rs(root, args.runs)]
    skipped = []
    if features.get("spark_delta", {}).get("available"):
        figures += delta_spark(endpoints["spark"], root, delta["mount"], args.runs)
    else:
        skipped.append(f"Delta on Spark: {features.get('spark_delta', {}).get('reason', '')}")
    figures += alertmanager_latency(endpoints["alertmanager"])
    figures.append(alertmanager_ui_latency(endpoints["alertmanager"], args.runs))
    figures += cdc_capture(endpoints, args.runs)
    latencies: list[float] = []
    if features.get("spark_delta", {}).get("available"):
        stream_figures, latencies = cdc_to_delta(endpoints, root, args.runs)
        figures += stream_figures
    else:
        skipped.append(f"CDC to Delta: {features.get('spark_delta', {}).get('reason', '')}")
    figures.append(container_memory())
    if args.cycles > 0:
        figures += lab_cycles(args.cycles)
    if args.cold:
        figures += cold_start()

    print(render(figures))
    for line in skipped:
        print(f"not measured: {line}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps({"runs": args.runs, "figures": [f.as_dict() for f in figures], "not_measured": skipped}, indent=2)
    )
    picture = bench_plot.draw(figures, latencies, LATENCY_GOAL_S, args.output.with_name("bench.png"))
    print(f"written: {args.output}, {picture}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
