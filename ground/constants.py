"""Facts that several layers must agree on, spelled once: Redis key names and environment
variables.

A Redis key prefix written in two modules drifts: the guard would read a stream the recorder
no longer writes. An environment variable named in the worker, the CLI and the demo is the
same contract three times. Each module that owns one of these keeps its public name (for
example ``adapters.task_refs.TASK_MODULES_ENV``) as an alias of the constant here.

Everything cutover keeps in Redis lives under :data:`KEY_NAMESPACE`; nothing else does.
This module imports nothing, so every layer may import it.
"""

from __future__ import annotations

from typing import Final

# --- Redis keys, streams and channels ---------------------------------------------------

KEY_NAMESPACE: Final = "cutover:"
"""The prefix of every Redis key cutover writes (flags, shadow records, DLQ, deliveries)."""

FLAGS_KEY_PREFIX: Final = KEY_NAMESPACE + "{cutover-flags}:"
"""The flag store's keys; the hash tag keeps them in one Redis Cluster slot (``flags.keys``)."""

SHADOW_STREAM_PREFIX: Final = KEY_NAMESPACE + "shadow:"
"""One stream of shadow records per worker (``SHADOW_STREAM_PREFIX + worker``)."""

SHADOW_WORKERS_KEY: Final = KEY_NAMESPACE + "shadow-workers"
"""Set of the workers that have a shadow stream (outside the prefix: no worker id clashes)."""

DLQ_STREAM_KEY: Final = KEY_NAMESPACE + "dlq"
"""The Redis dead-letter store's stream."""

DELIVERIES_KEY_PREFIX: Final = KEY_NAMESPACE + "deliveries:"
"""Counter of a redelivered Celery task's deliveries (``+ task_id``, on the result backend)."""

# --- Environment variables ---------------------------------------------------------------

TASK_MODULES_ENV: Final = "CUTOVER_TASK_MODULES"
"""Comma-separated module prefixes a worker may import task functions from (empty: none)."""

LOG_LEVEL_ENV: Final = "CUTOVER_LOG_LEVEL"
"""The structlog threshold of every cutover process (default ``INFO``)."""

CALL_LOG_LEVEL_ENV: Final = "CUTOVER_CALL_LOG_LEVEL"
"""The per-call log's own threshold (falls back to :data:`LOG_LEVEL_ENV`)."""

BROKER_URL_ENV: Final = "CUTOVER_BROKER_URL"
"""The Celery broker."""

RESULT_BACKEND_ENV: Final = "CUTOVER_RESULT_BACKEND"
"""The Celery result backend."""

FLAGS_URL_ENV: Final = "CUTOVER_FLAGS_URL"
"""The flag store (``redis://``, ``rediss://``, ``file://``)."""

HOME_ENV: Final = "CUTOVER_HOME"
"""The directory of cutover's local state (default ``~/.cutover``)."""

WORKER_ENV: Final = "CUTOVER_WORKER"
"""The production worker id of this process when the caller names none."""

__all__ = [
    "BROKER_URL_ENV",
    "CALL_LOG_LEVEL_ENV",
    "DELIVERIES_KEY_PREFIX",
    "DLQ_STREAM_KEY",
    "FLAGS_KEY_PREFIX",
    "FLAGS_URL_ENV",
    "HOME_ENV",
    "KEY_NAMESPACE",
    "LOG_LEVEL_ENV",
    "RESULT_BACKEND_ENV",
    "SHADOW_STREAM_PREFIX",
    "SHADOW_WORKERS_KEY",
    "TASK_MODULES_ENV",
    "WORKER_ENV",
]
