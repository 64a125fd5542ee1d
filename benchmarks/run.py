"""Every benchmark, one after another: what ``tox -e bench`` (``make bench``) runs.

::

    python -m benchmarks.run [--quick] [--only NAME ...]

First ``cutover bench`` (the seed's 1000-task table; a full run records
``benchmarks/RESULTS.md``), then each script of this directory that has a ``main``
(``adapters_bench``, ``compat_bench``, ``flags_eval``, ...), each in a process of its own so
that one's engines never share a machine state with the next. ``--quick`` makes
``cutover bench`` a smoke run (the scripts have no quick mode); ``--only`` picks some by
name (``cutover-bench`` for the first). A failing script is reported and the others still
run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CUTOVER_BENCH = "cutover-bench"
NOT_SCRIPTS = frozenset({"__init__", "common", "run"})


def scripts() -> list[str]:
    """The benchmark scripts of this directory: modules with a ``def main(``."""
    return sorted(
        path.stem
        for path in HERE.glob("*.py")
        if path.stem not in NOT_SCRIPTS and "\ndef main(" in path.read_text(encoding="utf-8")
    )


def commands(quick: bool, only: list[str] | None) -> list[tuple[str, list[str]]]:
    """(name, argv) of each benchmark to run, in order."""
    bench = [sys.executable, "-m", "cutover", "bench", *(["--quick"] if quick else [])]
    planned = [(CUTOVER_BENCH, bench)]
    planned += [(name, [sys.executable, "-m", f"benchmarks.{name}"]) for name in scripts()]
    if only:
        unknown = sorted(set(only) - {name for name, _ in planned})
        if unknown:
            known = ", ".join(name for name, _ in planned)
            raise SystemExit(f"unknown benchmark {', '.join(unknown)}: choose from {known}")
        planned = [(name, argv) for name, argv in planned if name in only]
    return planned


def main(argv: list[str] | None = None) -> int:
    """Run them; return 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="cutover bench --quick")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these")
    args = parser.parse_args(argv)
    failed = []
    for name, command in commands(args.quick, args.only):
        print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        status = subprocess.call(command, cwd=HERE.parent)
        print(f"=== {name}: exit {status} after {time.monotonic() - started:.0f} s", flush=True)
        if status != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
