"""The caller's deadline (``CUTOVER_CALL_TIMEOUT_S``) reaches every engine route.

Without it the Ray route had no deadline at all: with its only CPU node dead, a caller
waited silently until a new node came (measured in tests/multihost/test_ray_cluster.py).
"""

from __future__ import annotations

import pytest

import flags
from compat.work import CALL_TIMEOUT_ENV, call_options
from cutover.errors import ConfigurationError


def test_the_deadline_in_the_environment_is_in_every_calls_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Set: each call's options carry it (re-read per call); unset: ``None``, the engine's
    own default applies."""
    record = flags.FlagRecord(route="ray")
    monkeypatch.delenv(CALL_TIMEOUT_ENV, raising=False)
    assert call_options("w", "c1", record).timeout_s is None
    monkeypatch.setenv(CALL_TIMEOUT_ENV, "12.5")
    assert 12.5 == call_options("w", "c2", record).timeout_s


@pytest.mark.parametrize("raw", ["soon", "0", "-3", "inf"])
def test_a_malformed_deadline_is_a_configuration_error(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deadline that is not a positive number of seconds names the variable."""
    monkeypatch.setenv(CALL_TIMEOUT_ENV, raw)
    with pytest.raises(ConfigurationError, match=CALL_TIMEOUT_ENV):
        call_options("w", "c", flags.FlagRecord(route="celery"))
