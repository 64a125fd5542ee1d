"""The automatic guard's settings, read from the environment in one place.

Kept apart from :mod:`cutover.ops.guard` so the Celery app can ship the guard's Beat
schedule without importing the shim, the recorders or Redis at start-up.

``CUTOVER_GUARD_INTERVAL_S``
    How often the guard runs (default 30): a worker is rolled back within one interval of
    its numbers crossing a threshold.
``CUTOVER_GUARD_WINDOW_S``
    The sliding window of shadow records the guard judges (default 300): only comparisons
    made in the last this-many seconds count.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ground.errors import ConfigurationError

INTERVAL_ENV: Final = "CUTOVER_GUARD_INTERVAL_S"
WINDOW_ENV: Final = "CUTOVER_GUARD_WINDOW_S"
DEFAULT_INTERVAL_S: Final = 30.0
DEFAULT_WINDOW_S: Final = 300.0
READ_LIMIT: Final = 10_000
"""Newest shadow records read per worker and pass (older ones are outside any sane window)."""

GUARD_ACTOR: Final = "auto-guard"
"""The actor of every change the guard makes, as the audit trail shows it."""
GUARD_TASK: Final = "cutover.guard"
"""The Celery task name of one guard pass (what Beat schedules)."""


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name}={raw!r}: expected a number of seconds above 0")
    return value


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """How often the guard runs and how far back it looks."""

    interval_s: float = DEFAULT_INTERVAL_S
    window_s: float = DEFAULT_WINDOW_S
    read_limit: int = READ_LIMIT

    def __post_init__(self) -> None:
        for name, value in (("interval", self.interval_s), ("window", self.window_s)):
            if not math.isfinite(value) or value <= 0:
                raise ConfigurationError(
                    f"guard {name} {value!r}: expected a number of seconds above 0"
                )
        if self.read_limit < 1:
            raise ConfigurationError(f"guard read limit {self.read_limit}: expected at least 1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GuardSettings:
        """The settings of ``CUTOVER_GUARD_INTERVAL_S`` and ``CUTOVER_GUARD_WINDOW_S``."""
        env = os.environ if environ is None else environ
        return cls(
            interval_s=_seconds(env, INTERVAL_ENV, DEFAULT_INTERVAL_S),
            window_s=_seconds(env, WINDOW_ENV, DEFAULT_WINDOW_S),
        )


__all__ = [
    "DEFAULT_INTERVAL_S",
    "DEFAULT_WINDOW_S",
    "GUARD_ACTOR",
    "GUARD_TASK",
    "INTERVAL_ENV",
    "READ_LIMIT",
    "WINDOW_ENV",
    "GuardSettings",
]
