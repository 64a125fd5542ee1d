"""The legacy engine: ``legacy/`` itself, in process, behind the engine interface.

- ``engine``   :class:`~adapters.legacy.engine.LegacyEngine` (formerly
  ``adapters.legacy_engine``).
- ``marked``   :class:`~adapters.legacy.marked.MarkedLegacyEngine`, the same engine naming
  the item that raised; the shim runs it for the legacy side of shadowed batched maps only.

Like every engine it lives in ``adapters/<engine>/``.
"""
