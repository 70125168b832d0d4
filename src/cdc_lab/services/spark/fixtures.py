"""Fixtures for the lab's Spark: a Spark Connect session, Delta on Spark when the lab has it, Delta table paths
removed afterwards, and each Delta engine (delta-rs and Spark)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from cdc_lab.core.endpoints import Endpoint
from cdc_lab.core.fixtures import require_service
from cdc_lab.core.manifest import ManifestError, role
from cdc_lab.services.spark.delta import DeltaEngine, DeltaPath, DeltaRsEngine, SparkDeltaEngine

_spark_sessions: dict[str, Any] = {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for spark_session in _spark_sessions.values():
        spark_session.stop()
    _spark_sessions.clear()


@pytest.fixture
def spark_endpoint(lab_endpoints: dict[str, Endpoint]) -> Endpoint:
    """Spark Connect's endpoint, probed (gRPC handshake); skips (fails in strict mode) when it does not answer."""
    return require_service(lab_endpoints, "spark")


@pytest.fixture
def spark(spark_endpoint: Endpoint) -> Any:
    """A Spark Connect session on the lab's Spark (one per test process, stopped at the end of the run)."""
    session = _spark_sessions.get(spark_endpoint.url)
    if session is None:
        from pyspark.sql import SparkSession

        session = SparkSession.builder.remote(spark_endpoint.url).getOrCreate()
        _spark_sessions[spark_endpoint.url] = session
    return session


@pytest.fixture
def spark_delta(spark: Any, lab_features: dict[str, dict[str, Any]]) -> Any:
    """The Spark session, when Spark has Delta Lake; otherwise a skip with the lab's one-line reason (which names
    the variable to set), and so a failure in strict mode."""
    feature = lab_features.get("spark_delta", {})
    if not feature.get("available"):
        pytest.skip(str(feature.get("reason") or "Delta Lake on Spark unavailable: the lab did not report it"))
    return spark


@pytest.fixture(scope="session")
def spark_settings() -> dict[str, Any]:
    """What the spark role declares in the lab's manifest: containers, worker count, the Delta volume."""
    try:
        return role("spark")
    except ManifestError as exc:
        pytest.skip(f"Spark is not in the lab's manifest ({exc})")


@pytest.fixture(scope="session")
def delta_root(spark_settings: dict[str, Any]) -> Path:
    """The host directory behind the lab's Delta volume."""
    root = Path(spark_settings["delta"]["host_dir"])
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def delta_table(delta_root: Path, spark_settings: dict[str, Any]) -> Generator[Callable[[str], DeltaPath], None, None]:
    """Unique Delta table paths (host and container views); each is removed afterwards, pass or fail."""
    made: list[DeltaPath] = []

    def make(hint: str) -> DeltaPath:
        path = DeltaPath.unique(delta_root, spark_settings["delta"]["mount"], hint)
        made.append(path)
        return path

    yield make
    for path in made:
        path.remove()


@pytest.fixture(params=["delta-rs", pytest.param("spark", marks=pytest.mark.spark)])
def delta_engine(request: pytest.FixtureRequest) -> DeltaEngine:
    """Each Delta engine: delta-rs (in-process) and Delta on Spark (through Spark Connect)."""
    if request.param == "spark":
        return SparkDeltaEngine(request.getfixturevalue("spark_delta"))
    return DeltaRsEngine()
