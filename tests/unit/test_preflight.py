"""Bad input fails before anything changes and names the variable (the preflight play, run for real; see
tests/unit/preflight_plays.py for how the two plays run once for the whole test run)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import PROJECT_DIR
from tests.unit.preflight_plays import BAD_VALUES, WHOLE_SITE, HostResult, results

pytestmark = pytest.mark.unit


@pytest.fixture(scope="session")
def preflight(request) -> dict[str, HostResult]:
    """The preflight play (`--tags preflight`) over every case: the defaults, each bad value, a port in use, an
    external receiver refused and one explicitly allowed."""
    return results(request.config, "preflight")


@pytest.fixture(scope="session")
def whole_site(request) -> dict[str, HostResult]:
    """`site.yml` (what `make lab` runs) over each case that must stop it in the preflight play."""
    return results(request.config, "whole-site")


def test_defaults_pass(preflight):
    assert not preflight["defaults"].failed, preflight["defaults"].said


@pytest.mark.parametrize(("case", "named"), [(f"bad_{i:02d}", named) for i, (_, named) in enumerate(BAD_VALUES)])
def test_bad_value_fails_naming_the_variable(preflight, case, named):
    result = preflight[case]
    assert result.failed, f"{case} passed the preflight"
    assert named in result.said, result.said


def test_a_failure_states_only_the_rule_that_is_broken(preflight):
    """mysql_server_id=1 breaks one of the MySQL role's rules: the failure states that rule and none of the others
    its settings pass (one rule per assert item, not one message listing them all)."""
    (case,) = [f"bad_{i:02d}" for i, (extra, _) in enumerate(BAD_VALUES) if extra == "mysql_server_id=1"]
    said = preflight[case].said
    assert "mysql_server_id must be 2..4294967295 (got 1)" in said, said
    for other in ("mysql_image_source", "mysql_binlog_expire_seconds", "mysql_app_user", "mysql_innodb_buffer_pool"):
        assert other not in said, said


@pytest.mark.parametrize(("case", "named"), [(f"site_{i:02d}", named) for i, (_, named) in enumerate(WHOLE_SITE)])
def test_whole_site_play_stops_before_any_change(whole_site, case, named):
    """`make lab` itself (site.yml, every play) stops in the preflight play: nothing built, started or written."""
    result = whole_site[case]
    assert result.failed
    assert named in result.said, result.said
    assert result.stats.get("changed") == 0, result.stats
    assert "Bring the lab up" not in result.plays, result.plays


def test_port_in_use_by_something_else_is_refused(preflight):
    """The port was held (by the process that ran the play) while the play ran."""
    said = preflight["port_in_use"].said
    assert preflight["port_in_use"].failed
    port = int(preflight["port_in_use"].variables["prometheus_port"])
    assert f"Port {port} (prometheus_port) is already in use" in said, said
    suggested = int(re.search(r"-e prometheus_port=(\d+)", said)[1])
    assert port < suggested <= 65535, "the advice must name a port, and another one"


def test_preflight_covers_every_role_the_lab_runs():
    plays = yaml.safe_load((PROJECT_DIR / "playbooks" / "lab.yml").read_text())
    (converge,) = [play for play in plays if "roles" in play]
    roles = [entry["role"] for entry in converge["roles"]]
    group_vars = yaml.safe_load((PROJECT_DIR / "group_vars" / "all" / "lab.yml").read_text())
    assert group_vars["lab_roles"] == ["lab_preflight", *roles]
    for role in roles:
        assert (PROJECT_DIR / "roles" / role / "tasks" / "preflight.yml").is_file(), role


def test_external_receiver_passes_only_when_explicitly_allowed(preflight):
    assert preflight["external_refused"].failed
    assert "Receiver 'default' in alertmanager_receivers" in preflight["external_refused"].said
    assert not preflight["external_allowed"].failed, preflight["external_allowed"].said
