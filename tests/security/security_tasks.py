"""Task functions of the security tests (module ``tests.security``: inside the allow-list)."""

from __future__ import annotations

import os
import sys

from compat import shadow_safe
from tests.compat.shadow_tasks import in_caller


async def loaded(item: str) -> tuple[int, bool]:
    """This worker process's pid and whether module ``item`` was ever imported in it."""
    return (os.getpid(), item in sys.modules)


@shadow_safe
async def secret_differs_in_worker(item: dict[str, str]) -> dict[str, str]:
    """Echo the record; in a worker (the candidate) the password comes back changed."""
    if in_caller():
        return dict(item)
    return {**item, "password": item["password"] + "-candidate"}


@shadow_safe
async def secret_in_worker_error(item: dict[str, str]) -> str:
    """In a worker (the candidate) fail with a message that quotes the password."""
    if not in_caller():
        raise ValueError(f"login refused for password={item['password']}")
    return item["user"]
