"""``cutover flags``: read and change the per-worker routing flags.

::

    cutover flags list
    cutover flags get WORKER
    cutover flags set WORKER --route R [--percent P] [--base R] [--shadow R --sample S]
        [--shadow-timeout S] [--min-comparisons N] [--max-mismatch-rate R]
        [--max-p95-ratio X] [--max-candidate-error-rate R] [--alpha A]
        [--hybrid-threshold N] [--hybrid-mode M] [--hybrid-candidates E,E]
        [--priority N] [--queue Q] [--fallback legacy|fail] [--retries N]
        [--retryable NAME ...] [--rollout STEPS] [--expect-version V] --reason TEXT [--actor A]
    cutover flags kill (WORKER | --all) --reason TEXT
    cutover flags unkill (WORKER | --all) --reason TEXT
    cutover flags history (WORKER | --all)

Every sub-command takes ``--json`` (machine-readable output; ``get --json`` prints the flag
record) and ``--flags-url`` (overrides ``CUTOVER_FLAGS_URL``). Every change needs a reason;
the actor defaults to ``user@host``. ``set`` changes only the options given and keeps the
others; it is a compare-and-set on the version it read (or on ``--expect-version``), so a
concurrent change is refused, never overwritten. Values are checked by the flag model
itself, so a refusal names the field, the value and what is allowed, and nothing is written.
"""

from __future__ import annotations

import argparse
import getpass
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cutover.cli.common import add_flags_url, print_help
from cutover.cli.output import print_json, print_table
from cutover.display import show_value
from flags.model import ENGINES, FALLBACKS, HYBRID_MODES, ROUTES, FlagRecord
from flags.store import AuditEntry, FlagStore, diff
from flags.stores import open_store
from ground.errors import FlagValidationError

SHADOW_OFF = "off"
PLAN_DEFAULT = "default"

SHADOW_THRESHOLD_OPTIONS = (
    ("--shadow-timeout", "S", "timeout_s", "seconds a shadow candidate may take (default 10)"),
    (
        "--min-comparisons",
        "N",
        "min_comparisons",
        "a floor of comparisons before ready (default 1000)",
    ),
    ("--max-mismatch-rate", "R", "max_mismatch_rate", "mismatch rate allowed (default 0.001)"),
    (
        "--max-p95-ratio",
        "X",
        "max_candidate_p95_ratio",
        "median per-call latency candidate / primary allowed (default 1.5)",
    ),
    (
        "--max-candidate-error-rate",
        "R",
        "max_candidate_error_rate",
        "candidate error (or timeout) rate allowed (default 0.001)",
    ),
    ("--alpha", "A", "alpha", "the verdict's error level, anytime (default 0.05)"),
)
"""``cutover flags set`` options for the shadow's verdict thresholds: option, metavar, the
``shadow.*`` field it sets, help."""


