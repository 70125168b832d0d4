#!/usr/bin/python
# Copyright: cdc-lab contributors. Apache-2.0.
"""Converge one lab container in one task (the lab_container role's `main` entry point calls it)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: container
short_description: Converge one lab container (volumes, container, restart report, bounded health wait) in one task
description:
  - Brings one container of the lab to its declared configuration the way the lab runs every container, through the
    docker CLI. The configuration is hashed into the label C(cdc-lab.config-hash); a container whose label matches and
    that runs is left alone, so a re-run changes nothing and costs one C(docker inspect).
  - Named volumes are created with the lab's labels. With I(replace_stale_volumes), named volumes that already exist
    (left by an earlier checkout whose state is gone) are removed first, with the container; volumes backed by a host
    directory (driver option C(device)) are kept.
  - A container that Docker had stopped on an error is reported (exit code, restart count, last log lines), then
    started again.
  - Waits until Docker reports the container healthy, at most I(health_timeout) seconds, and fails with the
    container's state, restart count, health log and last log lines otherwise. Stops waiting early when the restart
    policy has given up.
  - Supports check mode (reports what would change, changes nothing, waits for nothing).
options:
  name: {description: Container name., type: str, required: true}
  service: {description: Service name (label and network alias)., type: str, required: true}
  lab: {description: Name of the lab (label C(cdc-lab.lab))., type: str, required: true}
  image: {description: Image reference., type: str, required: true}
  command:
    description: Arguments to the image's entrypoint; empty keeps the image's.
    type: list
    elements: str
    default: []
  env: {description: Environment variables., type: dict, default: {}}
  ports:
    description: Published ports, each C(host_port) and C(container_port), bound to I(publish_address) only.
    type: list
    elements: dict
    default: []
  publish_address: {description: Address every port is bound to., type: str, default: 127.0.0.1}
  volumes:
    description: "Docker volume syntax: C(<named volume>:<path>[:ro]) or C(/host/path:<path>[:ro])."
    type: list
    elements: str
    default: []
  network: {description: The lab's network., type: str, required: true}
  healthcheck:
    description: Health check (test, interval, timeout, retries, start_period); empty keeps the image's.
    type: dict
    default: {}
  memory: {description: Hard memory limit (swap not allowed beyond it)., type: str, required: true}
  restart_retries: {description: Restarts of the on-failure policy., type: int, default: 3}
  labels: {description: Extra labels., type: dict, default: {}}
  stop_timeout: {description: Seconds Docker gives the main process to stop., type: int, default: 10}
  health_timeout: {description: Seconds to wait for the container to be healthy., type: float, required: true}
  log_lines: {description: Log lines printed when the container had stopped or is not healthy., type: int, default: 50}
  replace_stale_volumes:
    description: Replace named volumes that already exist (see above).
    type: bool
    default: false
  state_dir: {description: The lab's state directory (named in the stale-volume message)., type: str, default: ""}
  restart: {description: Restart the container even when its configuration is unchanged., type: bool, default: false}
  wait:
    description:
      - Wait here for the container to be healthy. Without it the container is started and the health wait is left
        to M(cdc_lab.lab.healthy), which waits for several containers at once (services nothing in the play needs
        before the end).
    type: bool
    default: true
  record_file:
    description:
      - File (JSON) the container's converged options are written to, not counted as a change. M(cdc_lab.lab.fast_path)
        starts the lab's containers again from these files when nothing else changed. Empty writes nothing.
    type: str
    default: ""
author: cdc-lab
"""

RETURN = r"""
action: {description: "created, recreated, restarted, started or unchanged.", type: str, returned: always}
messages:
  description: What the user should read (a stopped container, replaced volumes).
  type: list
  returned: always
seconds: {description: Seconds the task took, health wait included (when I(wait))., type: float, returned: always}
service: {description: The service (as given)., type: str, returned: always}
name: {description: The container (as given)., type: str, returned: always}
waited: {description: Whether the health wait ran here., type: bool, returned: always}
"""

import hashlib
import json
import shlex
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cdc_lab.lab.plugins.module_utils.docker_cli import (
    HASH_LABEL,
    Docker,
    wait_healthy,
)
from ansible_collections.cdc_lab.lab.plugins.module_utils.records import write_private_json

# The options whose hash labels the container (a change of any of them recreates it).
HASHED = (
    "image",
    "command",
    "env",
    "ports",
    "publish_address",
    "volumes",
    "network",
    "service",
    "healthcheck",
    "memory",
    "restart_retries",
    "labels",
    "stop_timeout",
    "lab",
)
# The options a container is replayed from (cdc_lab.lab.fast_path): its configuration, not this run's decisions.
RECORDED = ("name", *HASHED, "health_timeout", "log_lines", "state_dir", "wait")


def desired_hash(params: dict[str, Any]) -> str:
    spec = {key: params[key] for key in HASHED}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_args(params: dict[str, Any], config_hash: str) -> list[str]:
    args = [
        "run",
        "--detach",
        "--name",
        params["name"],
        "--init",
        "--restart",
        f"on-failure:{params['restart_retries']}",
        "--memory",
        params["memory"],
        "--memory-swap",
        params["memory"],
        "--network",
        params["network"],
        "--network-alias",
        params["service"],
        "--stop-timeout",
        str(params["stop_timeout"]),
    ]
    labels = {
        "cdc-lab.lab": params["lab"],
        "cdc-lab.service": params["service"],
        **params["labels"],
        HASH_LABEL: config_hash,
    }
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    for port in params["ports"]:
        args += ["--publish", f"{params['publish_address']}:{port['host_port']}:{port['container_port']}"]
    for volume in params["volumes"]:
        args += ["--volume", volume]
    for key, value in params["env"].items():
        args += ["--env", f"{key}={value}"]
    health = params["healthcheck"]
    if health:
        test = list(health["test"])
        command = test[1] if test[0] == "CMD-SHELL" else shlex.join(test[1:])
        args += ["--health-cmd", command]
        for option in ("interval", "timeout", "retries", "start_period"):
            if option in health:
                args += [f"--health-{option.replace('_', '-')}", str(health[option])]
    return [*args, params["image"], *params["command"]]


