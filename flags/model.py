"""The flags of one worker: frozen dataclasses, validated on construction and on load.

Every value is checked when a record is built, whether by code or by :meth:`FlagRecord.from_dict`
from JSON, so an invalid record cannot exist: a refusal is a
:class:`~ground.errors.FlagValidationError` naming the field path (``"shadow.sample"``), the
value and what is allowed, raised before any store is touched.

The defaults are the legacy module everywhere: a worker nobody has configured routes every
call to ``legacy``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Literal, TypeAlias, TypeVar

import ground.retry
from ground.errors import FlagValidationError

Engine: TypeAlias = Literal["legacy", "celery", "ray"]
"""A concrete execution engine: where a call actually runs."""

Route: TypeAlias = Literal["legacy", "celery", "ray", "hybrid"]
"""What a worker's flag may say: an engine, or ``hybrid`` (an engine chosen per call)."""

HybridMode: TypeAlias = Literal["threshold", "adaptive"]
Fallback: TypeAlias = Literal["legacy", "fail"]

ENGINES: Final[tuple[Engine, ...]] = ("legacy", "celery", "ray")
ROUTES: Final[tuple[Route, ...]] = ("legacy", "celery", "ray", "hybrid")
HYBRID_MODES: Final[tuple[HybridMode, ...]] = ("threshold", "adaptive")
FALLBACKS: Final[tuple[Fallback, ...]] = ("legacy", "fail")

MAX_TEXT = 1000
"""Longest ``reason`` / ``updated_by`` kept with a record."""

DEFAULT_MAX_CANDIDATE_ERROR_RATE: Final = 0.001
"""The share of shadow comparisons in which the candidate may raise or time out."""
DEFAULT_VERDICT_ALPHA: Final = 0.05
"""The readiness verdict's error level: the chance, over all time and however often the
verdict is read, that it calls a criterion proven when it is not."""

DEFAULT_ROLLOUT_STEPS: Final[tuple[float, ...]] = (5.0, 25.0, 50.0, 100.0)
"""The percentages ``cutover promote`` steps through after 0 (a worker's ``rollout`` may
name its own)."""

MAX_ROLLOUT_STEPS: Final = 20

_WORKER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,199}")
_QUEUE = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
_EXCEPTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_PATH = re.compile(r"\S{1,500}")


# --- checks: each returns the normalised value or raises FlagValidationError --------------


def _one_of(path: str, value: Any, allowed: tuple[str, ...], what: str = "") -> Any:
    if not isinstance(value, str) or value not in allowed:
        listed = ", ".join(repr(name) for name in allowed)
        raise FlagValidationError(path, value, f"one of {listed}{what}")
    return value


def _integer(path: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FlagValidationError(path, value, f"an integer from {low} to {high}")
    return value


def _number(path: str, value: Any, low: float, high: float, *, above_low: bool = False) -> float:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and (low < value if above_low else low <= value)
        and value <= high
    )
    if not ok:
        lower = f"greater than {low:g}" if above_low else f"from {low:g}"
        upper = f" and at most {high:g}" if above_low else f" to {high:g}"
        raise FlagValidationError(path, value, f"a number {lower}{upper}")
    return float(value)


