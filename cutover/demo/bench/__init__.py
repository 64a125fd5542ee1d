"""The seed's 1000-task table, measured for real: what ``cutover bench`` runs.

**Scenarios** — 1000 tasks each, every task a portable async function of
:mod:`cutover.demo.tasks`, every call the legacy API's own
``optimize_batch_processing(items, task, batch_size=10, max_concurrent=5)`` (the legacy
defaults), made one after another by one worker:

- ``small``: ``io_light`` (about 1 ms of awaiting per task), 20 calls of 50 tasks;
- ``medium``: ``mixed`` (about 2 ms awaiting + 2 ms pure-Python CPU), 4 calls of 250;
- ``large``: ``cpu_heavy`` (about 10 ms of pure-Python CPU), one call of 1000.

**Routes** — through the ``compat`` shim, a :class:`~compat.router.Router` over a static flag
table per route: ``legacy``, ``celery``, ``ray``, ``hybrid`` (the seed's threshold rule: fewer
than 100 items on Celery, others on Ray) and ``hybrid-adaptive`` (legacy, Celery or Ray,
whichever has been cheapest per item for calls of that size, exploring 1 % of calls). And the
same work without the shim, so its overhead shows as a ratio: ``raw-asyncio`` (the batches
gathered under a semaphore in plain asyncio), ``raw-celery`` (a Celery ``group`` of the same
``cutover.run_batch`` batch tasks, collected with ``GroupResult.get``) and ``raw-ray`` (the Ray
engine's :func:`~adapters.ray.engine.raw_batch_runner`: the same batch remote function,
collected with ``ray.wait`` / ``ray.get``).

**Per cell** — one warm-up run (untimed: first imports, worker processes warming up, the
adaptive route's first try of each engine), then ``repeats`` timed runs (more, up to 15, for
a cell whose run takes under 0.25 s, where a median of three is mostly timer noise), and
the CPU seconds each process group used in each run: the median wall time,
the throughput (tasks / median), and the peak resident memory of the whole process tree that
does the work (this process, plus the Celery worker and its pool for routes that use Celery,
plus the local Ray processes for routes that use Ray; see :mod:`cutover.demo.memory`),
sampled over the whole cell. The Redis broker is a service both the seed and we need; it is
not counted. Engine start-up is timed once and reported apart. Cells run engine by engine
(legacy first, then Celery, then Ray, then the hybrids), so a cell's client process has not
yet imported an engine it does not use; a shim route and its raw baseline run their timed
runs interleaved (A B, B A, ...), so their ratio does not depend on when the machine was
busy.

One job per module:

- :mod:`~cutover.demo.bench.model`    scenarios, routes, the seed's figures, a run's
  configuration and results;
- :mod:`~cutover.demo.bench.machine`  where the figures come from (CPU, versions, parallelism);
- :mod:`~cutover.demo.bench.runner`   the cells run for real, and the whole run;
- :mod:`~cutover.demo.bench.targets`  the issue's targets and the notes on a miss;
- :mod:`~cutover.demo.bench.render`   the terminal text and ``benchmarks/RESULTS.md``.

This package re-exports their public names (``from cutover.demo.bench import run_bench``).
"""

from __future__ import annotations

from cutover.demo.bench.machine import machine_details, measure_cpu_parallelism
from cutover.demo.bench.model import (
    BATCH_SIZE,
    BENCH_QUEUE,
    DEFAULT_REPEATS,
    MAX_CONCURRENT,
    ROUTES,
    SCENARIOS,
    SEED_MEMORY_MB,
    SEED_SECONDS,
    BenchConfig,
    BenchReport,
    Cell,
    RouteSpec,
    Scenario,
    Target,
    parse_names,
)
from cutover.demo.bench.render import RESULTS_PATH, render_markdown, render_text
from cutover.demo.bench.runner import BenchRunner, run_bench
from cutover.demo.bench.targets import closing_notes, evaluate_targets

__all__ = [
    "BATCH_SIZE",
    "BENCH_QUEUE",
    "DEFAULT_REPEATS",
    "MAX_CONCURRENT",
    "RESULTS_PATH",
    "ROUTES",
    "SCENARIOS",
    "SEED_MEMORY_MB",
    "SEED_SECONDS",
    "BenchConfig",
    "BenchReport",
    "BenchRunner",
    "Cell",
    "RouteSpec",
    "Scenario",
    "Target",
    "closing_notes",
    "evaluate_targets",
    "machine_details",
    "measure_cpu_parallelism",
    "parse_names",
    "render_markdown",
    "render_text",
    "run_bench",
]
