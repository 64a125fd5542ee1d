"""A production worker after its one-line change: the worker of the README's "cutover week".

It stands for any asyncio worker that used the legacy module: it takes "requests" at a steady
rate and handles each with ``optimize_batch_processing``. The only line that changed is the
import; which engine runs each call is now up to the ``billing`` worker's flags, which
``cutover flags`` / ``promote`` / ``rollback`` change while it runs.

Run it with the same environment as the CLI (``CUTOVER_FLAGS_URL``, and
``CUTOVER_TASK_MODULES=cutover.demo`` so that the task may leave the process)::

    python examples/billing_worker.py --calls 1200 --rate 25

The task is a stand-in from :mod:`cutover.demo.tasks` (about 2 ms of awaiting and 2 ms of CPU
per item), declared ``@shadow_safe`` there, so shadow mode may run it a second time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

from compat import AsyncWorkerOptimizer  # was: from async_worker_optimization import ...
from compat.metrics import snapshot
from cutover.demo.tasks import mixed


async def serve(calls: int, rate: float, items_per_call: int) -> None:
    """Handle ``calls`` requests at ``rate`` per second; print what ran where at the end."""
    interval = 1.0 / rate
    started = time.perf_counter()
    async with AsyncWorkerOptimizer(worker_id="billing") as optimizer:  # drains shadows on exit
        for call in range(calls):
            items = list(range(call, call + items_per_call))
            results = await optimizer.optimize_batch_processing(items, mixed)
            assert len(results) == items_per_call
            # A steady request rate, as in production: the next call when it is due.
            delay = started + (call + 1) * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
    routes = Counter(
        {
            route: count
            for (name, worker, route), count in snapshot().items()
            if name == "calls" and worker == "billing"
        }
    )
    elapsed = time.perf_counter() - started
    print(f"billing: {calls} calls in {elapsed:.1f} s; ran on: {dict(routes)}")


def main() -> None:
    """Parse the options and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1200, help="requests to handle")
    parser.add_argument("--rate", type=float, default=25.0, help="requests per second")
    parser.add_argument("--items", type=int, default=10, help="items per request")
    args = parser.parse_args()
    asyncio.run(serve(args.calls, args.rate, args.items))


if __name__ == "__main__":
    main()
