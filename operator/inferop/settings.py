"""Operator-wide settings from the environment (the chart sets them; flags override)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"error: environment variable {name}={raw!r} must be an integer") from None


@dataclass(frozen=True)
class Settings:
    #: Seconds between drift checks of each InferenceService's children.
    drift_interval: int = 60
    #: Threads for sync handlers (the kubernetes client blocks).
    workers: int = 16

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            drift_interval=_int("INFEROP_DRIFT_INTERVAL", cls.drift_interval),
            workers=_int("INFEROP_WORKERS", cls.workers),
        )
