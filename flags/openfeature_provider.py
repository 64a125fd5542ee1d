"""The same route decisions, served through OpenFeature (the optional ``openfeature`` extra).

::

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from flags.openfeature_provider import CutoverProvider

    api.set_provider_and_wait(CutoverProvider())
    client = api.get_client()
    context = EvaluationContext(targeting_key=tenant_id, attributes={"n_items": 250})
    engine = client.get_string_value("billing-worker", "legacy", context)

The flag key is the worker id. A string flag resolves to the engine (``legacy`` | ``celery``
| ``ray``), an object flag to the whole decision (engine, route, reason, flag_version, stale).
The targeting key is the routing key (sticky rollout); the ``n_items`` attribute is the batch
size the ``hybrid`` route looks at (default 0). Reasons (spec 2.2.5):

- ``DEFAULT``: the worker has no flags; its value is the built-in default (``legacy``);
- ``STATIC``: no dynamic evaluation (a route at 0 or 100 percent);
- ``DISABLED``: a kill switch (the worker's, or the global one) routes it on legacy;
- ``SPLIT``: a percentage rollout placed this key;
- ``TARGETING_MATCH``: ``hybrid`` chose by batch size or observed cost;
- ``STALE``: the store cannot be read now; the answer comes from the flags last read (or the
  last-known-good snapshot), which may be out of date;
- ``ERROR``: the request could not be evaluated, or there is nothing to evaluate it on (the
  store was never read and no snapshot exists: error code ``PROVIDER_NOT_READY``); the
  caller's default is returned.

The variant is the engine; the flag metadata carries cutover's own reason and the version.

Status and events (spec 2.4, 2.5, section 5): :meth:`CutoverProvider.initialize` fails with
``PROVIDER_NOT_READY`` when the store cannot be read and nothing is cached (the SDK's status
is then ``ERROR``), with ``PROVIDER_FATAL`` when the store's URL cannot even be opened. Once
running, the provider follows its table: ``PROVIDER_STALE`` when the store is lost,
``PROVIDER_READY`` when it is back, ``PROVIDER_CONFIGURATION_CHANGED`` (with the workers
whose flags changed) after every change. ``shutdown`` stops following; the table itself is
the process's and stays open.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from ground.errors import MissingDependencyError

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.event import ProviderEventDetails
    from openfeature.exception import ErrorCode, ProviderFatalError, ProviderNotReadyError
    from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
    from openfeature.provider import AbstractProvider, Metadata
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError(
        "the OpenFeature provider needs the openfeature-sdk package: "
        "pip install 'cutover[openfeature]'"
    ) from exc

from flags.model import validate_worker_id
from flags.routing import RouteDecision, decide
from flags.table import FlagTable, TableState, get_table

PROVIDER_NAME = "cutover-flags"
N_ITEMS_ATTRIBUTE = "n_items"

_SPLIT = frozenset({"percent-route", "percent-base"})
_STATIC = frozenset({"route", "base"})
_DISABLED = frozenset({"kill-switch", "global-kill"})

Status = Literal["ready", "stale", "error"]


def openfeature_reason(decision: RouteDecision) -> str:
    """The OpenFeature reason of a cutover decision (see the module docstring)."""
    if decision.reason == "error":
        return Reason.ERROR
    if decision.stale:
        return Reason.STALE
    if decision.reason == "default":
        return Reason.DEFAULT
    if decision.reason in _DISABLED:
        return Reason.DISABLED
    if decision.reason in _SPLIT:
        return Reason.SPLIT
    if decision.reason in _STATIC:
        return Reason.STATIC
    return Reason.TARGETING_MATCH


def nothing_to_evaluate(state: TableState) -> bool:
    """True when the table has never read the store and no snapshot stood in: its flags
    are not cached ones but the built-in defaults, and no answer can be given from them."""
    return state.stale and state.source == "defaults"


def status_of(state: TableState) -> Status:
    """What the provider's status should be for a table ``state``."""
    if nothing_to_evaluate(state):
        return "error"
    return "stale" if state.stale else "ready"


