"""Drop-in: every public name of ``legacy`` is in ``compat`` with the very same signature.

The only difference allowed is an optional keyword-only ``worker_id`` on constructors.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import compat
import legacy


def public_members(cls: type) -> dict[str, Any]:
    """Public callables of a class, as defined anywhere in its MRO."""
    return {
        name: member
        for name in dir(cls)
        if not name.startswith("_") and callable(member := getattr(cls, name))
    }


def without_worker_id(signature: inspect.Signature) -> inspect.Signature:
    """The signature with the shim's one allowed addition removed."""
    params = [p for p in signature.parameters.values() if p.name != "worker_id"]
    return signature.replace(parameters=params)


def shape(signature: inspect.Signature) -> list[tuple[str, Any, Any]]:
    """Names, kinds and defaults: what a caller depends on (annotations are not compared)."""
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


@pytest.mark.parametrize("name", legacy.__all__)
def test_every_legacy_name_is_exported(name: str) -> None:
    """``from compat import X`` works for every ``X`` of the legacy module."""
    assert name in compat.__all__
    assert hasattr(compat, name)


@pytest.mark.parametrize("name", [n for n in legacy.__all__ if inspect.isclass(getattr(legacy, n))])
def test_constructor_signatures_match_except_worker_id(name: str) -> None:
    """Constructors match legacy's; ``worker_id``, if added, is keyword-only and optional."""
    legacy_sig = inspect.signature(getattr(legacy, name))
    compat_sig = inspect.signature(getattr(compat, name))
    assert shape(legacy_sig) == shape(without_worker_id(compat_sig))
    extra = compat_sig.parameters.get("worker_id")
    if extra is not None:
        assert inspect.Parameter.KEYWORD_ONLY == extra.kind
        assert extra.default is None


@pytest.mark.parametrize("name", [n for n in legacy.__all__ if inspect.isclass(getattr(legacy, n))])
def test_methods_have_identical_signatures_and_async_ness(name: str) -> None:
    """Same public methods, same parameters and defaults, same sync vs ``async``."""
    legacy_members = public_members(getattr(legacy, name))
    compat_members = public_members(getattr(compat, name))
    assert sorted(legacy_members) == sorted(compat_members)
    for method, legacy_member in legacy_members.items():
        compat_member = compat_members[method]
        assert shape(inspect.signature(legacy_member)) == shape(inspect.signature(compat_member))
        assert inspect.iscoroutinefunction(legacy_member) == inspect.iscoroutinefunction(
            compat_member
        )


@pytest.mark.parametrize(
    "name", ["AsyncWorkerOptimizer", "Pipeline", "AsyncTaskScheduler", "AsyncBatchProcessor"]
)
def test_routed_classes_are_subclasses_of_legacy(name: str) -> None:
    """The routed classes *are* legacy classes: ``isinstance`` checks keep working."""
    assert issubclass(getattr(compat, name), getattr(legacy, name))


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in legacy.__all__
        if n
        not in ("AsyncWorkerOptimizer", "Pipeline", "AsyncTaskScheduler", "AsyncBatchProcessor")
    ],
)
def test_everything_else_is_the_legacy_object_itself(name: str) -> None:
    """No second copy of any logic: non-routed names are legacy's own objects."""
    assert getattr(legacy, name) is getattr(compat, name)


def test_importing_compat_imports_neither_ray_nor_celery() -> None:
    """Importing the shim stays cheap: checked in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import sys, compat; "
        "loaded = [m for m in ('ray', 'celery', 'kombu', 'billiard') if m in sys.modules]; "
        "print(','.join(loaded))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert "" == output
