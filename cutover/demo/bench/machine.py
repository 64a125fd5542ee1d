"""Where the figures come from: the machine, its versions, and how parallel its CPUs really are."""

from __future__ import annotations

import contextlib
import importlib.metadata
import multiprocessing
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import psutil

from cutover.demo import tasks

# --- the machine ---------------------------------------------------------------------------


def _burn_units(units: int) -> float:
    """In a probe process: seconds for ``units`` x 10 ms of ``burn_cpu``."""
    started = time.perf_counter()
    for _ in range(units):
        tasks.burn_cpu(10)
    return time.perf_counter() - started


def measure_cpu_parallelism(processes: int, units: int = 40) -> float:
    """How much more CPU work ``processes`` processes do at once than one alone (ideal: N).

    Each probe process runs ``units`` x 10 ms of pure-Python work; one alone, then
    ``processes`` at once. On a machine whose cores are busy or shared, this is the ceiling of
    any engine's speed-up on CPU-bound work.
    """
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        pool.map(_burn_units, [1] * processes)  # the processes are up and warm
        # The best of two tries each way: a neighbour's burst must not make one look better.
        alone = min(pool.map(_burn_units, [units])[0] for _ in range(2))
        together = min(
            statistics.mean(pool.map(_burn_units, [units] * processes)) for _ in range(2)
        )
    return processes * alone / together


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def redis_version(url: str) -> str:
    import redis

    with contextlib.suppress(redis.RedisError, OSError, ValueError):
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        try:
            return str(client.info("server").get("redis_version", "-"))
        finally:
            client.close()
    return "-"


def machine_details() -> dict[str, Any]:
    """Where the figures come from."""
    return {
        "host": platform.node(),
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in ("celery", "kombu", "ray", "redis")},
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


__all__ = ["machine_details", "measure_cpu_parallelism", "redis_version"]
