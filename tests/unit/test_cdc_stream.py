"""The streaming job's pure parts: the one type mapping (Debezium's schema to Delta), the schema changes a batch
makes of a table, the SQL it runs, the lock's entries the Spark image's Python installs, and what a mirror
comparison says when rows differ."""

import datetime
from decimal import Decimal

import pytest

from cdc_lab.images.wheels import lock_entries, requirements_for
from cdc_lab.services.kafka_connect import debezium_types as types
from cdc_lab.services.spark import cdc_batch
from cdc_lab.services.spark.mirror import difference

pytestmark = pytest.mark.unit

LOCK = """\
numpy==2.4.6 ; python_full_version < '3.12' \\
    --hash=sha256:aaa \\
    --hash=sha256:bbb
    # via pandas
numpy==2.5.5 ; python_full_version >= '3.12' \\
    --hash=sha256:ccc
pandas==2.3.3 \\
    --hash=sha256:ddd
    # via
    #   cdc-lab (pyproject.toml)
Python-Dateutil==4.0.0 \\
    --hash=sha256:eee
"""


def column(name, kind, logical=None, **params):
    field = {"type": kind, "optional": True, "field": name}
    if logical:
        field["name"] = logical
    if params:
        field["parameters"] = {key.replace("_", "."): str(value) for key, value in params.items()}
    return field


def decimal_column(name, precision, scale):
    return {
        "type": "string",
        "optional": True,
        "field": name,
        "parameters": {
            types.SOURCE_TYPE: "DECIMAL",
            types.SOURCE_LENGTH: str(precision),
            types.SOURCE_SCALE: str(scale),
        },
    }


@pytest.mark.parametrize(
    ("field", "delta", "json_value", "python"),
    [
        (column("a", "int16"), "smallint", -32768, -32768),
        (column("a", "int64"), "bigint", 2**63 - 1, 2**63 - 1),
        (decimal_column("a", 10, 2), "decimal(10,2)", "-99999999.99", Decimal("-99999999.99")),
        (decimal_column("a", 65, 30), "string", "1." + "0" * 30, Decimal("1")),
        (
            column("a", "bytes", types.DECIMAL, scale=0, connect_decimal_precision=20),
            "decimal(20,0)",
            18446744073709551615,
            Decimal("18446744073709551615"),
        ),
        (column("a", "int32", types.DATE), "date", -719162, datetime.date(1, 1, 1)),
        (
            column("a", "int64", types.TIMESTAMP),
            "timestamp_ntz",
            1709251198123,
            datetime.datetime(2024, 2, 29, 23, 59, 58, 123000),
        ),
        (
            column("a", "int64", types.MICRO_TIMESTAMP),
            "timestamp_ntz",
            -1,
            datetime.datetime(1969, 12, 31, 23, 59, 59, 999999),
        ),
        (
            column("a", "string", types.ZONED_TIMESTAMP),
            "timestamp",
            "2038-01-19T03:14:08.123456Z",
            datetime.datetime(2038, 1, 19, 3, 14, 8, 123456, tzinfo=datetime.UTC),
        ),
        (
            column("a", "int64", types.MICRO_TIME),
            "bigint",
            -3020399000000,
            -datetime.timedelta(hours=838, minutes=59, seconds=59),
        ),
        (column("a", "bytes", types.BITS, length=9), "binary", "AQE=", b"\x01\x01"),
        (column("a", "bytes", types.BITS, length=16), "binary", "AQI=", b"\x02\x01"),
        (column("a", "string", types.ENUM_SET, allowed="x,y,z"), "array<string>", "x,z", ["x", "z"]),
        (column("a", "string", types.ENUM_SET, allowed="x,y,z"), "array<string>", "", []),
        (column("a", "bytes"), "binary", "AAEC", b"\x00\x01\x02"),
        (column("a", "boolean"), "boolean", True, True),
        ({**column("a", "boolean"), "parameters": {types.SOURCE_TYPE: "BOOLEAN"}}, "smallint", True, 1),
        (column("a", "int32", "some.unknown.Logical"), "int", 7, 7),
    ],
)
def test_each_debezium_type_has_one_delta_type_and_python_value(field, delta, json_value, python):
    assert types.delta_type(field) == delta
    assert types.decode(json_value, field) == python
    assert types.decode(None, field) is None


def test_a_struct_maps_each_member_and_keeps_a_null_struct_null():
    geometry = {
        "type": "struct",
        "name": types.GEOMETRY,
        "field": "g",
        "fields": [{"type": "bytes", "field": "wkb"}, {"type": "int32", "field": "srid"}],
    }
    assert types.delta_type(geometry) == "struct<wkb:binary,srid:int>"
    assert types.wire_type(geometry) == "struct<`wkb`:string,`srid`:int>"
    assert types.to_delta("r.`g`", geometry).startswith("CASE WHEN r.`g` IS NULL THEN NULL ELSE named_struct(")
    assert types.decode({"wkb": "AAE=", "srid": 4326}, geometry) == {"wkb": b"\x00\x01", "srid": 4326}


def test_a_schema_no_rule_maps_is_refused_naming_its_column():
    with pytest.raises(types.UnmappedType, match="column 'x'"):
        types.delta_type({"type": "map-of-something", "field": "x"})


def existing(*fields):
    return [(f["field"], types.delta_type(f)) for f in fields]


ID, QTY, LABEL = column("id", "int32"), column("qty", "int32"), column("label", "string")


