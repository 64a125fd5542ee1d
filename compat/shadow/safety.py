"""Declaring a task safe to run twice.

Shadowing runs the work a second time on the candidate engine. A task that charges a card
or sends an e-mail must not do that twice, so the shim only shadows tasks declared
shadow-safe (pure, or idempotent) with :func:`shadow_safe`, unless the worker's flags
explicitly allow side effects (``shadow.allow_side_effects``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__cutover_shadow_safe__"


def shadow_safe(func: F) -> F:
    """Mark ``func`` as safe to run twice (no side effects, or idempotent ones)."""
    setattr(func, _MARK, True)
    return func


def is_shadow_safe(func: object) -> bool:
    """True when ``func`` (or what it wraps) was marked with :func:`shadow_safe`."""
    seen: set[int] = set()
    current: Any = func
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, _MARK, False) is True:
            return True
        current = getattr(current, "__wrapped__", None) or getattr(current, "func", None)
    return False


def all_shadow_safe(functions: Iterable[object]) -> bool:
    """True when every function of a call may run twice."""
    return all(is_shadow_safe(func) for func in functions)


__all__ = ["all_shadow_safe", "is_shadow_safe", "shadow_safe"]
