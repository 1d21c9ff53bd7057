"""Two installations with different key prefixes on one Redis (issue 11, point 11c): each one's cron jobs are
queued for it (arq names a cron job ``<name>:<time>``, the same for both unless the name carries the prefix), its
health-check key and queue are its own, and every key in the Redis belongs to exactly one of them."""

from __future__ import annotations

import fnmatch
from datetime import UTC, datetime

from arq.worker import Worker
from redis.asyncio import Redis

from connector.settings import load_settings
from worker.queue import connect
from worker.settings import worker_settings
from worker.store.keys import Keys

PREFIXES = ("lr-a:", "lr-b:")


async def test_both_installations_queue_their_cron_jobs_and_keep_their_keys_apart(redis_url: str) -> None:
    tick = datetime(2030, 1, 7, 12, 4, 59, 900_000, tzinfo=UTC)  # 0.1 s before both crons are due at 12:05:00
    workers, pools = [], []
    for prefix in PREFIXES:
        pool = await connect(redis_url, prefix)
        pools.append(pool)
        kwargs = worker_settings(load_settings({}, redis_url=redis_url, key_prefix=prefix))
        workers.append(Worker(**{**kwargs, "redis_pool": pool, "handle_signals": False}))
    try:
        for w in workers:  # the same moment for both, as two installations' workers see it
            await w.run_cron(tick, 0.5)
            await w.run_cron(tick.replace(microsecond=950_000), 0.5)
            await w.record_health()
        for prefix, w, pool in zip(PREFIXES, workers, pools, strict=True):
            assert w.queue_name == Keys(prefix).queue and w.health_check_key.startswith(prefix)
            queued = await pool.queued_jobs(queue_name=w.queue_name)
            functions = sorted(j.function for j in queued)
            # sweep at start-up and at 12:05:00, sync_accounts at 12:05:00: all three, in each installation
            assert len(functions) == 3, (prefix, functions)
            assert sum("sweep" in f for f in functions) == 2 and sum("sync_accounts" in f for f in functions) == 1
        r = Redis.from_url(redis_url)
        try:
            keys = [k.decode() async for k in r.scan_iter(count=1000)]
        finally:
            await r.aclose()
        owners = {k: [p for p in PREFIXES if any(fnmatch.fnmatchcase(k, pat) for pat in Keys(p).everything)]
                  for k in keys}
        assert keys and all(len(o) == 1 for o in owners.values()), {k: o for k, o in owners.items() if len(o) != 1}
    finally:
        for w in workers:
            await w.close()
