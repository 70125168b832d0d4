"""The lab's JVM jar lock: `make lock` resolves each role's jar set once, with Maven, into a committed lock file.

A role that needs jars has ``files/jars.in.yml`` (the roots, and what to leave out) and, beside it, the generated
``files/jars.lock.yml``: every jar of the roots' runtime closure with its coordinate, file name, repository path and
sha256 (a role with several jar sets, such as Kafka Connect's worker and each Debezium plugin, names the others
``files/<set>.jars.in.yml``, locked into ``files/<set>.jars.lock.yml``). `make lab` (the ``lab_jars`` role)
downloads exactly those files and checks every sha256; it never resolves.

Jars the image already has are left out of the closure: with ``shipped_by: pyspark``, every artifact of which the
pyspark distribution (the one the Spark image is built from) carries a jar, whatever its version; ``exclude`` names
more (``group:artifact``), each with its reason. What was left out, and why, is written into the lock too.

Run it as ``python -m cdc_lab.jarlock [ROLE_DIR ...]`` (`make lock` does); it needs Maven (``mvn``) on the PATH.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml

INPUT_NAME = "jars.in.yml"
LOCK_NAME = "jars.lock.yml"
INPUT_GLOB = f"*{INPUT_NAME}"
# Maven's own plugin that copies a project's resolved dependencies (in the repository's layout).
COPY_GOAL = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
# A jar file name: <artifact>-<version>[-<classifier>].jar, the version starting with a digit.
JAR_NAME = re.compile(r"^(?P<artifact>.+?)-(?P<version>\d[^-]*(?:-[A-Za-z0-9.]+)*?)\.jar$")


class _IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key, as yamllint's default wants."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


class LockError(RuntimeError):
    """The lock could not be made; the message says what to do."""


@dataclass(frozen=True)
class Jar:
    """One resolved jar, named by its path in a Maven repository (group/as/dirs/artifact/version/file)."""

    path: str
    sha256: str

    @property
    def group(self) -> str:
        return ".".join(self.path.split("/")[:-3])

    @property
    def artifact(self) -> str:
        return self.path.split("/")[-3]

    @property
    def version(self) -> str:
        return self.path.split("/")[-2]

    @property
    def file(self) -> str:
        return self.path.split("/")[-1]

    @property
    def coordinate(self) -> str:
        classifier = self.file.removeprefix(f"{self.artifact}-{self.version}").removesuffix(".jar").lstrip("-")
        return ":".join([self.group, self.artifact, self.version, *([classifier] if classifier else [])])

    @property
    def key(self) -> str:
        return f"{self.group}:{self.artifact}"


def shipped_artifacts(jars_dir: Path) -> dict[str, str]:
    """Artifact name -> jar file for every jar in a distribution's jars directory."""
    shipped: dict[str, str] = {}
    for jar in sorted(jars_dir.glob("*.jar")):
        match = JAR_NAME.match(jar.name)
        if match:
            shipped[match["artifact"]] = jar.name
    return shipped


def pyspark_jars_dir() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise LockError("pyspark is not installed in this Python; run `make venv` first")
    return Path(next(iter(spec.submodule_search_locations))) / "jars"


def partition(
    jars: list[Jar], shipped: dict[str, str], shipped_label: str, excludes: dict[str, str]
) -> tuple[list[Jar], list[dict[str, str]]]:
    """Split a closure into the jars to lock and those left out, each with its reason."""
    kept: list[Jar] = []
    left_out: list[dict[str, str]] = []
    for jar in sorted(jars, key=lambda j: j.path):
        if jar.key in excludes:
            left_out.append({"coordinate": jar.coordinate, "because": excludes[jar.key]})
        elif jar.artifact in shipped:
            left_out.append({"coordinate": jar.coordinate, "because": f"{shipped_label} ships {shipped[jar.artifact]}"})
        else:
            kept.append(jar)
    return kept, left_out


