"""Which production worker a shim object belongs to, and how calls are named.

The worker id is the key of the flags that route every call. It is given explicitly
(``AsyncWorkerOptimizer(worker_id="billing")``, the only addition the shim makes to the
legacy signatures), else taken from ``CUTOVER_WORKER``, else ``"default"``.

Call ids are a per-process random prefix and a counter: unique across a fleet in practice,
and about ten times cheaper than ``uuid4()`` on the hot path.
"""

from __future__ import annotations

import itertools
import os
import secrets

from flags import validate_worker_id
from ground.constants import WORKER_ENV

DEFAULT_WORKER = "default"

_prefix = secrets.token_hex(4)
_counter = itertools.count(1)


def resolve_worker_id(worker_id: str | None) -> str:
    """The explicit id, else ``$CUTOVER_WORKER``, else ``"default"``; validated."""
    chosen = worker_id if worker_id is not None else os.environ.get(WORKER_ENV) or DEFAULT_WORKER
    return validate_worker_id(chosen)


def next_call_id() -> str:
    """A new call id, unique in this process and (by its random prefix) across processes."""
    return f"{_prefix}-{next(_counter):x}"


def _new_prefix_after_fork() -> None:
    global _prefix, _counter
    _prefix = secrets.token_hex(4)
    _counter = itertools.count(1)


os.register_at_fork(after_in_child=_new_prefix_after_fork)

__all__ = ["DEFAULT_WORKER", "WORKER_ENV", "next_call_id", "resolve_worker_id"]
