"""The Celery engine's own promises, against real prefork workers.

The equivalence suite proves it returns what legacy returns; these tests prove what only a
distributed engine must: nothing is sent when a call is refused, a refused message never
runs, retries and the dead-letter store, a killed worker child loses nothing, priorities
are honoured on Redis and RabbitMQ, and awaiting never blocks the caller's event loop.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from structlog.testing import capture_logs

from adapters.base import CallOptions, ExecutionEngine, RetryPolicy
from adapters.celery.dlq import DeadLetterStore
from adapters.celery.engine import CeleryEngine
from adapters.celery.settings import CelerySettings
from adapters.celery.tasks import RUN_BATCH
from adapters.celery.worker_process import CeleryWorkerProcess
from cutover.errors import (
    ConfigurationError,
    EngineTimeoutError,
    EngineUnavailableError,
    NotPortableError,
    PoisonBatchError,
    SerializationError,
)
from tests.adapters import celery_tasks, equiv_tasks
from tests.support.services import (
    TEST_AMQP_URL,
    TEST_BACKEND_URL,
    TEST_BROKER_URL,
    celery_worker,
)

pytestmark = pytest.mark.celery

RETRY = RetryPolicy(max_retries=3, backoff_s=0.05, retryable=("FlakyError",))


@pytest.fixture
def backend() -> Iterator[redis.Redis]:
    """A client of the result backend's Redis (where DLQ and test coordination keys live)."""
    client = redis.Redis.from_url(TEST_BACKEND_URL)
    yield client
    client.close()


