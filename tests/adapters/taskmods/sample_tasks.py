"""Sample task functions, portable and not, for the task reference and codec tests."""

from __future__ import annotations

import enum
import functools
from collections.abc import Awaitable, Callable
from typing import Any


async def double(item: int) -> int:
    """Portable: a module-level async function."""
    return item * 2


def sync_double(item: int) -> int:
    """Not portable: the legacy API awaits ``task_func(item)``."""
    return item * 2


async def _private_double(item: int) -> int:
    """Not portable: workers refuse private names."""
    return item * 2


def make_closure(factor: int) -> Callable[[int], Awaitable[int]]:
    """Returns a nested async function, which cannot be imported by name."""

    async def multiply(item: int) -> int:
        return item * factor

    return multiply


def logged(func: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    """A well-behaved decorator (``functools.wraps``): the result stays portable."""

    @functools.wraps(func)
    async def wrapper(item: Any) -> Any:
        return await func(item)

    return wrapper


def careless(func: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    """A decorator without ``functools.wraps``: the result is a nested function."""

    async def wrapper(item: Any) -> Any:
        return await func(item)

    return wrapper


@logged
async def triple(item: int) -> int:
    """Portable: decorated with ``functools.wraps`` at its definition."""
    return item * 3


@careless
async def quadruple(item: int) -> int:
    """Not portable: its decorator hides it behind ``careless.<locals>.wrapper``."""
    return item * 4


async def shadowed(item: int) -> int:
    """The first ``shadowed``: its name now resolves to the second one."""
    return item


ORIGINAL_SHADOWED = shadowed


async def shadowed(item: int) -> int:  # type: ignore[no-redef]  # shadowing is the point
    """The second ``shadowed``, which the name ``sample_tasks:shadowed`` resolves to."""
    return -item


class Scaler:
    """Methods of every kind: bound instance methods are not portable, the others are."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    async def scale(self, item: int) -> int:
        """Not portable when bound: the instance would have to travel."""
        return item * self.factor

    @classmethod
    async def scale_by_ten(cls, item: int) -> int:
        """Portable: a classmethod is found again by ``Scaler.scale_by_ten``."""
        return item * 10

    @staticmethod
    async def negate(item: int) -> int:
        """Portable: a staticmethod is a plain function under ``Scaler.negate``."""
        return -item


SCALER = Scaler(2)


class Color(enum.Enum):
    """A plain enum the codec may carry (this module is allow-listed in the tests)."""

    RED = 1
    GREEN = "green"
    BLUE = (3, "b")


class Priority(enum.IntEnum):
    """An IntEnum: its members must not arrive as plain ints."""

    LOW = 1
    HIGH = 9


class Permission(enum.Flag):
    """A Flag: combined members have no name of their own and travel by value."""

    READ = 1
    WRITE = 2
    EXECUTE = 4


class SampleError(Exception):
    """A custom exception with the default ``__init__``."""


class QuotaExceededError(Exception):
    """A custom exception whose ``__init__`` does not accept its own ``args``."""

    def __init__(self, user: str, limit: int) -> None:
        super().__init__(f"user {user!r} is over the quota of {limit}")
        self.user = user
        self.limit = limit


async def fail_with_quota(item: str) -> None:
    """Raises :class:`QuotaExceededError`, as a task would on a worker."""
    raise QuotaExceededError(item, 3)
