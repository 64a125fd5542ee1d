"""The ground floor: what every layer may import, and which imports none of them.

- :mod:`ground.errors`    the one exceptions hierarchy (``CutoverError`` and below),
- :mod:`ground.logs`      structlog set-up, with the same keys everywhere and secrets masked,
- :mod:`ground.constants` facts spelled once: Redis key prefixes, environment variable names,
- :mod:`ground.retry`     the one shape of a retry policy (flags set it, engines apply it),
- :mod:`ground.schemes`   the one URL-scheme dispatcher (flag stores, recorders, dead letters).

``legacy``, ``flags``, ``adapters``, ``compat`` and the ``cutover`` roof all stand on it;
nothing here imports any of them (import-linter checks it).
"""

from __future__ import annotations
