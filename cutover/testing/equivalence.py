"""One test run on one route: the router the pytest plugin installs, and its strict mode.

:func:`route_router` builds a :class:`~compat.router.Router` whose flags send *every*
worker's calls to one engine, with ``fallback: fail`` (an unreachable broker or Ray fails the
test instead of quietly running it on legacy, which would pass it for the wrong reason).

In strict (raise-on-mismatch) mode each call on a remote route is also run on the reference
engine (legacy, the "before"), through the shim's own shadow runner, and the call does not
return until both sides were compared: a disagreement raises
:class:`~ground.errors.ShadowMismatchError` from the call, with the diff. The route under
test is the primary, so the test's own assertions check what that engine returned; the
reference only judges it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, cast

import flags
from adapters.registry import ENGINE_NAMES
from compat.router import Router
from compat.shadow.recorders.base import DEFAULT_READ_LIMIT
from compat.shadow.records import DISAGREEMENTS, ShadowRecord
from compat.shadow.runner import ShadowHandle, ShadowRunner, ShadowSet
from compat.shadow.safety import is_shadow_safe
from compat.work import Work
from ground.errors import ConfigurationError, FlagValidationError, ShadowMismatchError

REFERENCE: Final = "legacy"
"""What a strict run compares every remote route to."""
DRAIN_MARGIN_S: Final = 5.0
"""How much longer than the reference's timeout a call waits for its comparison."""
SHADOW_OPTIONS: Final = frozenset(
    {"timeout_s", "ignore_paths", "float_rel_tol", "unordered_lists", "allow_side_effects"}
    | {"redact"}
)
"""The comparison options a test may set (those of :class:`flags.ShadowConfig`)."""


class _EveryWorker(Mapping[str, flags.FlagRecord]):
    """The same flag record for whatever worker id the code under test uses."""

    def __init__(self, record: flags.FlagRecord) -> None:
        self._record = record

    def __getitem__(self, worker_id: str) -> flags.FlagRecord:
        return self._record

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def check_routes(routes: Sequence[str], where: str) -> tuple[str, ...]:
    """``routes`` as a tuple, or a :class:`ConfigurationError` naming what was wrong."""
    if isinstance(routes, str) or not routes:
        raise ConfigurationError(
            f"{where}: routes must be a non-empty list of engine names "
            f"({', '.join(ENGINE_NAMES)}), got {routes!r}"
        )
    unknown = [route for route in routes if route not in ENGINE_NAMES]
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown route(s) {', '.join(map(repr, unknown))}: choose from "
            f"{', '.join(ENGINE_NAMES)}"
        )
    return tuple(dict.fromkeys(routes))


def shadow_config(options: Mapping[str, Any], where: str) -> flags.ShadowConfig:
    """The reference comparison of a strict run: every call, with the test's options."""
    unknown = sorted(set(options) - SHADOW_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown option(s) {', '.join(unknown)}; the comparison takes "
            f"{', '.join(sorted(SHADOW_OPTIONS))}"
        )
    values = dict(options)
    for name in ("ignore_paths", "redact"):
        if name in values and not isinstance(values[name], str):
            values[name] = tuple(values[name])
    try:
        return flags.ShadowConfig(route=REFERENCE, sample=1.0, **values)
    except FlagValidationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc


