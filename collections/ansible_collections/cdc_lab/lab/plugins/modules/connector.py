#!/usr/bin/python
# Copyright: cdc-lab contributors. Apache-2.0.
"""Register a Kafka Connect connector idempotently and wait, bounded, until it and its tasks run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: connector
short_description: Register a Kafka Connect connector idempotently and wait until it and its tasks are RUNNING
description:
  - Reads the connector's configuration from the worker's REST API and changes it only when it differs from
    I(config) (every value compared as the string Connect stores).
  - A new or changed configuration is first checked with the plugin's validate endpoint, which resolves the worker's
    config providers and lets the plugin try its connection; any error fails the task naming the setting and the
    plugin's message, and nothing is applied, so the lab stays as it was.
  - An existing connector is stopped (its tasks shut down) before its configuration changes, then resumed.
  - A connector or task found FAILED is restarted once (with a warning naming its error), as Docker restarts a
    crashed container (a server that went away fails Debezium's task for good).
  - Then waits at most I(timeout) seconds for the connector and at least one task to be RUNNING. A FAILED connector
    or task fails the task with its trace (the worker's own words).
  - In check mode it reports whether the configuration would change and applies nothing.
options:
  url: {description: "The worker's REST API (http://host:port).", type: str, required: true}
  name: {description: The connector's name., type: str, required: true}
  config:
    description: The connector's configuration. Numbers and booleans are written the way Connect stores them.
    type: dict
    required: true
  timeout: {description: Seconds to wait for the connector and its tasks to be RUNNING., type: float, default: 90}
  secret_keys:
    description: Settings whose values are never shown (they are references to the worker's secret files anyway).
    type: list
    elements: str
    default: [database.password]
author: cdc-lab
"""

RETURN = r"""
state: {description: The connector's and its tasks' states at the end., type: dict, returned: success}
"""

import json
import time
import urllib.error
import urllib.request
from typing import Any

from ansible.module_utils.basic import AnsibleModule


class ConnectError(Exception):
    """The worker answered with an error, or not at all."""


# Seconds a restarted connector's status may go on saying FAILED (the old failure) before the restart shows.
RESTART_SEEN_TIMEOUT_S = 20.0


def request(url: str, method: str = "GET", body: Any = None, timeout: float = 30) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            payload = response.read()
            return response.status, json.loads(payload) if payload else None
    except urllib.error.HTTPError as error:
        payload = error.read()
        try:
            return error.code, json.loads(payload) if payload else None
        except ValueError:
            return error.code, {"message": payload.decode(errors="replace")}
    except (urllib.error.URLError, OSError) as error:
        raise ConnectError(f"Kafka Connect at {url} does not answer: {error}") from error


def as_connect_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def validation_errors(base: str, config: dict[str, str]) -> list[str]:
    """The plugin's verdict on the configuration: one line per setting it refuses."""
    plugin = config["connector.class"].rsplit(".", 1)[-1]
    status, body = request(f"{base}/connector-plugins/{plugin}/config/validate", "PUT", config, timeout=60)
    if status != 200:
        return [f"the worker refused to validate it (HTTP {status}): {(body or {}).get('message', body)}"]
    errors = []
    for entry in body.get("configs", []):
        value = entry.get("value", {})
        for message in value.get("errors", []):
            errors.append(f"{value.get('name')}: {message}")
    return errors


def connector_state(base: str, name: str) -> dict[str, Any] | None:
    status, body = request(f"{base}/connectors/{name}/status")
    return body if status == 200 else None


def stop(module: AnsibleModule, base: str, name: str, timeout: float) -> None:
    """Stop the connector and wait, bounded, until it reports STOPPED with no task left."""
    status, body = request(f"{base}/connectors/{name}/stop", "PUT", timeout=60)
    if status not in (200, 202, 204):
        module.fail_json(msg=f"stopping the connector {name} before changing it failed (HTTP {status}): {body}")
    deadline = time.monotonic() + timeout
    while True:
        state = connector_state(base, name)
        if state is not None and state["connector"].get("state") == "STOPPED" and not state.get("tasks"):
            return
        if time.monotonic() >= deadline:
            module.fail_json(msg=f"the connector {name} did not stop within {timeout:g} s: {json.dumps(state)}")
        time.sleep(0.5)


