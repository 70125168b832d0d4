"""The lab's own promises on a re-run: nothing changes, and no generated password is ever printed."""

import re
import subprocess

import pytest

from tests.conftest import run_playbook

pytestmark = [pytest.mark.lab, pytest.mark.mysql]


def test_rerun_at_vvv_changes_nothing_and_prints_no_password(project_dir, mysql_endpoint):
    passwords = {path.name: path.read_text().split()[0] for path in (project_dir / ".lab" / "credentials").iterdir()}
    assert set(passwords) == {"mysql-root-password", "mysql-app-password", "mysql-cdc-password"}
    for path in (project_dir / ".lab" / "credentials").iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path

    result = run_playbook("site.yml", "-vvv", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE)
    changed_tasks = re.findall(r"^TASK \[(.+?)\].*\n(?:.*\n)*?changed:", result.stdout, re.MULTILINE)
    assert recap, "no play recap"
    assert all(changed == "0" for _, changed in recap), f"a re-run changed something: {recap} {changed_tasks[:5]}"

    containers = subprocess.run(
        ["docker", "ps", "-q", "--filter", "label=cdc-lab.lab=cdc-lab"], capture_output=True, text=True, check=True
    ).stdout.split()
    inspected = subprocess.run(["docker", "inspect", *containers], capture_output=True, text=True, check=True).stdout
    for name, password in passwords.items():
        assert password not in result.stdout + result.stderr, f"{name} appears in the play's -vvv output"
        assert password not in inspected, f"{name} appears in a container's labels or environment"