class CallRecorder:
    """Shadow records of one test, taken back by call id (a :class:`ShadowRecorder`)."""

    def __init__(self) -> None:
        self.dropped = 0
        self._lock = threading.Lock()
        self._records: dict[str, ShadowRecord] = {}
        self.seen: list[ShadowRecord] = []
        """Every record of the test, in order (what a swallowed mismatch is found in)."""

    def record(self, record: ShadowRecord) -> None:
        """Keep ``record`` until its call takes it."""
        with self._lock:
            self._records[record.call_id] = record
            self.seen.append(record)

    def take(self, call_ids: Sequence[str]) -> list[ShadowRecord]:
        """The records of ``call_ids`` that arrived (each is given out once)."""
        with self._lock:
            return [r for cid in call_ids if (r := self._records.pop(cid, None)) is not None]

    def read(
        self, worker: str | None = None, limit: int = DEFAULT_READ_LIMIT
    ) -> list[ShadowRecord]:
        """The newest ``limit`` records of ``worker`` (every worker if ``None``)."""
        with self._lock:
            kept = [r for r in self.seen if worker is None or r.worker == worker]
        return kept[-limit:] if limit > 0 else []

    def workers(self) -> list[str]:
        """Every worker with records, sorted."""
        with self._lock:
            return sorted({r.worker for r in self.seen})

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Nothing is ever pending: True."""
        return True

    def close(self) -> None:
        """Nothing to release."""


class _CallShadows(ShadowSet):
    """The shadows of one strict call, and the call ids the runner gave them."""

    def __init__(self) -> None:
        super().__init__()
        self.call_ids: list[str] = []


class StrictShadowRunner(ShadowRunner):
    """The shim's shadow runner, told to compare every call or say why it cannot.

    A call whose task functions are not declared shadow-safe is refused before it runs (the
    reference would run it a second time); nothing is skipped silently.
    """

    def __init__(self, recorder: CallRecorder) -> None:
        super().__init__(recorder=recorder, max_in_flight=1_000_000, random_fn=lambda: 0.0)
        self.calls = recorder

    def launch(
        self,
        worker_id: str,
        call_id: str,
        decision: flags.RouteDecision,
        work: Work,
        owner: ShadowSet | None = None,
    ) -> ShadowHandle | None:
        config = decision.shadow
        if config is not None and config.route != decision.engine:
            unsafe = [f for f in work.functions if not is_shadow_safe(f)]
            if unsafe and not config.allow_side_effects:
                names = ", ".join(getattr(f, "__qualname__", repr(f)) for f in unsafe)
                raise ConfigurationError(
                    f"raise-on-mismatch mode runs every call a second time on {config.route} "
                    f"to compare, but {names} is not declared shadow-safe: decorate it with "
                    "compat.shadow_safe if it may run twice, or pass allow_side_effects=True "
                    "to @pytest.mark.cutover if its side effects are harmless in the test"
                )
        handle = super().launch(worker_id, call_id, decision, work, owner)
        if handle is not None and isinstance(owner, _CallShadows):
            owner.call_ids.append(call_id)
        return handle


def mismatch_message(records: Sequence[ShadowRecord]) -> str:
    """What a failed comparison says: per call, its outcome, diff and errors."""
    lines: list[str] = []
    for record in records:
        lines.append(
            f"{record.operation} call {record.call_id} of worker {record.worker!r}: "
            f"{record.outcome} (primary {record.primary_route}, the route under test; "
            f"reference {record.candidate_route})"
        )
        if record.item_mismatches:
            lines.append(f"  {record.mismatched_items} of {record.items} items differ:")
            for item in record.item_mismatches:
                lines.append(f"  item {item.index}, input {item.input!r:.200}:")
                lines.extend(f"    {line}" for line in item.diffs)
        else:
            lines.extend(f"  {line}" for line in record.diffs)
        if record.primary_error:
            lines.append(f"  {record.primary_route} raised {record.primary_error}")
        if record.candidate_error:
            lines.append(f"  {record.candidate_route} raised {record.candidate_error}")
        if record.candidate_latency_s is None and not record.candidate_error:
            lines.append(f"  {record.candidate_route} did not finish in time")
        if not record.item_mismatches:
            lines.append(f"  input: {record.sample_input!r:.300}")
    return "\n".join(lines)


def disagreements(records: Sequence[ShadowRecord]) -> list[ShadowRecord]:
    """The records whose candidate did not do what the primary did."""
    return [record for record in records if record.outcome in DISAGREEMENTS]


class StrictRouter(Router):
    """A router whose calls return only once their comparison is in (and raise on a miss)."""

    def __init__(self, table: flags.FlagTable, runner: StrictShadowRunner, wait_s: float) -> None:
        super().__init__(table=table, shadows=runner)
        self.runner = runner
        self.wait_s = wait_s

    async def execute(
        self,
        worker_id: str,
        work: Work,
        owner: ShadowSet | None = None,
        decision: flags.RouteDecision | None = None,
    ) -> Any:
        mine = _CallShadows()
        try:
            result = await super().execute(worker_id, work, mine, decision)
        except BaseException as exc:
            if mine.call_ids:  # the primary raised: did the reference raise the same?
                await self._judge(mine, exc)
            raise
        await self._judge(mine, None)
        return result

    async def _judge(self, mine: _CallShadows, primary_error: BaseException | None) -> None:
        if not mine.call_ids:
            return
        await mine.drain(self.wait_s)
        records = self.runner.calls.take(mine.call_ids)
        missing = len(mine.call_ids) - len(records)
        bad = disagreements(records)
        if not bad and not missing:
            return
        message = mismatch_message(bad)
        if missing:
            message += (
                f"\n{missing} comparison(s) did not finish within {self.wait_s:g} s "
                "(see the log for shadow_failed)"
            )
        diffs = tuple(line for record in bad for line in record.diffs)
        raise ShadowMismatchError(
            f"the route under test disagrees with {REFERENCE}:\n{message}", diffs
        ) from primary_error


def route_router(route: str, *, strict: bool, options: Mapping[str, Any]) -> Router:
    """A router sending every worker's calls to ``route`` (strict: compared to legacy)."""
    shadow = shadow_config(options, f"route {route}") if strict else None
    compared = shadow is not None and route != REFERENCE
    record = flags.FlagRecord(
        route=cast(flags.Route, route),
        percent=100.0,
        base=REFERENCE,
        fallback="fail",
        shadow=shadow if compared else None,
        version=1,
        reason=f"pytest: every call on {route}",
    )
    table = flags.FlagTable.static()
    # Not through ``static(records)``, which copies the mapping: any worker id gets ``record``.
    table.state = flags.TableState(_EveryWorker(record), False, False, 0, "static")
    if not compared or shadow is None:
        return Router(table=table)
    runner = StrictShadowRunner(CallRecorder())
    return StrictRouter(table, runner, shadow.timeout_s + DRAIN_MARGIN_S)


__all__ = [
    "REFERENCE",
    "SHADOW_OPTIONS",
    "CallRecorder",
    "StrictRouter",
    "StrictShadowRunner",
    "check_routes",
    "disagreements",
    "mismatch_message",
    "route_router",
    "shadow_config",
]
