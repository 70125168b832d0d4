"""Spark in the live lab: Spark Connect sessions, jobs on the standalone worker's executors, the shared Delta
volume, and whether Delta Lake on Spark is what the lab says it is."""

import pyarrow.parquet as pq
import pyspark
import pytest
import requests

from cdc_lab.core.fixtures import require_service
from cdc_lab.core.manifest import addresses, lab_name
from cdc_lab.core.wait import wait_until
from tests.conftest import run_concurrently

pytestmark = pytest.mark.spark


UI_TIMEOUT_S = 15  # the driver's UI answers slowly while the 2-core machine runs the whole suite


def executors(app_ui_url):
    """The Connect application's executors, as its UI reports them (polled: the UI can lag behind)."""

    def fetch():
        (app,) = requests.get(f"{app_ui_url}/api/v1/applications", timeout=UI_TIMEOUT_S).json()
        return requests.get(f"{app_ui_url}/api/v1/applications/{app['id']}/executors", timeout=UI_TIMEOUT_S).json()

    return wait_until(fetch, timeout=60, interval=0.5, what="the Spark application UI's executor list")


def test_connect_session_opens_and_matches_the_client_version(spark):
    assert spark.version == pyspark.__version__
    assert spark.range(3).count() == 3


def test_job_runs_on_a_worker_executor_not_in_local_mode(spark, lab_endpoints):
    assert spark.conf.get("spark.master") == addresses()["spark-master"]
    app_ui = lab_endpoints["spark-app-ui"].url

    def worker_tasks():
        return sum(e["totalTasks"] for e in executors(app_ui) if e["id"] != "driver")

    before = worker_tasks()
    total = spark.range(0, 10_000, numPartitions=4).selectExpr("sum(id) AS total").collect()[0].total
    assert total == sum(range(10_000))
    after = wait_until(
        lambda: (tasks := worker_tasks()) >= before + 4 and tasks, timeout=60, interval=0.5, what="executor tasks"
    )
    assert after >= before + 4
    hosts = {e["hostPort"].split(":")[0] for e in executors(app_ui) if e["id"] != "driver"}
    assert hosts
    assert all(host.startswith("spark-worker-") for host in hosts)


def test_master_lists_every_worker_alive_and_the_connect_application(lab_endpoints, spark_settings):
    master_ui = require_service(lab_endpoints, "spark-master-ui")
    state = requests.get(f"{master_ui.url}/json/", timeout=UI_TIMEOUT_S).json()
    assert [w["state"] for w in state["workers"] if w["state"] == "ALIVE"] == ["ALIVE"] * spark_settings["workers"]
    workers = {name for service, name in spark_settings["containers"].items() if service.startswith("spark-worker-")}
    assert len(workers) == spark_settings["workers"]
    assert [app["name"] for app in state["activeapps"]] == [f"{lab_name()} Spark Connect"]


def test_spark_and_the_host_share_the_delta_volume(spark, delta_table):
    table = delta_table("shared_volume")
    spark.range(0, 100).selectExpr("id", "id * 2 AS doubled").write.parquet(table.container)
    host_rows = pq.read_table(table.host).to_pylist()
    assert sorted(row["id"] for row in host_rows) == list(range(100))
    assert all(row["doubled"] == 2 * row["id"] for row in host_rows)


def test_sessions_have_delta_lake_with_the_change_feed_on_by_default(spark_delta, lab_features, delta_table):
    assert lab_features["spark_delta"]["available"], lab_features["spark_delta"]["reason"]
    assert spark_delta.conf.get("spark.sql.catalog.spark_catalog") == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    table = delta_table("delta_probe")
    spark_delta.range(5).write.format("delta").save(table.container)
    assert (table.host / "_delta_log").is_dir()
    assert spark_delta.read.format("delta").load(table.container).count() == 5
    shown = spark_delta.sql(f"SHOW TBLPROPERTIES delta.`{table.container}`").collect()
    properties = {row.key: row.value for row in shown}
    assert properties.get("delta.enableChangeDataFeed") == "true"


def test_four_concurrent_sessions_run_jobs_side_by_side(spark_endpoint):
    from pyspark.sql import SparkSession

    def run(index):
        session = SparkSession.builder.remote(spark_endpoint.url).create()
        try:
            return session.range(0, 1000 * (index + 1)).count()
        finally:
            session.stop()

    assert run_concurrently(run, 4) == [1000 * (i + 1) for i in range(4)]
