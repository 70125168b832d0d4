"""`make docs`: the README's table of services, ports, containers and memory limits, made from each role's
declaration (its ``<role>_manifest``, evaluated with the role defaults and group_vars as Ansible evaluates them),
and its table of how each MySQL type reaches Delta, made from the one type mapping
(cdc_lab.services.kafka_connect.debezium_types).

``python -m cdc_lab.docs`` rewrites the table in README.md and draws docs/pipeline.png (cdc_lab.diagram); ``--check``
exits 1 when README.md is out of date.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from cdc_lab.core.ansible_vars import lab_variables, template
from cdc_lab.diagram import draw_pipeline
from cdc_lab.services.kafka_connect.debezium_types import readme_table

PROJECT_DIR = Path(__file__).resolve().parents[2]
README = PROJECT_DIR / "README.md"
PIPELINE = PROJECT_DIR / "docs" / "pipeline.png"
BEGIN = "<!-- services: made by `make docs` from each role's <role>_manifest; edit the roles, not this table -->"
END = "<!-- end of services -->"
TYPES_BEGIN = "<!-- types: made by `make docs` from cdc_lab.services.kafka_connect.debezium_types; edit that -->"
TYPES_END = "<!-- end of types -->"
UNITS = {"k": 1 / 1024, "m": 1, "g": 1024}


def declared(project_dir: Path = PROJECT_DIR) -> tuple[dict[str, Any], dict[str, Any]]:
    """The lab's manifests (role -> <role>_manifest) and variables, with every role's defaults under group_vars."""
    variables = lab_variables(project_dir)
    manifests = template(variables, "{{ lab_manifests }}")
    return manifests, {"lab_memory_budget": template(variables, "{{ lab_memory_budget }}")}


def mebibytes(size: str) -> float:
    match = re.fullmatch(r"(\d+)([kmg])", str(size).lower())
    if not match:
        raise ValueError(f"not a memory size: {size!r}")
    return int(match[1]) * UNITS[match[2]]


def table(manifests: dict[str, Any], lab: dict[str, Any]) -> str:
    lines = [
        "| service | URL (127.0.0.1 only) | port variable | role |",
        "| --- | --- | --- | --- |",
    ]
    for role, manifest in manifests.items():
        ports = {str(value): name for name, value in manifest.get("ports", {}).items()}
        for service, url in manifest.get("urls", {}).items():
            port = re.search(r":(\d+)$", url)
            variable = ports.get(port[1], "") if port else ""
            lines.append(f"| {service} | `{url}` | `{variable}` | `{role}` |")
    lines += [
        "",
        "| role | containers | memory limit (variable) |",
        "| --- | --- | --- |",
    ]
    total = 0.0
    for role, manifest in manifests.items():
        counts = manifest.get("memory_counts", {})
        limits = []
        for variable, size in manifest.get("memory", {}).items():
            count = int(counts.get(variable, 1))
            total += mebibytes(size) * count
            limits.append(f"{size} (`{variable}`{f', x{count}' if count != 1 else ''})")
        containers = ", ".join(f"`{name}`" for name in manifest.get("containers", {}).values())
        lines.append(f"| `{role}` | {containers} | {', '.join(limits)} |")
    lines += [
        "",
        f"The memory limits add up to {total:g} MiB, under `lab_memory_budget` ({lab['lab_memory_budget']}), which "
        "the preflight enforces.",
    ]
    return "\n".join(lines)


def rewrite(text: str, block: str, begin: str = BEGIN, end_mark: str = END) -> str:
    start, end = text.find(begin), text.find(end_mark)
    if start < 0 or end < start:
        raise SystemExit(f"README.md has no {begin!r} ... {end_mark!r} block")
    return text[: start + len(begin)] + "\n" + block + "\n" + text[end:]


def generated(text: str, manifests: dict[str, Any], lab: dict[str, Any]) -> str:
    """The README with both generated tables as the declarations make them."""
    text = rewrite(text, table(manifests, lab))
    return rewrite(text, readme_table(), TYPES_BEGIN, TYPES_END)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cdc_lab.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when README.md is out of date")
    args = parser.parse_args(argv)
    manifests, lab = declared()
    current = README.read_text()
    wanted = generated(current, manifests, lab)
    if args.check:
        if wanted != current:
            print("cdc-lab: README.md's generated tables are out of date; run `make docs`", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        README.write_text(wanted)
        print("cdc-lab: README.md's generated tables rewritten")
    print(f"cdc-lab: drew {draw_pipeline(manifests, PIPELINE).relative_to(PROJECT_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
