"""The worker's poll does not ask Redis about the jobs it is running itself (worker.poll)."""

from __future__ import annotations

import asyncio
from typing import Any

from arq.connections import RedisSettings, create_pool
from arq.worker import func
from redis.asyncio import Redis

from worker.poll import Worker

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
