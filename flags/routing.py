"""Deciding where one call runs: the hot path, under a microsecond, never raises.

:func:`decide` reads the in-process :class:`~flags.table.FlagTable` and returns a
:class:`RouteDecision`. In order:

1. the global kill switch forces ``legacy`` (``global-kill``); a worker's ``kill`` too
   (``kill-switch``);
2. ``percent`` splits calls between ``route`` and ``base``. A call's bucket is a stable hash
   (BLAKE2b, never Python's salted ``hash()``) of ``"{worker}:{routing key}"`` into
   ``[0, 10000)``, and it takes ``route`` iff ``bucket < percent * 100``. So the same key
   always gets the same route at the same percent, and raising the percent only moves keys
   from ``base`` to ``route``. The routing key is the one set with :func:`routing_key`
   (a tenant, an item id...), or a fresh random one per call when none is set;
3. ``hybrid`` picks an engine per call: by batch size against ``threshold``, or by observed
   cost (:mod:`flags.adaptive`).

Reasons: ``default`` (never configured), ``route`` (percent 100), ``base`` (percent 0),
``percent-route`` / ``percent-base`` (a split), ``global-kill``, ``kill-switch``,
``hybrid-threshold-small`` / ``-large``, ``hybrid-adaptive-untried`` / ``-explore`` /
``-cheaper`` / ``-unknown``, and ``error`` (something was wrong: ``legacy``, logged once).

A decision that does not depend on the call (a kill, percent 0 or 100 on a plain route, a
threshold hybrid: everything but a percentage split and the adaptive policy) is made once
per worker and flag state, and kept in the state (``TableState.decisions``): the next calls
get the same immutable :class:`RouteDecision`, one dictionary lookup. A live update swaps in
a new state, and so new decisions, for the next call.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from hashlib import blake2b

from flags.adaptive import CostModel, default_cost_model
from flags.model import DEFAULT_RECORD, Engine, FlagRecord, Route, ShadowConfig
from flags.table import FlagTable, TableState
from ground.logs import get_logger

BUCKETS = 10_000
"""Buckets of the percentage split: a percent has two decimals of resolution."""

_routing_key: ContextVar[str | None] = ContextVar("cutover_flags_routing_key", default=None)
_random = random.random  # the module's generator: reseeded by Python in every forked child
_error_logged = False


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where one call runs and why.

    ``engine`` is the concrete engine; ``route`` is the flag route this call took (``route`` or
    ``base`` of the record, so possibly ``hybrid``); ``flag_version`` is the record's version;
    ``stale`` says the table could not reach the store at its last try; ``shadow`` is the
    shadow configuration to apply to this call (``None`` when killed or not configured).
    """

    engine: Engine
    route: Route
    reason: str
    flag_version: int
    stale: bool
    shadow: ShadowConfig | None
    record: FlagRecord


@contextmanager
def routing_key(key: object) -> Iterator[str]:
    """Route the calls made inside this block by ``key`` (``str(key)``): sticky per key.

    ``with flags.routing_key(tenant_id): ...``. Nested blocks use the innermost key; the key
    follows asyncio tasks created inside the block (it is a context variable).
    """
    value = str(key)
    token = _routing_key.set(value)
    try:
        yield value
    finally:
        _routing_key.reset(token)


def current_routing_key() -> str | None:
    """The routing key set by the innermost :func:`routing_key` block, if any."""
    return _routing_key.get()


def bucket_of(worker_id: str, key: str) -> int:
    """The stable bucket in ``[0, 10000)`` of a worker id and a routing key."""
    digest = blake2b(f"{worker_id}:{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def takes_route(percent: float, bucket: int) -> bool:
    """Whether a call in ``bucket`` takes the record's ``route`` at ``percent``."""
    return bucket < percent * 100


def decide(
    table: FlagTable,
    worker_id: str,
    n_items: int,
    *,
    key: str | None = None,
    cost_model: CostModel | None = None,
) -> RouteDecision:
    """The route of one call of ``worker_id`` over ``n_items`` items. Never raises.

    ``key`` overrides the routing key of the context; ``cost_model`` the process-wide one of
    the adaptive policy.
    """
    try:
        state = table.state
        cached = state.decisions.get(worker_id)
        if cached is not None:
            if cached.__class__ is RouteDecision:
                return cached
            threshold, small, large = cached
            return small if n_items < threshold else large  # type: ignore[no-any-return]
        return _decide(state, worker_id, n_items, key, cost_model)
    except Exception as exc:  # noqa: BLE001  (a flag problem never raises into a call)
        return _error_decision(table, worker_id, exc)


def _decide(
    state: TableState,
    worker_id: str,
    n_items: int,
    key: str | None,
    cost_model: CostModel | None,
) -> RouteDecision:
    """:func:`decide` without the per-state cache; fills it when the decision does not
    depend on the call (a kill, percent 0 or 100 on a plain route or a threshold hybrid)."""
    record = state.records.get(worker_id, DEFAULT_RECORD)
    if state.global_kill or record.kill:
        reason = "global-kill" if state.global_kill else "kill-switch"
        decision = RouteDecision(
            "legacy", "legacy", reason, record.version, state.stale, None, record
        )
        state.decisions[worker_id] = decision
        return decision
    percent = record.percent
    route: Route
    split = 0.0 < percent < 100.0
    if percent >= 100.0:
        route, reason = record.route, ("route" if record.version else "default")
    elif not split:
        route, reason = record.base, "base"
    else:
        if key is None:
            key = _routing_key.get()
        bucket = int(_random() * BUCKETS) if key is None else bucket_of(worker_id, key)
        if bucket < percent * 100:
            route, reason = record.route, "percent-route"
        else:
            route, reason = record.base, "percent-base"
    if route != "hybrid":
        decision = RouteDecision(
            route, route, reason, record.version, state.stale, record.shadow, record
        )
        if not split:
            state.decisions[worker_id] = decision
        return decision
    hybrid = record.hybrid
    if hybrid.mode == "adaptive":
        engine, reason = (cost_model or default_cost_model).choose(
            worker_id, hybrid.adaptive_candidates, n_items, hybrid.explore
        )
        return RouteDecision(
            engine, route, reason, record.version, state.stale, record.shadow, record
        )
    small, large = (
        RouteDecision(engine, route, reason, record.version, state.stale, record.shadow, record)
        for engine, reason in (
            (hybrid.small, "hybrid-threshold-small"),
            (hybrid.large, "hybrid-threshold-large"),
        )
    )
    if not split:
        state.decisions[worker_id] = (hybrid.threshold, small, large)
    return small if n_items < hybrid.threshold else large


def _error_decision(table: FlagTable, worker_id: object, error: Exception) -> RouteDecision:
    global _error_logged
    if not _error_logged:
        _error_logged = True
        get_logger("cutover.flags.routing").error(
            "route decision failed; routing on legacy (logged once per process)",
            worker=repr(worker_id),
            route="legacy",
            error=repr(error),
        )
    stale = bool(getattr(getattr(table, "state", None), "stale", True))
    return RouteDecision("legacy", "legacy", "error", 0, stale, None, DEFAULT_RECORD)


__all__ = [
    "BUCKETS",
    "RouteDecision",
    "bucket_of",
    "current_routing_key",
    "decide",
    "routing_key",
    "takes_route",
]
