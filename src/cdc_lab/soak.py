"""`make soak`: the suite many times in a row on one lab, a fault of `make chaos` between, and the pass rate.

A suite that passed once on one machine has not shown that it passes: this runs the verification play (pytest
against the live lab, strict, with the leftover check) ``--runs`` times in a row (default 5), then one fault test
of `make chaos` (``--fault``, default MySQL's process killed: Docker restarts it, and Debezium's task must run
again), then the verification play once more. It prints a line per run as it ends and the pass rate at the end,
and writes every run's counts, failures and seconds to .lab/reports/soak.json. Exit status 0 only when every run
passed with nothing skipped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cdc_lab.core.manifest import state_path

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_FAULT = "tests/chaos/test_restarts.py::test_crashed_service_is_restarted_by_docker_and_serves_again[mysql]"


@dataclass
class Run:
    name: str
    exit_code: int
    seconds: float
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.failed == 0 and self.skipped == 0


def junit_counts(path: Path, run: Run) -> None:
    """The report's counts and failed tests (a report that is missing leaves the run as its exit code says)."""
    if not path.is_file():
        return
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        kinds = {child.tag for child in case}
        name = f"{case.get('classname')}::{case.get('name')}"
        if kinds & {"failure", "error"}:
            run.failed += 1
            problem = next(child for child in case if child.tag in {"failure", "error"})
            said = (problem.get("message") or problem.text or "").strip().splitlines()
            run.failures.append(f"{name} ({problem.tag}): {said[0][:300]}" if said else name)
        elif "skipped" in kinds:
            run.skipped += 1
        else:
            run.passed += 1


def verify(name: str, reports: Path) -> Run:
    """One run of the verification play (what `make verify` runs), its report kept as <name>.xml."""
    report = f"soak-{name}.xml"
    started = time.monotonic()
    done = subprocess.run(
        ["make", "--no-print-directory", "verify", f"ANSIBLE_ARGS=-e lab_verify_report_name={report}"],
        cwd=PROJECT_DIR,
        check=False,
    )
    run = Run(name, done.returncode, round(time.monotonic() - started, 1))
    junit_counts(reports / report, run)
    return run


def fault(test: str, reports: Path) -> Run:
    """One fault test of `make chaos`, alone."""
    report = reports / "soak-fault.xml"
    started = time.monotonic()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "pytest"), "-p", "no:cacheprovider", "--lab-chaos", "--lab-strict", "-q",
         f"--junitxml={report}", test],
        cwd=PROJECT_DIR, check=False,
    )  # fmt: skip
    run = Run(f"fault: {test.rsplit('::', 1)[-1]}", done.returncode, round(time.monotonic() - started, 1))
    junit_counts(report, run)
    return run


def say(run: Run) -> None:
    verdict = "passed" if run.ok else "FAILED"
    line = f"cdc-lab soak: {run.name}: {verdict} in {run.seconds:.0f} s ({run.passed} passed, {run.failed} failed"
    print(f"{line}, {run.skipped} skipped)", flush=True)
    for name in run.failures:
        print(f"  failed: {name}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="suite runs before the fault (default 5)")
    parser.add_argument("--fault", default=DEFAULT_FAULT, help="the fault test between (a test id of tests/chaos)")
    args = parser.parse_args(argv)
    reports = state_path("reports")
    runs: list[Run] = []
    for index in range(1, args.runs + 1):
        runs.append(verify(f"run-{index}", reports))
        say(runs[-1])
    runs.append(fault(args.fault, reports))
    say(runs[-1])
    runs.append(verify("after-the-fault", reports))
    say(runs[-1])
    suites = [run for run in runs if not run.name.startswith("fault")]
    passed = sum(run.ok for run in suites)
    print(
        f"cdc-lab soak: {passed} of {len(suites)} suite runs passed; the fault {'passed' if runs[-2].ok else 'FAILED'}"
    )
    (reports / "soak.json").write_text(json.dumps([asdict(run) | {"ok": run.ok} for run in runs], indent=2) + "\n")
    return 0 if all(run.ok for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