def named_volumes(params: dict[str, Any]) -> list[str]:
    return [volume.split(":")[0] for volume in params["volumes"] if not volume.startswith("/")]


def write_record(path: str, params: dict[str, Any], config_hash: str) -> None:
    """Write the container's converged options when they differ from the file's (atomically; no change reported)."""
    write_private_json(path, {**{key: params[key] for key in RECORDED}, "config_hash": config_hash})


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "service": {"type": "str", "required": True},
            "lab": {"type": "str", "required": True},
            "image": {"type": "str", "required": True},
            "command": {"type": "list", "elements": "str", "default": []},
            "env": {"type": "dict", "default": {}},
            "ports": {"type": "list", "elements": "dict", "default": []},
            "publish_address": {"type": "str", "default": "127.0.0.1"},
            "volumes": {"type": "list", "elements": "str", "default": []},
            "network": {"type": "str", "required": True},
            "healthcheck": {"type": "dict", "default": {}},
            "memory": {"type": "str", "required": True},
            "restart_retries": {"type": "int", "default": 3},
            "labels": {"type": "dict", "default": {}},
            "stop_timeout": {"type": "int", "default": 10},
            "health_timeout": {"type": "float", "required": True},
            "log_lines": {"type": "int", "default": 50},
            "replace_stale_volumes": {"type": "bool", "default": False},
            "state_dir": {"type": "str", "default": ""},
            "restart": {"type": "bool", "default": False},
            "wait": {"type": "bool", "default": True},
            "record_file": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    params = module.params
    params["env"] = {key: str(value) for key, value in params["env"].items()}
    params["labels"] = {key: str(value) for key, value in params["labels"].items()}
    params["ports"] = [
        {"host_port": int(p["host_port"]), "container_port": int(p["container_port"])} for p in params["ports"]
    ]
    docker = Docker(module)
    started = time.monotonic()
    messages = []
    changed = False
    name = params["name"]

    volumes = {volume: docker.inspect("volume", volume) for volume in named_volumes(params)}
    if params["replace_stale_volumes"]:
        stale = [
            volume
            for volume, info in volumes.items()
            if info is not None and "device" not in (info.get("Options") or {})
        ]
        if stale:
            one = len(stale) == 1
            messages.append(
                f"{', '.join(stale)} already existed, but this checkout's lab state ({params['state_dir']}) is new: "
                f"an earlier checkout at this path left {'it' if one else 'them'}, with passwords and state that are "
                f"gone. {'It is' if one else 'They are'} replaced with {'an empty volume' if one else 'empty volumes'} "
                f"(and {name} is made anew)."
            )
            changed = True
            if not module.check_mode:
                docker.run("rm", "--force", name, check=False)
                for volume in stale:
                    docker.run("volume", "rm", volume)
                    volumes[volume] = None
    for volume, info in volumes.items():
        if info is None:
            changed = True
            if not module.check_mode:
                docker.run(
                    "volume",
                    "create",
                    "--label",
                    f"cdc-lab.lab={params['lab']}",
                    "--label",
                    f"cdc-lab.service={params['service']}",
                    volume,
                )

    container = docker.inspect("container", name)
    state = (container or {}).get("State", {})
    if container and state.get("Status") in ("exited", "dead") and state.get("ExitCode", 0) != 0:
        restarts = container.get("RestartCount", 0)
        why = (
            " (the restart policy gave up)"
            if restarts >= params["restart_retries"]
            else " (stopped with its Docker daemon, or by hand)"
        )
        messages += [
            f"{name} had stopped: exit code {state['ExitCode']} at {state.get('FinishedAt')}, after {restarts} of "
            f"{params['restart_retries']} restarts{why}. `make lab` starts it again now; the wait below fails with "
            "its logs if the cause is still there.",
            f"Its last {params['log_lines']} log lines:",
            *docker.logs(name, params["log_lines"]),
        ]

    config_hash = desired_hash(params)
    current_hash = ((container or {}).get("Config", {}).get("Labels") or {}).get(HASH_LABEL)
    if container is None:
        action = "created"
    elif current_hash != config_hash:
        action = "recreated"
    elif params["restart"]:
        action = "restarted"
    elif not state.get("Running"):
        action = "started"
    else:
        action = "unchanged"
    changed = changed or action != "unchanged"

    if not module.check_mode:
        if action == "recreated":
            docker.run("rm", "--force", name)
        if action in ("created", "recreated"):
            docker.run(*run_args(params, config_hash))
        elif action == "restarted":
            docker.run("restart", "--time", str(params["stop_timeout"]), name)
        elif action == "started":
            docker.run("start", name)
        if params["wait"]:
            _, reports = wait_healthy(docker, [params], {name: time.monotonic()})
            if reports:
                module.fail_json(msg="\n".join([*messages, *reports]), changed=True)
        if params["record_file"]:
            write_record(params["record_file"], params, config_hash)

    module.exit_json(
        changed=changed,
        action=action,
        messages=messages,
        seconds=round(time.monotonic() - started, 2),
        service=params["service"],
        name=name,
        waited=params["wait"] and not module.check_mode,
    )


if __name__ == "__main__":
    main()
