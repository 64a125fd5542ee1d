"""The pytest plugin, run the way a user runs it: ``pytester`` writes a user's test file and
runs pytest on it in a subprocess with ``-p cutover.testing.plugin``, against this session's
real Celery worker (Redis broker) and a real local Ray started by that subprocess.
"""

from __future__ import annotations

import os

import pytest

from tests.support.services import REPO_ROOT, CeleryWorkerProcess

pytest_plugins = ["pytester"]

PLUGIN = ("-p", "cutover.testing.plugin", "-p", "no:cacheprovider")
INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

USER_TESTS = """
import os

import pytest

from compat import AsyncWorkerOptimizer
from ground.errors import ShadowMismatchError
from tests.testing import plugin_tasks as tasks


async def run(func, items):
    async with AsyncWorkerOptimizer(worker_id="default") as optimizer:
        return await optimizer.optimize_batch_processing(items, func, 2, 2)


@pytest.mark.cutover
async def test_runs_where_the_route_says(cutover_route):
    [result] = await run(tasks.where, [1])
    assert (result["pid"] == os.getpid()) == (cutover_route == "legacy")


@pytest.mark.cutover(strict=True)
async def test_pure_task_agrees():
    assert await run(tasks.double, [1, 2, 3]) == [2, 4, 6]


@pytest.mark.cutover(strict=True)
async def test_same_error_agrees():
    with pytest.raises(ValueError, match="odd item 1"):
        await run(tasks.fails_on_odd, [0, 1])


@pytest.mark.cutover("celery", "ray", strict=True)
async def test_process_dependent_result_fails():
    await run(tasks.where, [5])


@pytest.mark.cutover("ray", strict=True)
async def test_swallowed_mismatch_still_fails():
    try:
        await run(tasks.where, [6])
    except ShadowMismatchError:
        pass


@pytest.mark.cutover("celery", strict=True)
async def test_unsafe_task_is_refused():
    await run(tasks.unmarked_double, [1])


@pytest.mark.cutover("ray", strict=True, ignore_paths=["$[*].pid"])
async def test_ignored_paths_are_not_compared():
    [result] = await run(tasks.where, [7])
    assert result["item"] == 7


async def test_unmarked_runs_once_on_legacy(cutover_route):
    assert cutover_route is None
    [result] = await run(tasks.where, [8])
    assert result["pid"] == os.getpid()
"""


@pytest.fixture
def user_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's test process finds this repository's packages (and its task module)."""
    paths = [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    monkeypatch.setenv("CUTOVER_LOG_LEVEL", "WARNING")


@pytest.mark.celery
@pytest.mark.ray
@pytest.mark.slow
def test_user_tests_run_once_per_route_and_strict_mode_fails_on_a_diff(
    pytester: pytest.Pytester, celery_redis_worker: CeleryWorkerProcess, user_env: None
) -> None:
    """The whole promise in one user run (one Ray start): a marked test runs on legacy,
    celery and ray, really in another process on the remote routes; strict mode passes what
    agrees (results, and the same exception) and fails what differs with the diff line,
    also when the test swallowed the error; a task not declared shadow-safe is refused with
    what to do; ignored paths are not compared; an unmarked test runs once, untouched."""
    pytester.makeini(INI)
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess(*PLUGIN, "-rf", "-v", timeout=240)
    result.stdout.fnmatch_lines(
        [
            "*test_runs_where_the_route_says?legacy? PASSED*",
            "*test_runs_where_the_route_says?celery? PASSED*",
            "*test_runs_where_the_route_says?ray? PASSED*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "FAILED test_user.py::test_process_dependent_result_fails?celery? - *",
            "FAILED test_user.py::test_process_dependent_result_fails?ray? - *",
            "FAILED test_user.py::test_swallowed_mismatch_still_fails?ray? - *",
            "FAILED test_user.py::test_unsafe_task_is_refused?celery? - *",
        ],
        consecutive=False,
    )
    output = result.stdout.str()
    assert "ShadowMismatchError: the route under test disagrees with legacy" in output
    assert "mismatch (primary ray, the route under test; reference legacy)" in output
    result.stdout.re_match_lines(
        [r"E\s+1 of 1 items differ:$", r"E\s+item 0, input 5:$", r"E\s+\$\[0\]\.pid: \d+ != \d+$"]
    )
    assert "disagrees with legacy (the test caught the error)" in output
    assert "unmarked_double is not declared shadow-safe" in output
    result.assert_outcomes(passed=11, failed=4)


INERT_TESTS = """
import sys

import pytest

import compat.router
from compat import AsyncWorkerOptimizer
from tests.testing import plugin_tasks as tasks


async def test_unmarked(cutover_route):
    result = await AsyncWorkerOptimizer(worker_id="w").optimize_batch_processing(
        [1, 2], tasks.double, 2, 2
    )
    assert result == [2, 4]
    assert cutover_route is None
    assert compat.router._router is None or type(compat.router._router) is compat.router.Router
    assert not [m for m in sys.modules if m.split(".")[0] in ("ray", "celery", "kombu")]
    assert "cutover.testing.equivalence" not in sys.modules
