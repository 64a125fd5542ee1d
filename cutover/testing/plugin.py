"""The pytest plugin: a user's own async tests, once per route, on real engines.

Mark a test (or a module, with ``pytestmark``) and it runs once per route::

    @pytest.mark.cutover                     # legacy, celery, ray
    @pytest.mark.cutover("ray")              # one route
    @pytest.mark.cutover(strict=True, ignore_paths=["$[*].served_at"])

Each run installs a router whose flags send every worker's calls to that route, with
``fallback: fail`` (an unreachable broker fails the test rather than quietly running it on
legacy). The engines are the shim's own, configured by the usual environment
(``CUTOVER_BROKER_URL``, ``CUTOVER_RESULT_BACKEND``, ``CUTOVER_TASK_MODULES``,
``RAY_ADDRESS``) and started on first use; Celery needs a worker consuming the worker's queue
(``cutover worker celery --for-worker W``). ``strict=True`` (or ``--cutover-strict``) is the
raise-on-mismatch mode: every call on celery or ray is compared to legacy and a difference
fails the call with the diff (:mod:`cutover.testing.equivalence`); a mismatch the test
swallowed fails it all the same.

Command line: ``--cutover-routes legacy,ray`` (the routes of marked tests that name none),
``--cutover-strict``, ``--cutover-all`` (every test as if marked: the whole suite, unedited).
The fixture ``cutover_route`` says which route the current run is on (``None`` unmarked).

Loaded by pytest in every run once cutover is installed, so it does nothing unless its
marker or an option is used: it imports neither cutover's engines nor Celery nor Ray before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import pytest

from ground.logs import get_logger

MARKER: Final = "cutover"
FIXTURE: Final = "_cutover_route"
DEFAULT_ROUTES: Final = ("legacy", "celery", "ray")

_USED = pytest.StashKey[bool]()
_ROUTER = pytest.StashKey[Any]()

log = get_logger("cutover.testing")


@dataclass(frozen=True)
class RunSpec:
    """How a marked test runs: its routes, strict or not, its comparison options."""

    routes: tuple[str, ...]
    strict: bool
    options: Mapping[str, Any] = field(default_factory=dict)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cutover", "cutover: run tests once per route on real engines")
    group.addoption(
        "--cutover-routes",
        default=None,
        metavar="ROUTES",
        help="comma-separated routes of tests marked cutover that name none "
        f"(default {','.join(DEFAULT_ROUTES)})",
    )
    group.addoption(
        "--cutover-strict",
        action="store_true",
        default=False,
        help="raise-on-mismatch: compare every call on celery/ray to legacy, fail on a diff",
    )
    group.addoption(
        "--cutover-all",
        action="store_true",
        default=False,
        help="treat every test as marked cutover (the whole suite, once per route)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*routes, strict=False, **comparison): run the test once per route "
        f"({', '.join(DEFAULT_ROUTES)} unless named) on real engines; strict=True fails a "
        "call whose result differs from legacy's (comparison: timeout_s, ignore_paths, "
        "float_rel_tol, unordered_lists, allow_side_effects, redact)",
    )
    routes = config.getoption("--cutover-routes")
    if routes is not None:
        from cutover.testing.equivalence import check_routes
        from ground.errors import ConfigurationError

        try:
            check_routes([r.strip() for r in routes.split(",") if r.strip()], "--cutover-routes")
        except ConfigurationError as exc:
            raise pytest.UsageError(str(exc)) from None


def run_spec(node: pytest.Item, config: pytest.Config) -> RunSpec | None:
    """How ``node`` runs under the plugin, or ``None`` when it is not the plugin's."""
    marker = node.get_closest_marker(MARKER)
    if marker is None and not config.getoption("--cutover-all"):
        return None
    from cutover.testing.equivalence import check_routes, shadow_config

    where = f"@pytest.mark.{MARKER} on {node.nodeid}"
    kwargs = dict(marker.kwargs) if marker is not None else {}
    named = list(marker.args) if marker is not None else []
    if "routes" in kwargs:
        named += list(kwargs.pop("routes"))
    option = config.getoption("--cutover-routes")
    if named:
        routes = check_routes(named, where)
    elif option:
        routes = check_routes([r.strip() for r in option.split(",") if r.strip()], where)
    else:
        routes = DEFAULT_ROUTES
    strict = kwargs.pop("strict", None)
    if strict is None:
        strict = bool(config.getoption("--cutover-strict"))
    elif not isinstance(strict, bool):
        from ground.errors import ConfigurationError

        raise ConfigurationError(f"{where}: strict must be True or False, got {strict!r}")
    shadow_config(kwargs, where)  # a bad option is an error at collection, not at the call
    return RunSpec(routes, strict, kwargs)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    spec = run_spec(metafunc.definition, metafunc.config)
    if spec is None or FIXTURE not in metafunc.fixturenames:
        return
    metafunc.parametrize(FIXTURE, spec.routes, indirect=True, ids=list(spec.routes))


@pytest.fixture(autouse=True)
def _cutover_route(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Every call of the test on this run's route (nothing at all for unmarked tests)."""
    route: str | None = getattr(request, "param", None)
    if route is None:
        yield None
        return
    spec = run_spec(request.node, request.config)
    assert spec is not None  # parametrized by pytest_generate_tests from the same spec
    from compat import router as router_module
    from cutover.testing.equivalence import route_router

    previous = router_module._router
    router = route_router(route, strict=spec.strict, options=spec.options)
    request.config.stash[_USED] = True
    request.node.stash[_ROUTER] = router
    router_module.set_router(router)
    try:
        yield route
    finally:
        router_module.set_router(previous)


@pytest.fixture
def cutover_route(_cutover_route: str | None) -> str | None:
    """The route this run of the test is on: ``legacy``, ``celery``, ``ray`` (or ``None``)."""
    return _cutover_route


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """A test that passed although one of its calls disagreed (it caught the error) fails."""
    result = yield
    router = item.stash.get(_ROUTER, None)
    runner = getattr(router, "runner", None)
    if runner is not None:
        from cutover.testing.equivalence import REFERENCE, disagreements, mismatch_message

        bad = disagreements(runner.calls.seen)
        if bad:
            pytest.fail(
                f"the route under test disagrees with {REFERENCE} (the test caught the "
                f"error):\n{mismatch_message(bad)}",
                pytrace=False,
            )
    return result


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the engines the plugin's runs used (a local Ray it started stops with it)."""
    if not config.stash.get(_USED, False):
        return
    from adapters.registry import close_all

    try:
        asyncio.run(close_all())
    except Exception:  # the run is over: say what failed, do not mask its results
        log.exception("engines_close_failed")


__all__ = ["DEFAULT_ROUTES", "MARKER", "RunSpec", "cutover_route", "run_spec"]