def unique(prefix: str) -> str:
    """A key or queue name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def waiting(broker: redis.Redis, queue: str) -> int:
    """Messages waiting in ``queue`` on the Redis broker, at every priority: kombu keeps one
    list per priority step (``queue:4``), so ``LLEN queue`` alone reads 0 even when some were
    sent."""
    return sum(int(broker.llen(key)) for key in broker.keys(f"{queue}*"))


async def test_non_portable_function_is_refused_before_anything_is_sent(
    celery_engine: ExecutionEngine,
) -> None:
    """A partial cannot be named by reference: refused with its name, and no message sent."""
    queue = unique("cutover.nobody")
    broker = redis.Redis.from_url(TEST_BROKER_URL)
    func = functools.partial(equiv_tasks.double)
    with pytest.raises(NotPortableError) as refused:
        await celery_engine.map_batches([1, 2, 3], func, 1, 1, CallOptions(queue=queue))
    assert "double" in str(refused.value) or "partial" in str(refused.value)
    assert 0 == waiting(broker, queue)
    broker.close()


async def test_item_the_serializer_cannot_carry_is_refused_naming_its_type(
    celery_engine: ExecutionEngine,
) -> None:
    """An ``object()`` item: ``SerializationError`` naming the type, nothing sent."""
    queue = unique("cutover.nobody")
    broker = redis.Redis.from_url(TEST_BROKER_URL)
    with pytest.raises(SerializationError, match="object"):
        await celery_engine.map_batches(
            [1, object()], equiv_tasks.identity, 5, 1, CallOptions(queue=queue)
        )
    assert 0 == waiting(broker, queue)
    broker.close()


async def test_refused_item_in_a_later_batch_of_the_first_window_sends_no_batch(
    celery_engine: CeleryEngine, backend: redis.Redis
) -> None:
    """All or nothing: the 3rd batch of the first window holds an ``object()``.

    Before, batches 1 and 2 were published before the 3rd was refused, and ran on the worker
    with nobody awaiting them. Now the call raises ``SerializationError`` and no batch runs:
    the task records every item it runs in a Redis list, and a later call on the same queue
    (a barrier, sent after the refused one) is all the list ever holds.
    """
    key = unique("first-window")
    items: list[Any] = [(key, value) for value in range(8)]
    items[5] = (key, object())  # batch #2 (items 4-5) of a 4-batch window
    options = CallOptions(worker_id="equiv")
    with pytest.raises(SerializationError, match="object"):
        await celery_engine.map_batches(items, celery_tasks.record_order, 2, 4, options)
    barrier = [(key, 100), (key, 101)]
    assert [100, 101] == await celery_engine.map_batches(
        barrier, celery_tasks.record_order, 2, 1, options
    )
    assert [b"100", b"101"] == backend.lrange(key, 0, -1)
    backend.delete(key)


async def test_refused_item_in_the_first_window_leaves_nothing_on_the_broker(
    celery_engine: CeleryEngine,
) -> None:
    """The same refusal on a queue nobody consumes: not one message of the window is on the
    broker (at any priority), where before the first two batches were."""
    queue = unique("cutover.nobody")
    broker = redis.Redis.from_url(TEST_BROKER_URL)
    items: list[Any] = [1, 2, 3, 4, object(), 6]
    with pytest.raises(SerializationError, match="object"):
        await celery_engine.map_batches(items, equiv_tasks.identity, 2, 3, CallOptions(queue=queue))
    assert 0 == waiting(broker, queue)
    broker.close()


async def test_result_the_serializer_cannot_carry_fails_the_call_clearly(
    celery_engine: ExecutionEngine,
) -> None:
    """A task returning ``object()``: the call fails with an error that names the type."""
    with pytest.raises(Exception, match="object") as raised:
        await celery_engine.map_batches(
            [1], celery_tasks.returns_unsupported, 1, 1, CallOptions(worker_id="equiv")
        )
    assert "SerializationError" in type(raised.value).__name__ or "object" in str(raised.value)


async def test_message_naming_a_function_outside_the_allow_list_never_runs(
    celery_engine: CeleryEngine, celery_redis_worker: CeleryWorkerProcess
) -> None:
    """A forged ``this:main`` message is refused, dead-lettered and ``this`` never imported.

    Importing the ``this`` module prints the Zen of Python: it must not appear in the log.
    """
    store = DeadLetterStore(TEST_BACKEND_URL)
    before = store.count()
    result = celery_engine.app.send_task(
        RUN_BATCH,
        args=("this:main", [1], {"worker": "forged", "call_id": "forged", "retry": {}}),
        queue="cutover.equiv",
    )
    with pytest.raises(Exception, match="this") as raised:
        await asyncio.to_thread(result.get, timeout=30, propagate=True)
    assert "BatchFailed" == type(raised.value).__name__
    assert before + 1 == store.count()
    newest = store.list(1)[0]
    assert ("refused", "this:main") == (newest.reason, newest.reference)
    assert "Beautiful is better than ugly" not in celery_redis_worker.log_text()
    store.close()


async def test_retryable_exception_is_retried_until_it_succeeds(
    celery_engine: ExecutionEngine, backend: redis.Redis
) -> None:
    """``FlakyError`` twice, then success: the call returns the complete result."""
    key = unique("flaky")
    options = CallOptions(worker_id="equiv", retry=RETRY)
    result = await celery_engine.map_batches([(key, 2, 7)], celery_tasks.flaky, 1, 1, options)
    assert [7] == result
    assert 3 == int(backend.get(key) or 0)


async def test_non_retryable_exception_is_not_retried(
    celery_engine: ExecutionEngine, backend: redis.Redis
) -> None:
    """``PermanentError`` is not in the retryable list: one attempt, its own type raised."""
    key = unique("permanent")
    options = CallOptions(worker_id="equiv", retry=RETRY)
    with pytest.raises(celery_tasks.PermanentError, match="cannot succeed"):
        await celery_engine.map_batches([(key, 1)], celery_tasks.permanent, 1, 1, options)
    assert 1 == int(backend.get(key) or 0)


async def test_exhausted_retries_dead_letter_the_batch_and_raise(
    celery_engine: ExecutionEngine, backend: redis.Redis
) -> None:
    """Out of retries: the batch is in the dead-letter store and the caller gets the error."""
    key = unique("exhausted")
    store = DeadLetterStore(TEST_BACKEND_URL)
    options = CallOptions(
        worker_id="equiv", call_id=key, retry=RetryPolicy(1, 0.01, ("FlakyError",))
    )
    with pytest.raises(celery_tasks.FlakyError, match="attempt 2"):
        await celery_engine.map_batches([(key, 5, 1)], celery_tasks.flaky, 1, 1, options)
    letters = [d for d in store.list(20) if d.options.get("call_id") == key]
    assert 1 == len(letters)
    assert ("retries-exhausted", [(key, 5, 1)]) == (letters[0].reason, letters[0].items)
    assert "FlakyError" == letters[0].exc_type
    store.close()


async def test_dead_letter_can_be_replayed(celery_engine: CeleryEngine) -> None:
    """A replayed dead letter runs again on its queue and leaves the store."""
    from adapters.celery.replay import replay_dead_letter

    key = unique("replay")
    store = DeadLetterStore(TEST_BACKEND_URL)
    options = CallOptions(
        worker_id="equiv", call_id=key, retry=RetryPolicy(0, 0.01, ("FlakyError",))
    )
    with pytest.raises(celery_tasks.FlakyError):
        await celery_engine.map_batches([(key, 1, 99)], celery_tasks.flaky, 1, 1, options)
    letter = next(d for d in store.list(20) if d.options.get("call_id") == key)
    async_result = replay_dead_letter(celery_engine.app, store, letter.entry_id)
    assert [99] == await asyncio.to_thread(async_result.get, timeout=30)
    assert store.get(letter.entry_id) is None
    store.close()


@pytest.fixture(
    params=[
        pytest.param(("celery_engine", "celery_redis_worker"), id="redis"),
        pytest.param(("celery_amqp_engine", "celery_amqp_worker"), id="amqp"),
    ]
)
def engine_and_worker(
    request: pytest.FixtureRequest,
) -> tuple[ExecutionEngine, CeleryWorkerProcess]:
    """The session's Celery engine and its worker, on each broker in turn."""
    engine_name, worker_name = request.param
    return request.getfixturevalue(engine_name), request.getfixturevalue(worker_name)


