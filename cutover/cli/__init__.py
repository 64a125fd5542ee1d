"""The ``cutover`` command line.

Each sub-command lives in its own module under ``cutover/cli/`` and exposes
``register(subparsers)``; this module only assembles them and turns a :class:`CutoverError`
into one clear line on stderr and a non-zero exit status (never a traceback for a refusal).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cutover import __version__
from ground.errors import CutoverError

# Modules that contribute sub-commands, in the order they appear in --help.
_COMMAND_MODULES = (
    "cutover.cli.demo_cmd",
    "cutover.cli.flags_cmd",
    "cutover.cli.worker_cmd",
    "cutover.cli.dlq_cmd",
    "cutover.cli.shadow_cmd",
    "cutover.cli.replay_cmd",
    "cutover.cli.rollout_cmd",
    "cutover.cli.guard_cmd",
    "cutover.cli.metrics_cmd",
    "cutover.cli.engines_cmd",
    "cutover.cli.report_cmd",
    "cutover.cli.bench_cmd",
)

EXIT_REFUSED = 2


def build_parser() -> argparse.ArgumentParser:
    """Assemble the parser from every command module.

    A command module that is missing or broken fails here, loudly, with its own
    ``ImportError``: a ``cutover`` that silently lacks ``rollback`` is worse than one that
    does not start.
    """
    parser = argparse.ArgumentParser(
        prog="cutover",
        description="Move asyncio workers onto Celery and Ray, one worker at a time.",
    )
    parser.add_argument("--version", action="version", version=f"cutover {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cutover`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_REFUSED
    try:
        return int(handler(args) or 0)
    except CutoverError as exc:
        print(f"cutover: error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print("cutover: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `cutover flags list --json | head`: the reader left; that is not an error of ours.
        sys.stderr.close()
        return 0


__all__ = ["build_parser", "main"]
