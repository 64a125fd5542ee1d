"""Run the shadow candidate beside the primary, off the caller's path, and judge them.

The experiment follows GitHub Scientist: the primary (control) result always wins and its
exception always re-raises; the candidate only ever produces a :class:`ShadowRecord`.
What Scientist lacks and this adds: the candidate runs in the background once the primary
has finished (so the caller never waits for it and the primary never shares its loop with
it), across process boundaries, bounded in number (``max_in_flight``) and in time
(``shadow.timeout_s``); nothing it does — raise, hang, return garbage — reaches the caller.
Candidates on Celery or Ray run their client side on a dedicated thread's loop
(:mod:`compat.shadow.background`); a legacy candidate runs on the caller's loop.

Which calls are shadowed: a ``sample`` share of the calls whose flags name a candidate that
differs from the primary engine, and only if every task function of the call is declared
:func:`~compat.shadow.safety.shadow_safe` or the flags allow side effects. Skips are
counted, never silent.

With ``denoise`` on, some sampled calls also run the primary a second time; paths that
differ between two primary runs are learned as noise (timestamps, ids) and left out of the
candidate comparisons (:mod:`compat.shadow.denoise`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from adapters import item_errors, timing
from adapters.legacy.marked import MARKED_LEGACY
from adapters.registry import get_engine
from adapters.timing import BatchTiming, TimingSummary
from compat import metrics
from compat.shadow.background import BackgroundLoop, get_background_loop
from compat.shadow.compare import (
    NO_ITEMS,
    Comparison,
    ItemComparison,
    compare,
    compare_exceptions,
    compare_items,
    describe_exception,
)
from compat.shadow.denoise import NoiseLearner
from compat.shadow.recorders import ShadowRecorder, get_recorder
from compat.shadow.records import (
    BOTH_FAILED,
    CANDIDATE_ERROR,
    CANDIDATE_TIMEOUT,
    MATCH,
    MISMATCH,
    ItemMismatch,
    ShadowRecord,
)
from compat.shadow.redact import redact, redact_item
from compat.shadow.safety import all_shadow_safe
from compat.work import Work, call_options
from flags import RouteDecision, ShadowConfig
from ground.logs import get_logger

DEFAULT_MAX_IN_FLIGHT = 64
JUDGE_IN_THREAD_ITEMS = 1000
"""Calls with more items than this are compared in a worker thread."""
RECORD_ERROR_CHARS = 2000
"""How much of each side's exception a record keeps (messages can embed whole payloads)."""

log = get_logger("cutover.shadow")


@dataclass
class _Outcome:
    """What one side of the experiment did."""

    value: Any = None
    error: BaseException | None = None
    latency_s: float | None = None
    timed_out: bool = False
    timings: list[BatchTiming] = field(default_factory=list)
    """The side's remote batches (:mod:`adapters.timing`); empty on legacy."""

    def split(self, engine: str) -> tuple[float | None, float | None, int]:
        """``(queue wait, execution, batches)`` of this side's latency (see the record)."""
        if self.timed_out or self.latency_s is None:
            return None, None, len(self.timings)
        if engine == "legacy" and not self.timings:
            return 0.0, self.latency_s, 0  # in process: nothing queues
        summary = TimingSummary.of(self.timings)
        if summary is None:
            return None, None, 0
        wait, execution = summary.split(self.latency_s)
        return wait, execution, summary.batches


class ShadowSet:
    """The shadow tasks launched on behalf of one owner (an optimizer), so it can drain them."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def add(self, task: asyncio.Task[None]) -> None:
        """Track ``task`` until it ends."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self, timeout_s: float = 10.0) -> int:
        """Wait up to ``timeout_s`` for pending shadows, cancel the rest; returns how many."""
        pending = [task for task in self.tasks if not task.done()]
        if not pending:
            return 0
        _, still_running = await asyncio.wait(pending, timeout=timeout_s)
        for task in still_running:
            task.cancel()
        for task in still_running:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return len(still_running)