@pytest.mark.faults
async def test_killed_worker_child_loses_nothing(
    engine_and_worker: tuple[ExecutionEngine, CeleryWorkerProcess],
) -> None:
    """SIGKILL of the child running a batch: the batch is redelivered, the result complete.

    The child kills itself mid-batch with a real SIGKILL; the pool's main process sees it
    die and requeues the message (``task_reject_on_worker_lost``), on Redis and RabbitMQ.
    """
    engine, worker = engine_and_worker
    key = unique("die")
    children_before = set(worker.child_pids())
    items = [(key, i) for i in range(6)]
    result = await engine.map_batches(
        items, celery_tasks.die_once, 3, 2, CallOptions(worker_id="equiv", timeout_s=60)
    )
    assert [i * 10 for i in range(6)] == result
    assert children_before != set(worker.child_pids())


async def test_worker_runs_every_batch_on_its_persistent_loop(
    celery_engine: ExecutionEngine,
) -> None:
    """Many batches on 2 processes see at most 2 distinct (pid, loop) pairs, one per pid."""
    pairs = await celery_engine.map_batches(
        list(range(40)), celery_tasks.loop_identity, 1, 2, CallOptions(worker_id="equiv")
    )
    loops_per_pid: dict[int, set[int]] = {}
    for pid, loop_id in pairs:
        loops_per_pid.setdefault(pid, set()).add(loop_id)
    assert all(1 == len(loops) for loops in loops_per_pid.values())


async def test_awaiting_results_never_blocks_the_event_loop(
    celery_engine: ExecutionEngine,
) -> None:
    """A ticker keeps ticking every ~10 ms while a 0.5 s Celery call is awaited."""
    gaps: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    stop = asyncio.Event()
    ticking = asyncio.create_task(ticker(stop))
    await celery_engine.map_batches(
        [0.5, 0.5, 0.5, 0.5], celery_tasks.slow, 1, 4, CallOptions(worker_id="equiv")
    )
    stop.set()
    await ticking
    assert len(gaps) >= 30
    assert max(gaps) < 0.1


async def test_call_goes_to_the_workers_own_queue_and_times_out_clearly(
    celery_engine: ExecutionEngine,
) -> None:
    """No worker consumes ``cutover.<id>``: the message waits there; the call times out."""
    worker_id = unique("unserved")
    broker = redis.Redis.from_url(TEST_BROKER_URL)
    with pytest.raises(EngineTimeoutError, match=f"cutover.{worker_id}"):
        await celery_engine.map_batches(
            [1], equiv_tasks.double, 1, 1, CallOptions(worker_id=worker_id, timeout_s=0.5)
        )
    assert 1 == sum(broker.llen(key) for key in broker.keys(f"cutover.{worker_id}*"))
    broker.close()


async def test_unreachable_broker_is_reported_before_anything_is_sent() -> None:
    """A dead port: ``EngineUnavailableError`` quickly, so the shim may fall back."""
    engine = CeleryEngine(
        CelerySettings(broker_url="redis://127.0.0.1:1/0", result_backend=TEST_BACKEND_URL)
    )
    started = time.monotonic()
    with pytest.raises(EngineUnavailableError, match=r"127\.0\.0\.1:1"):
        await engine.map_batches([1], equiv_tasks.double, 1, 1)
    assert time.monotonic() - started < 10


