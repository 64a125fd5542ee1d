"""Task functions of the tooling tests (allow-listed through ``CUTOVER_TASK_MODULES=tests``)."""

from __future__ import annotations

import asyncio
from typing import Any


async def hold(item: dict[str, Any]) -> dict[str, Any]:
    """Wait ``item["hold_s"]`` seconds (so ``inspect active`` can see the batch), then return
    the item itself: its values are what must never show in Celery's tools."""
    await asyncio.sleep(float(item.get("hold_s", 0)))
    return item