class CutoverProvider(AbstractProvider):
    """An OpenFeature provider answering from a :class:`~flags.table.FlagTable`.

    ``table`` defaults to the process-wide one (:func:`flags.get_table`), created lazily.
    """

    def __init__(self, table: FlagTable | None = None) -> None:
        super().__init__()
        self._table = table
        self._status: Status | None = None
        """The status last told to the SDK (``None``: not initialized, or shut down)."""
        self._unsubscribe: Callable[[], None] | None = None
        self._lock = threading.Lock()

    @property
    def table(self) -> FlagTable:
        """The table decisions are read from."""
        if self._table is None:
            self._table = get_table()
        return self._table

    def get_metadata(self) -> Metadata:
        return Metadata(name=PROVIDER_NAME)

    # --- life cycle (spec 2.4, 2.5) and events (section 5) ------------------------------------

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Follow the table; fail when there is nothing to evaluate flags on.

        Raises ``ProviderFatalError`` when the store cannot even be opened (a bad URL: no
        retry helps) and ``ProviderNotReadyError`` when it cannot be read and nothing is
        cached; the provider then tells the SDK ``PROVIDER_READY`` once the store answers.
        """
        table = self.table
        with self._lock:
            if self._unsubscribe is None:
                self._unsubscribe = table.subscribe(self._on_table_change)
            state = table.state
            if table.store is None and table.url != "static:":
                self._status = "error"
                raise ProviderFatalError(
                    f"the flag store {table.url} cannot be opened; fix CUTOVER_FLAGS_URL "
                    "(cutover routes every call on legacy meanwhile)"
                )
            if nothing_to_evaluate(state):
                self._status = "error"
                raise ProviderNotReadyError(_not_ready_message(table))
            # The SDK reports READY when this returns; a stale table is reported STALE at the
            # first evaluation or change after that (see _sync_status).
            self._status = "ready"

    def shutdown(self) -> None:
        """Stop following the table (the process's table stays open for the router)."""
        with self._lock:
            if self._unsubscribe is not None:
                self._unsubscribe()
            self._unsubscribe = None
            self._status = None

    def _on_table_change(self, previous: TableState, current: TableState) -> None:
        changed = sorted(
            worker
            for worker in set(previous.records) | set(current.records)
            if previous.records.get(worker) != current.records.get(worker)
        )
        if previous.global_kill != current.global_kill:
            changed = sorted(set(changed) | set(current.records))
        self._sync_status(current)
        if changed and not current.stale:
            self.emit_provider_configuration_changed(ProviderEventDetails(flags_changed=changed))

    def _sync_status(self, state: TableState) -> None:
        """Tell the SDK when the table's condition no longer matches the status it has."""
        wanted = status_of(state)
        if self._status is None or self._status == wanted:  # the common case: no lock
            return
        with self._lock:
            if self._status is None or self._status == wanted:
                return
            self._status = wanted
        if wanted == "stale":
            self.emit_provider_stale(
                ProviderEventDetails(
                    message=f"the flag store {self.table.url} cannot be read; answering from "
                    "the flags last read"
                )
            )
        elif wanted == "error":
            self.emit_provider_error(
                ProviderEventDetails(
                    message=_not_ready_message(self.table),
                    error_code=ErrorCode.PROVIDER_NOT_READY,
                )
            )
        else:
            self.emit_provider_ready(ProviderEventDetails(message="the flag store answers"))

    # --- what the routes resolve to ---------------------------------------------------------

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        """The engine of one call of worker ``flag_key``."""
        decision = self._decide(flag_key, evaluation_context)
        if isinstance(decision, FlagResolutionDetails):
            return FlagResolutionDetails(
                value=default_value,
                reason=decision.reason,
                error_code=decision.error_code,
                error_message=decision.error_message,
            )
        if decision.reason == "error":
            return FlagResolutionDetails(
                value=default_value,
                reason=Reason.ERROR,
                error_code=ErrorCode.GENERAL,
                error_message="the route decision failed; see the cutover logs",
                flag_metadata=_metadata(decision),
            )
        return FlagResolutionDetails(
            value=decision.engine,
            reason=openfeature_reason(decision),
            variant=decision.engine,
            flag_metadata=_metadata(decision),
        )

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        """The whole decision of one call of worker ``flag_key``, as a dict."""
        decision = self._decide(flag_key, evaluation_context)
        if isinstance(decision, FlagResolutionDetails):
            return FlagResolutionDetails(
                value=default_value,
                reason=decision.reason,
                error_code=decision.error_code,
                error_message=decision.error_message,
            )
        value: dict[str, FlagValueType] = {
            "engine": decision.engine,
            "route": decision.route,
            "reason": decision.reason,
            "flag_version": decision.flag_version,
            "stale": decision.stale,
        }
        return FlagResolutionDetails(
            value=value,
            reason=openfeature_reason(decision),
            variant=decision.engine,
            flag_metadata=_metadata(decision),
        )

    # --- other types: a route is a string ------------------------------------------------------

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return _type_mismatch(default_value, "boolean")

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return _type_mismatch(default_value, "integer")

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return _type_mismatch(default_value, "float")

    # --- evaluation ---------------------------------------------------------------------------

    def _decide(
        self, flag_key: str, context: EvaluationContext | None
    ) -> RouteDecision | FlagResolutionDetails[None]:
        state = self.table.state
        self._sync_status(state)
        if nothing_to_evaluate(state):
            return FlagResolutionDetails(
                value=None,
                reason=Reason.ERROR,
                error_code=ErrorCode.PROVIDER_NOT_READY,
                error_message=_not_ready_message(self.table),
            )
        try:
            worker_id = validate_worker_id(flag_key)
        except ValueError as exc:
            return FlagResolutionDetails(
                value=None,
                reason=Reason.ERROR,
                error_code=ErrorCode.FLAG_NOT_FOUND,
                error_message=str(exc),
            )
        attributes = context.attributes if context is not None else {}
        n_items = attributes.get(N_ITEMS_ATTRIBUTE, 0)
        if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 0:
            return FlagResolutionDetails(
                value=None,
                reason=Reason.ERROR,
                error_code=ErrorCode.INVALID_CONTEXT,
                error_message=f"attribute {N_ITEMS_ATTRIBUTE!r} must be an integer >= 0, "
                f"got {n_items!r}",
            )
        key = context.targeting_key if context is not None else None
        return decide(self.table, worker_id, n_items, key=key or None)


def _not_ready_message(table: FlagTable) -> str:
    return (
        f"the flag store {table.url} cannot be read and no flags were ever read from it (no "
        "last-known-good snapshot): nothing to evaluate; cutover routes every call on legacy "
        "until the store answers"
    )


def _metadata(decision: RouteDecision) -> dict[str, bool | int | float | str]:
    return {
        "route": decision.route,
        "cutover_reason": decision.reason,
        "flag_version": decision.flag_version,
        "stale": decision.stale,
    }


def _type_mismatch(default_value: Any, asked: str) -> FlagResolutionDetails[Any]:
    return FlagResolutionDetails(
        value=default_value,
        reason=Reason.ERROR,
        error_code=ErrorCode.TYPE_MISMATCH,
        error_message=f"cutover routes are string flags (the engine), not {asked}",
    )


__all__ = [
    "N_ITEMS_ATTRIBUTE",
    "PROVIDER_NAME",
    "CutoverProvider",
    "nothing_to_evaluate",
    "openfeature_reason",
    "status_of",
]