def test_settings_refuse_a_visibility_timeout_shorter_than_the_time_limit() -> None:
    """Redelivery of a running batch would run it twice: refused with both numbers."""
    settings = CelerySettings(task_time_limit=300, visibility_timeout=100)
    with pytest.raises(ConfigurationError, match=r"100s.*300s"):
        settings.check()


def test_settings_refuse_a_deadline_shorter_than_a_lost_batchs_way_back() -> None:
    """On a Redis broker a batch whose worker died is back only after the visibility
    timeout, one restore sweep and its run: a caller giving up earlier threw away calls that
    were about to complete. Refused, naming the minimum; the defaults are consistent."""
    settings = CelerySettings(task_time_limit=20, visibility_timeout=100, result_timeout=80)
    with pytest.raises(ConfigurationError, match=r"CUTOVER_RESULT_TIMEOUT \(80s\).*at least 125"):
        settings.check()
    CelerySettings().check()
    assert CelerySettings().result_timeout >= CelerySettings().redelivery_bound_s
    amqp = CelerySettings(broker_url="amqp://guest:guest@rabbit//", result_timeout=80)
    amqp.check()  # RabbitMQ redelivers on the dead worker's connection, not a timeout


def test_worker_connections_time_out_instead_of_hanging_on_a_silent_network() -> None:
    """A partition drops packets silently: broker and backend sockets of a worker have
    timeouts (half the time limit, 2..10 s), so a blocked store fails and is logged."""
    config = CelerySettings(
        task_time_limit=6, visibility_timeout=8, result_timeout=30
    ).celery_config()
    transport = config["broker_transport_options"]
    assert (3.0, 3.0, True) == (
        transport["socket_timeout"],
        transport["socket_connect_timeout"],
        transport["socket_keepalive"],
    )
    assert (3.0, True) == (config["redis_socket_timeout"], config["redis_socket_keepalive"])
    assert 10.0 == CelerySettings().celery_config()["redis_socket_timeout"]


def test_settings_refuse_a_result_backend_that_cannot_be_awaited() -> None:
    """``rpc://`` cannot be awaited through pub/sub: refused, and a password never shown."""
    settings = CelerySettings(result_backend="rpc://user:hunter2@host//")
    with pytest.raises(ConfigurationError) as refused:
        settings.check()
    assert "hunter2" not in str(refused.value)


def test_settings_accept_tls_urls() -> None:
    """``rediss://`` and ``amqps://`` are production URLs: accepted."""
    CelerySettings(
        broker_url="amqps://u:p@rabbit:5671//", result_backend="rediss://:p@redis:6380/1"
    ).check()
    config = CelerySettings(broker_url="amqps://u:p@rabbit:5671//").celery_config()
    assert ["cutover-json", "application/x-cutover-json"] == config["accept_content"]
    assert config["task_acks_late"]
    assert config["task_reject_on_worker_lost"]


@pytest.mark.parametrize("broker", ["redis", "amqp"])
async def test_priorities_are_honoured(broker: str, tmp_path: Path, backend: redis.Redis) -> None:
    """Messages queued while no worker runs are consumed highest priority first."""
    from adapters.codec import register_with_kombu

    broker_url = {"redis": TEST_BROKER_URL, "amqp": TEST_AMQP_URL}[broker]
    worker_id = unique("prio")
    key = unique("order")
    engine = CeleryEngine(CelerySettings(broker_url=broker_url, result_backend=TEST_BACKEND_URL))
    register_with_kombu()
    await engine.start()
    calls = []
    for priority, value in [(1, 1), (1, 2), (9, 91), (5, 51), (9, 92)]:
        options = CallOptions(worker_id=worker_id, priority=priority, timeout_s=60)
        calls.append(
            asyncio.create_task(
                engine.map_batches([(key, value)], celery_tasks.record_order, 1, 1, options)
            )
        )
        await asyncio.sleep(0.05)
    worker = celery_worker(
        broker_url, TEST_BACKEND_URL, (f"cutover.{worker_id}",), f"prio-{broker}", concurrency=1
    )
    await asyncio.to_thread(worker.start, tmp_path)
    try:
        await asyncio.wait_for(asyncio.gather(*calls), 90)
    finally:
        worker.stop()
        await engine.close()
    order = [int(v) for v in backend.lrange(key, 0, -1)]
    assert [91, 92, 51, 1, 2] == order


