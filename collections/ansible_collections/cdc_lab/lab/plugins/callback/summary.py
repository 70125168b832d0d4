# Copyright: cdc-lab contributors. Apache-2.0.
"""The lab's screen output: a line per service, the endpoint table and failures in full; the whole log to a file."""

from __future__ import annotations

DOCUMENTATION = r"""
name: summary
type: stdout
short_description: A line per lab service on the screen, Ansible's whole output in a log file
description:
  - Writes Ansible's usual output (the default callback's, with task timings at the end) to
    C(<project>/.lab/logs/<playbook>-<time>.log), the project being the directory of the Ansible configuration
    file; C(latest.log) beside it links to the newest. The newest C(keep) logs of each playbook are kept.
  - On the screen, at verbosity 0, prints one line per container as it converges (service, where its image came
    from, created/unchanged/recreated/restarted/started, seconds), what the lab's own C(debug) tasks say (the
    endpoint table among them), every failure in full with its task, warnings, and the recap.
  - While one task runs long (an image build, a debootstrap, a health wait), a line every C(heartbeat) seconds
    names it and its seconds so far, so the screen is never silent for longer.
  - With C(-v) or more the screen shows the usual output as well.
extends_documentation_fragment:
  - default_callback
  - result_format_callback
options:
  keep:
    description: How many logs of each playbook to keep.
    type: int
    default: 30
    env: [{name: CDC_LAB_KEEP_LOGS}]
  heartbeat:
    description: Seconds of silence on the screen after which a line names the task still running (0 turns it off).
    type: float
    default: 10
    env: [{name: CDC_LAB_HEARTBEAT}]
"""

import datetime
import json
import os
import re
import threading
import time
from typing import Any

from ansible import constants as C
from ansible.plugins.callback.default import CallbackModule as DefaultCallback

ANSI = re.compile(r"\x1b\[[0-9;]*m")
SECONDS = re.compile(r"\b\d+ s\b")
# Seconds between two progress lines of a suite that has not moved on (one long test).
PROGRESS_EVERY_S = 10.0


