#!/usr/bin/python
# Copyright: cdc-lab contributors. Apache-2.0.
"""Fetch the jars of a lock file, each checked against its sha256, into a build context (the lab_jars role)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: jars
short_description: Put exactly the jars a lock file names, sha256-checked, into an image's build context
description:
  - Reads a role's C(jars.lock.yml) (written by C(make lock)); never resolves dependencies.
  - With I(jars_dir), takes each jar from that directory by file name and fails, naming the jar and both sums, when
    one is missing or has another sha256.
  - Otherwise downloads each jar that the cache lacks (or holds with another sha256) from I(repo) into a temporary
    file and moves it into I(cache_dir) only when its sha256 matches the lock. A download whose bytes differ fails
    the task, naming the jar, both sums and the repository; a repository that does not answer or lacks a jar turns
    the feature off (C(available) false) with a one-line C(reason).
  - Stages the jars into I(dest) (only those whose bytes differ) and removes every other jar there; when a jar is
    missing none are staged, so an image never carries part of the set.
  - Supports check mode.
options:
  lock: {description: The lock file., type: path, required: true}
  dest: {description: Build-context directory the jars go into., type: path, required: true}
  feature: {description: What the jars give (for the reason)., type: str, required: true}
  repo: {description: Maven repository URL (a mirror works)., type: str, required: true}
  jars_dir: {description: Local directory holding the jar files instead (air-gapped hosts)., type: str, default: ""}
  cache_dir: {description: Where downloaded jars are kept., type: path, required: true}
  timeout: {description: Seconds one download may take., type: int, default: 60}
  lock_label: {description: How the lock is named in messages., type: str, default: ""}
author: cdc-lab
"""

RETURN = r"""
available: {description: Whether every locked jar is at hand., type: bool, returned: always}
reason: {description: Why not, in one line naming the variables to set., type: str, returned: always}
jars: {description: The locked jars (coordinate, file, path, sha256)., type: list, returned: always}
"""

import hashlib
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.cdc_lab.lab.plugins.module_utils.digest import file_digest

try:
    import yaml
except ImportError:  # pragma: no cover - ansible-core depends on PyYAML
    yaml = None


def sha256_of(path: str) -> str:
    return file_digest(path, "sha256")


def download(url: str, timeout: int, directory: str) -> tuple[str, str]:
    """Download into a temporary file in directory; return its path and sha256."""
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as out:
            response = open_url(url, timeout=timeout, validate_certs=True)
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
    except Exception:
        os.unlink(temporary)
        raise
    return temporary, digest.hexdigest()


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "lock": {"type": "path", "required": True},
            "dest": {"type": "path", "required": True},
            "feature": {"type": "str", "required": True},
            "repo": {"type": "str", "required": True},
            "jars_dir": {"type": "str", "default": ""},
            "cache_dir": {"type": "path", "required": True},
            "timeout": {"type": "int", "default": 60},
            "lock_label": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    params = module.params
    with open(params["lock"], encoding="utf-8") as handle:
        jars = yaml.safe_load(handle)["jars"]
    label = params["lock_label"] or params["lock"]
    changed = False
    source = params["jars_dir"] or params["cache_dir"]
    missing, errors = [], []

    if params["jars_dir"]:
        for jar in jars:
            path = os.path.join(params["jars_dir"], jar["file"])
            found = sha256_of(path) if os.path.isfile(path) else None
            if found != jar["sha256"]:
                held = f"it holds one with sha256 {found}" if found else "it has none"
                module.fail_json(
                    msg=f"lab_jars_dir ({params['jars_dir']}) must hold {jar['file']} with the sha256 "
                    f"that {params['lock']} locks ({jar['sha256']}); {held}."
                )
    else:
        if not module.check_mode:
            os.makedirs(params["cache_dir"], exist_ok=True)
        for jar in jars:
            cached = os.path.join(params["cache_dir"], jar["file"])
            if os.path.isfile(cached) and sha256_of(cached) == jar["sha256"]:
                continue
            changed = True
            if module.check_mode:
                continue
            url = f"{params['repo']}/{jar['path']}"
            try:
                temporary, found = download(url, params["timeout"], params["cache_dir"])
            except Exception as error:  # the repository did not answer, or lacks the jar
                missing.append(jar["file"])
                errors.append(" ".join(str(error).split()))
                continue
            if found != jar["sha256"]:
                os.unlink(temporary)
                module.fail_json(
                    msg=f"{jar['file']} from {url} has sha256 {found}, but {params['lock']} locks "
                    f"{jar['sha256']}; it was not kept. A repository serving other bytes under the "
                    "same coordinate is not to be trusted: point lab_maven_repo at another one, or, "
                    "if the lock is out of date, run `make lock`."
                )
            os.replace(temporary, cached)

    available = not missing
    reason = ""
    if not available:
        reason = (
            f"{params['feature']} unavailable: {params['repo']} gave no {', '.join(missing)[:120]} "
            f"({errors[0][:140]}); set lab_maven_repo to a Maven repository (or mirror) that serves them, or "
            f"lab_jars_dir to a directory holding the files that {label} lists"
        )

    wanted = {jar["file"]: jar["sha256"] for jar in jars} if available else {}
    if not module.check_mode:
        os.makedirs(params["dest"], exist_ok=True)
    present = (
        sorted(name for name in os.listdir(params["dest"]) if name.endswith(".jar"))
        if os.path.isdir(params["dest"])
        else []
    )
    for name in present:
        if name not in wanted:
            changed = True
            if not module.check_mode:
                os.unlink(os.path.join(params["dest"], name))
    for name, sha in wanted.items():
        staged = os.path.join(params["dest"], name)
        if os.path.isfile(staged) and sha256_of(staged) == sha:
            continue
        changed = True
        if not module.check_mode and os.path.isfile(os.path.join(source, name)):
            shutil.copyfile(os.path.join(source, name), staged)
    module.exit_json(changed=changed, available=available, reason=reason, jars=jars)


if __name__ == "__main__":
    main()