def test_worker_command_wraps_celery_worker(capsys: pytest.CaptureFixture[str]) -> None:
    """``cutover worker celery --dry-run`` prints the real ``celery worker`` command."""
    from cutover.cli import main

    assert 0 == main(["worker", "celery", "--for-worker", "billing", "-c", "3", "--dry-run"])
    printed = capsys.readouterr().out
    assert "-A cutover.celery_app worker" in printed
    assert "--queues cutover.billing" in printed
    assert "--concurrency 3" in printed
    assert "--task-events" not in printed


def test_worker_command_sends_task_events_only_when_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Task events are off by default (they cost CPU per batch); ``--events`` turns them on."""
    from cutover.cli import main

    assert 0 == main(["worker", "celery", "--events", "--dry-run"])
    assert "--task-events" in capsys.readouterr().out


def test_worker_command_drops_the_heartbeat_unless_events_are_wanted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The heartbeat is a blocking publish from the worker's main loop: through a silent
    partition it froze time limits and logging (tests/multihost). Kept for Flower only."""
    from cutover.cli import main

    assert 0 == main(["worker", "celery", "--dry-run"])
    assert "--without-heartbeat" in capsys.readouterr().out
    assert 0 == main(["worker", "celery", "--events", "--dry-run"])
    assert "--without-heartbeat" not in capsys.readouterr().out


def test_client_app_does_not_subscribe_per_task() -> None:
    """The app's result backend skips Celery's per-task SUBSCRIBE; workers store as usual."""
    from adapters.celery.app import create_app
    from adapters.celery.backend import ListenerRedisBackend, redis_url
    from adapters.celery.settings import CelerySettings

    app = create_app(CelerySettings(result_backend="redis://127.0.0.1:6379/11"))
    assert isinstance(app.backend, ListenerRedisBackend)
    assert "redis://127.0.0.1:6379/11" == redis_url(app.conf.result_backend)
    assert app.backend.on_task_call(None, "some-task-id") is None
    assert set() == set(app.backend.result_consumer.subscribed_to)
    assert app.conf.worker_send_task_events is False
    assert app.conf.result_extended is False


@pytest.mark.faults
async def test_a_batch_that_kills_its_worker_every_time_is_dead_lettered_as_poison(
    celery_engine: CeleryEngine, celery_redis_worker: CeleryWorkerProcess
) -> None:
    """Without a limit, Redis would redeliver it forever: after 3 deliveries it is refused,
    dead-lettered with reason ``poison`` and the caller gets a clear error."""
    key = unique("poison")
    store = DeadLetterStore(TEST_BACKEND_URL)
    options = CallOptions(worker_id="equiv", call_id=key, timeout_s=120)
    with pytest.raises(PoisonBatchError, match="delivered 4 times"):
        await celery_engine.map_batches([(key, 1)], celery_tasks.die_always, 1, 1, options)
    letters = [d for d in store.list(50) if d.options.get("call_id") == key]
    store.close()
    assert ["poison"] == [letter.reason for letter in letters]
    assert [(key, 1)] == letters[0].items
    assert celery_redis_worker.running()


async def test_concurrent_starts_on_one_loop_open_one_result_listener(
    celery_engine: CeleryEngine,
) -> None:
    """Twenty calls finding the engine cold at once start it once: one listener (one Redis
    connection and reader) for the loop, not twenty of which nineteen leak."""
    engine = CeleryEngine(
        CelerySettings(broker_url=TEST_BROKER_URL, result_backend=TEST_BACKEND_URL)
    )
    try:
        with capture_logs() as logs:
            await asyncio.gather(*(engine.start() for _ in range(20)))
        assert 1 == len([entry for entry in logs if entry["event"] == "engine_started"])
        assert [2, 4] == await engine.map_batches([1, 2], equiv_tasks.double, 1, 2)
    finally:
        await engine.close()


def test_publishing_on_redis_reuses_one_client_and_leaves_amqp_alone() -> None:
    """kombu built a ``redis.Redis`` per published message (40 % of a ``send_task``); our
    publisher's channel hands out one client. A RabbitMQ channel is left as kombu made it."""
    import kombu

    from adapters.celery.publisher import reuse_one_redis_client

    with kombu.Connection(TEST_BROKER_URL) as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is not second  # kombu's own behaviour, which this changes
        reuse_one_redis_client(channel)
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.ping()
        given = object()
        with channel.conn_or_acquire(given) as client:
            assert given is client
    with kombu.Connection(TEST_AMQP_URL) as connection:
        channel = connection.default_channel
        reuse_one_redis_client(channel)
        assert not hasattr(channel, "_cutover_client")
