"""``cutover worker celery``: start a real Celery worker for cutover's app.

A thin wrapper over ``celery -A cutover.celery_app worker`` (the process is *replaced* by
Celery's own, so signals, Flower and ``celery inspect`` behave exactly as usual). It only
adds the conveniences that matter in cutover week: ``--for-worker W`` to consume the queue
dedicated to a production worker (``cutover.W``) and a check that ``CUTOVER_TASK_MODULES``
is set, since without it the worker refuses every task.
"""

from __future__ import annotations

import argparse
import os
import sys

from adapters.celery.settings import DEFAULT_QUEUE, queue_for_worker
from ground.constants import TASK_MODULES_ENV
from ground.errors import ConfigurationError

CELERY_APP = "cutover.celery_app"


def celery_worker_argv(args: argparse.Namespace) -> list[str]:
    """The ``celery worker`` command line that ``args`` stand for."""
    queues = [q for value in args.queues for q in value.split(",") if q]
    queues += [queue_for_worker(worker) for worker in args.for_worker]
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        CELERY_APP,
        "worker",
        "--queues",
        ",".join(queues or [DEFAULT_QUEUE]),
        "--pool",
        args.pool,
        "--loglevel",
        args.loglevel,
    ]
    if args.concurrency is not None:
        argv += ["--concurrency", str(args.concurrency)]
    if args.hostname:
        argv += ["--hostname", args.hostname]
    if args.events:
        argv.append("--task-events")
    else:
        # The heartbeat event is a synchronous publish from the worker's main loop: through a
        # silent partition a stack dump (SIGUSR1) showed that loop blocked in it, enforcing
        # no time limit. Only event monitors (Flower, with --events) need it.
        argv.append("--without-heartbeat")
    return argv + list(args.celery_args)


def _run_celery_worker(args: argparse.Namespace) -> int:
    if not os.environ.get(TASK_MODULES_ENV):
        raise ConfigurationError(
            "CUTOVER_TASK_MODULES is not set: the worker would refuse every task. Set it to "
            "the comma-separated module prefixes your task functions live in, e.g. "
            "CUTOVER_TASK_MODULES=myapp.tasks"
        )
    argv = celery_worker_argv(args)
    if args.dry_run:
        print(" ".join(argv))
        return 0
    os.execv(argv[0], argv)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cutover worker ...``."""
    worker = subparsers.add_parser("worker", help="start an engine worker")
    engines = worker.add_subparsers(dest="engine", metavar="ENGINE", required=True)
    celery = engines.add_parser(
        "celery",
        help="a Celery worker for cutover's app (wraps `celery worker`)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    celery.add_argument(
        "--queues", "-Q", action="append", default=[], help="queues to consume (comma-separated)"
    )
    celery.add_argument(
        "--for-worker",
        action="append",
        default=[],
        metavar="WORKER",
        help="also consume the queue of this production worker (cutover.WORKER)",
    )
    celery.add_argument("--concurrency", "-c", type=int, default=None)
    celery.add_argument("--pool", "-P", default="prefork", choices=["prefork", "solo", "threads"])
    celery.add_argument("--loglevel", "-l", default="INFO")
    celery.add_argument("--hostname", "-n", default=None)
    celery.add_argument(
        "--events",
        "-E",
        action="store_true",
        help="send task events from the start (for Flower; off by default: they cost CPU)",
    )
    celery.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    celery.add_argument(
        "celery_args", nargs=argparse.REMAINDER, help="anything after -- goes to celery"
    )
    celery.set_defaults(handler=_run_celery_worker)


__all__ = ["celery_worker_argv", "register"]
