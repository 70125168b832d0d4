"""The lab's services as tests see them: how to tell each one is up, and what to say when it is not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cdc_lab.core.endpoints import Endpoint, env_var_for
from cdc_lab.core.probe import probe_greeting, probe_grpc, probe_http
from cdc_lab.services.kafka.client import probe as kafka_probe


@dataclass(frozen=True)
class Service:
    """A lab service: its display name and a probe returning None when it answers, else why not."""

    name: str
    title: str
    probe: Callable[[Endpoint], str | None]

    def unavailable_reason(self, endpoint: Endpoint, why: str) -> str:
        return (
            f"{self.title} is not available at {endpoint.url} ({why}); start the lab with `make lab`, "
            f"or set {env_var_for(self.name)} to a running {self.title}"
        )


def http_probe(path: str) -> Callable[[Endpoint], str | None]:
    """A probe that GETs ``path`` on the endpoint and wants a 2xx answer."""
    return lambda endpoint: probe_http(f"{endpoint.url}{path}")


SERVICES: dict[str, Service] = {
    service.name: service
    for service in (
        Service("prometheus", "Prometheus", http_probe("/-/ready")),
        Service("alertmanager", "Alertmanager", http_probe("/-/ready")),
        Service("webhook-sink", "the lab's webhook sink", http_probe("/-/healthy")),
        Service("mysql", "MySQL", lambda endpoint: probe_greeting(endpoint.host, endpoint.port)),
        Service("kafka", "Kafka", kafka_probe),
        Service("kafka-connect", "Kafka Connect", http_probe("/health")),
        Service("spark", "Spark Connect", lambda endpoint: probe_grpc(endpoint.host, endpoint.port)),
        Service("spark-app-ui", "the Spark application UI", http_probe("/api/v1/applications")),
        Service("spark-master-ui", "the Spark master UI", http_probe("/json/")),
    )
}
