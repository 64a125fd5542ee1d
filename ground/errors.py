"""The one exceptions module of cutover.

Every error that cutover raises on purpose is a :class:`CutoverError`, so a caller can catch
"anything cutover refused" in one place, and every message says what was wrong and what to do.
Errors of Celery, Ray and Redis are translated into these at the adapter boundary; exceptions
raised by a *user's* ``task_func`` are never wrapped: they reach the caller with their own
type and message, exactly as on the legacy module.

Some classes also derive from a builtin (``ValueError``, ``TypeError``, ``TimeoutError``) so
code written against the legacy module, which catches those, keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class CutoverError(Exception):
    """Base class of every error cutover raises on purpose."""


# --- configuration -------------------------------------------------------------------------


class ConfigurationError(CutoverError, ValueError):
    """A setting (environment variable, URL, option) is missing or malformed."""


class MissingDependencyError(CutoverError, ImportError):
    """An optional extra is not installed; the message says which one and how to install it.

    It is an ``ImportError`` too, so ``except ImportError`` around an optional import keeps
    working.
    """


class InvalidArgumentError(CutoverError, ValueError, TypeError):
    """An argument of a public call is out of range or of the wrong type.

    It is both a ``ValueError`` and a ``TypeError`` because the legacy module raised one or the
    other for the same mistakes (``range()`` with a float, a semaphore below zero), and callers
    written against it catch either.
    """


# --- crossing a process boundary ------------------------------------------------------------


class NotPortableError(CutoverError, TypeError):
    """A ``task_func`` cannot be found by name in another process.

    Raised before anything is sent, so nothing is lost: the caller can keep the call on the
    legacy route or move the function to a module-level definition.
    """

    def __init__(self, func: Any, reason: str) -> None:
        self.func_name = getattr(func, "__qualname__", None) or repr(func)
        self.reason = reason
        super().__init__(
            f"task function {self.func_name!r} cannot run on another process: {reason}"
        )


class SerializationError(CutoverError, TypeError):
    """A value cannot be carried by the safe, typed serializer (no pickle is ever used)."""


class PayloadTooLargeError(SerializationError):
    """An encoded message is larger than the configured maximum payload."""


class DeadLetterError(CutoverError):
    """A dead letter cannot be found, read or replayed (the store itself stays unchanged)."""


class TaskRefusedError(CutoverError):
    """A worker refused a message: a function outside the allow-list, or an unsafe encoding.

    The message is dead-lettered and never executed.
    """


class PoisonBatchError(TaskRefusedError):
    """A batch killed the worker process running it on every delivery.

    After ``CUTOVER_MAX_DELIVERIES`` deliveries it is dead-lettered instead of being handed
    to yet another process (on Redis it would otherwise be redelivered forever).
    """


class RemoteTaskError(CutoverError):
    """A task failed remotely with an exception that cannot be rebuilt here.

    Only exceptions from builtins and from allow-listed task modules are rebuilt with their
    own type; anything else arrives as this error, carrying the remote type name, message and
    traceback so nothing is hidden.
    """

    def __init__(self, type_name: str, message: str, remote_traceback: str = "") -> None:
        self.type_name = type_name
        self.message = message
        self.remote_traceback = remote_traceback
        super().__init__(f"{type_name}: {message}")


# --- engines --------------------------------------------------------------------------------


class EngineError(CutoverError):
    """An execution engine (Celery, Ray) failed for reasons of its own, not the task's."""


class EngineUnavailableError(EngineError):
    """The engine could not be reached before anything was sent: safe to fall back."""


class EngineAuthenticationError(EngineUnavailableError):
    """The engine's cluster refused this process's credentials (Ray token authentication).

    Nothing was sent, so a call may still fall back; the message names what was refused and
    where this process looks for its token, never the token.
    """


class EngineTimeoutError(EngineError, TimeoutError):
    """Work was handed to an engine but no result arrived in time. It was *not* re-run."""


