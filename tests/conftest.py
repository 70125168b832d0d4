"""Shared helpers for the lab's own tests. The service fixtures come from the cdc_lab pytest plugin."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PROJECT_DIR = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def project_dir() -> Path:
    return PROJECT_DIR


def run_concurrently(work: Callable[[int], object], count: int, timeout: float = 120) -> list[object]:
    """Run work(0) .. work(count - 1) in parallel threads; return their results in order.

    The first exception a worker raised is raised here, so a failing worker fails the test with its own error.
    """
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(work, range(count), timeout=timeout))


class BackgroundWrites:
    """Writes spread over a few seconds in a thread, so that a fault can land in their middle: ``write(item)`` for
    each item, ``pause`` seconds apart. ``started`` is set once a third of them are done (or one failed)."""

    def __init__(self, write: Callable[[object], None], items: Sequence[object], pause: float) -> None:
        self.failures: list[BaseException] = []
        self.started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(write, items, pause), name="writes")
        self._thread.start()

    def _run(self, write: Callable[[object], None], items: Sequence[object], pause: float) -> None:
        try:
            for index, item in enumerate(items):
                write(item)
                if index >= len(items) // 3:
                    self.started.set()
                time.sleep(pause)
        except BaseException as exc:  # reported by finish(), in the test's thread
            self.failures.append(exc)
        finally:
            self.started.set()

    def wait_started(self, timeout: float = 60) -> None:
        assert self.started.wait(timeout), "the writes did not start"

    def finish(self, timeout: float = 120) -> None:
        """Wait for the last write; fail the test with the first write's error."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the writes did not end within {timeout:g} s"
        assert not self.failures, f"MySQL refused the writes: {self.failures[0]!r}"


def child_env() -> dict[str, str]:
    """The environment for the lab's own commands run by tests: the virtualenv first on PATH, the project's
    ansible.cfg, no colour."""
    return {
        **os.environ,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_CONFIG": str(PROJECT_DIR / "ansible.cfg"),
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }


def run_playbook(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ansible-playbook from the project directory (no colour), capturing its output."""
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
        check=False,
    )
