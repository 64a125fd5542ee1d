"""What the child processes of the live-update tests run.

Each child follows the flags with a :class:`~flags.table.FlagTable` (its own, or one inherited
through a fork), says when it is ready, then reports the wall-clock time at which it saw each
version the parent asks about. ``python -m tests.flags.procs URL WORKER V1 [V2 ...]`` does the
same over stdout, for a plain subprocess.
"""

from __future__ import annotations

import sys
import time
from multiprocessing.connection import Connection

from flags.table import FlagTable

POLL_S = 0.002
GIVE_UP_S = 15.0


def _follow(table: FlagTable, worker: str, versions: list[int], report: object) -> None:
    send = report.send if isinstance(report, Connection) else _print
    send(("ready", table.record(worker).version, table.stale))
    for version in versions:
        deadline = time.monotonic() + GIVE_UP_S
        while table.record(worker).version < version:
            if time.monotonic() > deadline:
                send(("timeout", version, time.time()))
                return
            time.sleep(POLL_S)
        send(("seen", version, time.time()))


def _print(message: tuple[object, ...]) -> None:
    print(" ".join(str(part) for part in message), flush=True)


def follow_own_table(url: str, worker: str, versions: list[int], conn: Connection) -> None:
    """A child that loads its own table (spawned, or forked before any table existed)."""
    table = FlagTable(url)
    try:
        _follow(table, worker, versions, conn)
    finally:
        table.close()
        conn.close()


def follow_inherited_table(
    table: FlagTable, worker: str, versions: list[int], conn: Connection
) -> None:
    """A child forked after the parent loaded ``table``: it keeps using the inherited one."""
    try:
        _follow(table, worker, versions, conn)
    finally:
        conn.close()


def main(argv: list[str]) -> None:
    """``python -m tests.flags.procs URL WORKER V1 [V2 ...]``: report over stdout."""
    url, worker, *versions = argv
    table = FlagTable(url)
    try:
        _follow(table, worker, [int(v) for v in versions], sys.stdout)
    finally:
        table.close()


if __name__ == "__main__":
    main(sys.argv[1:])
