"""Name functions by import path, ``module:qualname``, to run them in another process.

A ``task_func`` never travels as code (no pickle, no cloudpickle): the caller sends its
reference and the worker imports it. Both sides agree on which modules may be imported through
one environment variable:

``CUTOVER_TASK_MODULES``
    Comma-separated module prefixes, e.g. ``myapp.tasks,reports``. A prefix ``pkg`` allows the
    module ``pkg`` and its submodules ``pkg.sub``, but not ``pkgx``. **Unset or empty allows
    nothing**: a worker that was not told which code it may run runs none, and a caller gets a
    :class:`~ground.errors.NotPortableError` (and so keeps the legacy route) instead of sending
    work that every worker would refuse. There is no wildcard.

The caller checks a function with :func:`task_reference` *before* anything is sent; the worker
resolves a reference with :func:`resolve_task`, which refuses a module outside the allow-list
without importing it, so a message naming ``os:system`` never even imports :mod:`os` through
us. Classes (enums carried by the codec, exception types rebuilt by
:mod:`adapters.remote_exceptions`) follow the same rules through :func:`reference_problem`
and :func:`resolve_reference`.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable, Sequence
from importlib import import_module
from typing import Any

from ground.constants import TASK_MODULES_ENV
from ground.errors import ConfigurationError, NotPortableError, TaskRefusedError

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_DOTTED_NAME = re.compile(rf"{_DOTTED}\Z", re.ASCII)
_REFERENCE = re.compile(rf"({_DOTTED}):({_DOTTED})\Z", re.ASCII)
_RESOLVE_CACHE_SIZE = 1024
_NOT_ASYNC = "not an async function (the legacy API awaits task_func(item))"


def allowed_task_modules() -> tuple[str, ...]:
    """The module prefixes named by ``CUTOVER_TASK_MODULES``; ``()`` (nothing) when unset.

    Read on every call, so a changed environment takes effect at once. An entry that is not a
    dotted module name (``*``, ``my-app``) raises :class:`~ground.errors.ConfigurationError`.
    """
    raw = os.environ.get(TASK_MODULES_ENV, "")
    prefixes = tuple(part.strip() for part in raw.split(",") if part.strip())
    for prefix in prefixes:
        if not _DOTTED_NAME.match(prefix):
            raise ConfigurationError(
                f"{TASK_MODULES_ENV}={raw!r}: {prefix!r} is not a module name; expected "
                "comma-separated module prefixes such as 'myapp.tasks,reports' (no wildcards)"
            )
    return prefixes


def module_is_allowed(module: str, allowed: Sequence[str]) -> bool:
    """True when ``module`` is one of ``allowed`` or a submodule of one (``pkg`` → ``pkg.sub``)."""
    return any(module == prefix or module.startswith(prefix + ".") for prefix in allowed)


def _is_async(func: object) -> bool:
    """A coroutine function, directly or under ``functools.wraps`` decorators."""
    if inspect.iscoroutinefunction(func):
        return True
    try:
        unwrapped = inspect.unwrap(func)  # type: ignore[arg-type]  # any object is fine here
    except ValueError:  # a __wrapped__ cycle
        return False
    return inspect.iscoroutinefunction(unwrapped)


def _describe_allowed(allowed: Sequence[str]) -> str:
    if not allowed:
        return f"{TASK_MODULES_ENV} is empty, so no module is allowed"
    return f"{TASK_MODULES_ENV} allows {', '.join(repr(prefix) for prefix in allowed)}"


def _same_object(found: object, expected: object) -> bool:
    if found is expected:
        return True
    # A classmethod is a new bound method on every attribute access.
    return (
        inspect.ismethod(found)
        and inspect.ismethod(expected)
        and found.__func__ is expected.__func__
        and found.__self__ is expected.__self__
    )


def reference_problem(obj: object, allowed: Sequence[str] | None = None) -> str | None:
    """Why ``obj`` cannot be named as ``module:qualname`` in another process, or ``None``.

    Checks everything :func:`resolve_reference` will check on the other side, plus what makes a
    name meaningless there (lambdas, closures, ``__main__``, bound instances, partials).
    ``allowed`` defaults to :func:`allowed_task_modules`.
    """
    if isinstance(obj, functools.partial):
        return (
            "functools.partial objects are not portable (their bound arguments would have to "
            "be pickled); use a module-level async function instead"
        )
    if inspect.ismethod(obj) and not isinstance(obj.__self__, type):
        return (
            f"it is a method bound to a {type(obj.__self__).__qualname__!r} instance, and "
            "instances are never sent; use a module-level async function, a classmethod or "
            "a staticmethod"
        )
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return (
            f"a {type(obj).__qualname__!r} object has no module and qualified name to import "
            "it by; use a module-level async function"
        )
    if qualname == "<lambda>" or qualname.endswith(".<lambda>"):
        return "it is a lambda, which has no importable name; use a module-level async function"
    if module == "__main__":
        return (
            "it is defined in __main__ (the script being run), which is a different module in a "
            "worker process; move it to an importable module"
        )
    if "<locals>" in qualname:
        return (
            "it is defined inside another function (a closure or nested function), so it "
            "cannot be imported; move it to module level"
        )
    if not _REFERENCE.match(f"{module}:{qualname}"):
        return f"{module}:{qualname} is not a valid import reference"
    private = [part for part in qualname.split(".") if part.startswith("_")]
    if private:
        return (
            f"{private[0]!r} is a private name and workers refuse private attributes; give "
            "it a public name"
        )
    allowed = allowed_task_modules() if allowed is None else tuple(allowed)
    if not module_is_allowed(module, allowed):
        return (
            f"its module {module!r} is not allowed ({_describe_allowed(allowed)}); add its "
            f"package to {TASK_MODULES_ENV} on the callers and the workers"
        )
    try:
        found = resolve_reference(f"{module}:{qualname}", allowed)
    except TaskRefusedError as exc:
        return f"{module}:{qualname} does not resolve: {exc}"
    if not _same_object(found, obj):
        return (
            f"{module}:{qualname} resolves to a different object (it was decorated without "
            "functools.wraps, shadowed or reassigned); reference the module-level name itself"
        )
    return None


def task_reference(func: Callable[..., Any]) -> str:
    """The ``module:qualname`` of an async ``task_func``, checked to be importable elsewhere.

    Raises :class:`~ground.errors.NotPortableError` (naming the function and the reason)
    before anything is sent, for lambdas, closures, bound instance methods, partials,
    ``__main__`` functions, modules outside ``CUTOVER_TASK_MODULES``, names that resolve to
    another object, and functions that are not ``async``.
    """
    problem = reference_problem(func)
    if problem is not None:
        raise NotPortableError(func, problem)
    if not _is_async(func):
        raise NotPortableError(func, _NOT_ASYNC)
    return f"{func.__module__}:{func.__qualname__}"


def _parse(reference: object) -> tuple[str, str]:
    if not isinstance(reference, str):
        raise TaskRefusedError(
            f"a task reference must be a 'module:qualname' string, not {type(reference).__name__}"
        )
    match = _REFERENCE.match(reference)
    if match is None:
        raise TaskRefusedError(
            f"malformed task reference {reference[:200]!r}: expected 'module:qualname' of "
            "dotted Python identifiers"
        )
    module, qualname = match.groups()
    for part in qualname.split("."):
        if part.startswith("_"):
            raise TaskRefusedError(
                f"task reference {reference!r} names the private attribute {part!r}; "
                "private and dunder attributes are never resolved"
            )
    return module, qualname


@functools.lru_cache(maxsize=_RESOLVE_CACHE_SIZE)
def _resolve_cached(reference: str, allowed: tuple[str, ...]) -> object:
    module_name, qualname = _parse(reference)
    if not module_is_allowed(module_name, allowed):
        raise TaskRefusedError(
            f"task reference {reference!r} refused: module {module_name!r} is not allowed "
            f"({_describe_allowed(allowed)}); it was not imported"
        )
    try:
        obj: object = import_module(module_name)
    except Exception as exc:  # importing runs arbitrary module code; any failure refuses
        raise TaskRefusedError(
            f"task reference {reference!r} refused: importing {module_name!r} failed with "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TaskRefusedError(
                f"task reference {reference!r} refused: {part!r} not found"
            ) from None
        if inspect.ismodule(obj):
            raise TaskRefusedError(
                f"task reference {reference!r} refused: {part!r} is a module; name the "
                "module itself before the ':'"
            )
    # The object must be *defined* where the reference says, not merely imported there: an
    # allowed module doing ``from asyncio import create_subprocess_shell`` must not expose it.
    found_module = getattr(obj, "__module__", None)
    found_qualname = getattr(obj, "__qualname__", None)
    if (found_module, found_qualname) != (module_name, qualname):
        raise TaskRefusedError(
            f"task reference {reference!r} refused: it resolves to an object defined as "
            f"{found_module}:{found_qualname}, not at the referenced place"
        )
    return obj


def resolve_reference(reference: str, allowed: Sequence[str] | None = None) -> object:
    """Import the object named ``module:qualname``, refusing anything outside the allow-list.

    A module that does not match ``allowed`` (default :func:`allowed_task_modules`) is refused
    *without being imported*; private and dunder segments, module attributes and objects
    defined elsewhere are refused too. Raises :class:`~ground.errors.TaskRefusedError`.
    Resolutions are cached per reference and allow-list.
    """
    allowed_key = allowed_task_modules() if allowed is None else tuple(allowed)
    return _resolve_cached(reference, allowed_key)


def resolve_task(reference: str, allowed: Sequence[str] | None = None) -> Callable[..., Any]:
    """The async ``task_func`` named by ``reference``, as a worker runs it.

    Everything :func:`resolve_reference` refuses, plus anything that is not a coroutine
    function, raises :class:`~ground.errors.TaskRefusedError`.
    """
    obj = resolve_reference(reference, allowed)
    if not callable(obj) or not _is_async(obj):
        raise TaskRefusedError(f"task reference {reference!r} refused: {_NOT_ASYNC}")
    return obj


def clear_resolution_cache() -> None:
    """Forget cached resolutions (after a module was reloaded, or between tests)."""
    _resolve_cached.cache_clear()


__all__ = [
    "TASK_MODULES_ENV",
    "allowed_task_modules",
    "clear_resolution_cache",
    "module_is_allowed",
    "reference_problem",
    "resolve_reference",
    "resolve_task",
    "task_reference",
]
