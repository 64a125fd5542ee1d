"""What several ``cutover`` sub-commands share: the ``--flags-url`` option, the help a
command group prints when called bare, and the flag store with its shadow records opened
(and closed) together."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from compat.shadow.recorders import ShadowRecorder, open_recorder
from flags.store import FlagStore
from flags.stores import FLAGS_URL_ENV, configured_flags_url, open_store


def add_flags_url(parser: argparse.ArgumentParser) -> None:
    """``--flags-url URL``, which overrides ``$CUTOVER_FLAGS_URL``."""
    parser.add_argument(
        "--flags-url",
        metavar="URL",
        help=f"the flag store (redis://, rediss://, file://); overrides ${FLAGS_URL_ENV}",
    )


def print_help(parser: argparse.ArgumentParser) -> int:
    """A command group called without a sub-command: its help, and exit status 2."""
    parser.print_help()
    return 2


@contextmanager
def store_and_records(flags_url: str | None) -> Iterator[tuple[FlagStore, ShadowRecorder]]:
    """The flag store named by ``flags_url`` (else the configured one) and the shadow records
    beside it, both closed on exit."""
    url = configured_flags_url(flags_url)
    store = open_store(url)
    try:
        recorder = open_recorder(url)
        try:
            yield store, recorder
        finally:
            recorder.close()
    finally:
        store.close()


__all__ = ["add_flags_url", "print_help", "store_and_records"]
