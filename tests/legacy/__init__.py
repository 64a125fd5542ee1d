"""Tests of ``legacy``, the faithful re-implementation of ``async_worker_optimization``."""