class IncompleteCallError(EngineError):
    """An engine gave up on a call of which part was done; nothing computed is thrown away.

    ``partial`` holds each batch's results in batch order (``None`` for a batch that has
    none), ``pending`` the batches without one as ``(batch index, task id)`` (``""`` for a
    batch never sent). A caller may re-run only the pending batches' items.
    """

    def __init__(
        self,
        message: str,
        partial: Sequence[list[Any] | None] = (),
        pending: Sequence[tuple[int, str]] = (),
    ) -> None:
        super().__init__(message)
        self.partial: list[list[Any] | None] = list(partial)
        self.pending: tuple[tuple[int, str], ...] = tuple(pending)


class CallTimeoutError(IncompleteCallError, EngineTimeoutError):
    """The caller's deadline passed with batches pending. They were *not* re-run elsewhere;
    their late results are discarded, never delivered twice."""


class InFlightLostError(IncompleteCallError):
    """The broker or result backend lost the batches in flight (a Redis restarted without
    persistence): the call fails at once instead of at its deadline. Nothing was re-sent."""


class UnknownEngineError(CutoverError, ValueError):
    """A route or engine name that cutover does not know."""


# --- flags ----------------------------------------------------------------------------------


class FlagError(CutoverError):
    """Base class for flag problems."""


class FlagValidationError(FlagError, ValueError):
    """A flag value was refused; nothing was written."""

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"flag {field!r}: {value!r} is not allowed; expected {allowed}")


class FlagConflictError(FlagError):
    """A compare-and-set write lost: somebody else changed the flags first."""


class FlagStoreError(FlagError):
    """The flag store cannot be read or written (unreachable, corrupt)."""


# --- operating the cutover ------------------------------------------------------------------


class RolloutError(CutoverError):
    """A promotion or rollback was refused; nothing was written.

    The message says why (a killed worker, nothing left to promote, no candidate named) and
    the command that fixes it.
    """


class UnknownWorkerError(RolloutError, LookupError):
    """A rollout command named a worker that has no flags in the store (a typo, most often).

    Nothing was written. Rolling back a worker the store has never seen would otherwise
    "succeed" silently while the real worker kept its calls where they were.
    """


class NotReadyError(RolloutError):
    """A promotion was refused because the shadow readiness verdict does not hold.

    ``failing`` holds one line per failed criterion, with its numbers; ``--force`` promotes
    anyway and the audit trail records that it was forced.
    """

    def __init__(self, message: str, failing: tuple[str, ...]) -> None:
        self.failing = failing
        super().__init__(message)


# --- equivalence tests and offline replay ------------------------------------------------------


class ShadowMismatchError(CutoverError, AssertionError):
    """A call under the pytest plugin's raise-on-mismatch mode disagreed with its reference.

    An ``AssertionError`` too, so pytest reports it as a failed test; ``diffs`` holds the
    (redacted) difference lines, one per line of the message.
    """

    def __init__(self, message: str, diffs: tuple[str, ...] = ()) -> None:
        self.diffs = diffs
        super().__init__(message)


class ReplayError(CutoverError):
    """``cutover replay`` refused to run: no recorded calls, a task not declared shadow-safe,
    a task outside the allow-list. Nothing was run; the message says what to change."""


__all__ = [
    "CallTimeoutError",
    "ConfigurationError",
    "CutoverError",
    "DeadLetterError",
    "EngineAuthenticationError",
    "EngineError",
    "EngineTimeoutError",
    "EngineUnavailableError",
    "FlagConflictError",
    "FlagError",
    "FlagStoreError",
    "FlagValidationError",
    "InFlightLostError",
    "IncompleteCallError",
    "InvalidArgumentError",
    "MissingDependencyError",
    "NotPortableError",
    "NotReadyError",
    "PayloadTooLargeError",
    "PoisonBatchError",
    "RemoteTaskError",
    "ReplayError",
    "RolloutError",
    "SerializationError",
    "ShadowMismatchError",
    "TaskRefusedError",
    "UnknownEngineError",
    "UnknownWorkerError",
]
