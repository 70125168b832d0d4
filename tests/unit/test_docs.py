"""The README's services table is made from the roles' declarations (`make docs`), never typed: it must match them."""

import pytest

from cdc_lab.docs import README, declared, main, rewrite, table

pytestmark = pytest.mark.unit


def test_readme_services_table_matches_the_roles():
    assert main(["--check"]) == 0, "README.md's services table is out of date: run `make docs`"


def test_table_names_every_declared_port_and_container():
    manifests, lab = declared()
    text = table(manifests, lab)
    for manifest in manifests.values():
        for variable in manifest["ports"]:
            assert f"`{variable}`" in text
        for container in manifest["containers"].values():
            assert f"`{container}`" in text
    assert rewrite(README.read_text(), text) == README.read_text()
