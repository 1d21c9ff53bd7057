"""worker.poll.Worker (issue 17, Build 4): a connection lost while arq starts a job (a failover) leaves the job queued
for the next poll and the worker running, instead of ending arq's main loop with the job's slot taken."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from arq.worker import func

from connector.settings import Settings
from worker.poll import Worker
from worker.redis_clients import arq_client


async def _job(ctx: dict[str, Any]) -> str:
    return "done"


class _LostWatch:
    """A pipeline whose WATCH meets a dropped connection, as redis-py reports it."""

    async def __aenter__(self) -> _LostWatch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def watch(self, *keys: Any) -> None:
        raise redis.WatchError("A ConnectionError occurred on while watching one or more keys")


@pytest.mark.parametrize("error", [redis.WatchError, redis.ConnectionError])
async def test_a_connection_lost_while_starting_a_job_keeps_the_worker_polling(redis_url: str, error: type) -> None:
    pool = arq_client(Settings(redis_url=redis_url, key_prefix="t-poll:"))

    class Lost(_LostWatch):
        async def watch(self, *keys: Any) -> None:
            raise error("the primary went away")

    pool.pipeline = lambda **kw: Lost()  # type: ignore[method-assign]
    w = Worker(functions=[func(_job, name="job")], redis_pool=pool, handle_signals=False, max_jobs=5, poll_delay=0.01)
    slots = w.sem._value
    try:
        await w.start_jobs([b"job-1", b"job-2"])
        assert w.job_counter == 0 and w.sem._value == slots  # every slot given back: nothing was started
        assert w.tasks == {}
    finally:
        await pool.aclose()
