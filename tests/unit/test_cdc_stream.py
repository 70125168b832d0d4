"""The streaming job's pure parts: reading the types schema_of_variant_agg reports, variant paths, the lock's
entries the Spark image's Python installs, and what a mirror comparison says when rows differ."""

import pytest

from cdc_lab.images.wheels import lock_entries, requirements_for
from cdc_lab.services.spark.cdc_batch import json_path, object_fields, sql_type
from cdc_lab.services.spark.mirror import difference, normalise

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


def test_object_fields_keeps_the_order_and_nested_types():
    reported = "OBJECT<id: BIGINT, price: DECIMAL(10,2), tags: ARRAY<STRING>, `a, b`: OBJECT<x: VOID>, note: VOID>"
    assert object_fields(reported) == {
        "id": "BIGINT",
        "price": "DECIMAL(10,2)",
        "tags": "ARRAY<STRING>",
        "a, b": "OBJECT<x: VOID>",
        "note": "VOID",
    }
    assert sql_type("OBJECT<x: BIGINT>") == "STRUCT<x: BIGINT>"


def test_object_fields_of_anything_but_an_object_is_empty():
    assert object_fields("") == {}
    assert object_fields("BIGINT") == {}


def test_json_path_quotes_the_name_and_refuses_quotes():
    assert json_path("order id") == "'$[\"order id\"]'"
    with pytest.raises(ValueError, match="quote"):
        json_path("it's")


def test_lock_entries_keep_each_pin_with_its_hashes_by_normalised_name():
    entries = lock_entries(LOCK)
    assert sorted(entries) == ["numpy", "pandas", "python-dateutil"]
    assert len(entries["numpy"]) == 2
    assert entries["pandas"] == ["pandas==2.3.3 \\\n    --hash=sha256:ddd"]
    assert "# via" not in requirements_for(LOCK, ["numpy", "python_dateutil"])


def test_a_package_the_lock_lacks_is_named():
    with pytest.raises(SystemExit, match="no entry for grpcio"):
        requirements_for(LOCK, ["pandas", "grpcio"])


def test_difference_names_missing_extra_and_changed_rows():
    mysql = [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}]
    delta = [{"id": 1, "v": "a"}, {"id": 3, "v": "x"}, {"id": 4, "v": "d"}]
    said = difference(mysql, delta)
    assert "MySQL 3 rows, Delta 3" in said
    assert "missing [2]" in said
    assert "extra [4]" in said
    assert "differs at 3" in said
    assert difference(mysql, None) == "no Delta table yet"


def test_decimals_compare_as_the_strings_debezium_sends():
    from decimal import Decimal

    assert normalise({"price": Decimal("3.25"), "qty": 3}) == {"price": "3.25", "qty": 3}


def test_leftovers_name_the_fixtures_tables_and_checkpoints_not_the_users(tmp_path):
    from cdc_lab.services.spark.leftovers import delta_tables

    for name in ["mirror_0123456789ab", "orders", ".cdc-stream.lock", "warehouse/t1", "_checkpoints/orders",
                 "_checkpoints/cdf_ba9876543210"]:  # fmt: skip
        (tmp_path / name).mkdir(parents=True)
    assert delta_tables(tmp_path, "_checkpoints") == [
        "_checkpoints/cdf_ba9876543210",
        "mirror_0123456789ab",
        "warehouse/t1",
    ]
