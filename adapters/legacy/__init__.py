"""The legacy engine: ``legacy/`` itself, in process, behind the engine interface.

- ``engine``   :class:`~adapters.legacy.engine.LegacyEngine` (formerly
  ``adapters.legacy_engine``).

Like every engine it lives in ``adapters/<engine>/``; this one needs no helpers.
"""
