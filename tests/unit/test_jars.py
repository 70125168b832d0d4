"""The JVM jar lock: what `make lock` writes (cdc_lab.jarlock) and how `make lab` uses it (the lab_jars role, run
for real against a file:// Maven repository made here)."""

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from cdc_lab.jarlock import Jar, input_files, lock_path, partition, pyspark_jars_dir, shipped_artifacts
from tests.conftest import PROJECT_DIR, run_playbook

pytestmark = pytest.mark.unit


def test_a_jar_is_named_by_its_repository_path():
    jar = Jar("io/delta/delta-spark_4.2_2.13/4.4.0/delta-spark_4.2_2.13-4.4.0.jar", "ab")
    assert (jar.group, jar.artifact, jar.version, jar.file) == (
        "io.delta",
        "delta-spark_4.2_2.13",
        "4.4.0",
        "delta-spark_4.2_2.13-4.4.0.jar",
    )
    assert jar.coordinate == "io.delta:delta-spark_4.2_2.13:4.4.0"
    assert Jar("org/x/netty/4.1/netty-4.1-linux-x86_64.jar", "").coordinate == "org.x:netty:4.1:linux-x86_64"


def test_shipped_jar_names_give_their_artifact(tmp_path):
    for name in ["zstd-jni-1.5.7-7.jar", "jline-3.29.0-jdk8.jar", "spark-core_2.13-4.2.0.jar", "notes.txt"]:
        (tmp_path / name).write_text("")
    assert shipped_artifacts(tmp_path) == {
        "jline": "jline-3.29.0-jdk8.jar",
        "spark-core_2.13": "spark-core_2.13-4.2.0.jar",
        "zstd-jni": "zstd-jni-1.5.7-7.jar",
    }


def test_the_closure_leaves_out_what_the_image_ships_and_what_is_excluded():
    closure = [
        Jar("io/delta/delta-storage/4.4.0/delta-storage-4.4.0.jar", "1"),
        Jar("org/apache/parquet/parquet-hadoop/1.16.0/parquet-hadoop-1.16.0.jar", "2"),
        Jar("commons-logging/commons-logging/1.3.0/commons-logging-1.3.0.jar", "3"),
    ]
    kept, left_out = partition(
        closure,
        {"parquet-hadoop": "parquet-hadoop-1.17.0.jar"},
        "pyspark 4.2.0",
        {"commons-logging:commons-logging": "jcl-over-slf4j"},
    )
    assert [jar.file for jar in kept] == ["delta-storage-4.4.0.jar"]
    assert left_out == [
        {"coordinate": "commons-logging:commons-logging:1.3.0", "because": "jcl-over-slf4j"},
        {
            "coordinate": "org.apache.parquet:parquet-hadoop:1.16.0",
            "because": "pyspark 4.2.0 ships parquet-hadoop-1.17.0.jar",
        },
    ]


def test_every_input_has_its_committed_lock_with_the_same_roots():
    inputs = input_files([PROJECT_DIR / "roles" / role for role in ("spark", "kafka", "kafka_connect")])
    assert len(inputs) == 5, inputs
    for input_file in inputs:
        lock = lock_path(input_file)
        assert lock.name == input_file.name.replace(".in.yml", ".lock.yml")
        assert lock.is_file(), f"{lock} is missing: run `make lock`"
        roots = yaml.safe_load(input_file.read_text())["roots"]
        locked = yaml.safe_load(lock.read_text())
        assert locked["roots"] == roots, f"{lock} is stale: run `make lock`"
        assert set(roots) <= {jar["coordinate"] for jar in locked["jars"]}


def test_debezium_plugins_leave_out_what_the_connect_worker_gives_them():
    worker = {
        jar["file"]
        for jar in yaml.safe_load((PROJECT_DIR / "roles/kafka_connect/files/jars.lock.yml").read_text())["jars"]
    }
    assert any(name.startswith("connect-runtime-") for name in worker)
    for plugin in (PROJECT_DIR / "roles/kafka_connect/files").glob("debezium-*.jars.lock.yml"):
        jars = [jar["coordinate"] for jar in yaml.safe_load(plugin.read_text())["jars"]]
        shared = [c for c in jars if c.startswith(("org.apache.kafka:connect-api:", "org.apache.kafka:kafka-clients:"))]
        assert not shared, f"{plugin.name} carries the worker's own {shared}"


def test_the_committed_spark_lock_pairs_with_the_pinned_pyspark_and_adds_nothing_spark_ships():
    pins = dict(re.findall(r"(?m)^([a-z-]+)==([^ ;\n]+)", (PROJECT_DIR / "requirements.lock").read_text()))
    lock = yaml.safe_load((PROJECT_DIR / "roles/spark/files/jars.lock.yml").read_text())
    spark_minor = ".".join(pins["pyspark"].split(".")[:2])
    assert f"io.delta:delta-spark_{spark_minor}_2.13:{pins['delta-spark']}" in lock["roots"]
    shipped = shipped_artifacts(pyspark_jars_dir())
    assert [jar["file"] for jar in lock["jars"] if Jar(jar["path"], "").artifact in shipped] == []
    assert all(re.fullmatch(r"[0-9a-f]{64}", jar["sha256"]) for jar in lock["jars"])


