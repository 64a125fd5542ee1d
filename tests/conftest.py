"""Session-wide test set-up: hypothesis profiles, the task allow-list, clean test databases.

Real services only: Redis, RabbitMQ, ``celery worker`` subprocesses and a local Ray are
started once per session by the fixtures of the packages that need them.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from tests.support.services import IN_CI, TEST_BACKEND_URL, TEST_BROKER_URL, TEST_TASK_MODULES

pytest_plugins = ["tests.support.fixtures"]

# The caller side of the tests uses the same test broker, backend and allow-list as the
# worker subprocesses; set before any engine reads its settings.
os.environ["CUTOVER_BROKER_URL"] = TEST_BROKER_URL
os.environ["CUTOVER_RESULT_BACKEND"] = TEST_BACKEND_URL
os.environ["CUTOVER_TASK_MODULES"] = TEST_TASK_MODULES
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

settings.register_profile(
    "dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if IN_CI else "dev"))
