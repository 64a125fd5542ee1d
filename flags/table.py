"""The in-process flag table: what the hot path reads, kept live by a background thread.

A :class:`FlagTable` holds one immutable :class:`TableState` (every worker's record, the
global kill switch, whether it is stale). Deciding a route reads ``table.state`` — one
attribute, no lock, no I/O — and, for most workers, the decision the state already made
for them (``TableState.decisions``: swapping in a new state is what forgets it). A daemon
thread watches the store (Redis pub/sub, or the file's ``stat`` every 0.2 s) and swaps in a
new state after every change.

Fail-safe by construction:

- at start-up, an unreachable store means the last-known-good snapshot saved locally
  (``$CUTOVER_HOME/flags.snapshot.json``, only if it was taken from the same store URL),
  else the defaults (``legacy`` everywhere); either way ``stale`` is true;
- mid-run, a lost store keeps the last state, marks it stale, logs once, and reconnects with
  exponential backoff (with jitter) until it is back; an attempt that timed out (a
  partition drops packets silently) is retried at once, as it waited already, so a change
  made during a partition is applied within a second of the heal;
- nothing here raises into a caller: every public method of a table is total.

Forks: a child process inherits the parent's state (correct up to the fork) but not its
thread; an ``os.register_at_fork`` hook restarts the watcher in every child, which re-reads
the store at once. This covers ``multiprocessing`` with ``fork`` and Celery's prefork pool.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from flags.model import DEFAULT_RECORD, FlagRecord, utc_now
from flags.store import FlagStore, parse_all
from flags.stores import configured_flags_url, cutover_home, open_store
from ground.logs import get_logger, mask_url

SNAPSHOT_FORMAT = 1
INITIAL_BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0
SLOW_FAILURE_S = 0.3
"""A watch attempt that failed after this long timed out (no refusal): no backoff after it."""
THREAD_NAME = "cutover-flags-watch"

Source = Literal["store", "snapshot", "defaults", "static"]


@dataclass(frozen=True, slots=True)
class TableState:
    """One consistent view of the flags. Replaced whole, never mutated.

    ``source`` says where it came from: the store, the local last-known-good snapshot, the
    built-in defaults, or fixed records (:meth:`FlagTable.static`). ``stale`` is true when the
    store could not be read at the last try.
    """

    records: Mapping[str, FlagRecord]
    global_kill: bool
    stale: bool
    revision: int
    source: Source
    decisions: dict[str, Any] = field(init=False, default_factory=dict, compare=False, repr=False)
    """Route decisions that do not depend on the call, made once per worker by
    :func:`flags.routing.decide` for this state (a new state starts empty)."""


def default_snapshot_path() -> Path:
    """Where the last-known-good snapshot is kept: ``$CUTOVER_HOME/flags.snapshot.json``."""
    return cutover_home() / "flags.snapshot.json"


_live_tables: weakref.WeakSet[FlagTable] = weakref.WeakSet()


class FlagTable:
    """Every worker's flags, in memory, kept live (see the module docstring).

    ``store`` is a :class:`~flags.store.FlagStore`, a URL, or ``None`` for
    ``$CUTOVER_FLAGS_URL`` / the default file store. ``watch=False`` loads once and never
    refreshes by itself (call :meth:`refresh`).
    """

    _store: FlagStore | None
    _thread: threading.Thread | None

    def __init__(
        self,
        store: FlagStore | str | None = None,
        *,
        snapshot_path: str | os.PathLike[str] | None = None,
        watch: bool = True,
        max_backoff_s: float = MAX_BACKOFF_S,
    ) -> None:
        self._init_fields(snapshot_path, watch=watch, max_backoff_s=max_backoff_s)
        error: Exception | None = None
        try:
            opened = store if isinstance(store, FlagStore) else open_store(store)
            self._store = opened
            self.url = opened.display_url
        except Exception as exc:  # noqa: BLE001  (a bad URL must not take a worker down)
            error = exc
            self.url = mask_url(configured_flags_url(store if isinstance(store, str) else None))
        self._load_initial(error)
        _live_tables.add(self)
        if self._watching and self._store is not None:
            self._start_watcher()

    def _init_fields(
        self, snapshot_path: str | os.PathLike[str] | None, *, watch: bool, max_backoff_s: float
    ) -> None:
        self._log = get_logger("cutover.flags.table")
        self.state = TableState({}, False, True, -1, "defaults")
        self.snapshot_path = Path(snapshot_path) if snapshot_path else default_snapshot_path()
        self.max_backoff_s = max_backoff_s
        self.url = ""
        self._store = None
        self._watching = watch
        self._closed = False
        self._outage_logged = False
        self._problems: dict[str, str] = {}
        self._reloads = 0
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._listeners: list[Callable[[TableState, TableState], None]] = []

    @classmethod
    def static(
        cls, records: Mapping[str, FlagRecord] | None = None, *, global_kill: bool = False
    ) -> FlagTable:
        """A table of fixed flags, following no store (for tests, tools and benchmarks)."""
        table = cls.__new__(cls)
        table._init_fields(None, watch=False, max_backoff_s=MAX_BACKOFF_S)
        table.url = "static:"
        table.state = TableState(dict(records or {}), global_kill, False, 0, "static")
        return table

    # --- what callers read -------------------------------------------------------------------

    @property
    def store(self) -> FlagStore | None:
        """The store this table follows (``None`` if it could not even be opened)."""
        return self._store

    @property
    def stale(self) -> bool:
        """True when the last attempt to read the store failed."""
        return self.state.stale

    @property
    def global_kill(self) -> bool:
        """True when every worker is forced onto ``legacy``."""
        return self.state.global_kill

    @property
    def revision(self) -> int:
        """The store revision of the current state (-1: never read from the store)."""
        return self.state.revision

    def record(self, worker_id: str) -> FlagRecord:
        """The flags of ``worker_id`` (the defaults for an unknown worker). Never raises."""
        try:
            return self.state.records.get(worker_id, DEFAULT_RECORD)
        except TypeError:  # an unhashable id
            return DEFAULT_RECORD

    def workers(self) -> dict[str, FlagRecord]:
        """A copy of every worker's flags."""
        return dict(self.state.records)

    def subscribe(self, listener: Callable[[TableState, TableState], None]) -> Callable[[], None]:
        """Call ``listener(previous, current)`` after every new state: a read of the store
        (a change, or the store back after an outage) and a turn to stale. Returns the
        function that unsubscribes it.

        Listeners run on the thread that read the store (the watcher's, usually): they must
        be quick, and what they raise is logged, never propagated.
        """
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def _notify(self, previous: TableState, current: TableState) -> None:
        for listener in list(self._listeners):
            try:
                listener(previous, current)
            except Exception:  # noqa: BLE001  (a listener never breaks the table)
                self._log.exception("flag table listener failed", flags_url=self.url)

    def refresh(self) -> bool:
        """Re-read the store now; False (and ``stale``) if that failed. Never raises."""
        if self._store is None:
            return False
        try:
            self._reload()
        except Exception as exc:  # noqa: BLE001  (reported through stale + one log line)
            self._mark_stale(exc)
            return False
        return True

    def close(self) -> None:
        """Stop following the store and release it; the last state stays readable."""
        self._closed = True
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        self._thread = None
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()

    def __repr__(self) -> str:
        state = self.state
        return (
            f"<FlagTable {self.url} workers={len(state.records)} revision={state.revision} "
            f"source={state.source} stale={state.stale}>"
        )

    # --- loading -----------------------------------------------------------------------------

    def _load_initial(self, error: Exception | None) -> None:
        """Read the store; failing that, the snapshot, else the defaults. One log line."""
        if self._store is not None:
            try:
                self._reload()
                return
            except Exception as exc:  # noqa: BLE001  (reported below, once)
                error = exc
        snapshot = self._read_snapshot()
        self.state = snapshot or replace(self.state, stale=True)
        self._outage_logged = True  # the watcher's failed retries add no more lines
        self._log.warning(
            "flags store unreachable at start-up; routing on "
            + ("the last known good snapshot" if snapshot else "the defaults (legacy)"),
            flags_url=self.url,
            error=str(error),
            snapshot=str(self.snapshot_path) if snapshot else None,
            flag_version=self.state.revision,
        )

    def _reload(self) -> None:
        """Read the whole store and swap in a new state. Raises when the store fails."""
        assert self._store is not None
        with self._reload_lock:
            snapshot = self._store.snapshot()
            previous = self.state
            self.state = TableState(
                records=dict(snapshot.records),
                global_kill=snapshot.global_kill,
                stale=False,
                revision=snapshot.revision,
                source="store",
            )
        self._report_problems(snapshot.problems)
        self._notify(previous, self.state)
        if previous.stale and self._outage_logged:
            self._log.info("flags store reachable again", flags_url=self.url)
        self._outage_logged = False
        if previous.source != "store" or (
            previous.records != self.state.records or previous.global_kill != snapshot.global_kill
        ):
            self._save_snapshot(self.state)

    def _mark_stale(self, error: BaseException) -> None:
        previous = self.state
        self.state = replace(previous, stale=True)
        if not previous.stale:
            self._notify(previous, self.state)
        if not self._outage_logged:
            self._outage_logged = True
            self._log.warning(
                "flags store unreachable; keeping the last flags and reconnecting",
                flags_url=self.url,
                error=str(error),
                flag_version=self.state.revision,
            )

    def _report_problems(self, problems: Mapping[str, str]) -> None:
        for worker_id, problem in problems.items():
            if self._problems.get(worker_id) != problem:
                self._log.error(
                    "stored flags invalid; this worker routes on defaults",
                    worker=worker_id,
                    route="legacy",
                    problem=problem,
                )
        self._problems = dict(problems)

    # --- the last-known-good snapshot ---------------------------------------------------------

    def _save_snapshot(self, state: TableState) -> None:
        document = {
            "format": SNAPSHOT_FORMAT,
            "url": self.url,
            "saved_at": utc_now(),
            "revision": state.revision,
            "global_kill": state.global_kill,
            "workers": {w: r.to_dict() for w, r in state.records.items()},
        }
        path = self.snapshot_path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(document, out, sort_keys=True)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            self._log.warning("cannot save the flags snapshot", snapshot=str(path), error=str(exc))

    def _read_snapshot(self) -> TableState | None:
        try:
            document: Any = json.loads(self.snapshot_path.read_text(encoding="utf-8"))
            if document.get("format") != SNAPSHOT_FORMAT:
                return None
            if document.get("url") != self.url:
                self._log.info(
                    "flags snapshot belongs to another store; not used",
                    snapshot=str(self.snapshot_path),
                    flags_url=self.url,
                )
                return None
            records, problems = parse_all(document["workers"])
            self._report_problems(problems)
            return TableState(
                records=records,
                global_kill=document["global_kill"] is True,
                stale=True,
                revision=int(document["revision"]),
                source="snapshot",
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            self._log.warning(
                "flags snapshot unreadable; not used",
                snapshot=str(self.snapshot_path),
                error=str(exc),
            )
            return None

    # --- the watcher thread -------------------------------------------------------------------

    def _start_watcher(self) -> None:
        stop = self._stop
        self._thread = threading.Thread(
            target=self._watch_forever, args=(stop,), name=THREAD_NAME, daemon=True
        )
        self._thread.start()

    def _watch_forever(self, stop: threading.Event) -> None:
        store = self._store
        assert store is not None
        backoff = INITIAL_BACKOFF_S
        while not stop.is_set():
            reloads_before = self._reloads
            attempt_started = time.monotonic()
            try:
                store.watch(self._on_change, stop)
            except Exception as exc:  # noqa: BLE001  (any failure: stale, then reconnect)
                self._mark_stale(exc)
            if stop.is_set():
                return
            if self._reloads != reloads_before:
                backoff = INITIAL_BACKOFF_S  # it was up for a while: retry promptly
            if time.monotonic() - attempt_started >= SLOW_FAILURE_S:
                # It timed out (a partition drops packets silently): the attempt was its own
                # wait. Try again at once, so the table catches up soon after the heal.
                stop.wait(INITIAL_BACKOFF_S * random.uniform(0.5, 1.0))
                continue
            stop.wait(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, self.max_backoff_s)

    def _on_change(self) -> None:
        self._reload()
        self._reloads += 1

    def _after_fork_in_child(self) -> None:
        """In a forked child: fresh locks, and a watcher thread of its own if the parent had one."""
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if self._watching and self._store is not None and not self._closed:
            self._start_watcher()


def _restart_tables_after_fork() -> None:
    global _default_lock
    _default_lock = threading.Lock()
    for table in list(_live_tables):
        with contextlib.suppress(Exception):
            table._after_fork_in_child()


os.register_at_fork(after_in_child=_restart_tables_after_fork)


# --- the process-wide default table ------------------------------------------------------------

_default_table: FlagTable | None = None
_default_lock = threading.Lock()


def get_table() -> FlagTable:
    """The process-wide table following ``$CUTOVER_FLAGS_URL``, created on first use."""
    global _default_table
    table = _default_table
    if table is None:
        with _default_lock:
            if _default_table is None:
                _default_table = FlagTable()
            table = _default_table
    return table


def reset_table() -> None:
    """Close and forget the process-wide table (the next :func:`get_table` makes a new one)."""
    global _default_table
    with _default_lock:
        table, _default_table = _default_table, None
    if table is not None:
        table.close()


__all__ = [
    "FlagTable",
    "TableState",
    "default_snapshot_path",
    "get_table",
    "reset_table",
]
