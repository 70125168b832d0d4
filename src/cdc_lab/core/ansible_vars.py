"""The lab's variables as Ansible sees them without a run: group_vars over every role's defaults, loaded trusted for
templating, with Ansible's own templating to evaluate them (the docs table and the template tests use it)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any


@functools.cache
def init_ansible_plugins() -> None:
    """Ansible's plugin loader (lookups such as `vars`), set up once per process, as ansible-playbook does."""
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader()


def lab_variables(project_dir: Path) -> dict[str, Any]:
    """group_vars/all over every role's defaults (role defaults never share a name), plus inventory_dir."""
    from ansible.parsing.dataloader import DataLoader

    loader = DataLoader()
    variables: dict[str, Any] = {}
    for path in sorted((project_dir / "group_vars" / "all").glob("*.yml")):
        variables.update(loader.load_from_file(str(path), trusted_as_template=True) or {})
    for path in sorted((project_dir / "roles").glob("*/defaults/main.yml")):
        for key, value in (loader.load_from_file(str(path), trusted_as_template=True) or {}).items():
            variables.setdefault(key, value)
    variables["inventory_dir"] = str(project_dir / "inventory")
    return variables


def template(variables: dict[str, Any], source: str) -> Any:
    """Render source (a template the lab trusts) with variables, through Ansible's templating."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    init_ansible_plugins()
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(source))
