#!/usr/bin/python
# Copyright: cdc-lab contributors. Apache-2.0.
"""Wait for several lab containers to be healthy at once (the end of `make lab`)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: healthy
short_description: Wait, bounded, for several lab containers to be healthy at once
description:
  - Reads each container's converged options from the record M(cdc_lab.lab.container) wrote (its health timeout,
    restart bound and log lines) and polls all of them together with one C(docker inspect) until each is healthy.
  - Each container has its own deadline, its health_timeout from the start of this task. A container whose restart
    policy has given up is reported at once.
  - Fails with every container that did not become healthy: its state, restart count, health log and last log lines.
  - Changes nothing. In check mode it waits for nothing.
options:
  records:
    description: The record files of the containers to wait for (written by M(cdc_lab.lab.container)); a container
      without one (never converged, as in a run limited by tags) is not waited for.
    type: list
    elements: path
    required: true
author: cdc-lab
"""

RETURN = r"""
took:
  description: Container name -> seconds until it was healthy (from the start of this task).
  type: dict
  returned: always
seconds: {description: Seconds the task took., type: float, returned: always}
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cdc_lab.lab.plugins.module_utils.docker_cli import Docker, wait_healthy


def main() -> None:
    module = AnsibleModule(
        argument_spec={"records": {"type": "list", "elements": "path", "required": True}},
        supports_check_mode=True,
    )
    started = time.monotonic()
    if module.check_mode:
        module.exit_json(changed=False, took={}, seconds=0.0)
    specs = []
    for path in module.params["records"]:
        if not os.path.exists(path):
            continue  # never converged (a run limited by tags): nothing to wait for
        try:
            with open(path, encoding="utf-8") as handle:
                specs.append(json.load(handle))
        except (OSError, ValueError) as error:
            module.fail_json(msg=f"cannot read the container record {path}: {error}")
    took, reports = wait_healthy(Docker(module), specs, {spec["name"]: started for spec in specs})
    if reports:
        module.fail_json(msg="\n\n".join(reports), took=took)
    module.exit_json(changed=False, took=took, seconds=round(time.monotonic() - started, 2))


if __name__ == "__main__":
    main()
