"""Offline replay: recorded calls run again on a primary and a candidate, and compared.

The pre-flight before a worker's first live shadow: its recorded calls
(:mod:`compat.shadow.call_recorder`) are run through the shim itself, with flags that make
the primary (legacy by default) answer and shadow every call on the candidate. The same
shadow runner as in production judges each pair, so the records are exactly those of live
shadowing (outcomes, diffs, per-item mismatches, latencies); they go to
``shadow-<worker>.jsonl`` in the output directory, where ``cutover shadow report
--flags-url file://<output>/flags.json`` reads them. No production traffic is involved.

Resumable: after each call is judged and its record written, the number of calls done is
saved (``replay-<worker>.progress.json``, with the input file and candidate it belongs to);
a new run continues from there unless told to restart, so an interrupted replay of a day of
traffic loses at most the call in flight. Refused before anything runs: a recorded task that
is not declared shadow-safe (unless ``allow_side_effects``), or that the allow-list
(``CUTOVER_TASK_MODULES``) does not allow.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from compat.shadow.recorded_calls import calls_file, count_lines, read_calls
from compat.shadow.recorders.jsonl_recorder import JsonlShadowRecorder, file_name
from compat.shadow.records import ShadowRecord
from flags import FlagRecord, ShadowConfig
from ground.errors import EngineError, NotPortableError, ReplayError, TaskRefusedError
from ground.logs import get_logger

PROGRESS_SUFFIX: Final = ".progress.json"
DRAIN_MARGIN_S: Final = 5.0

log = get_logger("cutover.ops.replay")


class _CountingRecorder(JsonlShadowRecorder):
    """The JSON-lines recorder, counting outcomes as records arrive."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.outcomes: Counter[str] = Counter()

    def record(self, record: ShadowRecord) -> None:
        self.outcomes[record.outcome] += 1
        super().record(record)


@dataclass
class ReplayResult:
    """What a replay did: calls replayed now, calls done before (resumed), outcomes."""

    worker: str
    candidate: str
    primary: str
    total: int
    resumed_from: int
    replayed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    output: Path = Path()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "worker": self.worker,
            "primary": self.primary,
            "candidate": self.candidate,
            "total": self.total,
            "resumed_from": self.resumed_from,
            "replayed": self.replayed,
            "outcomes": dict(sorted(self.outcomes.items())),
            "records": str(self.output / file_name(self.worker)),
        }


