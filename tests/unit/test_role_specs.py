"""Each role's defaults/main.yml is the one source of its defaults (group_vars/all/lab.yml for the lab-wide
settings): its meta/argument_specs.yml states types, choices and descriptions only, and every option it declares
that a caller need not pass has its default there."""

import pytest
import yaml

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.unit

ROLES = sorted(path.parent.parent for path in PROJECT_DIR.glob("roles/*/meta/argument_specs.yml"))
LAB_WIDE = yaml.safe_load((PROJECT_DIR / "group_vars" / "all" / "lab.yml").read_text())


def options(spec):
    for entry in (spec.get("argument_specs") or {}).values():
        yield from (entry.get("options") or {}).items()


def defaults_in(spec_options):
    """Every `default:` of a spec, nested options' too."""
    for name, option in spec_options:
        if "default" in option:
            yield name
        yield from defaults_in((option.get("options") or {}).items())


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_argument_specs_state_no_default(role):
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    assert list(defaults_in(options(spec))) == [], "defaults belong in defaults/main.yml"


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_every_optional_spec_option_has_its_default_in_the_role_defaults(role):
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    path = role / "defaults" / "main.yml"
    defaults = {**LAB_WIDE, **((yaml.safe_load(path.read_text()) or {}) if path.is_file() else {})}
    missing = sorted({name for name, option in options(spec) if not option.get("required") and name not in defaults})
    assert missing == [], f"{role.name}: spec options without a default in defaults/main.yml"
