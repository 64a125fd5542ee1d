"""Task references: only module-level async functions of allowed modules cross processes."""

from __future__ import annotations

import asyncio
import functools
import importlib
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest

from adapters import task_refs
from adapters.task_refs import (
    allowed_task_modules,
    module_is_allowed,
    resolve_reference,
    resolve_task,
    task_reference,
)
from cutover.errors import ConfigurationError, NotPortableError, TaskRefusedError
from tests.adapters.taskmods import sample_tasks

SAMPLE = "tests.adapters.taskmods.sample_tasks"
NEVER_IMPORTED = "tests.adapters.taskmods.never_imported"


@pytest.fixture(autouse=True)
def allow_sample_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample task module is allowed; the rest of ``tests`` is not."""
    monkeypatch.setenv("CUTOVER_TASK_MODULES", SAMPLE)
    task_refs.clear_resolution_cache()


# --- the allow-list -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ()),
        (" , ", ()),
        ("pkg", ("pkg",)),
        (" pkg.tasks , other ,", ("pkg.tasks", "other")),
    ],
)
def test_allowed_task_modules_parses_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: tuple[str, ...]
) -> None:
    """Comma-separated prefixes, blanks ignored; empty means nothing is allowed."""
    monkeypatch.setenv("CUTOVER_TASK_MODULES", raw)

    assert expected == allowed_task_modules()


def test_unset_allow_list_allows_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Safe by default: without the variable no module is allowed."""
    monkeypatch.delenv("CUTOVER_TASK_MODULES")

    assert () == allowed_task_modules()
    with pytest.raises(NotPortableError) as caught:
        task_reference(sample_tasks.double)
    assert "CUTOVER_TASK_MODULES is empty" in str(caught.value)


@pytest.mark.parametrize("raw", ["*", "pkg,my-app", "pkg..sub", ".pkg"])
def test_malformed_allow_list_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    """An entry that is not a module name (wildcards included) is refused, naming the variable."""
    monkeypatch.setenv("CUTOVER_TASK_MODULES", raw)

    with pytest.raises(ConfigurationError) as caught:
        allowed_task_modules()

    assert "CUTOVER_TASK_MODULES" in str(caught.value)


@pytest.mark.parametrize(
    ("module", "expected"),
    [("pkg", True), ("pkg.sub", True), ("pkg.sub.deep", True), ("pkgx", False), ("pk", False)],
)
def test_prefix_matches_the_package_and_its_submodules(module: str, expected: bool) -> None:
    """``pkg`` allows ``pkg`` and ``pkg.sub``, never ``pkgx``."""
    assert expected == module_is_allowed(module, ["pkg"])


# --- task_reference: what is portable -------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "expected"),
    [
        (sample_tasks.double, f"{SAMPLE}:double"),
        (sample_tasks.triple, f"{SAMPLE}:triple"),
        (sample_tasks.Scaler.scale_by_ten, f"{SAMPLE}:Scaler.scale_by_ten"),
        (sample_tasks.Scaler.negate, f"{SAMPLE}:Scaler.negate"),
        (sample_tasks.fail_with_quota, f"{SAMPLE}:fail_with_quota"),
    ],
    ids=lambda value: getattr(value, "__qualname__", str(value)),
)
def test_task_reference_of_portable_functions(func: Callable[..., Any], expected: str) -> None:
    """Module-level async functions, wraps-decorated ones, classmethods and staticmethods."""
    assert expected == task_reference(func)