@dataclass
class Replay:
    """One replay of ``worker``'s recorded calls against ``candidate``."""

    worker: str
    candidate: str
    recordings: Path
    output: Path
    primary: str = "legacy"
    shadow: ShadowConfig | None = None
    """The worker's shadow options (ignore_paths, tolerance, redact...); route and sample are
    replaced. ``None``: the defaults."""
    flag_version: int = 0
    allow_side_effects: bool = False
    restart: bool = False
    limit: int | None = None

    @property
    def source(self) -> Path:
        """The recorded calls."""
        return calls_file(self.recordings, self.worker)

    @property
    def progress_path(self) -> Path:
        """Where the number of calls done is kept."""
        return self.output / f"replay-{self.worker}{PROGRESS_SUFFIX}"

    # --- before anything runs ---------------------------------------------------------------

    def check(self) -> int:
        """Refuse what must not run; return how many calls the file holds."""
        if self.candidate == self.primary:
            raise ReplayError(
                f"the candidate is the primary ({self.primary}): replay against another route"
            )
        if not self.source.is_file():
            raise ReplayError(
                f"no recorded calls of {self.worker!r} at {self.source}: record some with "
                "CUTOVER_RECORD_CALLS (see README, offline replay), or pass --recordings DIR"
            )
        from adapters.task_refs import resolve_task
        from compat.shadow.safety import is_shadow_safe

        unsafe: set[str] = set()
        refused: dict[str, str] = {}
        for _, call in read_calls(self.source):
            if call.reference in refused or call.reference in unsafe:
                continue
            try:
                func = resolve_task(call.reference)
            except TaskRefusedError as exc:
                refused[call.reference] = str(exc)
                continue
            if not (self.allow_side_effects or is_shadow_safe(func)):
                unsafe.add(call.reference)
        if refused:
            raise ReplayError("; ".join(refused.values()) + ": nothing was replayed")
        if unsafe:
            raise ReplayError(
                f"{', '.join(sorted(unsafe))} not declared shadow-safe: a replay runs every "
                "recorded call twice (primary and candidate); mark the task with "
                "compat.shadow_safe, or pass --allow-side-effects if running it again is "
                "harmless; nothing was replayed"
            )
        return count_lines(self.source)

    def _done_before(self) -> int:
        if self.restart:
            self.progress_path.unlink(missing_ok=True)
            (self.output / file_name(self.worker)).unlink(missing_ok=True)
            return 0
        try:
            saved = json.loads(self.progress_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            raise ReplayError(
                f"the progress file {self.progress_path} cannot be read ({exc}): pass --restart"
            ) from None
        mine = {"source": str(self.source), "candidate": self.candidate, "primary": self.primary}
        if {key: saved.get(key) for key in mine} != mine:
            raise ReplayError(
                f"{self.progress_path} belongs to another replay ({saved.get('source')} on "
                f"{saved.get('candidate')}): pass --restart, or another --output"
            )
        return int(saved.get("done", 0))

    def _save(self, done: int) -> None:
        data = {
            "source": str(self.source),
            "candidate": self.candidate,
            "primary": self.primary,
            "done": done,
        }
        temporary = self.progress_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, self.progress_path)

    # --- the replay -------------------------------------------------------------------------

    def _config(self) -> ShadowConfig:
        import dataclasses

        base = self.shadow or ShadowConfig(route=self.candidate)  # type: ignore[arg-type]
        return dataclasses.replace(
            base,
            route=self.candidate,  # type: ignore[arg-type]
            sample=1.0,
            allow_side_effects=self.allow_side_effects or base.allow_side_effects,
        )

    async def run(self, on_call: Callable[[int, int], None] | None = None) -> ReplayResult:
        """Replay from where the last run stopped; ``on_call(done, total)`` after each call."""
        import flags
        from adapters import codec
        from adapters.task_refs import resolve_task
        from compat import router as router_module
        from compat.optimizer import AsyncWorkerOptimizer
        from compat.router import Router
        from compat.shadow.runner import ShadowRunner

        total = self.check()
        self.output.mkdir(parents=True, exist_ok=True)
        done = self._done_before()
        result = ReplayResult(self.worker, self.candidate, self.primary, total, done)
        result.output = self.output
        config = self._config()
        record = FlagRecord(
            route=self.primary,  # type: ignore[arg-type]
            percent=100.0,
            base=self.primary,  # type: ignore[arg-type]
            shadow=config,
            fallback="fail",
            version=self.flag_version,
        )
        recorder = _CountingRecorder(self.output)
        runner = ShadowRunner(recorder=recorder)
        previous = router_module._router
        router_module.set_router(
            Router(table=flags.FlagTable.static({self.worker: record}), shadows=runner)
        )
        try:
            for index, call in read_calls(self.source, done):
                if self.limit is not None and result.replayed >= self.limit:
                    break
                items = codec.decode(call.items)
                func = resolve_task(call.reference)
                try:
                    await AsyncWorkerOptimizer(worker_id=self.worker).optimize_batch_processing(
                        items, func, call.batch_size, call.max_concurrent
                    )
                except (EngineError, NotPortableError):
                    raise  # the primary engine is unusable: stop, resumable from this call
                except Exception as exc:  # noqa: BLE001 - the primary's failure is data
                    log.debug("replay_primary_failed", worker=self.worker, error=repr(exc))
                if await runner.drain(config.timeout_s + DRAIN_MARGIN_S):
                    log.warning("replay_comparison_cancelled", worker=self.worker, line=index)
                if not recorder.flush(10.0):
                    raise ReplayError(
                        f"shadow records could not be written to {self.output} (see the log); "
                        f"the replay stopped after {index} calls and resumes from there"
                    )
                self._save(index + 1)
                result.replayed += 1
                if on_call is not None:
                    on_call(index + 1, total)
        finally:
            router_module.set_router(previous)
            recorder.close()
        result.outcomes = recorder.outcomes
        return result


__all__ = ["PROGRESS_SUFFIX", "Replay", "ReplayResult"]
