"""Delta Lake data quality (DQ-001..003, DQ-005), each check on both engines: delta-rs (in-process) and Delta on
Spark (through Spark Connect, executed on the workers). Cross-engine tests check that each engine reads what the
other wrote, change feed and schema evolution included, and name what delta-rs does not support."""

import pytest
from deltalake.exceptions import DeltaError, DeltaProtocolError

from cdc_lab.services.spark.delta import CHANGE_TYPE, COMMIT_VERSION, DeltaRsEngine, SparkDeltaEngine
from tests.conftest import run_concurrently

pytestmark = pytest.mark.delta

SCHEMA = {"id": "int32", "name": "string", "qty": "int32"}
ROWS = [{"id": i, "name": f"item-{i}", "qty": i * 10} for i in range(1, 6)]


def test_create_write_row_count_and_schema(delta_engine, delta_table):
    table = delta_table("create")
    delta_engine.write(table, ROWS, SCHEMA, mode="overwrite")
    assert delta_engine.read(table) == ROWS
    assert delta_engine.schema(table) == SCHEMA
    assert delta_engine.version(table) == 0
    assert (table.host / "_delta_log" / "00000000000000000000.json").is_file()


def test_append_then_overwrite(delta_engine, delta_table):
    table = delta_table("append")
    delta_engine.write(table, ROWS[:2], SCHEMA)
    delta_engine.write(table, ROWS[2:], SCHEMA, mode="append")
    assert [row["id"] for row in delta_engine.read(table)] == [1, 2, 3, 4, 5]
    delta_engine.write(table, [{"id": 9, "name": "only", "qty": 1}], SCHEMA, mode="overwrite")
    assert delta_engine.read(table) == [{"id": 9, "name": "only", "qty": 1}]
    assert delta_engine.version(table) == 2


def test_merge_upsert(delta_engine, delta_table):
    table = delta_table("merge")
    delta_engine.write(table, ROWS, SCHEMA)
    delta_engine.upsert(
        table, [{"id": 2, "name": "item-2", "qty": 99}, {"id": 7, "name": "new", "qty": 7}], SCHEMA, "id"
    )
    rows = {row["id"]: row for row in delta_engine.read(table)}
    assert sorted(rows) == [1, 2, 3, 4, 5, 7]
    assert rows[2]["qty"] == 99
    assert rows[7] == {"id": 7, "name": "new", "qty": 7}
    assert rows[1] == ROWS[0]


def test_change_data_feed_shows_every_change_at_its_version(delta_engine, delta_table):
    table = delta_table("cdf")
    delta_engine.write(table, ROWS[:3], SCHEMA)  # version 0: inserts
    delta_engine.update(table, "id = 2", {"qty": "200"})  # version 1: update
    delta_engine.delete(table, "id = 3")  # version 2: delete
    changes = delta_engine.changes(table)
    seen = sorted((c[COMMIT_VERSION], c[CHANGE_TYPE], c["id"], c["qty"]) for c in changes)
    assert seen == [
        (0, "insert", 1, 10),
        (0, "insert", 2, 20),
        (0, "insert", 3, 30),
        (1, "update_postimage", 2, 200),
        (1, "update_preimage", 2, 20),
        (2, "delete", 3, 30),
    ]
    later = sorted((c[COMMIT_VERSION], c[CHANGE_TYPE]) for c in delta_engine.changes(table, starting_version=2))
    assert later == [(2, "delete")]


def test_schema_evolution_add_column_with_merge_schema(delta_engine, delta_table):
    table = delta_table("add_column")
    delta_engine.write(table, ROWS[:2], SCHEMA)
    wider = {**SCHEMA, "colour": "string"}
    delta_engine.write(table, [{"id": 3, "name": "c", "qty": 3, "colour": "red"}], wider, merge_schema=True)
    assert delta_engine.schema(table) == wider
    rows = {row["id"]: row for row in delta_engine.read(table)}
    assert rows[3]["colour"] == "red"
    assert rows[1]["colour"] is None


def test_schema_evolution_widen_a_type(delta_engine, delta_table):
    table = delta_table("widen")
    delta_engine.write(table, ROWS, SCHEMA)
    delta_engine.widen_column(table, "qty", "int64")
    assert delta_engine.schema(table)["qty"] == "int64"
    delta_engine.write(table, [{"id": 6, "name": "big", "qty": 2**40}], {**SCHEMA, "qty": "int64"})
    rows = {row["id"]: row["qty"] for row in delta_engine.read(table)}
    assert rows[6] == 2**40
    assert rows[1] == 10


