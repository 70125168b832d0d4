"""A user's overrides reach every test through the lab's manifest: `make lab` with another database name and two
Spark workers, then the suite's own MySQL, CDC and Spark tests against that lab (strict: the connector captures the
other database into its topics), then the lab as it was."""

import json
import subprocess
import sys

import pytest

from cdc_lab.core.containers import lab_container_names
from tests.chaos.conftest import MANIFEST, make, venv_env
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.chaos

DATABASE = "shop_override"
# A second worker does not fit the default 4 GiB budget, which the preflight checks against every container's limit
# (each worker's too): a user who adds one raises lab_memory_budget with it.
OVERRIDES = [
    f"mysql_database={DATABASE}",
    "spark_workers=2",
    "spark_worker_container_memory=768m",
    "lab_memory_budget=5g",
]


@pytest.mark.timeout(1200)
def test_overrides_reach_the_tests_through_the_manifest(lab_restored):
    ansible_args = " ".join(f"-e {override}" for override in OVERRIDES)
    try:
        result = make("lab", f"ANSIBLE_ARGS={ansible_args}", timeout=600)
        assert result.returncode == 0, result.stdout[-3000:]
        manifest = json.loads(MANIFEST.read_text())
        assert manifest["roles"]["mysql"]["database"] == DATABASE
        assert manifest["roles"]["spark"]["workers"] == 2
        workers = {n for s, n in manifest["roles"]["spark"]["containers"].items() if s.startswith("spark-worker-")}
        assert len(workers) == 2
        assert workers <= set(lab_container_names(running_only=True))

        suite = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--lab-strict", "-q",
             "tests/lab/test_mysql_cdc.py", "tests/lab/test_cdc.py", "tests/lab/test_spark.py"],
            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600, env=venv_env(), check=False,
        )  # fmt: skip
        assert suite.returncode == 0, suite.stdout[-4000:]
        assert " passed" in suite.stdout, suite.stdout[-1000:]
        assert " skipped" not in suite.stdout, suite.stdout[-1000:]
    finally:
        restored = make("lab", timeout=600)
    assert restored.returncode == 0, "restoring the lab with `make lab` failed:\n" + restored.stdout[-3000:]
    manifest = json.loads(MANIFEST.read_text())
    assert manifest["roles"]["spark"]["workers"] == 1
    extra = [name for name in lab_container_names() if name.endswith("-worker-2")]
    assert not extra, f"`make lab` with one worker left {extra}"
