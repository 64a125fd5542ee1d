"""Side by side: what one route decision costs, and what reading the store per call would cost.

    python -m benchmarks.flags_eval [--samples N] [--calls N] [--budget-us 10] [--json]

Prints the median microseconds per decision of :func:`flags.decide` in each situation a
worker meets (a worker never configured, a full route, a sticky split, a random split, the
two hybrid policies, a kill), next to a bare dict lookup (the floor) and to reading the flag
store on every call (what the in-process table avoids). A ratio, not a timed test: the issue
sets a budget of 10 µs median per decision, shown as OK / OVER; ``--strict`` makes OVER exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import machine_details, render_table
from flags import FlagRecord, FlagTable, HybridPolicy, decide, open_store, routing_key
from flags.adaptive import CostModel

WORKER = "billing"
REDIS_URL = os.environ.get("CUTOVER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")


def median_us(call: Callable[[], object], samples: int, calls: int, key: str | None) -> float:
    """The median over ``samples`` runs of the mean time of one of ``calls`` calls, in µs.

    With ``key``, the runs happen inside ``flags.routing_key(key)``, as in a worker that set one.
    """
    with routing_key(key) if key is not None else contextlib.nullcontext():
        for _ in range(min(calls, 1000)):  # warm up caches and the adaptive model
            call()
        per_call = []
        for _ in range(samples):
            start = time.perf_counter_ns()
            for _ in range(calls):
                call()
            per_call.append((time.perf_counter_ns() - start) / calls / 1000)
    return statistics.median(per_call)


def scenarios() -> list[tuple[str, Callable[[], object], bool]]:
    """(name, one call, is it a route decision?) for every situation measured."""
    records = {
        "full": FlagRecord(route="celery", version=1),
        "split": FlagRecord(route="celery", percent=25, version=1),
        "hybrid": FlagRecord(route="hybrid", version=1),
        "adaptive": FlagRecord(
            route="hybrid", hybrid=HybridPolicy(mode="adaptive", explore=0.05), version=1
        ),
        "killed": FlagRecord(route="ray", kill=True, version=1),
    }
    table = FlagTable.static(records)
    model = CostModel()
    model.record("adaptive", "celery", 500, 0.5)
    model.record("adaptive", "ray", 500, 0.1)
    plain = dict(records)
    return [
        ("dict lookup (the floor)", lambda: plain.get("split"), False),
        ("never-configured worker", lambda: decide(table, WORKER, 500), True),
        ("full route (percent 100)", lambda: decide(table, "full", 500), True),
        ("split 25%, routing key", lambda: decide(table, "split", 500), True),
        ("split 25%, random key", lambda: decide(table, "split", 500), True),
        ("hybrid threshold", lambda: decide(table, "hybrid", 500), True),
        (
            "hybrid adaptive",
            lambda: decide(table, "adaptive", 500, cost_model=model),
            True,
        ),
        ("kill switch", lambda: decide(table, "killed", 500), True),
    ]


def store_scenarios() -> list[tuple[str, Callable[[], object], bool]]:
    """Reading the store on every call, for contrast (Redis only if it is reachable)."""
    directory = tempfile.mkdtemp(prefix="cutover-bench-")
    file_url = f"file://{directory}/flags.json"
    file_store = open_store(file_url)
    file_store.put(WORKER, FlagRecord(route="celery"), expected_version=0, actor="b", reason="b")
    found: list[tuple[str, Callable[[], object], bool]] = [
        ("file store read per call", lambda: file_store.get(WORKER), False)
    ]
    live = FlagTable(file_url)
    found.insert(0, ("live table (watcher running)", lambda: decide(live, WORKER, 500), True))
    redis_store = open_store(REDIS_URL)
    try:
        redis_store.get(WORKER)
    except Exception:  # noqa: BLE001  (Redis is optional here: the row is left out)
        return found
    found.append(("redis store read per call", lambda: redis_store.get(WORKER), False))
    return found


def main(argv: list[str] | None = None) -> int:
    """Run every scenario and print one row each (or JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200, help="timed runs per scenario")
    parser.add_argument("--calls", type=int, default=500, help="calls per timed run")
    parser.add_argument("--budget-us", type=float, default=10.0, help="median budget")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a decision is OVER")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    results: list[dict[str, Any]] = []
    floor = None
    for name, call, is_decision in scenarios() + store_scenarios():
        store_read = "store read" in name
        calls = max(args.calls // 20, 10) if store_read else args.calls
        samples = max(args.samples // 10, 10) if store_read else args.samples
        key = "tenant-42" if "routing key" in name else None
        median = median_us(call, samples, calls, key)
        floor = floor or median
        verdict = ("OK" if median <= args.budget_us else "OVER") if is_decision else ""
        results.append(
            {"scenario": name, "median_us": median, "x_floor": median / floor, "verdict": verdict}
        )
    if args.json:
        summary = {"machine": machine_details(), "budget_us": args.budget_us, "results": results}
        print(json.dumps(summary, indent=2))
    else:
        print(f"route decision cost, median µs per call (budget {args.budget_us:g} µs)")
        print(machine_details())
        rows = [
            [r["scenario"], f"{r['median_us']:.2f}", f"{r['x_floor']:.1f}", r["verdict"]]
            for r in results
        ]
        print(render_table(["scenario", "median µs", "x floor", "budget"], rows))
    over = any(r["verdict"] == "OVER" for r in results)
    return 1 if over and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