def _boolean(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise FlagValidationError(path, value, "true or false")
    return value


def _optional_text(path: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise FlagValidationError(path, value, f"null or a text of at most {MAX_TEXT} characters")
    return value


def _names(path: str, value: Any, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise FlagValidationError(path, value, f"a list of {what}")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not pattern.fullmatch(item):
            raise FlagValidationError(f"{path}[{index}]", item, what)
    return tuple(value)


def _timestamp(path: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise FlagValidationError(path, value, "null or an ISO-8601 timestamp")


def _rollout_steps(path: str, value: Any) -> tuple[float, ...]:
    """Empty (the default plan), or percentages above 0, strictly increasing, ending at 100."""
    allowed = (
        f"an empty list (the default plan) or at most {MAX_ROLLOUT_STEPS} percentages above 0, "
        "strictly increasing, ending at 100, e.g. [5, 25, 50, 100]"
    )
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise FlagValidationError(path, value, allowed)
    steps: list[float] = []
    for index, item in enumerate(value):
        steps.append(_number(f"{path}[{index}]", item, 0.0, 100.0, above_low=True))
    increasing = all(low < high for low, high in itertools.pairwise(steps))
    if len(steps) > MAX_ROLLOUT_STEPS or not increasing or (steps and steps[-1] != 100.0):
        raise FlagValidationError(path, list(value), allowed)
    return tuple(steps)


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def validate_worker_id(worker_id: Any) -> str:
    """Return ``worker_id`` if it is a valid worker id, else raise FlagValidationError."""
    if not isinstance(worker_id, str) or not _WORKER_ID.fullmatch(worker_id):
        raise FlagValidationError(
            "worker",
            worker_id,
            "1-200 characters: letters, digits and _ . : @ / - (starting with a letter or digit)",
        )
    return worker_id


def utc_now() -> str:
    """The current time as an ISO-8601 UTC timestamp (what ``updated_at`` holds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# --- the records ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HybridPolicy:
    """How the ``hybrid`` route picks an engine for each call.

    ``threshold``: fewer than ``threshold`` items run on ``small``, others on ``large`` (the
    rule of the original seed). ``adaptive``: the engine with the lowest observed cost per
    item for this worker and batch size among ``candidates`` (default: ``small`` and
    ``large``), exploring another one with probability ``explore`` (see
    :mod:`flags.adaptive`).
    """

    PATH: ClassVar[str] = "hybrid."

    mode: HybridMode = "threshold"
    threshold: int = 100
    small: Engine = "celery"
    large: Engine = "ray"
    explore: float = 0.05
    candidates: tuple[Engine, ...] = ()

    def __post_init__(self) -> None:
        p = self.PATH
        _one_of(p + "mode", self.mode, HYBRID_MODES)
        _integer(p + "threshold", self.threshold, 0, 1_000_000_000)
        _one_of(p + "small", self.small, ENGINES, " (a concrete engine)")
        _one_of(p + "large", self.large, ENGINES, " (a concrete engine)")
        _set(self, "explore", _number(p + "explore", self.explore, 0.0, 1.0))
        if isinstance(self.candidates, str) or not isinstance(self.candidates, list | tuple):
            raise FlagValidationError(
                p + "candidates", self.candidates, "a list of distinct engines"
            )
        for index, engine in enumerate(self.candidates):
            _one_of(f"{p}candidates[{index}]", engine, ENGINES, " (a concrete engine)")
        if len(set(self.candidates)) != len(self.candidates):
            raise FlagValidationError(
                p + "candidates", list(self.candidates), "a list of distinct engines"
            )
        _set(self, "candidates", tuple(self.candidates))

    @property
    def adaptive_candidates(self) -> tuple[Engine, ...]:
        """The engines the adaptive mode chooses among."""
        if self.candidates:
            return self.candidates
        return (self.small,) if self.small == self.large else (self.small, self.large)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of this policy."""
        return {
            "mode": self.mode,
            "threshold": self.threshold,
            "small": self.small,
            "large": self.large,
            "explore": self.explore,
            "candidates": list(self.candidates),
        }

    @classmethod
    def from_dict(cls, data: Any) -> HybridPolicy:
        """Build a policy from JSON data; missing fields take their defaults."""
        return cls(**_fields_of(cls, data, cls.PATH))


@dataclass(frozen=True, slots=True)
class ShadowConfig:
    """Run a sample of calls on a candidate engine as well, off the caller's path, and compare.

    Only the shim acts on this; the control result (the engine the call was routed to) is
    always what the caller gets. ``max_mismatch_rate``, ``max_candidate_p95_ratio`` and
    ``min_comparisons`` are the gate a candidate must pass before it may be promoted.
    ``max_mismatch_rate`` and ``max_candidate_error_rate`` (a candidate that raised or timed
    out) are also what the automatic guard (:mod:`cutover.ops.guard`) rolls a worker back on,
    once its verdict proves one of them exceeded.

    ``alpha`` is the verdict's error level (:mod:`cutover.verdict`); the latency criterion
    holds the *median per-call* ratio candidate / primary to ``max_candidate_p95_ratio`` (the
    name predates the paired test). ``min_comparisons`` is only a floor before ``ready``.

    ``max_candidate_error_rate`` and ``alpha`` were added after records were first stored:
    each is left out of :meth:`to_dict` while it has its default, so a process running an
    older version of the model (which refuses unknown fields) still reads the records this
    one writes.
    """

    PATH: ClassVar[str] = "shadow."

    route: Engine
    sample: float = 0.01
    timeout_s: float = 10.0
    ignore_paths: tuple[str, ...] = ()
    float_rel_tol: float = 1e-9
    unordered_lists: bool = False
    allow_side_effects: bool = False
    denoise: bool = False
    redact: tuple[str, ...] = ()
    max_mismatch_rate: float = 0.001
    max_candidate_p95_ratio: float = 1.5
    min_comparisons: int = 1000
    max_candidate_error_rate: float = DEFAULT_MAX_CANDIDATE_ERROR_RATE
    alpha: float = DEFAULT_VERDICT_ALPHA

    def __post_init__(self) -> None:
        p = self.PATH
        _one_of(p + "route", self.route, ENGINES, " (a concrete engine)")
        _set(self, "sample", _number(p + "sample", self.sample, 0.0, 1.0))
        _set(
            self,
            "timeout_s",
            _number(p + "timeout_s", self.timeout_s, 0.0, 3600.0, above_low=True),
        )
        paths = _names(p + "ignore_paths", self.ignore_paths, _PATH, "a path without spaces")
        _set(self, "ignore_paths", paths)
        _set(self, "float_rel_tol", _number(p + "float_rel_tol", self.float_rel_tol, 0.0, 1.0))
        _boolean(p + "unordered_lists", self.unordered_lists)
        _boolean(p + "allow_side_effects", self.allow_side_effects)
        _boolean(p + "denoise", self.denoise)
        _set(self, "redact", _names(p + "redact", self.redact, _PATH, "a path without spaces"))
        rate = _number(p + "max_mismatch_rate", self.max_mismatch_rate, 0.0, 1.0)
        _set(self, "max_mismatch_rate", rate)
        ratio = _number(
            p + "max_candidate_p95_ratio", self.max_candidate_p95_ratio, 0.0, 1000.0, above_low=True
        )
        _set(self, "max_candidate_p95_ratio", ratio)
        _integer(p + "min_comparisons", self.min_comparisons, 0, 1_000_000_000)
        errors = _number(p + "max_candidate_error_rate", self.max_candidate_error_rate, 0.0, 1.0)
        _set(self, "max_candidate_error_rate", errors)
        alpha = _number(p + "alpha", self.alpha, 0.0, 0.5, above_low=True)
        _set(self, "alpha", alpha)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of this configuration (newer fields only when not default)."""
        data: dict[str, Any] = {
            "route": self.route,
            "sample": self.sample,
            "timeout_s": self.timeout_s,
            "ignore_paths": list(self.ignore_paths),
            "float_rel_tol": self.float_rel_tol,
            "unordered_lists": self.unordered_lists,
            "allow_side_effects": self.allow_side_effects,
            "denoise": self.denoise,
            "redact": list(self.redact),
            "max_mismatch_rate": self.max_mismatch_rate,
            "max_candidate_p95_ratio": self.max_candidate_p95_ratio,
            "min_comparisons": self.min_comparisons,
        }
        if self.max_candidate_error_rate != DEFAULT_MAX_CANDIDATE_ERROR_RATE:
            data["max_candidate_error_rate"] = self.max_candidate_error_rate
        if self.alpha != DEFAULT_VERDICT_ALPHA:
            data["alpha"] = self.alpha
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ShadowConfig:
        """Build a configuration from JSON data; ``route`` is required."""
        values = _fields_of(cls, data, cls.PATH)
        if "route" not in values:
            raise FlagValidationError(
                cls.PATH + "route", None, "one of 'legacy', 'celery', 'ray' (required)"
            )
        return cls(**values)


@dataclass(frozen=True, slots=True, init=False)
class RetryPolicy(ground.retry.RetryPolicy):
    """Retries of a routed call, as a flag: at most ``max_retries`` more attempts, exponential
    backoff, only for exceptions whose class name (or dotted ``module.Name``) is in
    ``retryable``.

    It *is* the engines' policy (:class:`ground.retry.RetryPolicy`), validated, so the
    adapters apply it as it stands. Stored as ``{"max": ..., "backoff_s": ..., "retryable":
    [...]}``: the stored key stays ``max`` so that processes of earlier versions, which refuse
    unknown fields, still read what this one writes; :meth:`from_dict` also reads
    ``max_retries`` (what a later version may write).
    """

    PATH: ClassVar[str] = "retries."
    STORED_MAX: ClassVar[str] = "max"

    def __init__(
        self,
        max_retries: int = 0,
        backoff_s: float = 1.0,
        retryable: tuple[str, ...] = (),
        *,
        max: int | None = None,  # the earlier name of max_retries, kept for its callers
    ) -> None:
        if max is not None:
            if max_retries not in (0, max):
                raise FlagValidationError(
                    self.PATH + "max_retries", max_retries, f"the same as max ({max!r})"
                )
            max_retries = max
        _set(self, "max_retries", max_retries)
        _set(self, "backoff_s", backoff_s)
        _set(self, "retryable", retryable)
        self._validate()

    def _validate(self) -> None:
        p = self.PATH
        _integer(p + self.STORED_MAX, self.max_retries, 0, 100)
        _set(self, "backoff_s", _number(p + "backoff_s", self.backoff_s, 0.0, 3600.0))
        names = _names(p + "retryable", self.retryable, _EXCEPTION_NAME, "an exception class name")
        _set(self, "retryable", names)

    @property
    def max(self) -> int:
        """``max_retries`` under its earlier name (the stored key)."""
        return self.max_retries

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of this policy (``max`` is the stored name of ``max_retries``)."""
        return {
            self.STORED_MAX: self.max_retries,
            "backoff_s": self.backoff_s,
            "retryable": list(self.retryable),
        }

    @classmethod
    def from_dict(cls, data: Any) -> RetryPolicy:
        """Build a policy from JSON data; missing fields take their defaults.

        ``max`` (stored by every version so far) and ``max_retries`` are the same field;
        both at once must agree.
        """
        if isinstance(data, Mapping) and cls.STORED_MAX in data:
            values = dict(data)
            stored = values.pop(cls.STORED_MAX)
            if values.setdefault("max_retries", stored) != stored:
                raise FlagValidationError(
                    cls.PATH + "max_retries",
                    values["max_retries"],
                    f"the same as {cls.PATH}{cls.STORED_MAX} ({stored!r}), or left out",
                )
            data = values
        return cls(**_fields_of(cls, data, cls.PATH))


@dataclass(frozen=True, slots=True)
class FlagRecord:
    """Every flag of one worker (the worker id is the key it is stored under, not a field).

    A call takes ``route`` with probability ``percent`` / 100 (sticky per routing key, see
    :func:`flags.routing.decide`) and ``base`` otherwise. ``kill`` forces ``legacy``.
    ``version`` is 0 for a worker that was never written and increments on every change;
    ``updated_at`` / ``updated_by`` / ``reason`` describe the last change.

    ``rollout`` is the worker's own plan for ``cutover promote`` (the percentages after 0);
    empty means :data:`DEFAULT_ROLLOUT_STEPS`. It was added after records were first stored,
    so :meth:`to_dict` leaves it out while it is empty: a process running an older version
    of the model (which refuses unknown fields) still reads what this one writes.
    """

    PATH: ClassVar[str] = ""

    route: Route = "legacy"
    percent: float = 100.0
    base: Engine = "legacy"
    hybrid: HybridPolicy = field(default_factory=HybridPolicy)
    shadow: ShadowConfig | None = None
    kill: bool = False
    retries: RetryPolicy = field(default_factory=RetryPolicy)
    priority: int = 0
    queue: str | None = None
    fallback: Fallback = "legacy"
    rollout: tuple[float, ...] = ()
    version: int = 0
    updated_at: str | None = None
    updated_by: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        _one_of("route", self.route, ROUTES)
        _set(self, "percent", _number("percent", self.percent, 0.0, 100.0))
        _one_of("base", self.base, ENGINES, " (a concrete engine)")
        if not isinstance(self.hybrid, HybridPolicy):
            raise FlagValidationError("hybrid", self.hybrid, "a HybridPolicy")
        if self.shadow is not None and not isinstance(self.shadow, ShadowConfig):
            raise FlagValidationError("shadow", self.shadow, "null or a ShadowConfig")
        _boolean("kill", self.kill)
        if not isinstance(self.retries, RetryPolicy):
            raise FlagValidationError("retries", self.retries, "a RetryPolicy")
        _integer("priority", self.priority, 0, 9)
        if self.queue is not None and (
            not isinstance(self.queue, str) or not _QUEUE.fullmatch(self.queue)
        ):
            raise FlagValidationError(
                "queue", self.queue, "null or 1-200 characters: letters, digits and _ . : -"
            )
        _one_of("fallback", self.fallback, FALLBACKS)
        _set(self, "rollout", _rollout_steps("rollout", self.rollout))
        _integer("version", self.version, 0, 2**53)
        _timestamp("updated_at", self.updated_at)
        _optional_text("updated_by", self.updated_by)
        _optional_text("reason", self.reason)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (the format of the stores and of ``--json``).

        ``rollout`` only when a plan of its own is set (see the class docstring).
        """
        data: dict[str, Any] = {
            "route": self.route,
            "percent": self.percent,
            "base": self.base,
            "hybrid": self.hybrid.to_dict(),
            "shadow": None if self.shadow is None else self.shadow.to_dict(),
            "kill": self.kill,
            "retries": self.retries.to_dict(),
            "priority": self.priority,
            "queue": self.queue,
            "fallback": self.fallback,
            "version": self.version,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
            "reason": self.reason,
        }
        if self.rollout:
            data["rollout"] = list(self.rollout)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> FlagRecord:
        """Build a record from JSON data, strictly: unknown fields and wrong types are refused.

        Missing fields take their defaults, so ``{"route": "celery"}`` is a whole record.
        """
        values = _fields_of(cls, data, cls.PATH)
        if "hybrid" in values:
            values["hybrid"] = HybridPolicy.from_dict(values["hybrid"])
        if values.get("shadow") is not None:
            values["shadow"] = ShadowConfig.from_dict(values["shadow"])
        if "retries" in values:
            values["retries"] = RetryPolicy.from_dict(values["retries"])
        return cls(**values)

    def changed(self, **changes: Any) -> FlagRecord:
        """A copy with ``changes`` applied (validated like any record)."""
        return replace(self, **changes)

    def stamped(self, *, version: int, actor: str, reason: str, at: str) -> FlagRecord:
        """A copy carrying the bookkeeping of a write (what a store does on ``put``)."""
        return replace(self, version=version, updated_at=at, updated_by=actor, reason=reason)

    def same_flags(self, other: FlagRecord) -> bool:
        """True when both records route identically (bookkeeping fields ignored)."""
        mine, theirs = self.to_dict(), other.to_dict()
        for name in _BOOKKEEPING:
            del mine[name], theirs[name]
        return mine == theirs


_BOOKKEEPING = ("version", "updated_at", "updated_by", "reason")

DEFAULT_RECORD: Final = FlagRecord()
"""The flags of a worker that was never configured: legacy for every call."""

_Record = TypeVar("_Record", HybridPolicy, ShadowConfig, RetryPolicy, FlagRecord)


def _fields_of(cls: type[_Record], data: Any, path: str) -> dict[str, Any]:
    """The keyword arguments for ``cls`` in ``data``, refusing anything that is not a field."""
    names = [f.name for f in fields(cls)]
    where = path.rstrip(".") or "record"
    if not isinstance(data, Mapping):
        raise FlagValidationError(where, data, f"an object with the fields {', '.join(names)}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise FlagValidationError(
                f"{path}{key}", value, f"one of the known fields {', '.join(names)}"
            )
        values[key] = value
    return values


__all__ = [
    "DEFAULT_MAX_CANDIDATE_ERROR_RATE",
    "DEFAULT_RECORD",
    "DEFAULT_ROLLOUT_STEPS",
    "ENGINES",
    "FALLBACKS",
    "HYBRID_MODES",
    "ROUTES",
    "Engine",
    "Fallback",
    "FlagRecord",
    "HybridMode",
    "HybridPolicy",
    "RetryPolicy",
    "Route",
    "ShadowConfig",
    "utc_now",
    "validate_worker_id",
]
