# Copyright: cdc-lab contributors. Apache-2.0.
"""The lab's records (a container's converged options, the record of a successful run): JSON, mode 0600."""

from __future__ import annotations

import json
import os
from typing import Any


def write_private_json(path: str, document: dict[str, Any]) -> bool:
    """Write document to path (mode 0600, atomically) unless the file already holds it; return whether it wrote."""
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    temporary = f"{path}.tmp"
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return True
