"""Redis (broker and result backend, on the test host) restarted while a remote worker runs
a call.

- With an append-only file (fsync always) the queue, the unacknowledged batches and the
  results survive: the call returns every item once, equal to legacy.
- Without persistence the restarted Redis is empty: the caller sees the server's run id
  change and fails at once with ``InFlightLostError`` naming the pending batches, long
  before its deadline (it used to wait the whole deadline, logging connection errors).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from ground.errors import InFlightLostError
from tests.multihost.conftest import DEADLINE_S, StartRemoteCall
from tests.multihost.remote_call import BATCH_SIZE, ITEMS, legacy_result

pytestmark = [pytest.mark.multihost, pytest.mark.celery, pytest.mark.slow]

LOST_DETECTED_WITHIN_S = 10.0


@pytest.mark.parametrize("persistent", [True, False], ids=["aof", "memory-only"])
async def test_redis_restarted_mid_call_completes_or_fails_clearly(
    persistent: bool, start_remote_call: StartRemoteCall
) -> None:
    """AOF: the complete, correct result. Memory only: ``InFlightLostError`` within
    seconds, with the done batches kept. Never a hang, never a short list."""
    remote = await start_remote_call("restart", "mh-redis", persistent=persistent)
    call, redis_server = remote.call, remote.redis_server

    await asyncio.to_thread(redis_server.restart)
    restarted = time.monotonic()
    assert not call.done(), "the call finished before the restart: nothing was tested"

    if persistent:
        result = await asyncio.wait_for(call, DEADLINE_S + 10)
        print(f"redis restart (AOF): call done {time.monotonic() - restarted:.1f}s after it")
        assert await legacy_result("restart") == result
        return
    with pytest.raises(InFlightLostError, match="without persistence") as lost:
        await asyncio.wait_for(call, DEADLINE_S + 10)
    waited = time.monotonic() - restarted
    print(f"redis restart (no AOF): call failed {waited:.1f}s after it")
    assert waited < LOST_DETECTED_WITHIN_S
    assert lost.value.pending
    assert ITEMS // BATCH_SIZE == len(lost.value.partial)