def test_schema_evolution_drop_a_column(delta_engine, delta_table):
    table = delta_table("drop")
    delta_engine.write(table, ROWS, SCHEMA)
    delta_engine.drop_column(table, "qty")
    assert delta_engine.schema(table) == {"id": "int32", "name": "string"}
    assert delta_engine.read(table) == [{"id": row["id"], "name": row["name"]} for row in ROWS]


def test_time_travel_to_an_earlier_version(delta_engine, delta_table):
    table = delta_table("time_travel")
    delta_engine.write(table, ROWS[:2], SCHEMA)
    delta_engine.write(table, ROWS[2:], SCHEMA)
    delta_engine.delete(table, "id = 1")
    assert [row["id"] for row in delta_engine.read(table, version=0)] == [1, 2]
    assert [row["id"] for row in delta_engine.read(table, version=1)] == [1, 2, 3, 4, 5]
    assert [row["id"] for row in delta_engine.read(table)] == [2, 3, 4, 5]


def test_four_concurrent_writers_on_their_own_tables_do_not_interfere(delta_engine, delta_table):
    tables = [delta_table(f"concurrent{i}") for i in range(4)]

    def write(index):
        for batch in range(3):
            rows = [{"id": index * 100 + batch * 10 + r, "name": f"w{index}", "qty": batch} for r in range(10)]
            delta_engine.write(tables[index], rows, SCHEMA)

    run_concurrently(write, 4)
    for index, table in enumerate(tables):
        rows = delta_engine.read(table)
        assert len(rows) == 30
        assert {row["name"] for row in rows} == {f"w{index}"}
        assert delta_engine.version(table) == 2


def test_concurrent_appends_to_one_table_lose_no_row(delta_engine, delta_table):
    """Delta's optimistic concurrency: blind appends from four writers at once all commit, each as its own
    version, and every row is there."""
    table = delta_table("one_table")
    delta_engine.write(table, ROWS, SCHEMA)

    def append(index):
        for batch in range(3):
            rows = [{"id": 1000 + index * 100 + batch * 10 + r, "name": f"w{index}", "qty": batch} for r in range(10)]
            delta_engine.write(table, rows, SCHEMA)

    run_concurrently(append, 4)
    rows = delta_engine.read(table)
    assert len(rows) == len(ROWS) + 4 * 3 * 10
    assert len({row["id"] for row in rows}) == len(rows)
    assert delta_engine.version(table) == 4 * 3


def test_leftover_table_directory_does_not_break_a_new_table(delta_engine, delta_table, delta_root):
    stale = delta_root / "create_stale_leftover"
    (stale / "_delta_log").mkdir(parents=True, exist_ok=True)
    (stale / "_delta_log" / "00000000000000000000.json").write_text("{not a delta log")
    try:
        table = delta_table("create")
        assert table.host != stale
        delta_engine.write(table, ROWS, SCHEMA)
        assert delta_engine.read(table) == ROWS
    finally:
        import shutil

        shutil.rmtree(stale, ignore_errors=True)


def test_fixture_removes_tables_even_when_the_test_fails(pytester, delta_root, monkeypatch, project_dir):
    monkeypatch.chdir(project_dir)
    pytester.makepyfile(
        """
        from cdc_lab.services.spark.delta import DeltaRsEngine

        def test_fails(delta_table):
            table = delta_table("doomed")
            DeltaRsEngine().write(table, [{"id": 1}], {"id": "int32"})
            (table.host.parent / "doomed_path.txt").write_text(str(table.host))
            assert False, "failing on purpose"
        """
    )
    result = pytester.runpytest_inprocess(str(pytester.path), "-p", "no:cacheprovider", "--rootdir", str(pytester.path))
    result.assert_outcomes(failed=1)
    marker = delta_root / "doomed_path.txt"
    written = marker.read_text()
    marker.unlink()
    assert written.startswith(str(delta_root))
    assert not (delta_root / written.rsplit("/", 1)[1]).exists()


@pytest.mark.spark
def test_spark_writes_and_delta_rs_reads_the_same_including_the_change_feed(spark_delta, delta_table):
    table = delta_table("spark_to_rs")
    spark_engine, rs_engine = SparkDeltaEngine(spark_delta), DeltaRsEngine()
    spark_engine.write(table, ROWS, SCHEMA)
    spark_engine.update(table, "id = 1", {"qty": "11"})
    assert rs_engine.read(table) == spark_engine.read(table)
    assert rs_engine.schema(table) == spark_engine.schema(table)

    def feed(engine):
        return sorted((c[COMMIT_VERSION], c[CHANGE_TYPE], c["id"], c["qty"]) for c in engine.changes(table))

    assert feed(rs_engine) == feed(spark_engine)


