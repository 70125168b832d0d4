"""Strict mode: in `make verify` a skipped lab test is a failure. Every service the lab promises is reachable from
the machines that build and test it, so a skip there means something is missing; the skip's reason (the service
and `make lab`, or the one line in which `make lab` said why a feature is off) becomes the failure's message."""

from __future__ import annotations

import os
from collections.abc import Mapping

STRICT_ENV = "CDC_LAB_STRICT"


def strict_from_env(environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(STRICT_ENV, "")
    return value.strip().lower() in {"1", "true", "yes", "on"}