class LogDisplay:
    """What the default callback writes goes to the log file, and to the screen too when `screen` is set."""

    def __init__(self, screen_display: Any, path: str | None, screen: bool) -> None:
        self.screen_display = screen_display
        self.screen = screen
        self.handle = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115 (open for the run)
        self.lock = threading.Lock()  # the heartbeat's thread writes too

    def __getattr__(self, name: str) -> Any:
        return getattr(self.screen_display, name)

    def write(self, text: str) -> None:
        if self.handle:
            with self.lock:
                self.handle.write(ANSI.sub("", text) + "\n")
                self.handle.flush()

    def display(
        self,
        msg: str,
        color: str | None = None,
        stderr: bool = False,
        screen_only: bool = False,
        log_only: bool = False,
        newline: bool = True,
        **kwargs: Any,
    ) -> None:
        if not screen_only:
            self.write(msg)
        if self.screen and not log_only:
            self.screen_display.display(msg, color=color, stderr=stderr, screen_only=True, newline=newline)

    def banner(self, msg: str, color: str | None = None, cows: bool = True) -> None:
        self.write("\n" + msg + " " + "*" * max(3, 79 - len(msg)))
        if self.screen:
            self.screen_display.banner(msg, color=color, cows=cows)

    def _warning(self, *args: Any, **kwargs: Any) -> None:
        self.screen_display._warning(*args, **kwargs)

    def _deprecated(self, *args: Any, **kwargs: Any) -> None:
        self.screen_display._deprecated(*args, **kwargs)

    def _error(self, *args: Any, **kwargs: Any) -> None:
        self.screen_display._error(*args, **kwargs)

    def vvvv(self, msg: str, host: str | None = None) -> None:
        if self.screen_display.verbosity >= 4:
            self.display(msg)


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "cdc_lab.lab.summary"

    def __init__(self) -> None:
        super().__init__()
        self._screen = self._display
        self._verbose = self._screen.verbosity > 0
        self._log_path: str | None = None
        self._images: dict[str, str] = {}
        self._services: dict[str, str] = {}
        self._task_started: dict[str, tuple[str, float]] = {}
        self._durations: list[tuple[float, str]] = []
        self._started = time.monotonic()
        self._screen_banner: str | None = None
        self._progress: tuple[str, float] = ("", 0.0)
        # The heartbeat: when the screen last got a line, and the task running now (name, action, start).
        self._said = time.monotonic()
        self._running: tuple[str, str, float] | None = None
        self._say_lock = threading.RLock()
        self._stopped = threading.Event()
        self._beating = False

    # --- the log file ---
    def _open_log(self, playbook_path: str) -> None:
        project = os.path.dirname(C.CONFIG_FILE) if C.CONFIG_FILE else os.getcwd()
        logs = os.path.join(project, ".lab", "logs")
        try:
            os.makedirs(logs, exist_ok=True)
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
            stem = os.path.splitext(os.path.basename(playbook_path))[0]
            self._log_path = os.path.join(logs, f"{stem}-{stamp}.log")
            self._display = LogDisplay(self._screen, self._log_path, screen=self._verbose)
            latest = os.path.join(logs, "latest.log")
            if os.path.islink(latest) or os.path.exists(latest):
                os.remove(latest)
            os.symlink(os.path.basename(self._log_path), latest)
            # The newest logs of each playbook: the many `make lab` runs of a chaos run never push out its own log.
            same = sorted(name for name in os.listdir(logs) if name.startswith(f"{stem}-") and name.endswith(".log"))
            for old in same[: max(0, len(same) - int(self.get_option("keep")))]:
                os.remove(os.path.join(logs, old))
        except OSError as error:
            self._screen.warning(f"cannot write the log under {logs} ({error}); the output stays on the screen")
            self._display = LogDisplay(self._screen, None, screen=True)
            self._verbose = True

    def _say(self, text: str, color: str | None = None) -> None:
        """A line for the person at the screen (and the log)."""
        with self._say_lock:
            if isinstance(self._display, LogDisplay):
                self._display.write(text)
            if not self._verbose:
                self._screen.display(text, color=color)
            self._said = time.monotonic()

    def _start_heartbeat(self) -> None:
        every = float(self.get_option("heartbeat") or 0)
        if self._verbose or every <= 0 or self._beating:
            return  # -v shows every task as it starts
        self._beating = True
        threading.Thread(target=self._beat, args=(every,), name="cdc-lab-heartbeat", daemon=True).start()

    def _beat(self, every: float) -> None:
        """Say which task is still running whenever the screen has been silent for ``every`` seconds."""
        while not self._stopped.wait(1.0):
            running, now = self._running, time.monotonic()
            if running is None or now - self._said < every:
                continue
            name, action, started = running
            if action.endswith("async_status") and self._progress[1]:
                continue  # the suite's own progress lines cover it
            running_for = now - started
            self._say(f"  ... {name}" + (f": {running_for:.0f} s so far" if running_for >= 1 else ""))

    def v2_playbook_on_start(self, playbook: Any) -> None:
        self._open_log(playbook._file_name)
        super().v2_playbook_on_start(playbook)
        self._start_heartbeat()
        if not self._verbose:
            relative = os.path.relpath(self._log_path, os.getcwd()) if self._log_path else "(none)"
            self._say(f"cdc-lab: {os.path.basename(playbook._file_name)} (full log: {relative}; -v shows it here)")

    # --- timings (written to the log at the end) ---
    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._task_started[task._uuid] = (task.get_name(), time.monotonic())
        self._running = (task.get_name(), task.action or "", time.monotonic())
        super().v2_playbook_on_task_start(task, is_conditional)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._task_started[task._uuid] = (task.get_name(), time.monotonic())
        self._running = (task.get_name(), task.action or "", time.monotonic())
        super().v2_playbook_on_handler_task_start(task)

    def _timed(self, result: Any) -> None:
        name, started = self._task_started.pop(result.task._uuid, (result.task.get_name(), time.monotonic()))
        self._durations.append((time.monotonic() - started, name))

    # --- results ---
    def v2_runner_on_ok(self, result: Any) -> None:
        self._timed(result)
        super().v2_runner_on_ok(result)
        self._summarise(result.task.action, result.result)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._timed(result)
        super().v2_runner_on_skipped(result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._timed(result)
        if ignore_errors or self._verbose:
            super().v2_runner_on_failed(result, ignore_errors)
            return
        self._failure(result.task, lambda: super(CallbackModule, self).v2_runner_on_failed(result, ignore_errors))

    def v2_runner_item_on_failed(self, result: Any) -> None:
        if self._verbose or result.task.ignore_errors:
            super().v2_runner_item_on_failed(result)
            return
        self._failure(result.task, lambda: super(CallbackModule, self).v2_runner_item_on_failed(result))

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._timed(result)
        self._failure(result.task, lambda: super(CallbackModule, self).v2_runner_on_unreachable(result))

    def _failure(self, task: Any, show: Any) -> None:
        """A failure is printed in full on the screen too, with its task's banner (once)."""
        display = self._display
        if isinstance(display, LogDisplay):
            display.screen = True
        if self._screen_banner != task._uuid:
            self._last_task_banner = None
            self._screen_banner = task._uuid
        try:
            show()
        finally:
            if isinstance(display, LogDisplay):
                display.screen = self._verbose

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._stopped.set()
        self._running = None
        display = self._display
        if isinstance(display, LogDisplay):
            display.screen = True
        try:
            super().v2_playbook_on_stats(stats)
        finally:
            if isinstance(display, LogDisplay):
                display.screen = self._verbose
        if isinstance(display, LogDisplay):
            display.write("\nSLOWEST TASKS " + "*" * 65)
            for seconds, name in sorted(self._durations, reverse=True)[:25]:
                display.write(f"{name} {'-' * max(3, 72 - len(name))} {seconds:.2f}s")
        if not self._verbose:
            self._say(f"cdc-lab: done in {time.monotonic() - self._started:.1f} s")

    def v2_runner_retry(self, result: Any) -> None:
        """A task polling (until/retries) says so in the log; the verification play's poll of pytest prints the
        suite's progress on the screen."""
        super().v2_runner_retry(result)
        if result.task.action in ("async_status", "ansible.builtin.async_status") and not self._verbose:
            line = self._progress_line()
            # A new line when the suite moved on (its times aside), or every PROGRESS_EVERY_S while one test runs long.
            moved = line is not None and SECONDS.sub("", line) != SECONDS.sub("", self._progress[0])
            if line and (moved or time.monotonic() - self._progress[1] >= PROGRESS_EVERY_S):
                self._say(f"  {line}")
                self._progress = (line, time.monotonic())

    def _progress_line(self) -> str | None:
        project = os.path.dirname(C.CONFIG_FILE) if C.CONFIG_FILE else os.getcwd()
        path = os.path.join(project, ".lab", "reports", "progress.json")
        try:
            with open(path, encoding="utf-8") as handle:
                state = json.load(handle)
            # pytest rewrites the file when a test starts or ends: its times are as old as the file.
            age = max(0.0, time.time() - os.path.getmtime(path)) if not state.get("finished") else 0.0
        except (OSError, ValueError):
            return None
        outcomes = ", ".join(f"{count} {name}" for name, count in sorted(state.get("outcomes", {}).items()))
        line = f"pytest: {state.get('done', 0)} of {state.get('total', '?')} done ({outcomes or 'none yet'})"
        line += f", {state.get('seconds', 0) + age:.0f} s"
        running = state.get("running") or {}
        if len(running) == 1:  # one at a time (the fault tests): which, and for how long
            ((test, seconds),) = running.items()
            line += f"; running {test.rsplit('/', 1)[-1]} ({seconds + age:.0f} s)"
        if state.get("failed"):
            line += "; failed: " + ", ".join(state["failed"][-2:])
        return line

    # --- the lines a person reads ---
    def _container_line(self, service: str, source: str, action: str, seconds: float, tail: str = "") -> None:
        """The one line a container gets: service, where its image came from, what happened, seconds."""
        self._say(f"  {service:<16} image {source:<18} {action:<10} {seconds:5.1f} s{tail}")

    def _summarise(self, action: str, result: dict[str, Any]) -> None:
        ours, short = action.startswith("cdc_lab.lab."), action.rsplit(".", 1)[-1]
        if ours and short == "image":
            self._images[result.get("image", "")] = (
                f"built in {result.get('seconds', 0):.1f} s" if result.get("built") else "cached"
            )
        elif ours and short == "container":
            args = result.get("invocation", {}).get("module_args", {})
            image = args.get("image", "")
            source = self._images.get(
                image,
                "pulled" if image and "/" in image and not image.startswith(args.get("lab", "-") + "/") else "given",
            )
            if image in self._images and self._images[image] != "cached":
                self._images[image] = "built above"  # built once, shown with the first container that runs it
            self._services[result.get("name", "")] = result.get("service", "")
            self._container_line(
                result.get("service", "?"),
                source,
                result.get("action", "?"),
                result.get("seconds", 0),
                "" if result.get("waited") else " (health checked at the end)",
            )
        elif ours and short == "healthy" and result.get("took"):
            waited = {name: seconds for name, seconds in result["took"].items() if seconds >= 0.1}
            took = ", ".join(f"{self._services.get(name, name)} after {took:.1f} s" for name, took in waited.items())
            self._say(f"  all healthy{': ' + took if took else ''}")
        elif ours and short == "fast_path":
            self._fast_path(result)
        elif short == "debug" and "msg" in result:
            message = result["msg"]
            for line in message if isinstance(message, list) else str(message).splitlines():
                if str(line).strip():
                    self._say(f"  {line}")

    def _fast_path(self, result: dict[str, Any]) -> None:
        path = result.get("path")
        if path == "unchanged":
            services = ", ".join(line["service"] for line in result.get("containers", []))
            self._say(f"  nothing changed since the last run; running and healthy: {services}")
        elif path == "started":
            lines = result.get("containers", [])
            if result.get("every", True):
                self._say(f"  {result.get('why')}: starting the containers from their records")
            else:
                names = ", ".join(line["name"] for line in lines)
                doing = f"starting {names} from the record" if names else "waiting for its health"
                self._say(f"  {result.get('why')}: {doing}, not converging every task")
            took = result.get("took", {})
            for line in lines:
                for message in line.get("messages", []):
                    self._say(f"  {message}")
                self._container_line(
                    line["service"],
                    "cached",
                    line.get("action", "?"),
                    line.get("seconds") or 0,
                    f", healthy after {took.get(line['name'], 0):.1f} s",
                )
            if result.get("unchanged"):
                services = ", ".join(line["service"] for line in result["unchanged"])
                self._say(f"  running and healthy as recorded: {services}")
        elif path == "full":
            self._say(f"  converging every task: {result.get('why')}")