@pytest.mark.spark
def test_delta_rs_writes_and_spark_reads_the_same(spark_delta, delta_table):
    table = delta_table("rs_to_spark")
    spark_engine, rs_engine = SparkDeltaEngine(spark_delta), DeltaRsEngine()
    rs_engine.write(table, ROWS, SCHEMA)
    rs_engine.delete(table, "id = 5")
    assert spark_engine.read(table) == rs_engine.read(table)
    assert spark_engine.version(table) == rs_engine.version(table) == 1


def _evolve_on_spark(engine, table, feature):
    engine.write(table, ROWS, SCHEMA)
    if feature == "add column":
        wider = {**SCHEMA, "colour": "string"}
        engine.write(table, [{"id": 6, "name": "f", "qty": 60, "colour": "red"}], wider, merge_schema=True)
        return wider
    engine.drop_column(table, "qty")
    return {"id": "int32", "name": "string"}


@pytest.mark.spark
@pytest.mark.parametrize("feature", ["add column", "drop column"])
def test_delta_rs_reads_and_appends_to_spark_evolved_schemas(spark_delta, delta_table, feature):
    table = delta_table("evolved")
    spark_engine, rs_engine = SparkDeltaEngine(spark_delta), DeltaRsEngine()
    schema = _evolve_on_spark(spark_engine, table, feature)
    assert rs_engine.schema(table) == schema
    assert rs_engine.read(table) == spark_engine.read(table)
    rs_engine.write(table, [dict.fromkeys(schema) | {"id": 99, "name": "from delta-rs"}], schema)
    assert spark_engine.read(table) == rs_engine.read(table)
    assert {row["id"] for row in spark_engine.read(table)} >= {99}


@pytest.mark.spark
def test_delta_rs_reads_the_change_feed_of_a_spark_merged_schema(spark_delta, delta_table):
    table = delta_table("evolved_cdf")
    spark_engine, rs_engine = SparkDeltaEngine(spark_delta), DeltaRsEngine()
    _evolve_on_spark(spark_engine, table, "add column")

    def feed(engine):
        return sorted((c[COMMIT_VERSION], c[CHANGE_TYPE], c["id"], c.get("colour")) for c in engine.changes(table))

    assert feed(rs_engine) == feed(spark_engine)
    assert (1, "insert", 6, "red") in feed(rs_engine)


@pytest.mark.spark
def test_delta_rs_does_not_support_type_widening_nor_the_change_feed_under_column_mapping(spark_delta, delta_table):
    """What delta-rs (deltalake 1.x) does not support of what Spark writes, shown rather than assumed: a table whose
    type was widened (reader feature typeWidening), and the change feed of a column-mapped table (a dropped column).
    Spark reads both; delta-rs refuses each with an error that names it."""
    spark_engine, rs_engine = SparkDeltaEngine(spark_delta), DeltaRsEngine()
    widened = delta_table("widened")
    spark_engine.write(widened, ROWS, SCHEMA)
    spark_engine.widen_column(widened, "qty", "int64")
    assert spark_engine.schema(widened)["qty"] == "int64"
    with pytest.raises(DeltaProtocolError, match="typeWidening"):
        rs_engine.read(widened)

    mapped = delta_table("mapped")
    narrower = _evolve_on_spark(spark_engine, mapped, "drop column")
    spark_engine.write(mapped, [{"id": 7, "name": "g"}], narrower)
    latest = spark_engine.changes(mapped, starting_version=spark_engine.version(mapped))
    assert [(c[CHANGE_TYPE], c["id"]) for c in latest] == [("insert", 7)]
    with pytest.raises(DeltaError, match="Column mapping is not supported"):
        rs_engine.changes(mapped)


@pytest.mark.spark
def test_spark_reads_delta_rs_schema_evolution(spark_delta, delta_table):
    """delta-rs evolves schemas its own way (merge on write; a rewrite for a wider type or a dropped column):
    Spark reads every version it wrote."""
    table = delta_table("rs_evolved")
    spark_engine, rs_engine = SparkDeltaEngine(spark_delta), DeltaRsEngine()
    rs_engine.write(table, ROWS, SCHEMA)
    wider = {**SCHEMA, "colour": "string"}
    rs_engine.write(table, [{"id": 6, "name": "f", "qty": 60, "colour": "red"}], wider, merge_schema=True)
    assert spark_engine.schema(table) == wider
    assert spark_engine.read(table) == rs_engine.read(table)
    rs_engine.widen_column(table, "qty", "int64")
    rs_engine.drop_column(table, "colour")
    assert spark_engine.schema(table) == {"id": "int32", "name": "string", "qty": "int64"}
    assert spark_engine.read(table) == rs_engine.read(table)
    assert spark_engine.read(table, version=1) == rs_engine.read(table, version=1)
