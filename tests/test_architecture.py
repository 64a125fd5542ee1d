"""The shape of the code base that ARCHITECTURE.md promises, checked where tests run.

The layers themselves are enforced by import-linter in the lint env (setup.cfg
``[importlinter]``); these are the rules it cannot see.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.registry import _FACTORIES, ENGINE_NAMES
from tests.support.services import REPO_ROOT

PRODUCT_PACKAGES = ("ground", "legacy", "flags", "adapters", "compat", "cutover")
MAX_LINES = 600


def test_no_product_file_is_over_600_lines() -> None:
    """A module past 600 lines does several jobs; split it by job before it grows further."""
    too_long = {
        str(path.relative_to(REPO_ROOT)): lines
        for package in PRODUCT_PACKAGES
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert {} == too_long


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_every_engine_lives_in_its_own_package(engine: str) -> None:
    """``adapters/<engine>/engine.py`` for each engine: a new engine goes beside them in the
    same shape, and the registry names it there."""
    module, _, _ = _FACTORIES[engine].partition(":")
    assert f"adapters.{engine}.engine" == module
    assert Path(REPO_ROOT, "adapters", engine, "engine.py").is_file()
