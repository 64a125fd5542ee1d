"""Hypothesis strategies of the flag tests, in one place."""

from __future__ import annotations

from hypothesis import strategies as st

from flags.model import (
    ENGINES,
    FALLBACKS,
    HYBRID_MODES,
    ROUTES,
    FlagRecord,
    HybridPolicy,
    RetryPolicy,
    ShadowConfig,
)

engines = st.sampled_from(ENGINES)
routes = st.sampled_from(ROUTES)
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
percents = st.one_of(
    st.integers(min_value=0, max_value=100), st.floats(min_value=0.0, max_value=100.0)
)
worker_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,40}", fullmatch=True)
routing_keys = st.text(max_size=40)
paths = st.from_regex(r"[a-z_][a-z0-9_.\[\]]{0,20}", fullmatch=True)
rollout_plans = st.just(()) | st.lists(
    st.floats(min_value=0.01, max_value=99.99), min_size=0, max_size=5, unique=True
).map(lambda steps: (*sorted(steps), 100.0))
"""The default plan (empty), or increasing steps above 0 ending at 100."""
exception_names = st.from_regex(
    r"[A-Za-z_][A-Za-z0-9_]{0,15}(\.[A-Za-z_][A-Za-z0-9_]{0,15})?", fullmatch=True
)

hybrid_policies = st.builds(
    HybridPolicy,
    mode=st.sampled_from(HYBRID_MODES),
    threshold=st.integers(min_value=0, max_value=10**6),
    small=engines,
    large=engines,
    explore=unit,
)

shadow_configs = st.builds(
    ShadowConfig,
    route=engines,
    sample=unit,
    timeout_s=st.floats(min_value=0.001, max_value=3600.0),
    ignore_paths=st.lists(paths, max_size=3).map(tuple),
    float_rel_tol=unit,
    unordered_lists=st.booleans(),
    allow_side_effects=st.booleans(),
    denoise=st.booleans(),
    redact=st.lists(paths, max_size=3).map(tuple),
    max_mismatch_rate=unit,
    max_candidate_p95_ratio=st.floats(min_value=0.01, max_value=1000.0),
    min_comparisons=st.integers(min_value=0, max_value=10**6),
    max_candidate_error_rate=unit,
)

retry_policies = st.builds(
    RetryPolicy,
    max_retries=st.integers(min_value=0, max_value=100),
    backoff_s=st.floats(min_value=0.0, max_value=3600.0),
    retryable=st.lists(exception_names, max_size=3).map(tuple),
)

flag_records = st.builds(
    FlagRecord,
    route=routes,
    percent=percents,
    base=engines,
    hybrid=hybrid_policies,
    shadow=st.none() | shadow_configs,
    kill=st.booleans(),
    retries=retry_policies,
    priority=st.integers(min_value=0, max_value=9),
    queue=st.none() | st.from_regex(r"[A-Za-z0-9_.:-]{1,30}", fullmatch=True),
    fallback=st.sampled_from(FALLBACKS),
    rollout=rollout_plans,
    version=st.integers(min_value=0, max_value=10**6),
)
