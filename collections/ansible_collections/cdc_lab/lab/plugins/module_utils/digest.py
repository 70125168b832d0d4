# Copyright: cdc-lab contributors. Apache-2.0.
"""The digest of a file, read in chunks (the image digest, the jar checks and the no-op record share it)."""

from __future__ import annotations

import hashlib


def file_digest(path: str, algorithm: str = "sha1") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
