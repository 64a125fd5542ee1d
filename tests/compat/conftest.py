"""Fixtures of the shim's tests: a router over a fixed flag table, real engines behind it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import flags
from compat import calllog, metrics
from compat.router import Router, set_router
from compat.shadow.runner import ShadowRunner, set_shadow_runner
from ground.logs import configure_logging

SetFlags = Callable[..., flags.FlagTable]


@pytest.fixture
def set_flags() -> Iterator[SetFlags]:
    """Install a router whose flags are the given records (no store: nothing to leak).

    Call it as ``set_flags({"w": FlagRecord(...)}, global_kill=False)``; it returns the table.
    """
    installed: list[Router] = []

    def install(
        records: dict[str, flags.FlagRecord],
        *,
        global_kill: bool = False,
        shadows: ShadowRunner | None = None,
    ) -> flags.FlagTable:
        table = flags.FlagTable.static(records, global_kill=global_kill)
        router = Router(table=table, shadows=shadows)
        set_router(router)
        if shadows is not None:
            set_shadow_runner(shadows)
        installed.append(router)
        return table

    metrics.reset()
    yield install
    set_router(None)
    set_shadow_runner(None)


@pytest.fixture
def call_log_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., calllog.CallLog]]:
    """Set ``CUTOVER_CALL_LOG_LEVEL`` (and optionally the summary interval) and reconfigure
    logging, as a process would; the call log in force is returned. Restored afterwards."""

    def set_level(level: str | None, interval_s: float | None = None) -> calllog.CallLog:
        if level is None:
            monkeypatch.delenv(calllog.CALL_LOG_LEVEL_ENV, raising=False)
        else:
            monkeypatch.setenv(calllog.CALL_LOG_LEVEL_ENV, level)
        if interval_s is not None:
            monkeypatch.setenv(calllog.SUMMARY_INTERVAL_ENV, str(interval_s))
        configure_logging(force=True)
        return calllog.active

    yield set_level
    calllog.active.flush()
    monkeypatch.undo()
    configure_logging(force=True)