def failed_parts(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The connector's and its tasks' entries of a status that are FAILED."""
    return [item for item in [state["connector"], *state.get("tasks", [])] if item.get("state") == "FAILED"]


def restart_failed(base: str, name: str, settle: float = RESTART_SEEN_TIMEOUT_S) -> str:
    """Restart a FAILED connector or task once (a server that went away, such as a crashed MySQL, fails Debezium's
    task for good); return the first line of the trace it had, or "" when nothing had failed.

    The worker takes the restart asynchronously: its status goes on saying FAILED, with the old trace, until the
    restart begins. So this waits (at most ``settle`` seconds) for the status to leave FAILED, lest the old failure
    be read as the restart's."""
    state = connector_state(base, name)
    if state is None:
        return ""
    failed = failed_parts(state)
    if not failed:
        return ""
    request(f"{base}/connectors/{name}/restart?includeTasks=true&onlyFailed=true", "POST", timeout=60)
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        state = connector_state(base, name)
        if state is not None and not failed_parts(state):
            break
        time.sleep(0.2)
    return (failed[0].get("trace") or "(no trace)").splitlines()[0]


def wait_running(module: AnsibleModule, base: str, name: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    state: dict[str, Any] | None = None
    while True:
        state = connector_state(base, name)
        if state is not None:
            failed = failed_parts(state)
            if failed:
                traces = "\n\n".join(
                    f"{'task ' + str(item['id']) if 'id' in item else 'the connector'} on {item.get('worker_id')}: "
                    f"{item.get('trace', '(no trace)')}"
                    for item in failed
                )
                module.fail_json(
                    msg=f"the connector {name} FAILED (restart it with POST /connectors/{name}/restart"
                    f"?includeTasks=true after fixing the cause; the worker's log has more):\n{traces}",
                    state=state,
                )
            tasks = state.get("tasks", [])
            if state["connector"].get("state") == "RUNNING" and tasks and all(t["state"] == "RUNNING" for t in tasks):
                return state
        if time.monotonic() >= deadline:
            module.fail_json(
                msg=f"the connector {name} was not RUNNING with its tasks within {timeout:g} s: {json.dumps(state)}",
                state=state,
            )
        time.sleep(0.5)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "config": {"type": "dict", "required": True},
            "timeout": {"type": "float", "default": 90},
            "secret_keys": {"type": "list", "elements": "str", "default": ["database.password"], "no_log": False},
        },
        supports_check_mode=True,
    )
    base = module.params["url"].rstrip("/")
    name = module.params["name"]
    desired = {key: as_connect_string(value) for key, value in module.params["config"].items()}
    try:
        status, current = request(f"{base}/connectors/{name}/config")
        if status not in (200, 404):
            module.fail_json(msg=f"reading the connector {name} failed (HTTP {status}): {current}")
        current = current if status == 200 else None
        wanted = dict(desired, name=name)
        changed = current != wanted
        if changed:
            before = current or {}
            differing = sorted(key for key in set(wanted) | set(before) if before.get(key) != wanted.get(key))
            shown = [key for key in differing if key not in module.params["secret_keys"]]
            if module.check_mode:
                module.exit_json(changed=True, differing=shown)
            errors = validation_errors(base, wanted)
            if errors:
                module.fail_json(
                    msg=f"the connector {name}'s configuration is refused ({'unchanged' if current else 'not created'}"
                    f", the lab is as it was):\n" + "\n".join(errors)
                )
            if current is not None:
                # Stopped first, its task gone: a task started with the new configuration while the old one still
                # reads the binary log is refused by the server (a replica with the same server_id is connected).
                stop(module, base, name, module.params["timeout"])
            status, body = request(f"{base}/connectors/{name}/config", "PUT", desired, timeout=60)
            if status not in (200, 201):
                module.fail_json(msg=f"registering the connector {name} failed (HTTP {status}): {body}")
            if current is not None:
                status, body = request(f"{base}/connectors/{name}/resume", "PUT", timeout=60)
                if status not in (200, 202, 204):
                    module.fail_json(msg=f"resuming the connector {name} failed (HTTP {status}): {body}")
        elif module.check_mode:
            module.exit_json(changed=False)
        else:
            restarted = restart_failed(base, name)
            if restarted:
                changed = True
                module.warn(f"the connector {name} had a FAILED task; it was restarted: {restarted}")
        state = wait_running(module, base, name, module.params["timeout"])
    except ConnectError as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=changed, state=state)


if __name__ == "__main__":
    main()