def default_actor() -> str:
    """``user@host`` of whoever runs the command."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


# --- the parser --------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add ``flags`` and its sub-commands to the ``cutover`` parser."""
    parser = subparsers.add_parser(
        "flags",
        help="read and change per-worker routing flags",
        description="Read and change the per-worker routing flags (see `cutover flags CMD -h`).",
    )
    parser.set_defaults(handler=lambda _args: print_help(parser))
    commands = parser.add_subparsers(dest="flags_command", metavar="SUBCOMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_flags_url(common)
    change = argparse.ArgumentParser(add_help=False)
    change.add_argument("--reason", required=True, metavar="TEXT", help="why (required)")
    change.add_argument("--actor", metavar="A", help="who (default: user@host)")

    cmd = commands.add_parser("list", parents=[common], help="every worker's flags")
    cmd.add_argument(
        "--check-engines",
        action="store_true",
        help="also start each engine the flags route to, with this environment, and name "
        "those that cannot start (exit status 1)",
    )
    cmd.set_defaults(handler=cmd_list)

    cmd = commands.add_parser("get", parents=[common], help="one worker's flags")
    cmd.add_argument("worker", metavar="WORKER")
    cmd.set_defaults(handler=cmd_get)

    cmd = commands.add_parser(
        "set",
        parents=[common, change],
        help="change one worker's flags",
        description="Change the options given; every other flag keeps its current value.",
    )
    cmd.add_argument("worker", metavar="WORKER")
    cmd.add_argument("--route", required=True, metavar="R", help=_one_of(ROUTES))
    cmd.add_argument("--percent", metavar="P", help="share of calls (0-100) that take --route")
    cmd.add_argument("--base", metavar="R", help=f"the rest of the calls: {_one_of(ENGINES)}")
    cmd.add_argument(
        "--shadow",
        metavar="R",
        help=f"shadow candidate: {_one_of(ENGINES)}, or {SHADOW_OFF!r} to stop shadowing",
    )
    cmd.add_argument("--sample", metavar="S", help="share of calls (0-1) shadowed")
    for option, metavar, field, what in SHADOW_THRESHOLD_OPTIONS:
        cmd.add_argument(option, metavar=metavar, dest=f"shadow_{field}", help=what)
    cmd.add_argument("--hybrid-threshold", metavar="N", help="hybrid: batches below N go small")
    cmd.add_argument("--hybrid-mode", metavar="M", help=f"hybrid: {_one_of(HYBRID_MODES)}")
    cmd.add_argument(
        "--hybrid-candidates",
        metavar="E,E",
        help="adaptive hybrid: the engines it chooses among (default: small and large)",
    )
    cmd.add_argument("--priority", metavar="N", help="0-9")
    cmd.add_argument("--queue", metavar="Q", help="queue name ('' for the engine's default)")
    cmd.add_argument("--fallback", metavar="F", help=_one_of(FALLBACKS))
    cmd.add_argument("--retries", metavar="N", help="retries of a failed call (0-100)")
    cmd.add_argument(
        "--retryable", metavar="NAME", nargs="+", help="exception class names to retry"
    )
    cmd.add_argument(
        "--rollout",
        metavar="STEPS",
        help="the plan of `cutover promote`: percentages after 0, ending at 100 (e.g. "
        f"5,25,50,100), or {PLAN_DEFAULT!r}",
    )
    cmd.add_argument(
        "--expect-version",
        metavar="V",
        help="refuse unless the stored version is V (default: the version just read)",
    )
    cmd.set_defaults(handler=cmd_set)

    for name, handler, verb in (
        ("kill", cmd_kill, "force legacy for"),
        ("unkill", cmd_unkill, "stop forcing legacy for"),
    ):
        cmd = commands.add_parser(
            name, parents=[common, change], help=f"{verb} one worker, or every worker with --all"
        )
        _worker_or_all(cmd)
        cmd.set_defaults(handler=handler)

    cmd = commands.add_parser(
        "history", parents=[common], help="who changed a worker's flags, when, why, and how"
    )
    _worker_or_all(cmd)
    cmd.add_argument("--limit", metavar="N", default="50", help="last N changes (default 50)")
    cmd.set_defaults(handler=cmd_history)


def _worker_or_all(cmd: argparse.ArgumentParser) -> None:
    target = cmd.add_mutually_exclusive_group(required=True)
    target.add_argument("worker", metavar="WORKER", nargs="?")
    target.add_argument("--all", action="store_true", help="every worker (the global switch)")


def _one_of(names: Sequence[str]) -> str:
    return " | ".join(names)


# --- the commands ------------------------------------------------------------------------------


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[FlagStore]:
    store = open_store(args.flags_url)
    try:
        yield store
    finally:
        store.close()


def cmd_list(args: argparse.Namespace) -> int:
    """``cutover flags list``."""
    with _opened(args) as store:
        snapshot = store.snapshot()
        url = store.display_url
    workers = dict(sorted(snapshot.records.items()))
    engines = _engine_problems(workers) if getattr(args, "check_engines", False) else None
    status = 1 if engines else 0
    if args.json:
        data: dict[str, Any] = {
            "store": url,
            "global_kill": snapshot.global_kill,
            "workers": {w: r.to_dict() for w, r in workers.items()},
            "invalid": dict(snapshot.problems),
        }
        if engines is not None:
            data["unavailable_engines"] = engines
        print_json(data)
        return status
    kill = "ON (every worker on legacy)" if snapshot.global_kill else "off"
    print(f"store: {url}    global kill: {kill}")
    if not workers:
        print("no worker has flags: every worker routes on legacy")
    else:
        rows = [
            [
                worker,
                record.route,
                _percent(record.percent),
                record.base,
                _hybrid(record),
                _shadow(record),
                "KILLED" if record.kill else "-",
                str(record.version),
                record.updated_at or "-",
                record.updated_by or "-",
            ]
            for worker, record in workers.items()
        ]
        headers = ["WORKER", "ROUTE", "PERCENT", "BASE", "HYBRID", "SHADOW", "KILL", "VERSION"]
        print_table([*headers, "UPDATED", "BY"], rows)
    for worker, problem in sorted(snapshot.problems.items()):
        print(f"invalid flags of {worker} (routes on legacy): {problem}")
    for unavailable in engines or []:
        print(
            f"engine {unavailable['engine']} cannot start here (flags of "
            f"{', '.join(unavailable['workers'])}): {unavailable['detail']}"
        )
    return status


def _engine_problems(workers: dict[str, FlagRecord]) -> list[dict[str, Any]]:
    """The engines the flags route to that cannot start with this environment."""
    from cutover.cli.engines_cmd import check_engines, engines_in_use

    used = engines_in_use(workers)
    reports = check_engines(list(used)) if used else []
    return [
        {"engine": report.engine, "workers": used[report.engine], "detail": report.detail}
        for report in reports
        if not report.healthy
    ]


def cmd_get(args: argparse.Namespace) -> int:
    """``cutover flags get WORKER``."""
    with _opened(args) as store:
        record = store.get(args.worker)
        url = store.display_url
    if args.json:
        print_json(record.to_dict())
        return 0
    print(f"worker: {args.worker}    store: {url}")
    if record.version == 0:
        print("(never configured: these are the defaults)")
    print_table(
        ["FIELD", "VALUE"], [[k, show_value(v)] for k, v in _flat(record.to_dict()).items()]
    )
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    """``cutover flags set WORKER --route R ... --reason TEXT``."""
    expected = (
        None if args.expect_version is None else _integer("expect-version", args.expect_version)
    )
    apply_options(FlagRecord(), args, check_only=True)  # refuse bad values before any I/O
    with _opened(args) as store:
        old, new = store.update(
            args.worker,
            lambda current: apply_options(current, args),
            actor=args.actor or default_actor(),
            reason=args.reason,
            action="set",
            expected_version=expected,
        )
    _print_change(args, old, new)
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    """``cutover flags kill (WORKER | --all) --reason TEXT``."""
    return _set_kill(args, kill=True)


def cmd_unkill(args: argparse.Namespace) -> int:
    """``cutover flags unkill (WORKER | --all) --reason TEXT``."""
    return _set_kill(args, kill=False)


def _set_kill(args: argparse.Namespace, *, kill: bool) -> int:
    actor = args.actor or default_actor()
    with _opened(args) as store:
        if args.all:
            before = store.get_global_kill()
            store.set_global_kill(kill, actor=actor, reason=args.reason)
            if args.json:
                print_json({"global_kill": kill})
            else:
                state = "ON: every worker routes on legacy" if kill else "off"
                print(f"global kill: {'ON' if before else 'off'} -> {state}")
            return 0
        old, new = store.update(
            args.worker,
            lambda current: current.changed(kill=kill),
            actor=actor,
            reason=args.reason,
            action="kill" if kill else "unkill",
        )
    _print_change(args, old, new)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """``cutover flags history (WORKER | --all)``."""
    limit = _integer("limit", args.limit)
    with _opened(args) as store:
        entries = store.history(None if args.all else args.worker, limit=limit)
    if args.json:
        print_json([entry.to_dict() for entry in entries])
        return 0
    if not entries:
        print("no changes recorded")
        return 0
    rows = [
        [
            entry.at,
            entry.worker,
            entry.action,
            str(entry.version),
            entry.actor,
            entry.reason,
            _summary(entry),
        ]
        for entry in entries
    ]
    print_table(["WHEN", "WORKER", "ACTION", "VERSION", "WHO", "WHY", "CHANGE (old -> new)"], rows)
    return 0


# --- applying options --------------------------------------------------------------------------


def apply_options(
    current: FlagRecord, args: argparse.Namespace, *, check_only: bool = False
) -> FlagRecord:
    """``current`` with the options of ``cutover flags set`` applied, validated by the model.

    With ``check_only`` a ``--sample`` without a shadow to apply it to is not refused yet
    (whether there is one depends on the stored record).
    """
    data = current.to_dict()
    data["route"] = args.route
    if args.percent is not None:
        data["percent"] = _number("percent", args.percent)
    if args.base is not None:
        data["base"] = args.base
    if args.shadow is not None:
        if args.shadow == SHADOW_OFF:
            data["shadow"] = None
        else:
            data["shadow"] = {**(data["shadow"] or {}), "route": args.shadow}
    shadow_settings = {"sample": args.sample} | {
        field: getattr(args, f"shadow_{field}") for _, _, field, _ in SHADOW_THRESHOLD_OPTIONS
    }
    for field, text in shadow_settings.items():
        if text is None:
            continue
        value = _number(f"shadow.{field}", text)
        if data["shadow"] is not None:
            data["shadow"][field] = value
        elif not check_only:
            raise FlagValidationError(
                f"shadow.{field}", value, "a setting of a shadow: give --shadow ENGINE too"
            )
    if args.hybrid_threshold is not None:
        data["hybrid"]["threshold"] = _integer("hybrid.threshold", args.hybrid_threshold)
    if args.hybrid_mode is not None:
        data["hybrid"]["mode"] = args.hybrid_mode
    if args.hybrid_candidates is not None:
        data["hybrid"]["candidates"] = [
            engine.strip() for engine in args.hybrid_candidates.split(",") if engine.strip()
        ]
    if args.priority is not None:
        data["priority"] = _integer("priority", args.priority)
    if args.queue is not None:
        data["queue"] = args.queue or None
    if args.fallback is not None:
        data["fallback"] = args.fallback
    if args.retries is not None:
        data["retries"]["max"] = _integer("retries.max", args.retries)
    if args.retryable is not None:
        data["retries"]["retryable"] = list(args.retryable)
    if args.rollout is not None:
        steps = [] if args.rollout == PLAN_DEFAULT else args.rollout.split(",")
        data["rollout"] = [_number(f"rollout[{i}]", step.strip()) for i, step in enumerate(steps)]
    return FlagRecord.from_dict(data)


def _integer(field: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise FlagValidationError(field, text, "an integer") from None


def _number(field: str, text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise FlagValidationError(field, text, "a number") from None


# --- output ------------------------------------------------------------------------------------


def _print_change(args: argparse.Namespace, old: FlagRecord, new: FlagRecord) -> None:
    if args.json:
        print_json(new.to_dict())
        return
    print(f"{args.worker}: version {old.version} -> {new.version} ({new.updated_by}: {new.reason})")
    changes = diff(old.to_dict(), new.to_dict())
    if not changes:
        print("  no flag changed")
    for name, (before, after) in changes.items():
        print(f"  {name}: {show_value(before)} -> {show_value(after)}")


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _percent(value: float) -> str:
    return f"{value:g}%"


def _hybrid(record: FlagRecord) -> str:
    if "hybrid" not in (record.route, record.base):
        return "-"
    h = record.hybrid
    if h.mode == "adaptive":
        return f"adaptive {'/'.join(h.adaptive_candidates)} explore {h.explore:g}"
    return f"<{h.threshold} {h.small}, else {h.large}"


def _shadow(record: FlagRecord) -> str:
    if record.shadow is None:
        return "-"
    return f"{record.shadow.route} @ {record.shadow.sample:g}"


def _summary(entry: AuditEntry) -> str:
    changes = entry.changes()
    if not changes:
        return "no flag changed"
    return "; ".join(
        f"{name} {show_value(old)} -> {show_value(new)}" for name, (old, new) in changes.items()
    )


__all__ = [
    "apply_options",
    "cmd_get",
    "cmd_history",
    "cmd_kill",
    "cmd_list",
    "cmd_set",
    "cmd_unkill",
    "default_actor",
    "register",
]
