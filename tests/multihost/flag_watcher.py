"""A production worker's flag table on another host, reporting what it routes by.

Run as ``python -m tests.multihost.flag_watcher FLAGS_URL WORKER SNAPSHOT``: it opens a live
:class:`flags.FlagTable` on the store and prints one JSON line on stdout each time what it
would route by changes (``stale``, the worker's ``route`` and ``kill``), with the wall-clock
time, so a test on the test host can tell when a change reached this host. The table's own
log lines (structlog, on stderr) go to the same file.
"""

from __future__ import annotations

import json
import sys
import time

import flags

POLL_S = 0.01


def main(flags_url: str, worker_id: str, snapshot: str) -> None:
    """Watch until killed."""
    table = flags.FlagTable(flags_url, snapshot_path=snapshot)
    last: tuple[bool, str, bool] | None = None
    while True:
        record = table.record(worker_id)
        now = (table.stale, str(record.route), bool(record.kill or table.global_kill))
        if now != last:
            stale, route, kill = now
            line = {"t": time.time(), "stale": stale, "route": route, "kill": kill}
            print(json.dumps(line), flush=True)
            last = now
        time.sleep(POLL_S)


if __name__ == "__main__":
    main(*sys.argv[1:4])
