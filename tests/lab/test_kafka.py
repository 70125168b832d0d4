"""Kafka and Kafka Connect in the live lab: the broker's two listeners and its single-replica internal topics, the
lab's Debezium connector (its plugin, its state, its secret kept out of sight), and the lab's own monitoring of
both: Prometheus scrapes them, and a connector that stops running reaches the sink as an alert, then resolves.
"""

import json
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from cdc_lab.core.containers import container_for, docker
from cdc_lab.core.manifest import addresses, role
from cdc_lab.core.wait import wait_until
from cdc_lab.services.kafka.client import ADMIN_TIMEOUT_S, admin, bootstrap

pytestmark = [pytest.mark.kafka]

ALERT_WITHIN_S = 90  # scrape (5 s) + evaluation (5 s) + the rule's `for` + Alertmanager's group wait, with margin


def test_host_clients_get_the_host_listener_and_a_record_makes_the_round_trip(kafka_endpoint, kafka_topics):
    metadata = admin(kafka_endpoint).list_topics(timeout=ADMIN_TIMEOUT_S)
    (broker,) = metadata.brokers.values()
    assert (broker.host, broker.port) == (kafka_endpoint.host, kafka_endpoint.port), "advertised to the host as itself"
    topic = kafka_topics.create(f"t{uuid.uuid4().hex[:10]}.roundtrip")
    producer = Producer({"bootstrap.servers": bootstrap(kafka_endpoint), "enable.idempotence": True})
    producer.produce(topic, key=b"k", value=b"hello from the host")
    assert producer.flush(ADMIN_TIMEOUT_S) == 0
    consumer = Consumer(
        {"bootstrap.servers": bootstrap(kafka_endpoint), "group.id": topic, "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        message = wait_until(lambda: consumer.poll(0.5), timeout=30, what=f"the record on {topic}")
    finally:
        consumer.close()
    assert message.error() is None
    assert (message.key(), message.value()) == (b"k", b"hello from the host")


@pytest.mark.kafka_connect
def test_the_single_broker_keeps_one_replica_of_every_internal_topic(kafka_endpoint, lab_connector):
    metadata = admin(kafka_endpoint).list_topics(timeout=ADMIN_TIMEOUT_S).topics
    internal = [name for name in metadata if name.startswith("_connect-")]
    internal.append(lab_connector.config["schema.history.internal.kafka.topic"])
    assert len(internal) == 4, f"Connect's config, offset and status topics and Debezium's schema history: {internal}"
    for name in internal:
        assert all(len(partition.replicas) == 1 for partition in metadata[name].partitions.values()), name


@pytest.mark.kafka_connect
def test_the_lab_connector_runs_debezium_for_the_lab_server(connect_client, lab_connector, mysql_connect):
    assert connect_client.states(lab_connector.name) == ("RUNNING", ["RUNNING"])
    with mysql_connect().cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        (version,) = cursor.fetchone()
    expected = "MariaDbConnector" if "mariadb" in version.lower() else "MySqlConnector"
    config = connect_client.config(lab_connector.name)
    assert config["connector.class"].endswith(expected)
    plugins = connect_client.plugins()
    assert config["connector.class"] in plugins
    assert plugins[config["connector.class"]].endswith(".Final")
    assert config["database.include.list"] == lab_connector.database
    assert config["provide.transaction.metadata"] == "true"


@pytest.mark.kafka_connect
def test_the_connector_names_its_password_only_by_reference(connect_client, lab_connector, mysql_cdc_account):
    config = connect_client.config(lab_connector.name)
    assert config["database.password"].startswith("${file:"), "the password is resolved by the worker, not stored"
    password = mysql_cdc_account.password
    assert password not in json.dumps(config)
    assert password not in json.dumps(connect_client.status(lab_connector.name))
    logs = docker("logs", container_for("kafka-connect"))
    worker_log = logs.stdout + logs.stderr
    assert "database.password" in worker_log, "the worker logs the connector's settings"
    assert password not in worker_log


@pytest.mark.prometheus
@pytest.mark.kafka_connect
def test_prometheus_scrapes_the_broker_and_the_worker(prometheus, lab_connector):
    metrics = role("kafka")["metrics"] | role("kafka_connect")["metrics"]
    for job, targets in metrics.items():
        up = ["up"] * len(targets)
        wait_until(
            lambda job=job, up=up: prometheus.target_health(job) == up,
            timeout=30,
            what=f"Prometheus's {len(targets)} {job} targets up",
        )
    (state,) = prometheus.query('kafka_server_kafkaserver_value{name="BrokerState"}')
    assert state["value"][1] == "3", "the broker is RUNNING (state 3)"
    (task,) = prometheus.query(f'kafka_connect_task_status{{connector="{lab_connector.name}"}}')
    assert task["metric"]["status"] == "running"
    assert task["metric"]["instance"] == metrics["kafka-connect"][0]
    assert addresses()["kafka-connect"].split(":")[0] == task["metric"]["instance"].split(":")[0]


@pytest.mark.prometheus
@pytest.mark.alertmanager
@pytest.mark.cdc
def test_a_connector_that_stops_running_reaches_the_sink_and_resolves(
    mysql_table, test_connector, connect_client, webhook_sink
):
    table = mysql_table("watched", "id INT PRIMARY KEY")
    connector = test_connector([table])

    def notifications(status):
        return [
            alert
            for notification in webhook_sink.notifications(alertname="KafkaConnectNotRunning")
            for alert in notification["payload"]["alerts"]
            if alert["labels"].get("connector") == connector.name and alert["status"] == status
        ]

    try:
        connect_client.pause(connector.name)
        connect_client.wait_for(connector.name, "PAUSED", timeout=30)
        firing = wait_until(
            lambda: notifications("firing"), timeout=ALERT_WITHIN_S, what=f"KafkaConnectNotRunning for {connector.name}"
        )
        assert firing[0]["labels"]["severity"] == "critical"
        assert connector.name in firing[0]["annotations"]["summary"]
        connect_client.resume(connector.name)
        connect_client.wait_for(connector.name, "RUNNING", timeout=60)
        wait_until(
            lambda: notifications("resolved"), timeout=ALERT_WITHIN_S, what=f"the resolution for {connector.name}"
        )
    finally:
        webhook_sink.forget("KafkaConnectNotRunning")
