#!/usr/bin/python
# Copyright: cdc-lab contributors. Apache-2.0.
"""Build one lab image in one task, only when its inputs changed (the lab_container role's `image` entry point)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: image
short_description: Build a lab image named by the digest of its inputs, only when that image does not exist yet
description:
  - Names the image C(<lab>/<name>:<digest>), where the digest covers the base image's id, the build arguments and
    every file of the build context (path and sha1), and builds it with C(docker build) only when no image of that
    name exists. A re-run with the same inputs costs one C(docker image inspect) per image and the hashing of the
    context.
  - Supports check mode (says whether it would build).
options:
  lab: {description: Name of the lab (the image repository's prefix)., type: str, required: true}
  name: {description: Short name of the image., type: str, required: true}
  context: {description: Build context directory (holds the Dockerfile)., type: path, required: true}
  base_image: {description: Base image reference, passed as build argument LAB_BASE_IMAGE., type: str, required: true}
  build_args: {description: Extra build arguments (part of the digest)., type: dict, default: {}}
  digest_excludes:
    description: fnmatch patterns of context files left out of the digest.
    type: list
    elements: str
    default: []
author: cdc-lab
"""

RETURN = r"""
image: {description: The image reference., type: str, returned: always}
built: {description: Whether it was built now., type: bool, returned: always}
seconds: {description: Seconds the task took., type: float, returned: always}
"""

import fnmatch
import hashlib
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cdc_lab.lab.plugins.module_utils.digest import file_digest


def context_lines(context: str, excludes: list[str]) -> list[str]:
    lines = []
    for root, _dirs, files in os.walk(context):
        for name in files:
            path = os.path.join(root, name)
            if any(fnmatch.fnmatch(name, pattern) for pattern in excludes):
                continue
            lines.append(f"{os.path.relpath(path, context)}:{file_digest(path)}")
    return sorted(lines)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "lab": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "context": {"type": "path", "required": True},
            "base_image": {"type": "str", "required": True},
            "build_args": {"type": "dict", "default": {}},
            "digest_excludes": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    started = time.monotonic()
    rc, out, err = module.run_command(["docker", "image", "inspect", "--format", "{{.Id}}", params["base_image"]])
    if rc != 0:
        module.fail_json(
            msg=f"The base image {params['base_image']} does not exist; add its suite to lab_base_suites "
            "so the lab_base_image role makes it."
        )
    build_args = {key: str(value) for key, value in params["build_args"].items()}
    inputs = [
        out.strip(),
        json.dumps(build_args, sort_keys=True),
        *context_lines(params["context"], params["digest_excludes"]),
    ]
    digest = hashlib.sha1("\n".join(inputs).encode()).hexdigest()[:12]
    image = f"{params['lab']}/{params['name']}:{digest}"
    exists = module.run_command(["docker", "image", "inspect", "--format", "{{.Id}}", image])[0] == 0
    if exists or module.check_mode:
        module.exit_json(changed=not exists, image=image, built=False, seconds=round(time.monotonic() - started, 2))
    command = [
        "docker",
        "build",
        "--pull=false",
        "--tag",
        image,
        "--build-arg",
        f"LAB_BASE_IMAGE={params['base_image']}",
    ]
    for key, value in build_args.items():
        command += ["--build-arg", f"{key}={value}"]
    command.append(params["context"])
    rc, out, err = module.run_command(command)
    if rc != 0:
        tail = "\n".join((out + err).strip().splitlines()[-40:])
        module.fail_json(msg=f"Building {image} from {params['context']} failed (exit {rc}); its last lines:\n{tail}")
    module.exit_json(changed=True, image=image, built=True, seconds=round(time.monotonic() - started, 2))


if __name__ == "__main__":
    main()