def test_a_new_table_is_made_from_its_first_batch_with_cdf_and_its_keys():
    assert cdc_batch.schema_change("delta.`/t`", None, [ID, QTY, LABEL], ["id"]) is None
    sql = cdc_batch.first_sql("delta.`/t`", "latest", ["id", "qty", "label"], ["id"])
    assert sql.startswith("CREATE TABLE delta.`/t` USING DELTA TBLPROPERTIES (")
    assert sql.endswith("AS SELECT `id`, `qty`, `label` FROM latest WHERE __cdc_op <> 'd'")
    assert "'delta.enableChangeDataFeed' = 'true'" in sql
    assert "'delta.feature.timestampNtz' = 'supported'" in sql
    assert """'cdc.keys' = '["id"]'""" in sql


def test_the_same_columns_change_nothing_and_new_ones_at_the_end_are_added():
    assert cdc_batch.schema_change("t", existing(ID, QTY), [ID, QTY], ["id"]) is None
    assert cdc_batch.schema_change("t", existing(ID, QTY), [ID, QTY, LABEL], ["id"]) == (
        "ALTER TABLE t ADD COLUMNS (`label` string)"
    )


@pytest.mark.parametrize(
    ("new", "projection"),
    [
        ([ID, LABEL], "CAST(`id` AS int) AS `id`, CAST(`label` AS string) AS `label`"),  # dropped
        ([ID, column("qty", "int64"), LABEL], "CAST(`qty` AS bigint) AS `qty`"),  # widened
        ([ID, column("quantity", "int32"), LABEL], "CAST(`qty` AS int) AS `quantity`"),  # renamed
        ([ID, QTY, LABEL, {**column("stock", "int16"), "default": 7}], "from_json('{\"v\": 7}'"),  # default
    ],
)
def test_any_other_change_rewrites_the_table_keeping_its_values(new, projection):
    sql = cdc_batch.schema_change("delta.`/t`", existing(ID, QTY, LABEL), new, ["id"])
    assert sql.startswith("CREATE OR REPLACE TABLE delta.`/t` USING DELTA TBLPROPERTIES (")
    assert sql.endswith("FROM delta.`/t`")
    assert projection in sql


def test_renames_are_told_by_position_and_names_only_one_side_has():
    assert cdc_batch.renamed([("id", "int"), ("qty", "int")], [ID, column("quantity", "int64")]) == {"quantity": "qty"}
    assert cdc_batch.renamed([("id", "int"), ("qty", "int")], [ID, QTY, LABEL]) == {}  # a column added, none renamed
    assert cdc_batch.sources([("id", "int"), ("qty", "int")], [ID]) == {"id": "id"}  # dropped
    # The rule's limit: a column dropped and another added at its place in one change counts as renamed.
    assert cdc_batch.sources([("id", "int"), ("qty", "int")], [ID, LABEL]) == {"id": "id", "label": "qty"}


def test_a_truncate_deletes_what_the_batch_does_not_bring_back():
    assert cdc_batch.merge_sql("t", "s", ["id", "v"], ["id"], truncated=True).endswith(
        "WHEN NOT MATCHED BY SOURCE THEN DELETE"
    )
    assert "NOT MATCHED BY SOURCE" not in cdc_batch.merge_sql("t", "s", ["id", "v"], ["id"], truncated=False)


def test_sql_strings_escape_quotes_and_backslashes():
    assert cdc_batch.sql_string("it's a \\ test") == "'it\\'s a \\\\ test'"


def test_a_stream_over_many_topics_writes_each_into_its_own_table():
    assert cdc_batch.target_path({"path": None, "root": "/data/delta/m/"}, "cdc.db.t") == "/data/delta/m/cdc.db.t"
    assert cdc_batch.target_path({"path": "/data/delta/one"}, "cdc.db.t") == "/data/delta/one"


def test_lock_entries_keep_each_pin_with_its_hashes_by_normalised_name():
    entries = lock_entries(LOCK)
    assert sorted(entries) == ["numpy", "pandas", "python-dateutil"]
    assert len(entries["numpy"]) == 2
    assert entries["pandas"] == ["pandas==2.3.3 \\\n    --hash=sha256:ddd"]
    assert "# via" not in requirements_for(LOCK, ["numpy", "python_dateutil"])


def test_a_package_the_lock_lacks_is_named():
    with pytest.raises(SystemExit, match="no entry for grpcio"):
        requirements_for(LOCK, ["pandas", "grpcio"])


def test_difference_names_missing_extra_and_changed_rows_and_columns():
    mysql = [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": Decimal("1.50")}]
    delta = [{"id": 1, "v": "a"}, {"id": 3, "v": Decimal("1.5")}, {"id": 4, "v": "d"}]
    said = difference(mysql, delta)
    assert "MySQL 3 rows, Delta 3" in said
    assert "missing [2]" in said
    assert "extra [4]" in said
    assert "differs" not in said, "1.50 and 1.5 are the same decimal"
    assert "differs at 3" in difference(mysql, [*delta[:1], {"id": 3, "v": Decimal("1.51")}])
    assert difference(mysql, None) == "no Delta table yet"


def test_leftovers_name_the_fixtures_tables_and_checkpoints_not_the_users(tmp_path):
    from cdc_lab.services.spark.leftovers import delta_tables

    made = ["mirror_0123456789ab", "orders", ".cdc-stream.lock", "warehouse/t1", "_checkpoints/orders"]
    made += ["_checkpoints/cdf_ba9876543210", "cdc_mirror_00aa11bb22cc", ".cdc-mirror-00aa11bb22cc.json"]
    for name in made:
        (tmp_path / name).mkdir(parents=True)
    assert delta_tables(tmp_path, "_checkpoints") == [
        "_checkpoints/cdf_ba9876543210",
        "cdc_mirror_00aa11bb22cc",
        "mirror_0123456789ab",
        "warehouse/t1",
    ]
