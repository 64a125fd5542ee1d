"""Per-worker routing flags: live, audited, fail-safe, microseconds to evaluate.

The public API, in the order a worker meets it::

    import flags

    with flags.routing_key(tenant_id):                      # optional: sticky rollout
        decision = flags.decide(flags.get_table(), "billing-worker", n_items=len(items))
    decision.engine        # "legacy" | "celery" | "ray"
    flags.record_cost("billing-worker", decision.engine, len(items), elapsed)  # adaptive hybrid

Operators change flags with ``cutover flags ...`` (:mod:`cutover.cli.flags_cmd`) or a
:class:`FlagStore` from :func:`open_store`. The OpenFeature provider lives in
:mod:`flags.openfeature_provider` (an optional extra, not imported here).
"""

from __future__ import annotations

from flags.adaptive import CostModel, default_cost_model, record_cost, size_bucket
from flags.model import (
    DEFAULT_RECORD,
    ENGINES,
    ROUTES,
    Engine,
    FlagRecord,
    HybridPolicy,
    RetryPolicy,
    Route,
    ShadowConfig,
    validate_worker_id,
)
from flags.routing import (
    BUCKETS,
    RouteDecision,
    bucket_of,
    current_routing_key,
    decide,
    routing_key,
    takes_route,
)
from flags.store import AuditEntry, FlagSnapshot, FlagStore
from flags.stores import FLAGS_URL_ENV, open_store
from flags.table import FlagTable, TableState, get_table, reset_table

__all__ = [
    "BUCKETS",
    "DEFAULT_RECORD",
    "ENGINES",
    "FLAGS_URL_ENV",
    "ROUTES",
    "AuditEntry",
    "CostModel",
    "Engine",
    "FlagRecord",
    "FlagSnapshot",
    "FlagStore",
    "FlagTable",
    "HybridPolicy",
    "RetryPolicy",
    "Route",
    "RouteDecision",
    "ShadowConfig",
    "TableState",
    "bucket_of",
    "current_routing_key",
    "decide",
    "default_cost_model",
    "get_table",
    "open_store",
    "record_cost",
    "reset_table",
    "routing_key",
    "size_bucket",
    "takes_route",
    "validate_worker_id",
]
