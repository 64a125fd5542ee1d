"""Task functions of the replay tests: module-level, under the suite's allow-list ``tests``."""

from __future__ import annotations

import os
from typing import Any

from compat import shadow_safe


@shadow_safe
async def price(order: dict[str, Any]) -> dict[str, Any]:
    """The same on every engine: the order's total, its card echoed back."""
    return {"id": order["id"], "total": order["qty"] * 3, "card": order["card"]}


@shadow_safe
async def stamped(order: dict[str, Any]) -> dict[str, Any]:
    """Differs between processes: the pid of whoever ran it."""
    return {"id": order["id"], "pid": os.getpid()}


@shadow_safe
async def shape(item: Any) -> str:
    """The type of what arrived, so a test sees what the replay ran the task on."""
    return type(item).__name__


async def charge(order: dict[str, Any]) -> int:
    """Not declared shadow-safe (imagine it charges the card)."""
    return int(order["qty"])