"""


def test_plugin_does_nothing_to_unmarked_tests(pytester: pytest.Pytester, user_env: None) -> None:
    """Loaded in every run once installed, the plugin must leave unmarked tests alone: run
    once, the default router, and neither Celery, Ray nor its own machinery imported."""
    pytester.makeini(INI)
    pytester.makepyfile(test_user=INERT_TESTS)
    result = pytester.runpytest_subprocess(*PLUGIN, "-v", timeout=120)
    result.stdout.fnmatch_lines(["*test_unmarked PASSED*"])
    result.assert_outcomes(passed=1)


def test_cutover_all_runs_unmarked_tests_per_route(
    pytester: pytest.Pytester, user_env: None
) -> None:
    """``--cutover-all`` makes a suite the equivalence suite without editing it: the unmarked
    test is parametrized by ``--cutover-routes`` (legacy only here: no engine needed) and
    its calls go through the plugin's router."""
    pytester.makeini(INI)
    pytester.makepyfile(
        test_user="""
import compat.router
from cutover.testing.equivalence import REFERENCE


def test_unmarked(cutover_route):
    assert cutover_route == REFERENCE
    assert compat.router._router is not None
    assert compat.router._router.table.url == "static:"
"""
    )
    result = pytester.runpytest_subprocess(
        *PLUGIN, "-v", "--cutover-all", "--cutover-routes", "legacy", timeout=120
    )
    result.stdout.fnmatch_lines(["*test_unmarked?legacy? PASSED*"])
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('"mongo"', "unknown route(s) 'mongo': choose from legacy, celery, ray"),
        ("strict=True, tolerance=0.1", "unknown option(s) tolerance"),
        ('strict="yes"', "strict must be True or False, got 'yes'"),
        ("strict=True, float_rel_tol=2.0", "shadow.float_rel_tol"),
    ],
)
def test_bad_marker_is_a_collection_error_saying_what_is_wrong(
    pytester: pytest.Pytester, user_env: None, marker: str, message: str
) -> None:
    """A mistake in the marker is reported when the test is collected, naming the test and
    what was wrong, before any engine is touched."""
    pytester.makeini(INI)
    pytester.makepyfile(
        test_user=f"""
import pytest


@pytest.mark.cutover({marker})
def test_marked():
    pass
"""
    )
    result = pytester.runpytest_subprocess(*PLUGIN, timeout=120)
    assert "ConfigurationError" in result.stdout.str()
    assert message in result.stdout.str()
    assert "@pytest.mark.cutover on test_user.py::test_marked" in result.stdout.str()
    result.assert_outcomes(errors=1)


def test_bad_routes_option_is_a_usage_error(pytester: pytest.Pytester, user_env: None) -> None:
    """A wrong ``--cutover-routes`` stops the run at once with pytest's usage error."""
    pytester.makeini(INI)
    pytester.makepyfile(test_user="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess(*PLUGIN, "--cutover-routes", "legacy,dask")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown route(s) 'dask'" in result.stderr.str()


def test_unreachable_broker_fails_the_run_instead_of_falling_back(
    pytester: pytest.Pytester, user_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The celery run of a test must not pass on legacy behind the user's back: with the
    broker down, the call fails with the engine's error (``fallback: fail``)."""
    monkeypatch.setenv("CUTOVER_BROKER_URL", "redis://127.0.0.1:1/0")
    pytester.makeini(INI)
    pytester.makepyfile(
        test_user="""
import pytest

from compat import AsyncWorkerOptimizer
from tests.testing import plugin_tasks as tasks


@pytest.mark.cutover("celery")
async def test_on_celery():
    await AsyncWorkerOptimizer(worker_id="w").optimize_batch_processing([1], tasks.double, 1, 1)
"""
    )
    result = pytester.runpytest_subprocess(*PLUGIN, "-rf", timeout=120)
    result.assert_outcomes(failed=1)
    assert "EngineUnavailableError" in result.stdout.str()
    assert "127.0.0.1:1" in result.stdout.str()


@pytest.mark.celery
def test_options_alone_make_an_unedited_suite_the_equivalence_suite(
    pytester: pytest.Pytester, celery_redis_worker: CeleryWorkerProcess, user_env: None
) -> None:
    """No marker in the file: ``--cutover-all --cutover-strict --cutover-routes legacy,celery``
    runs each test on both routes, and the one whose result depends on the process fails on
    celery with its diff (the pure one passes on both)."""
    pytester.makeini(INI)
    pytester.makepyfile(
        test_user="""
from compat import AsyncWorkerOptimizer
from tests.testing import plugin_tasks as tasks


async def run(func, items):
    async with AsyncWorkerOptimizer(worker_id="default") as optimizer:
        return await optimizer.optimize_batch_processing(items, func, 2, 2)


async def test_pure():
    assert await run(tasks.double, [4]) == [8]


async def test_process_dependent():
    await run(tasks.where, [9])
"""
    )
    result = pytester.runpytest_subprocess(
        *PLUGIN,
        "-rf",
        "--cutover-all",
        "--cutover-strict",
        "--cutover-routes",
        "legacy,celery",
        timeout=120,
    )
    result.stdout.fnmatch_lines(["FAILED test_user.py::test_process_dependent?celery? - *"])
    result.stdout.re_match_lines([r"E\s+\$\[0\]\.pid: \d+ != \d+$"])
    result.assert_outcomes(passed=3, failed=1)
