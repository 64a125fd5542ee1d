"""Fixtures of the shim's tests: a router over a fixed flag table, real engines behind it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import flags
from compat import metrics
from compat.router import Router, set_router
from compat.shadow.runner import ShadowRunner, set_shadow_runner

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
