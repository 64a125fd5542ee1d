"""The one shape of a retry policy, shared by the flags that set it and the engines that apply it.

A worker's flags say how often a failed call is retried (``flags.RetryPolicy`` adds
validation and its stored JSON form to this class), and every engine applies that same object
(``adapters.base.RetryPolicy`` is this class). One shape means no translation between the two
layers, and a field renamed in one of them cannot silently drop a setting on the way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MAX_BACKOFF_S = 300.0
"""The longest wait before one retry, on every engine."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries for exceptions a worker's flags mark retryable (by class name).

    At most ``max_retries`` more attempts. The whole batch is retried, so a retryable task
    must be idempotent: this is the same contract as Celery's ``autoretry_for``. Backoff is
    exponential with full jitter.
    """

    max_retries: int = 0
    backoff_s: float = 1.0
    retryable: tuple[str, ...] = ()

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt + 1``: full jitter, capped.

        Uniform in ``[0, backoff_s * 2**attempt]``, never more than :data:`MAX_BACKOFF_S`,
        so a fleet of retrying batches spreads out instead of retrying in lockstep.
        """
        ceiling = min(MAX_BACKOFF_S, self.backoff_s * (2**attempt))
        return random.uniform(0, ceiling)

    def is_retryable(self, exc: BaseException) -> bool:
        """True when ``exc`` or one of its base classes is named in ``retryable``."""
        if not self.retryable:
            return False
        names = {cls.__name__ for cls in type(exc).__mro__}
        names |= {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}
        return not names.isdisjoint(self.retryable)


__all__ = ["MAX_BACKOFF_S", "RetryPolicy"]
