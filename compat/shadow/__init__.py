"""Shadow mode: run a sample of calls on a candidate engine too, compare, record.

Small pluggable pieces, each in its own module:

- :mod:`compat.shadow.normalize` — the path syntax and which parts of a value are compared;
- :mod:`compat.shadow.compare` — :func:`compare` / :func:`compare_exceptions` /
  :func:`compare_items` (which items of a batch differ);
- :mod:`compat.shadow.diff_text` — how differences and exceptions read as text
  (:func:`describe_exception`, :func:`diff_signature`);
- :mod:`compat.shadow.denoise` — :class:`NoiseLearner`, noise learned from two primary runs;
- :mod:`compat.shadow.redact` — :func:`redact`, sensitive fields out before anything is stored;
- :mod:`compat.shadow.records` — :class:`ShadowRecord` and its outcomes;
- :mod:`compat.shadow.recorders` — where records go (Redis stream, JSON lines, memory);
- :mod:`compat.shadow.safety` and :mod:`compat.shadow.runner` — which calls are shadowed,
  and the experiment itself.

The offline report and readiness verdict live in the roof (:mod:`cutover.verdict`): the
shim only records.

Importing this package imports none of them (and neither Celery, Ray nor redis-py).
"""

from __future__ import annotations
