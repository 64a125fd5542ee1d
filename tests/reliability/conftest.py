"""Fixtures of the reliability tests: the shim's ``set_flags`` (real engines behind it)."""

from __future__ import annotations

from tests.compat.conftest import set_flags

__all__ = ["set_flags"]
