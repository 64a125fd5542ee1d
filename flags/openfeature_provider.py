"""The same route decisions, served through OpenFeature (the optional ``openfeature`` extra).

::

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from flags.openfeature_provider import CutoverProvider

    api.set_provider(CutoverProvider())
    client = api.get_client()
    context = EvaluationContext(targeting_key=tenant_id, attributes={"n_items": 250})
    engine = client.get_string_value("billing-worker", "legacy", context)

The flag key is the worker id. A string flag resolves to the engine (``legacy`` | ``celery``
| ``ray``), an object flag to the whole decision (engine, route, reason, flag_version, stale).
The targeting key is the routing key (sticky rollout); the ``n_items`` attribute is the batch
size the ``hybrid`` route looks at (default 0). Reasons:

- ``STATIC``: no dynamic evaluation (a default, a percent of 0 or 100, a kill switch);
- ``SPLIT``: a percentage rollout placed this key;
- ``TARGETING_MATCH``: ``hybrid`` chose by batch size or observed cost;
- ``CACHED``: the table could not reach the store; the last known flags were used;
- ``ERROR``: the request could not be evaluated (the caller's default is returned).

The variant is the engine; the flag metadata carries cutover's own reason and the version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ground.errors import MissingDependencyError

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.exception import ErrorCode
    from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
    from openfeature.provider import AbstractProvider, Metadata
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError(
        "the OpenFeature provider needs the openfeature-sdk package: "
        "pip install 'cutover[openfeature]'"
    ) from exc

from flags.model import validate_worker_id
from flags.routing import RouteDecision, decide
from flags.table import FlagTable, get_table

PROVIDER_NAME = "cutover-flags"
N_ITEMS_ATTRIBUTE = "n_items"

_SPLIT = frozenset({"percent-route", "percent-base"})
_STATIC = frozenset({"default", "route", "base", "kill-switch", "global-kill"})


def openfeature_reason(decision: RouteDecision) -> str:
    """The OpenFeature reason of a cutover decision (see the module docstring)."""
    if decision.reason == "error":
        return Reason.ERROR
    if decision.stale:
        return Reason.CACHED
    if decision.reason in _SPLIT:
        return Reason.SPLIT
    if decision.reason in _STATIC:
        return Reason.STATIC
    return Reason.TARGETING_MATCH


class CutoverProvider(AbstractProvider):
    """An OpenFeature provider answering from a :class:`~flags.table.FlagTable`.

    ``table`` defaults to the process-wide one (:func:`flags.get_table`), created lazily.
    """

    def __init__(self, table: FlagTable | None = None) -> None:
        super().__init__()
        self._table = table

    @property
    def table(self) -> FlagTable:
        """The table decisions are read from."""
        if self._table is None:
            self._table = get_table()
        return self._table

    def get_metadata(self) -> Metadata:
        return Metadata(name=PROVIDER_NAME)

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


__all__ = ["N_ITEMS_ATTRIBUTE", "PROVIDER_NAME", "CutoverProvider", "openfeature_reason"]
