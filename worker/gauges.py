"""The job path's gauges, read live at scrape time (nothing stored): what is waiting and how long, and the Redis
primary every lead passes through. The alert rules in docs/alerts.yml are written against these."""

from __future__ import annotations

import time

from connector.settings import Settings
from worker.metrics import Gauge
from worker.store import Store


async def job_path_gauges(store: Store, settings: Settings) -> dict[str, Gauge]:
    """Queue depth, the age of the oldest job due and not yet taken, dead letters, leads parked while the CRM is
    down (deliveries not decided; decided writes waiting), the CRM's breaker, and the Redis primary's uptime and
    replicas."""
    crm, now = settings.crm, time.time()
    pipe = store.r.pipeline(transaction=False)
    pipe.zcard(store.keys.queue)
    # due at or before now (arq scores jobs by when they may run): a deferred retry is not late
    pipe.zrangebyscore(store.keys.queue, "-inf", now * 1000, start=0, num=1, withscores=True)
    pipe.zcard(store.keys.dlq)
    pipe.llen(store.keys.parked(crm))
    pipe.llen(store.keys.writes(crm))
    pipe.hget(store.keys.breaker(crm), "state")
    depth, oldest, dead, parked, waiting, breaker = await pipe.execute()
    server, replication = await store.r.info("server"), await store.r.info("replication")
    return {
        "leadrelay_queue_depth": float(depth),
        "leadrelay_oldest_queued_job_seconds": max(0.0, now - oldest[0][1] / 1000) if oldest else 0.0,
        "leadrelay_dead_letters": float(dead),
        "leadrelay_leads_parked": {"delivery": float(parked), "write": float(waiting)},
        "leadrelay_crm_breaker_open": 0.0 if breaker in (None, b"closed") else 1.0,
        "leadrelay_redis_uptime_seconds": float(server.get("uptime_in_seconds", 0)),
        "leadrelay_redis_connected_replicas": float(replication.get("connected_slaves", 0)),
    }
