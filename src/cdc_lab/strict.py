"""Strict mode: in `make verify` a skipped lab test is a failure, except the declared skips."""

from __future__ import annotations

import os
from collections.abc import Mapping

STRICT_ENV = "CDC_LAB_STRICT"

# The only skips strict mode accepts. A skip reason starting with one of these passes as a skip.
# - Alertmanager web UI unavailable: Debian's package ships no UI, and building it needs package.elm-lang.org or
#   a directory holding a built UI (alertmanager_ui_dir); only the browser check of the UI skips.
ALERTMANAGER_UI_UNAVAILABLE = "Alertmanager web UI unavailable"
DECLARED_SKIPS: tuple[str, ...] = (ALERTMANAGER_UI_UNAVAILABLE,)


def strict_from_env(environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(STRICT_ENV, "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


def is_declared_skip(reason: str) -> bool:
    """Whether a skip reason is one strict mode accepts."""
    text = reason.removeprefix("Skipped: ").strip()
    return text.startswith(DECLARED_SKIPS)