def test_allow_list_prefix_covers_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Allowing the package allows the modules inside it."""
    monkeypatch.setenv("CUTOVER_TASK_MODULES", "tests.adapters.taskmods")

    assert f"{SAMPLE}:double" == task_reference(sample_tasks.double)


def _in_main() -> Callable[..., Any]:
    """A copy of ``double`` that claims to live in ``__main__`` (as a script's function does)."""
    func = types.FunctionType(sample_tasks.double.__code__, {}, "double")
    func.__module__ = "__main__"
    func.__qualname__ = "double"
    return func


async def echo(item: Any) -> Any:
    """A portable-looking task in this test module, which is not allow-listed."""
    return item


NOT_PORTABLE: list[tuple[str, Callable[[], Any], str]] = [
    ("lambda", lambda: lambda item: item, "it is a lambda"),
    ("closure", lambda: sample_tasks.make_closure(3), "defined inside another function"),
    ("careless decorator", lambda: sample_tasks.quadruple, "defined inside another function"),
    ("bound method", lambda: sample_tasks.SCALER.scale, "bound to a 'Scaler' instance"),
    ("partial", lambda: functools.partial(sample_tasks.double), "functools.partial"),
    ("__main__", _in_main, "defined in __main__"),
    ("module not allowed", lambda: asyncio.sleep, "its module 'asyncio.tasks' is not allowed"),
    ("private name", lambda: sample_tasks._private_double, "'_private_double' is a private"),
    ("shadowed", lambda: sample_tasks.ORIGINAL_SHADOWED, "resolves to a different object"),
    ("sync", lambda: sample_tasks.sync_double, "not an async function (the legacy API awaits"),
    ("callable instance", lambda: sample_tasks.SCALER, "has no module and qualified name"),
]


@pytest.mark.parametrize(
    ("make_func", "reason"),
    [(make, reason) for _, make, reason in NOT_PORTABLE],
    ids=[kind for kind, _, _ in NOT_PORTABLE],
)
def test_task_reference_refuses_non_portable_functions(
    make_func: Callable[[], Any], reason: str
) -> None:
    """Each non-portable kind raises NotPortableError naming the function and the reason."""
    func = make_func()
    name = getattr(func, "__qualname__", None) or repr(func)

    with pytest.raises(NotPortableError) as caught:
        task_reference(func)

    assert name == caught.value.func_name
    assert reason in caught.value.reason
    assert f"task function {name!r} cannot run on another process: " in str(caught.value)


def test_refusal_of_a_module_outside_the_allow_list_says_what_to_set() -> None:
    """The reason names the variable to set."""
    with pytest.raises(NotPortableError) as caught:
        task_reference(echo)

    assert "add its package to CUTOVER_TASK_MODULES" in caught.value.reason


# --- resolve_task: what a worker accepts ----------------------------------------------------


async def test_resolve_task_returns_the_function() -> None:
    """A reference made by task_reference resolves to the very same, awaitable function."""
    func = resolve_task(task_reference(sample_tasks.double))

    assert sample_tasks.double is func
    assert 42 == await func(21)


async def test_resolve_task_of_a_classmethod() -> None:
    """A classmethod reference resolves to the bound classmethod, which runs."""
    func = resolve_task(f"{SAMPLE}:Scaler.scale_by_ten")

    assert 30 == await func(3)


def test_resolve_task_with_an_explicit_allow_list() -> None:
    """``allowed`` overrides the environment."""
    assert sample_tasks.double is resolve_task(f"{SAMPLE}:double", allowed=["tests.adapters"])
    with pytest.raises(TaskRefusedError):
        resolve_task(f"{SAMPLE}:double", allowed=["elsewhere"])


def test_resolve_task_refuses_os_system_without_importing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``os:system`` is refused before any import, with a clear message."""
    imported: list[str] = []
    monkeypatch.setattr(task_refs, "import_module", imported.append)

    with pytest.raises(TaskRefusedError) as caught:
        resolve_task("os:system")

    assert [] == imported
    assert "module 'os' is not allowed" in str(caught.value)
    assert "it was not imported" in str(caught.value)


def test_refused_module_is_never_imported() -> None:
    """A module outside the allow-list stays out of ``sys.modules``."""
    assert NEVER_IMPORTED not in sys.modules

    with pytest.raises(TaskRefusedError):
        resolve_task(f"{NEVER_IMPORTED}:anything")

    assert NEVER_IMPORTED not in sys.modules


def test_import_failure_of_an_allowed_module_is_a_refusal() -> None:
    """An allowed module that fails on import is refused with the import error's message.

    This also shows that ``never_imported`` really raises when imported, so the test above
    would notice an import.
    """
    with pytest.raises(TaskRefusedError) as caught:
        resolve_task(f"{NEVER_IMPORTED}:anything", allowed=["tests.adapters.taskmods"])

    assert "RuntimeError: tests.adapters.taskmods.never_imported was imported" in str(caught.value)
    assert NEVER_IMPORTED not in sys.modules


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        ("no colon", "malformed task reference"),
        (f"{SAMPLE}:", "malformed task reference"),
        (f":{SAMPLE}", "malformed task reference"),
        (f"{SAMPLE}:double:x", "malformed task reference"),
        (f"{SAMPLE}:double()", "malformed task reference"),
        (f"{SAMPLE}:dou ble", "malformed task reference"),
        (f"{SAMPLE}.:double", "malformed task reference"),
        (f"{SAMPLE}:dóuble", "malformed task reference"),
        (f"{SAMPLE}:_private_double", "private attribute '_private_double'"),
        (f"{SAMPLE}:double.__globals__", "private attribute '__globals__'"),
        (f"{SAMPLE}:Scaler.__init__", "private attribute '__init__'"),
        (f"{SAMPLE}:missing", "'missing' not found"),
        (f"{SAMPLE}:functools.partial", "'functools' is a module"),
        (f"{SAMPLE}:Callable", "defined as collections.abc:Callable"),
        (f"{SAMPLE}:sync_double", "not an async function"),
        (f"{SAMPLE}:Color", "not an async function"),
        (f"{SAMPLE}:shadowed.__wrapped__", "private attribute"),
    ],
)
def test_resolve_task_refuses(reference: str, reason: str) -> None:
    """Malformed references, private names, modules, imports and sync functions are refused."""
    with pytest.raises(TaskRefusedError) as caught:
        resolve_task(reference)

    assert reason in str(caught.value)


def test_resolve_task_refuses_non_strings() -> None:
    """A reference must be a string."""
    with pytest.raises(TaskRefusedError) as caught:
        resolve_task(42)  # type: ignore[arg-type]

    assert "must be a 'module:qualname' string" in str(caught.value)


def test_resolutions_are_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second resolution of the same reference and allow-list does not import again."""
    calls: list[str] = []
    real_import = importlib.import_module

    def counting_import(name: str) -> Any:
        calls.append(name)
        return real_import(name)

    monkeypatch.setattr(task_refs, "import_module", counting_import)

    first = resolve_reference(f"{SAMPLE}:double")
    second = resolve_reference(f"{SAMPLE}:double")
    resolve_reference(f"{SAMPLE}:double", allowed=["tests"])

    assert first is second
    assert [SAMPLE, SAMPLE] == calls
