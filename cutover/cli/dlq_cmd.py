"""``cutover dlq``: the work Celery workers refused or gave up on, listed and replayed.

::

    cutover dlq list [--json] [--limit N] [--cursor ID]
    cutover dlq show ID [--json]
    cutover dlq replay (ID | --all) [--json]
    cutover dlq purge (ID | --all --yes)

The store follows the Celery settings (``CUTOVER_BROKER_URL``, ``CUTOVER_RESULT_BACKEND``;
``--broker-url`` / ``--backend-url`` override them): RabbitMQ's ``cutover.dead`` queue with an
AMQP broker, the result backend's Redis stream otherwise (:func:`open_dead_letter_store`).
``replay`` publishes the payload again on its queue and removes the entry only once the
message was sent; a worker then runs it as any other batch (its result goes to the result
backend under the new task id printed). ``purge --all`` needs ``--yes``. ``list`` shows one
page, newest first; the cursor it prints (``--cursor``) gives the next, older page, so any
number of dead letters can be read through, never all held at once.

Nothing printed carries a password: URLs are masked, and so are URLs quoted in exception
messages and tracebacks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from adapters import codec
from adapters.celery.dlq import (
    DLQ_MAX_ENTRIES,
    DeadLetter,
    DeadLetterStore,
    not_found,
    open_dead_letter_store,
)
from adapters.celery.settings import CelerySettings
from cutover.cli.common import print_help
from cutover.cli.output import print_json, print_table
from ground.errors import CutoverError, InvalidArgumentError
from ground.logs import mask_text

SHOWN_ITEMS = 20
"""``show`` prints at most this many items (``--json`` gives them all)."""
EXCEPTION_WIDTH = 60


def register(subparsers: Any) -> None:
    """Add ``dlq`` and its sub-commands to the ``cutover`` parser."""
    parser = subparsers.add_parser(
        "dlq",
        help="dead letters: list, show, replay and purge refused or exhausted work",
        description="The Celery dead-letter store (see `cutover dlq CMD -h`).",
    )
    parser.set_defaults(handler=lambda _args: print_help(parser))
    commands = parser.add_subparsers(dest="dlq_command", metavar="SUBCOMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    common.add_argument("--broker-url", metavar="URL", help="overrides $CUTOVER_BROKER_URL")
    common.add_argument("--backend-url", metavar="URL", help="overrides $CUTOVER_RESULT_BACKEND")

    cmd = commands.add_parser("list", parents=[common], help="the newest dead letters")
    cmd.add_argument("--limit", type=int, default=50, metavar="N", help="newest N (default 50)")
    cmd.add_argument(
        "--cursor",
        metavar="ID",
        help="the page after the one that printed this cursor (the next older entries)",
    )
    cmd.set_defaults(handler=cmd_list)

    cmd = commands.add_parser("show", parents=[common], help="one dead letter in full")
    cmd.add_argument("entry_id", metavar="ID")
    cmd.set_defaults(handler=cmd_show)

    cmd = commands.add_parser(
        "replay", parents=[common], help="publish dead letters again, then remove them"
    )
    _id_or_all(cmd)
    cmd.set_defaults(handler=cmd_replay)

    cmd = commands.add_parser("purge", parents=[common], help="delete dead letters")
    _id_or_all(cmd)
    cmd.add_argument("--yes", action="store_true", help="confirm `--all`")
    cmd.set_defaults(handler=cmd_purge)


def _id_or_all(cmd: argparse.ArgumentParser) -> None:
    target = cmd.add_mutually_exclusive_group(required=True)
    target.add_argument("entry_id", metavar="ID", nargs="?")
    target.add_argument("--all", action="store_true", help="every dead letter")


def settings_of(args: argparse.Namespace) -> CelerySettings:
    """The Celery settings of the environment, with the command line's overrides."""
    settings = CelerySettings.from_env()
    changes = {}
    if args.broker_url:
        changes["broker_url"] = args.broker_url
    if args.backend_url:
        changes["result_backend"] = args.backend_url
    if changes:
        settings = dataclasses.replace(settings, **changes)
        settings.check()
    return settings


@contextmanager
def _opened(settings: CelerySettings) -> Iterator[DeadLetterStore]:
    store = open_dead_letter_store(settings)
    try:
        yield store
    finally:
        store.close()