@dataclass
class ShadowHandle:
    """The router's side of one experiment: it reports how the primary ended."""

    primary: asyncio.Future[_Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    primary_engine: str = "legacy"

    def primary_succeeded(
        self,
        value: Any,
        latency_s: float,
        engine: str,
        timings: list[BatchTiming] | None = None,
    ) -> None:
        """The primary returned ``value``; ``timings``: its remote batches, if any."""
        self.primary_engine = engine
        if not self.primary.done():
            self.primary.set_result(
                _Outcome(value=value, latency_s=latency_s, timings=timings or [])
            )

    def primary_failed(
        self,
        error: BaseException,
        latency_s: float,
        engine: str,
        timings: list[BatchTiming] | None = None,
    ) -> None:
        """The primary raised ``error`` (the caller gets it; the shadow only records it)."""
        self.primary_engine = engine
        if not self.primary.done():
            self.primary.set_result(
                _Outcome(error=error, latency_s=latency_s, timings=timings or [])
            )


class ShadowRunner:
    """Launches and judges shadow candidates. One per process (:func:`get_shadow_runner`)."""

    def __init__(
        self,
        recorder: ShadowRecorder | None = None,
        learner: NoiseLearner | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        random_fn: Any = random.random,
        background: BackgroundLoop | None = None,
    ) -> None:
        self._recorder = recorder
        self.learner = learner or NoiseLearner()
        self.max_in_flight = max_in_flight
        self._random = random_fn
        self.in_flight = ShadowSet()
        self._background = background or get_background_loop()
        # Candidate engines known to be started, and those whose start is under way. While
        # an engine starts (seconds, for a local Ray), further calls are not shadowed: queued,
        # they would all reach the engine at once when it is up, and their latencies would
        # measure that burst rather than the engine (seen in the README walkthrough: the
        # first hundred candidates of a worker at 25 calls/s, p95 1 s against 40 ms).
        self._engines_ready: set[str] = {"legacy"}
        self._engines_starting: set[str] = set()
        # Sampled calls per worker whose shadow was skipped because too many were in flight,
        # since that worker's last record: the next record carries them (``skipped``), so the
        # verdict can count them as the slow calls they likely were.
        self._saturated: dict[str, int] = {}
        self._saturated_lock = threading.Lock()

    @property
    def recorder(self) -> ShadowRecorder:
        """Where records go (the flag store's backend unless given)."""
        if self._recorder is None:
            self._recorder = get_recorder()
        return self._recorder

    def launch(
        self,
        worker_id: str,
        call_id: str,
        decision: RouteDecision,
        work: Work,
        owner: ShadowSet | None = None,
    ) -> ShadowHandle | None:
        """Start the candidate for this call if it is to be shadowed; else ``None``."""
        config = decision.shadow
        if config is None or config.sample <= 0:
            return None
        candidate = config.route
        if candidate == decision.engine:
            return None
        if self._random() >= config.sample:
            return None
        if not (config.allow_side_effects or all_shadow_safe(work.functions)):
            metrics.count("shadow_skipped_unsafe", worker_id, candidate)
            return None
        if len(self.in_flight.tasks) >= self.max_in_flight:
            metrics.count("shadow_skipped_saturated", worker_id, candidate)
            with self._saturated_lock:
                self._saturated[worker_id] = self._saturated.get(worker_id, 0) + 1
            return None
        if candidate not in self._engines_ready:
            if candidate in self._engines_starting:
                metrics.count("shadow_skipped_starting", worker_id, candidate)
                return None
            self._engines_starting.add(candidate)  # this call's candidate starts the engine
            starts_engine = True
        else:
            starts_engine = False
        handle = ShadowHandle(primary_engine=decision.engine)
        task = asyncio.get_running_loop().create_task(
            self._experiment(worker_id, call_id, decision, config, work, handle, starts_engine),
            name=f"cutover-shadow-{call_id}",
        )
        self.in_flight.add(task)
        if owner is not None:
            owner.add(task)
        return handle

    async def drain(self, timeout_s: float = 10.0) -> int:
        """Wait for every pending shadow of this process (then cancel the rest)."""
        return await self.in_flight.drain(timeout_s)

    async def _experiment(
        self,
        worker_id: str,
        call_id: str,
        decision: RouteDecision,
        config: ShadowConfig,
        work: Work,
        handle: ShadowHandle,
        starts_engine: bool = False,
    ) -> None:
        try:
            rerun_primary = config.denoise and self.learner.should_rerun_primary(worker_id)
            # The candidate starts once the primary has finished: it never competes with the
            # primary for the caller's loop, CPU or connections (the caller already has its
            # result by then). Both latencies are measured from each side's own start.
            primary = await handle.primary
            candidate_run = self._start_side(
                config.route, work, worker_id, decision, call_id, config.timeout_s
            )
            second_primary: asyncio.Future[_Outcome] | None = None
            if rerun_primary and primary.error is None:
                second_primary = self._start_side(
                    handle.primary_engine, work, worker_id, decision, call_id, config.timeout_s
                )
            candidate = await candidate_run
            if second_primary is not None:
                again = await second_primary
                if again.error is None and not again.timed_out:
                    self.learner.observe(worker_id, primary.value, again.value, config)
            judge_args = (worker_id, call_id, decision, config, work, handle, primary, candidate)
            if work.items > JUDGE_IN_THREAD_ITEMS:
                # Comparing costs ~1 µs per value: keep big results off the caller's loop.
                await asyncio.to_thread(self._judge, *judge_args)
            else:
                self._judge(*judge_args)
        except asyncio.CancelledError:
            metrics.count("shadow_cancelled", worker_id, config.route)
            raise
        except Exception:
            # A shadow problem is never the caller's problem: log it with its traceback.
            log.exception("shadow_failed", worker=worker_id, call_id=call_id)
        finally:
            if starts_engine:  # also when cancelled before its candidate even began
                self._engines_starting.discard(config.route)

    def _start_side(
        self,
        engine_name: str,
        work: Work,
        worker_id: str,
        decision: RouteDecision,
        call_id: str,
        timeout_s: float,
    ) -> asyncio.Future[_Outcome]:
        """Start one side: legacy on the caller's loop, a remote engine on the shadow loop."""
        side = self._run_side(engine_name, work, worker_id, decision, call_id, timeout_s)
        if engine_name == "legacy":
            return asyncio.ensure_future(side)
        return self._background.submit(side)

    async def _run_side(
        self,
        engine_name: str,
        work: Work,
        worker_id: str,
        decision: RouteDecision,
        call_id: str,
        timeout_s: float,
    ) -> _Outcome:
        started = time.perf_counter()
        timings: list[BatchTiming] = []
        try:
            engine = get_engine(engine_name)
            if engine_name == "legacy" and work.operation in MARKED_OPERATIONS:
                engine = MARKED_LEGACY  # names the item that raised, for the record
            # Start-up (``ray.init``, a broker connection) is bounded by the engine's own
            # connect timeout. It is not the candidate's latency and must not eat its
            # ``timeout_s``: measured, a cold Ray made every early candidate "time out".
            try:
                await engine.start()
            finally:
                self._engines_starting.discard(engine_name)  # a failed start is retried
            self._engines_ready.add(engine_name)
            started = time.perf_counter()
            options = call_options(worker_id, f"{call_id}:shadow", decision.record)
            with timing.collect() as collected:
                timings = collected
                value = await asyncio.wait_for(work.run_detached(engine, options), timeout_s)
        except TimeoutError:
            return _Outcome(timed_out=True, latency_s=time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - the candidate's failure is data, not an error
            return _Outcome(error=exc, latency_s=time.perf_counter() - started, timings=timings)
        return _Outcome(value=value, latency_s=time.perf_counter() - started, timings=timings)

    def _judge(
        self,
        worker_id: str,
        call_id: str,
        decision: RouteDecision,
        config: ShadowConfig,
        work: Work,
        handle: ShadowHandle,
        primary: _Outcome,
        candidate: _Outcome,
    ) -> None:
        noisy = self.learner.noisy_paths(worker_id)
        comparison: Comparison | None = None
        per_item = NO_ITEMS
        if candidate.timed_out:
            outcome = CANDIDATE_TIMEOUT
        elif primary.error is not None and candidate.error is not None:
            comparison = compare_exceptions(primary.error, candidate.error)
            outcome = BOTH_FAILED if comparison.equal else MISMATCH
        elif candidate.error is not None:
            outcome = CANDIDATE_ERROR
        elif primary.error is not None:
            outcome = MISMATCH
            comparison = Comparison(
                equal=False,
                diffs=(
                    f"$: primary raised {describe_exception(primary.error)}; candidate returned",
                ),
                compared_paths=1,
            )
        else:
            comparison = compare(primary.value, candidate.value, config, noisy)
            outcome = MATCH if comparison.equal else MISMATCH
            if outcome == MISMATCH and work.operation in ITEMIZED_OPERATIONS:
                per_item = compare_items(primary.value, candidate.value, config, noisy)
        primary_wait, primary_run, primary_batches = primary.split(handle.primary_engine)
        candidate_wait, candidate_run, candidate_batches = candidate.split(config.route)
        record = ShadowRecord(
            worker=worker_id,
            call_id=call_id,
            flag_version=decision.flag_version,
            operation=work.operation,
            primary_route=handle.primary_engine,
            candidate_route=config.route,
            outcome=outcome,
            primary_latency_s=primary.latency_s or 0.0,
            candidate_latency_s=None if candidate.timed_out else candidate.latency_s,
            diffs=redact(comparison.diffs, config.redact) if comparison else (),
            sample_input=redact(work.sample_input, config.redact),
            primary_error=redact(
                describe_exception(primary.error, RECORD_ERROR_CHARS), config.redact
            )
            if primary.error
            else None,
            candidate_error=redact(
                describe_exception(candidate.error, RECORD_ERROR_CHARS), config.redact
            )
            if candidate.error
            else None,
            noisy_paths=tuple(sorted(noisy)),
            items=work.items,
            created_at=time.time(),
            skipped=self._take_saturated(worker_id),
            item_mismatches=item_mismatches(per_item, work.sample_input, config.redact),
            mismatched_items=per_item.count,
            primary_queue_wait_s=primary_wait,
            primary_execution_s=primary_run,
            candidate_queue_wait_s=candidate_wait,
            candidate_execution_s=candidate_run,
            primary_batches=primary_batches,
            candidate_batches=candidate_batches,
            failed_items=failed_items(
                {"primary": primary.error, "candidate": candidate.error},
                work.sample_input,
                config.redact,
            )
            if work.operation in FAILED_ITEM_OPERATIONS
            else (),
        )
        metrics.count(f"shadow_{outcome}", worker_id, config.route)
        self.recorder.record(record)

    def _take_saturated(self, worker_id: str) -> int:
        """The saturated skips of ``worker_id`` not yet carried by a record (now reset)."""
        with self._saturated_lock:
            return self._saturated.pop(worker_id, 0)


ITEMIZED_OPERATIONS = frozenset({"batch", "pipeline", "handler"})
"""Operations whose input is a list of items and whose result has one entry per item."""
FAILED_ITEM_OPERATIONS = frozenset({"batch", "pipeline"})
"""Operations whose engines' failing indexes are indexes in the call's input. Not a handler:
an engine runs it as a one-item map over the whole batch, so its "item 0" is the batch."""
MARKED_OPERATIONS = frozenset({"batch"})
"""Operations whose legacy side, when the call is shadowed (as primary or as shadow), runs
:class:`~adapters.legacy.marked.MarkedLegacyEngine` to name the item that raised."""


def item_mismatches(
    per_item: ItemComparison, inputs: Any, redact_paths: tuple[str, ...]
) -> tuple[ItemMismatch, ...]:
    """The differing items of a call, each with its own input, redacted like the rest."""
    if not per_item.differences:
        return ()
    sized = isinstance(inputs, list | tuple)
    return tuple(
        ItemMismatch(
            index=item.index,
            input=redact_item(inputs[item.index], item.index, redact_paths)
            if sized and item.index < len(inputs)
            else None,
            diffs=redact(item.diffs, redact_paths),
        )
        for item in per_item.differences
    )


def failed_items(
    errors: dict[str, BaseException | None], inputs: Any, redact_paths: tuple[str, ...]
) -> tuple[ItemMismatch, ...]:
    """The items a side's engine named as raising (:mod:`adapters.item_errors`), by index,
    each with its own input and one line per side that raised it, redacted like the rest.

    Remote engines name every item that had raised when the batch stopped; a legacy side
    names the one whose exception propagated, and only in a shadowed batched map
    (:data:`MARKED_OPERATIONS`: its unshadowed hot path is the legacy code, untouched).
    """
    lines: dict[int, list[str]] = {}
    for side, error in errors.items():
        if error is None:
            continue
        for index in item_errors.failed_items(error):
            lines.setdefault(index, []).append(
                f"$[{index}]: {side} raised {describe_exception(error)}"
            )
    sized = isinstance(inputs, list | tuple)
    return tuple(
        ItemMismatch(
            index=index,
            input=redact_item(inputs[index], index, redact_paths)
            if sized and index < len(inputs)
            else None,
            diffs=redact(lines[index], redact_paths),
        )
        for index in sorted(lines)
    )


_runner: ShadowRunner | None = None


def get_shadow_runner() -> ShadowRunner:
    """The process-wide shadow runner."""
    global _runner
    if _runner is None:
        _runner = ShadowRunner()
    return _runner


def set_shadow_runner(runner: ShadowRunner | None) -> None:
    """Replace the process-wide runner (tests, embedding applications)."""
    global _runner
    _runner = runner


__all__ = ["ShadowHandle", "ShadowRunner", "ShadowSet", "get_shadow_runner", "set_shadow_runner"]
