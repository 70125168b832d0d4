"""The README's services table is made from the roles' declarations (`make docs`), never typed: it must match them."""

import pytest

from cdc_lab.docs import README, declared, main, rewrite, table

pytestmark = pytest.mark.unit


def test_readme_services_and_type_tables_match_their_sources():
    assert main(["--check"]) == 0, "README.md's generated tables are out of date: run `make docs`"


def test_table_names_every_declared_port_and_container():
    manifests, lab = declared()
    text = table(manifests, lab)
    for manifest in manifests.values():
        for variable in manifest["ports"]:
            assert f"`{variable}`" in text
        for container in manifest["containers"].values():
            assert f"`{container}`" in text
    assert rewrite(README.read_text(), text) == README.read_text()


def test_type_table_has_a_row_for_every_rule_of_the_one_mapping():
    from cdc_lab.services.kafka_connect.debezium_types import RULES, readme_table

    rows = readme_table().splitlines()[2:]
    assert len(rows) == len(RULES)
    assert all(f"`{rule.delta_doc}`" in row for rule, row in zip(RULES, rows, strict=True))