# --- the commands ----------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    """``cutover dlq list``."""
    if args.limit < 1:
        raise InvalidArgumentError(f"--limit must be at least 1, got {args.limit}")
    with _opened(settings_of(args)) as store:
        page = store.page(args.limit, args.cursor)
        total = store.count()
        url = store.display_url
    letters = page.entries
    if args.json:
        print_json(
            {
                "store": url,
                "count": total,
                "entries": [_summary(letter) for letter in letters],
                "next_cursor": page.next_cursor,
            }
        )
        return 0
    print(f"store: {url}    dead letters: {total}")
    if not letters:
        print("no dead letters")
        return 0
    rows = [
        [
            letter.entry_id,
            _when(letter.failed_at),
            letter.reason,
            letter.reference or "-",
            str(len(letter.items)),
            letter.queue or "-",
            str(letter.options.get("worker") or "-"),
            _short(mask_text(f"{letter.exc_type}: {letter.exc_message}")),
        ]
        for letter in letters
    ]
    headers = ["ID", "FAILED AT", "REASON", "REFERENCE", "ITEMS", "QUEUE", "WORKER", "EXCEPTION"]
    print_table(headers, rows)
    if page.next_cursor is not None:
        print(f"(older entries: --cursor {page.next_cursor} lists the next {args.limit})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """``cutover dlq show ID``."""
    with _opened(settings_of(args)) as store:
        letter = store.get(args.entry_id)
        if letter is None:
            raise not_found(args.entry_id, store)
    if args.json:
        print_json({**_summary(letter), "items": codec.encode(letter.items), **_details(letter)})
        return 0
    for key, value in _summary(letter).items():
        print(f"{key + ':':<12} {value}")
    print(f"{'options:':<12} {mask_text(json.dumps(_printable(letter.options), sort_keys=True))}")
    shown = letter.items[:SHOWN_ITEMS]
    more = len(letter.items) - len(shown)
    print(f"{'items:':<12} {mask_text(repr(shown))}" + (f" ... and {more} more" if more else ""))
    if letter.traceback:
        print("traceback:")
        print(mask_text(letter.traceback).rstrip())
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """``cutover dlq replay (ID | --all)``."""
    from adapters.celery.app import create_app  # imports Celery: only when replaying
    from adapters.celery.replay import replay

    settings = settings_of(args)
    app = create_app(settings)
    replayed: list[dict[str, str]] = []
    refused: list[dict[str, str]] = []
    try:
        with _opened(settings) as store:
            if args.all:
                targets = [letter.entry_id for letter in reversed(store.list(DLQ_MAX_ENTRIES))]
            else:
                targets = [args.entry_id]
            for entry_id in targets:
                try:
                    done = replay(app, store, entry_id)
                except CutoverError as exc:
                    if not args.all:
                        raise
                    refused.append({"id": entry_id, "error": mask_text(str(exc))})
                    continue
                replayed.append({"id": done.entry_id, "task_id": done.task_id, "queue": done.queue})
    finally:
        app.close()
    if args.json:
        print_json({"replayed": replayed, "refused": refused})
    else:
        for entry in replayed:
            print(f"replayed {entry['id']} as task {entry['task_id']} on {entry['queue'] or '-'}")
        for entry in refused:
            print(f"not replayed {entry['id']}: {entry['error']}")
        if args.all:
            print(f"{len(replayed)} replayed, {len(refused)} not replayable")
    return 0 if not refused else 1


def cmd_purge(args: argparse.Namespace) -> int:
    """``cutover dlq purge (ID | --all --yes)``."""
    if args.all and not args.yes:
        raise InvalidArgumentError(
            "`cutover dlq purge --all` deletes every dead letter for good: add --yes"
        )
    with _opened(settings_of(args)) as store:
        if args.all:
            count = store.purge()
        elif store.remove(args.entry_id):
            count = 1
        else:
            raise not_found(args.entry_id, store)
    if args.json:
        print_json({"purged": count})
    else:
        print(f"purged {count} dead letter{'s' if count != 1 else ''}")
    return 0


# --- output ----------------------------------------------------------------------------------


def _summary(letter: DeadLetter) -> dict[str, Any]:
    summary = letter.summary()
    summary["exception"] = mask_text(summary["exception"])
    summary["failed_at"] = _when(letter.failed_at)
    return summary


def _details(letter: DeadLetter) -> dict[str, Any]:
    return {
        "options": _printable(letter.options),
        "traceback": mask_text(letter.traceback),
    }


def _printable(value: Any) -> Any:
    try:
        return codec.encode(value)
    except CutoverError:
        return repr(value)


def _when(timestamp: float) -> str:
    if timestamp <= 0:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _short(text: str) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= EXCEPTION_WIDTH else line[: EXCEPTION_WIDTH - 3] + "..."


__all__ = ["cmd_list", "cmd_purge", "cmd_replay", "cmd_show", "register", "settings_of"]
