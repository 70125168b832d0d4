"""Stage locked wheels into an image's build context: the named packages' entries of requirements.lock (with their
hashes) are written to ``<dest>/requirements.txt`` and downloaded by pip on the host, hash-checked, so that the image
build installs them with ``--no-index`` (PyPI's certificates fail inside a container build here, and an air-gapped
host fills the directory itself).

Prints one JSON line: ``{"changed": bool, "wheels": [...]}``; exits 1 naming any package the lock lacks. With
``--print`` it only prints the packages' entries (the spark role installs pyspark from them with uv).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = "requirements.txt"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_entries(lock_text: str) -> dict[str, list[str]]:
    """The lock's entries (requirement line and hash lines) by normalised package name; a package pinned twice,
    under different markers, has both."""
    entries: dict[str, list[str]] = {}
    name = ""
    for line in lock_text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            name = _normalise(re.split(r"[=<>!~;\[ ]", line, maxsplit=1)[0])
            entries.setdefault(name, []).append(line)
        elif name and line.strip().startswith("--hash"):
            entries[name][-1] += "\n" + line
    return entries


def requirements_for(lock_text: str, packages: list[str]) -> str:
    entries = lock_entries(lock_text)
    missing = [package for package in packages if _normalise(package) not in entries]
    if missing:
        raise SystemExit(f"cdc-lab: requirements.lock has no entry for {', '.join(missing)}; run `make lock`")
    blocks = [block for package in sorted(packages, key=_normalise) for block in entries[_normalise(package)]]
    return "\n".join(blocks) + "\n"


def stage(lock: Path, dest: Path, packages: list[str], python: str = sys.executable) -> dict[str, object]:
    dest.mkdir(parents=True, exist_ok=True)
    wanted = requirements_for(lock.read_text(), packages)
    target = dest / REQUIREMENTS
    changed = not target.exists() or target.read_text() != wanted
    if changed:
        for wheel in dest.glob("*.whl"):
            wheel.unlink()
        target.write_text(wanted)
    before = {wheel.name for wheel in dest.glob("*.whl")}
    command = [python, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes", "--only-binary=:all:"]
    result = subprocess.run(
        [*command, "--dest", str(dest), "-r", str(target)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"cdc-lab: pip could not download the locked wheels into {dest}:\n{result.stderr.strip()}")
    wheels = sorted(wheel.name for wheel in dest.glob("*.whl"))
    return {"changed": changed or set(wheels) != before, "wheels": wheels}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, required=True, help="requirements.lock")
    parser.add_argument("--dest", type=Path, help="the build context's wheel directory")
    parser.add_argument(
        "--print", action="store_true", help="only print the packages' lock entries (a requirements file)"
    )
    parser.add_argument("packages", nargs="+", help="package names, as the lock spells them")
    args = parser.parse_args(argv)
    if args.print:
        sys.stdout.write(requirements_for(args.lock.read_text(), args.packages))
        return 0
    if args.dest is None:
        parser.error("--dest is required unless --print")
    print(json.dumps(stage(args.lock, args.dest, args.packages)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