def pom(roots: list[str]) -> str:
    dependencies = []
    for root in roots:
        group, artifact, version = root.split(":")
        dependencies.append(
            f"<dependency><groupId>{escape(group)}</groupId><artifactId>{escape(artifact)}</artifactId>"
            f"<version>{escape(version)}</version></dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>cdc-lab.lock</groupId><artifactId>jars</artifactId><version>0</version><packaging>pom</packaging>"
        f"<dependencies>{''.join(dependencies)}</dependencies></project>\n"
    )


def resolve(roots: list[str], maven_repo: str | None) -> list[Jar]:
    """The runtime closure of the roots, resolved by Maven and copied out in the repository's layout."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LockError("`make lock` resolves the JVM jars with Maven: install it (apt-get install maven) and re-run")
    with tempfile.TemporaryDirectory(prefix="cdc-lab-jarlock-") as work:
        Path(work, "pom.xml").write_text(pom(roots))
        out = Path(work, "out")
        command = [
            mvn,
            "-B",
            "-q",
            "-U",
            COPY_GOAL,
            "-DincludeScope=runtime",
            "-Dmdep.useRepositoryLayout=true",
            f"-DoutputDirectory={out}",
        ]
        if maven_repo:
            command.append(f"-DremoteRepositories={maven_repo}")
        result = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            errors = [line for line in result.stdout.splitlines() if "ERROR" in line][:5]
            raise LockError(f"Maven could not resolve {', '.join(roots)}:\n" + "\n".join(errors or [result.stdout]))
        return [
            Jar(str(path.relative_to(out)), hashlib.sha256(path.read_bytes()).hexdigest())
            for path in sorted(out.rglob("*.jar"))
        ]


def lock_path(input_file: Path) -> Path:
    """The lock written from an input file: jars.in.yml -> jars.lock.yml, <set>.jars.in.yml -> <set>.jars.lock.yml."""
    return input_file.with_name(input_file.name.removesuffix(INPUT_NAME) + LOCK_NAME)


def input_files(paths: list[Path]) -> list[Path]:
    """The input files named, or found in the role directories named (every role's when none is)."""
    if not paths:
        return sorted(Path("roles").glob(f"*/files/{INPUT_GLOB}"))
    return [
        found for path in paths for found in ([path] if path.is_file() else sorted(path.glob(f"files/{INPUT_GLOB}")))
    ]


def lock_role(input_file: Path, maven_repo: str | None) -> Path:
    spec: dict[str, Any] = yaml.safe_load(input_file.read_text())
    roots: list[str] = spec["roots"]
    excludes: dict[str, str] = spec.get("exclude") or {}
    shipped: dict[str, str] = {}
    label = ""
    if spec.get("shipped_by") == "pyspark":
        import pyspark

        shipped = shipped_artifacts(pyspark_jars_dir())
        label = f"pyspark {pyspark.__version__}"
    kept, left_out = partition(resolve(roots, maven_repo), shipped, label, excludes)
    missing = [root for root in roots if root not in {jar.coordinate for jar in kept}]
    if missing:
        raise LockError(f"{input_file}: the roots {missing} are not in their own closure (left out?)")
    lock = {
        "roots": roots,
        "jars": [{"coordinate": j.coordinate, "file": j.file, "path": j.path, "sha256": j.sha256} for j in kept],
        "left_out": left_out,
    }
    target = lock_path(input_file)
    header = (
        f"# Generated by `make lock` from {input_file.name}: the runtime closure of the roots, resolved by Maven,\n"
        "# less what the image already has (left_out). `make lab` downloads exactly these jars and checks their\n"
        "# sha256.\n"
    )
    target.write_text(header + "---\n" + yaml.dump(lock, Dumper=_IndentedDumper, sort_keys=False, width=120))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "roles", nargs="*", type=Path, help="role directories or their *jars.in.yml files (default: every role's)"
    )
    parser.add_argument("--maven-repo", help="resolve from this Maven repository as well as Maven Central")
    args = parser.parse_args(argv)
    try:
        for input_file in input_files(args.roles):
            target = lock_role(input_file, args.maven_repo)
            count = len(yaml.safe_load(target.read_text())["jars"])
            print(f"cdc-lab: locked {count} jars from {input_file} into {target}")
    except LockError as error:
        print(f"cdc-lab: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
