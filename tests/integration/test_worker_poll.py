"""worker.poll.Worker (issue 17, Builds 4 and 5): a connection lost while arq starts a job (a failover) leaves the job
queued for the next poll and the worker running, instead of ending arq's main loop with the job's slot taken; and the
poll does not ask Redis about the jobs the worker is running itself."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
from arq.connections import RedisSettings, create_pool
from arq.worker import func
from redis.asyncio import Redis

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


QUEUE = "leadrelay-test-poll:queue"


async def _slow(ctx: dict[str, Any]) -> str:
    await asyncio.sleep(0.5)  # 25 polls of 20 ms while it runs
    return "done"


async def _watches(r: Redis) -> int:
    stats = await r.info("commandstats")
    return int(stats.get("cmdstat_watch", {}).get("calls", 0))


async def test_a_running_job_is_not_claimed_again_on_every_poll(redis_url: str) -> None:
    r = Redis.from_url(redis_url)
    pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=QUEUE)
    await pool.enqueue_job("slow", _job_id="poll-test-job")
    worker = Worker(functions=[func(_slow, name="slow")], redis_settings=RedisSettings.from_dsn(redis_url),
                    queue_name=QUEUE, poll_delay=0.02, burst=True, handle_signals=False,
                    health_check_interval=3600)
    before = await _watches(r)
    await worker.async_run()
    watched = await _watches(r) - before
    await worker.close()
    await pool.aclose()
    await r.aclose()
    assert worker.jobs_complete == 1
    # claimed once (WATCH on its in-progress key), not once more per poll while it ran
    assert watched <= 2, f"{watched} WATCH calls for one job"
