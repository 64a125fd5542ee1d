"""Every Redis key, channel and stream name of the flag store, in one place.

All keys share the hash tag ``{cutover-flags}`` so that, on a Redis Cluster, they live in one
slot and the compare-and-set script may touch all of them atomically.
"""

from __future__ import annotations

from ground.constants import FLAGS_KEY_PREFIX

PREFIX = FLAGS_KEY_PREFIX
"""The prefix of every key below; nothing else of cutover's lives under it."""

RECORDS_KEY = PREFIX + "records"
"""Hash: worker id -> the worker's flag record as JSON."""

GLOBAL_KILL_KEY = PREFIX + "global-kill"
"""String: JSON ``{"kill": bool, "version": int, ...}`` of the global kill switch."""

REVISION_KEY = PREFIX + "revision"
"""Integer: incremented on every change of any flag, so a reader can tell it missed one."""

AUDIT_STREAM = PREFIX + "audit"
"""Stream: every change of every worker and of the global kill switch."""

WORKER_AUDIT_PREFIX = PREFIX + "audit:"
"""Stream per worker (``WORKER_AUDIT_PREFIX + worker_id``): that worker's changes."""

CHANGES_CHANNEL = PREFIX + "changes"
"""Pub/sub channel: a JSON ``{"worker": ..., "revision": ...}`` after every change."""

AUDIT_MAXLEN = 10_000
"""Approximate length at which an audit stream is trimmed (``XADD MAXLEN ~``)."""


def worker_audit_stream(worker_id: str) -> str:
    """The audit stream of one worker."""
    return WORKER_AUDIT_PREFIX + worker_id


__all__ = [
    "AUDIT_MAXLEN",
    "AUDIT_STREAM",
    "CHANGES_CHANNEL",
    "GLOBAL_KILL_KEY",
    "PREFIX",
    "RECORDS_KEY",
    "REVISION_KEY",
    "WORKER_AUDIT_PREFIX",
    "worker_audit_stream",
]
