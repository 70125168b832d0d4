# Copyright: cdc-lab contributors. Apache-2.0.
"""The no-op check of `make lab` (runs on the controller; see the module stub for the documentation)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import time
from typing import Any

from ansible import context
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.vars import load_extra_vars

from ansible_collections.cdc_lab.lab.plugins.module_utils.digest import file_digest
from ansible_collections.cdc_lab.lab.plugins.module_utils.records import write_private_json

# Tags under which the whole lab play runs, so a recorded converge stands for it.
WHOLE_RUN_TAGS = {"all", "verify"}
# Extra variables that choose how `make lab` runs, not what the lab is.
NOT_CONFIGURATION = {"lab_fast_path"}
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache"}


def tree_lines(root: str, path: str, contents: bool = True) -> list[str]:
    """One line per file under path (or path itself): its path relative to root, and its digest (or size and mode)."""
    full = os.path.join(root, path)
    files = []
    if os.path.isfile(full):
        files = [full]
    elif os.path.isdir(full):
        for directory, subdirs, names in os.walk(full):
            subdirs[:] = sorted(d for d in subdirs if d not in SKIPPED_DIRS)
            files += [os.path.join(directory, name) for name in names if not name.endswith((".pyc", ".tmp"))]
    lines = []
    for name in sorted(files):
        if contents:
            lines.append(f"{os.path.relpath(name, root)} {file_digest(name)}")
        else:
            info = os.stat(name)
            lines.append(f"{os.path.relpath(name, root)} {info.st_size} {oct(info.st_mode)}")
    return lines or [f"{path} absent"]


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=30, check=False)


def port_is_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As Docker's proxy binds: a port with connections in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(
        (
            "mode",
            "enabled",
            "project_dir",
            "inputs",
            "state_dir",
            "state_inputs",
            "record",
            "lab",
            "network",
            "containers",
            "records_dir",
            "project_digest",
        )
    )

    def project_digest(self, args: dict[str, Any]) -> str:
        """The digest of the project's inputs (files and extra variables), as they are now."""
        lines = []
        for path in args["inputs"]:
            lines += tree_lines(args["project_dir"], path)
        extra = {key: value for key, value in load_extra_vars(self._loader).items() if key not in NOT_CONFIGURATION}
        lines.append("extra_vars " + json.dumps(extra, sort_keys=True, default=str))
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def fingerprint(self, args: dict[str, Any], project_digest: str | None = None) -> str:
        """The project's digest (by default taken now; a run records the one it started from, so that a file
        edited while it ran is seen by the next run) and the state's."""
        lines = [project_digest or self.project_digest(args)]
        for path in args["state_inputs"]:
            # Credentials: whether each is there, its size and mode; never a digest of a secret.
            lines += tree_lines(args["state_dir"], path, contents=not path.startswith("credentials"))
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def why_not(self, args: dict[str, Any]) -> str | None:
        """Why this run cannot be settled from the record, before looking at Docker."""
        if not args["enabled"]:
            return "lab_fast_path is false"
        tags = set(context.CLIARGS.get("tags") or ["all"])
        if not tags <= WHOLE_RUN_TAGS or context.CLIARGS.get("skip_tags") or context.CLIARGS.get("start_at_task"):
            return "tags, skipped tags or a start task were given"
        if context.CLIARGS.get("subset"):
            return "a --limit was given"
        return None

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        try:
            args["enabled"] = boolean(args.get("enabled", True), strict=True)
        except TypeError:
            return {**result, "failed": True, "msg": f"lab_fast_path must be true or false (got {args['enabled']!r})"}
        started = time.monotonic()
        if args.get("mode") == "forget":
            # The record stands for the lab as the last successful whole run left it. A run (whole or tagged, from
            # these inputs or others) that changes what no file or container hash shows, such as MySQL's grants or a
            # connector's configuration in Kafka, forgets it first; only a successful whole run writes it again.
            if not self._task.check_mode:
                self.forget(args)
            return {**result, "changed": False}
        if args.get("mode") == "record":
            partial = self.why_not({**args, "enabled": True})
            if partial:
                # A partial run is not recorded (what it changed shows in the digest of the generated files and in
                # the containers' configuration hashes, which the next run compares).
                return {**result, "path": "not recorded", "why": partial, "changed": False}
            return {**result, **self.record(args), "changed": False}
        why = self.why_not(args)
        digest = self.project_digest(args)
        settled: dict[str, Any] = {"path": "full", "why": why}
        if why is None:
            settled = self.settle(args, task_vars or {}, digest)
        settled["project_digest"] = digest
        settled.pop("matched", None)
        settled["seconds"] = round(time.monotonic() - started, 2)
        return {**result, **settled, "changed": settled["path"] == "started"}

    @staticmethod
    def forget(args: dict[str, Any]) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(args["record"])

    def record(self, args: dict[str, Any]) -> dict[str, Any]:
        records_dir = args["records_dir"]
        specs = []
        for name in args["containers"]:
            with open(os.path.join(records_dir, f"{name}.json"), encoding="utf-8") as handle:
                specs.append(json.load(handle))
        record = {
            "fingerprint": self.fingerprint(args, args.get("project_digest")),
            "records_dir": records_dir,
            "network": args["network"],
            "containers": specs,
        }
        write_private_json(args["record"], record)
        return {"path": "recorded", "containers": [spec["name"] for spec in specs]}

    def settle(self, args: dict[str, Any], task_vars: dict[str, Any], project_digest: str) -> dict[str, Any]:
        try:
            with open(args["record"], encoding="utf-8") as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            return {"path": "full", "why": "no record of a successful run"}
        if record.get("fingerprint") != self.fingerprint(args, project_digest):
            return {"path": "full", "why": "the lab's files, variables or state changed since the last run"}
        return {**self.settle_containers(args, record, task_vars), "matched": True}

    def settle_containers(
        self, args: dict[str, Any], record: dict[str, Any], task_vars: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            listed = docker("ps", "--all", "--filter", f"label=cdc-lab.lab={args['lab']}", "--format", "{{json .}}")
        except (OSError, subprocess.TimeoutExpired) as error:
            return {"path": "full", "why": f"docker ps failed: {error}"}
        if listed.returncode != 0:
            return {"path": "full", "why": "the Docker daemon does not answer"}
        running = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        specs = record["containers"]
        if not running:
            return self.start(record, task_vars, specs, "no lab container ran; nothing else changed")
        plan = self.compare(specs, running)
        if plan["path"] != "start":
            return plan
        return self.start(record, task_vars, plan["start"], plan["why"], unchanged=plan["containers"])

    @staticmethod
    def compare(specs: list[dict[str, Any]], running: list[dict[str, Any]]) -> dict[str, Any]:
        """Each recorded container as it is: running and healthy with its recorded configuration (unchanged), or
        gone or stopped with nothing else changed (to be started from its record, path ``start``); anything else
        (another configuration, a container still starting or unhealthy, one the lab does not declare) is ``full``."""
        found = {container["Names"]: container for container in running}
        extra = sorted(set(found) - {spec["name"] for spec in specs})
        if extra:
            return {"path": "full", "why": f"containers the lab does not declare: {', '.join(extra)}"}
        lines, start, why, waiting = [], [], [], []
        for spec in specs:
            container = found.get(spec["name"])
            if container is None:
                start.append(spec)
                why.append(f"{spec['name']} is missing")
                continue
            labels = dict(item.split("=", 1) for item in container.get("Labels", "").split(",") if "=" in item)
            if labels.get("cdc-lab.config-hash") != spec["config_hash"]:
                return {"path": "full", "why": f"{spec['name']} runs another configuration"}
            status = container.get("Status", "")
            if container.get("State") in ("exited", "created", "dead"):
                start.append(spec)
                why.append(f"{spec['name']} is {container.get('State')} ({status})")
                continue
            healthy = "(healthy)" in status or (spec["healthcheck"] == {} and "(" not in status)
            if container.get("State") == "running" and "(health: starting)" in status:
                # Started again by its restart policy a moment ago: the health wait below is all a converge would do.
                waiting.append(f"{spec['name']} is starting")
            elif container.get("State") != "running" or not healthy:
                return {"path": "full", "why": f"{spec['name']} is {container.get('State')} ({status})"}
            lines.append({"service": spec["service"], "name": spec["name"], "action": "unchanged"})
        if start or waiting:
            why += waiting
            return {"path": "start", "why": "; ".join(why) + "; nothing else changed", "start": start,
                    "containers": lines}  # fmt: skip
        return {"path": "unchanged", "why": "nothing changed since the last run", "containers": lines}

    def start(
        self,
        record: dict[str, Any],
        task_vars: dict[str, Any],
        specs: list[dict[str, Any]],
        why: str,
        unchanged: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Start the given containers (every one after `make down`, or those gone or stopped while the rest run as
        recorded) from their records, in the play's order, then wait for every container of the lab together."""
        volumes = sorted(
            {volume.split(":")[0] for spec in specs for volume in spec["volumes"] if not volume.startswith("/")}
        )
        images = sorted({spec["image"] for spec in specs})
        if volumes and docker("volume", "inspect", *volumes).returncode != 0:
            return {"path": "full", "why": "a data volume is missing"}
        if images and docker("image", "inspect", *images).returncode != 0:
            return {"path": "full", "why": "an image is missing"}
        busy = [
            f"{spec['publish_address']}:{port['host_port']}"
            for spec in specs
            for port in spec["ports"]
            if not port_is_free(spec["publish_address"], int(port["host_port"]))
        ]
        if busy:
            return {"path": "full", "why": f"ports in use: {', '.join(busy)} (the preflight names the variable)"}
        network = record["network"]
        if specs and not self._task.check_mode and docker("network", "inspect", network["name"]).returncode != 0:
            create = ["network", "create", "--driver", "bridge", "--label", f"cdc-lab.lab={specs[0]['lab']}"]
            if network.get("subnet"):
                create += ["--subnet", network["subnet"]]
            made = docker(*create, network["name"])
            if made.returncode != 0:
                return {"path": "full", "why": f"docker network create failed: {made.stderr.strip()}"}
        records_dir = record["records_dir"]
        every = not unchanged
        lines: list[dict[str, Any]] = []
        failed = {"path": "started", "every": every, "why": why, "failed": True, "containers": lines}
        for spec in specs:
            module_args = {key: value for key, value in spec.items() if key != "config_hash"}
            outcome = self._execute_module(
                module_name="cdc_lab.lab.container", module_args=module_args, task_vars=task_vars
            )
            line = {
                "service": spec["service"],
                "name": spec["name"],
                "action": outcome.get("action", "failed"),
                "seconds": outcome.get("seconds"),
                "messages": outcome.get("messages", []),
            }
            lines.append(line)
            if outcome.get("failed"):
                return {**failed, "msg": outcome.get("msg", "")}
        outcome = self._execute_module(
            module_name="cdc_lab.lab.healthy",
            module_args={
                "records": [os.path.join(records_dir, f"{spec['name']}.json") for spec in record["containers"]]
            },
            task_vars=task_vars,
        )
        if outcome.get("failed"):
            return {**failed, "msg": outcome.get("msg", "")}
        return {
            "path": "started",
            "every": every,
            "why": why,
            "containers": lines,
            "unchanged": unchanged or [],
            "took": outcome.get("took", {}),
        }