PLAY = """
- name: Fetch locked jars
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    lab_maven_repo: "{repo}"
    lab_jars_dir: "{jars_dir}"
    lab_jars_cache_dir: "{work}/cache"
    lab_jars_download_timeout: 5
  roles:
    - role: lab_jars
      lab_jars_lock: "{work}/jars.lock.yml"
      lab_jars_dest: "{work}/context"
      lab_jars_feature: Test jars
  post_tasks:
    - name: Keep the result
      ansible.builtin.copy:
        content: "{{{{ lab_jars_result | to_json }}}}"
        dest: "{work}/result.json"
        mode: "0644"
"""

JARS = {"a-1.0.jar": b"first jar", "b-2.0.jar": b"second jar"}


@pytest.fixture
def repo(tmp_path):
    """A Maven repository on disk serving two jars, and a lock naming them with their sha256."""
    jars = []
    for name, content in JARS.items():
        artifact, version = name.removesuffix(".jar").split("-")
        path = f"org/example/{artifact}/{version}/{name}"
        (tmp_path / "repo" / path).parent.mkdir(parents=True)
        (tmp_path / "repo" / path).write_bytes(content)
        sha = hashlib.sha256(content).hexdigest()
        jars.append({"coordinate": f"org.example:{artifact}:{version}", "file": name, "path": path, "sha256": sha})
    (tmp_path / "jars.lock.yml").write_text(yaml.safe_dump({"roots": [], "jars": jars}))
    return tmp_path


def fetch(work: Path, repo_url: str, jars_dir: str = ""):
    (work / "play.yml").write_text(PLAY.format(repo=repo_url, jars_dir=jars_dir, work=work))
    result = run_playbook(str(work / "play.yml"), timeout=120)
    output = result.stdout + result.stderr
    outcome = json.loads((work / "result.json").read_text()) if result.returncode == 0 else None
    return result.returncode, output, outcome


def staged(work: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((work / "context").glob("*.jar"))}


def test_locked_jars_are_fetched_checked_and_staged_and_a_rerun_changes_nothing(repo):
    code, output, outcome = fetch(repo, f"file://{repo}/repo")
    assert code == 0, output[-3000:]
    assert outcome == {"available": True, "reason": ""}
    assert staged(repo) == JARS
    code, output, _ = fetch(repo, f"file://{repo}/repo")
    assert code == 0
    assert re.search(r"changed=0\b", output), output[-2000:]


def test_a_jar_with_other_bytes_fails_naming_it_and_both_sums_and_is_not_kept(repo):
    (repo / "repo/org/example/b/2.0/b-2.0.jar").write_bytes(b"tampered")
    code, output, _ = fetch(repo, f"file://{repo}/repo")
    assert code != 0
    assert f"b-2.0.jar from file://{repo}/repo/org/example/b/2.0/b-2.0.jar has sha256" in output
    assert hashlib.sha256(b"tampered").hexdigest() in output
    assert hashlib.sha256(b"second jar").hexdigest() in output
    assert not (repo / "cache" / "b-2.0.jar").exists()
    assert "b-2.0.jar" not in staged(repo)


def test_an_unreachable_repository_turns_the_feature_off_with_the_variables_to_set(repo):
    (repo / "repo/org/example/a/1.0/a-1.0.jar").unlink()
    code, output, outcome = fetch(repo, f"file://{repo}/repo")
    assert code == 0, output[-3000:]
    assert outcome["available"] is False
    assert outcome["reason"].startswith(f"Test jars unavailable: file://{repo}/repo gave no a-1.0.jar (")
    assert "set lab_maven_repo" in outcome["reason"]
    assert "lab_jars_dir" in outcome["reason"]
    assert staged(repo) == {}, "no partial set of jars is staged"


def test_a_local_jar_directory_is_checked_against_the_lock(repo):
    local = repo / "local"
    local.mkdir()
    for name, content in JARS.items():
        (local / name).write_bytes(content)
    code, output, outcome = fetch(repo, "http://127.0.0.1:9/unused", jars_dir=str(local))
    assert code == 0, output[-3000:]
    assert outcome["available"] is True
    assert staged(repo) == JARS
    (local / "a-1.0.jar").write_bytes(b"other")
    code, output, _ = fetch(repo, "http://127.0.0.1:9/unused", jars_dir=str(local))
    assert code != 0
    assert "must hold a-1.0.jar with the sha256" in output
    assert hashlib.sha256(b"other").hexdigest() in output
