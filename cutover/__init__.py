"""cutover: move asyncio workers off ``async_worker_optimization`` onto Celery and Ray.

The importable pieces are top-level packages that show the architecture:

- ``legacy``   the faithful "before" every route is compared to,
- ``adapters`` one execution interface and its engines (asyncio, Celery, Ray),
- ``flags``    per-worker routing flags,
- ``compat``   the drop-in shim a worker imports instead of the legacy module,
- ``cutover``  the roof: the CLI, operations, the worker's Celery app (``cutover.celery_app``)
  and the demo,
- ``ground``   the floor they all stand on: errors, logging, constants, the retry policy, the
  URL-scheme dispatcher.

ARCHITECTURE.md says what each may import; ``lint-imports`` enforces it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
