"""A production worker's process on the test host, calling a Ray cluster through the shim.

Run as ``python -m tests.multihost.ray_driver KEY ITEMS BATCH_SIZE WINDOW`` with
``RAY_ADDRESS`` set (and, for a deadline, ``CUTOVER_CALL_TIMEOUT_S``): the worker's flags
route it to Ray (no fallback), ``optimize_batch_processing`` runs :func:`slow_triple` over
``ITEMS`` values, and one JSON line says what came back: ``{"result": [...]}`` or
``{"error": "EngineTimeoutError", "message": ..., "waited_s": ...}``.

A process of its own because a process joins one Ray cluster only (the test session's own
local Ray may already be initialized).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import compat
import flags
from adapters.registry import get_engine
from compat.router import Router, set_router
from ground.errors import CutoverError
from tests.multihost import tasks

WORKER = "mh-ray"


async def main(key: str, items: int, batch_size: int, window: int) -> dict[str, object]:
    """One routed call; what it returned or raised."""
    record = flags.FlagRecord(route="ray", fallback="fail")
    set_router(Router(table=flags.FlagTable.static({WORKER: record})))
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    values = [(key, value) for value in range(items)]
    await get_engine("ray").start()  # connecting is not the call's wait
    started = time.monotonic()
    try:
        result = await optimizer.optimize_batch_processing(
            values, tasks.slower_triple, batch_size, window
        )
    except CutoverError as exc:
        waited = time.monotonic() - started
        return {"error": type(exc).__name__, "message": str(exc), "waited_s": waited}
    return {"result": result, "waited_s": time.monotonic() - started}


if __name__ == "__main__":
    outcome = asyncio.run(main(sys.argv[1], *map(int, sys.argv[2:5])))
    print(json.dumps(outcome), flush=True)
