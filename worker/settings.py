"""arq ``WorkerSettings``: jobs, queue, serializer and the timing choices, built from ``Settings``.

Timing choices (see README "Speed to lead"):
- ``poll_delay`` 0.02 s: arq looks for new and due jobs every poll_delay, so it bounds how late a delivery or a
  write batch whose window has closed starts. 20 ms is a tenth of the speed-to-lead budget; an idle worker
  pays ~50 cheap Redis calls a second for it.
- The write batch window (``connector.settings.WRITE_WINDOW_MS``): HubSpot 200 ms, Salesforce 50 ms.
- ``job_timeout``: the adapters' retry deadline is 80 % of it, so tenacity's waits always fit inside one try.
- ``max_tries`` 8 with exponential defers (0.05 s doubling, capped at 60 s) spans a CRM outage of ~3 minutes
  before a lead is dead-lettered with a replay command.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import redis as redis_sync
from arq import cron
from arq.connections import RedisSettings
from arq.worker import func
from redis.asyncio import Redis

from connector.config import load_config
from connector.normalize import warm_up
from connector.ports import CrmClient
from connector.settings import Settings, load_settings
from worker import jobs
from worker.queue import job_deserializer, job_serializer, queue_name
from worker.service import Service
from worker.store import Store


def build_crm(settings: Settings, redis: redis_sync.Redis | None) -> CrmClient:
    """The configured CRM's adapter (sync client; limiter shared through Redis)."""
    deadline = float(settings.job_timeout_s) * 0.8
    if settings.crm == "salesforce":
        from adapters.salesforce.client import SalesforceCrm

        return SalesforceCrm.from_settings(settings, redis=redis, deadline_s=deadline)
    from adapters.hubspot.client import HubSpotCrm

    return HubSpotCrm.from_settings(settings, redis, deadline_s=deadline)


def observe_calls(crm: CrmClient, metrics: Any) -> None:
    """Count the adapter's CRM calls by endpoint and status into ``leadrelay_crm_calls_total``."""
    from adapters.observe import instrument_hubspot, instrument_salesforce

    def observe(name: str, endpoint: str, status: int) -> None:
        metrics.inc("leadrelay_crm_calls_total", {"crm": name, "endpoint": endpoint, "status": str(status)})

    if crm.name == "hubspot":
        instrument_hubspot(crm, observe)
    elif crm.name == "salesforce":
        instrument_salesforce(crm, observe)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or load_settings()
    assert settings.redis_url, "the worker needs LEADRELAY_REDIS_URL / REDIS_URL"
    config = load_config(Path(settings.config_dir))
    warm_up()
    redis = Redis.from_url(settings.redis_url)
    sync_redis = redis_sync.Redis.from_url(settings.redis_url)
    crm = ctx.get("crm") or build_crm(settings, sync_redis)
    from worker.metrics import Metrics, SyncMetrics

    # summed in memory and written twice a second: per lead, metrics cost no Redis round trip
    metrics = Metrics(redis, settings.key_prefix, flush_s=0.5)
    call_metrics = SyncMetrics(sync_redis, settings.key_prefix, flush_s=0.5)
    observe_calls(crm, call_metrics)
    svc = Service(settings, config, Store(redis, settings.key_prefix), crm, metrics=metrics)
    pool = ctx["redis"]

    async def enqueue_write_back(crm_name: str, job_id: str, at: float | None) -> None:
        from datetime import UTC, datetime

        defer = datetime.fromtimestamp(at, UTC) if at else None
        await pool.enqueue_job("write_back", crm_name, _job_id=settings.key_prefix + job_id, _defer_until=defer)

    svc.enqueue_write_back = enqueue_write_back  # type: ignore[method-assign]
    if not await redis.exists(svc.store.k("accounts", "version")):
        # first start on this Redis: lead-to-account matching needs the accounts before the first lead
        await svc.sync_accounts()
    ctx.update(svc=svc, aredis=redis, sync_redis=sync_redis, crm=crm, metrics=(metrics, call_metrics))


async def shutdown(ctx: dict[str, Any]) -> None:
    if "metrics" in ctx:
        metrics, call_metrics = ctx["metrics"]
        with contextlib.suppress(Exception):  # Redis already gone: the last half second of counts is lost
            await metrics.aclose()
        with contextlib.suppress(Exception):
            call_metrics.flush()
    if "aredis" in ctx:
        await ctx["aredis"].aclose()
        ctx["sync_redis"].close()
    crm = ctx.get("crm")
    if crm is not None and hasattr(crm, "close"):
        crm.close()


def worker_settings(settings: Settings, **ctx: Any) -> dict[str, Any]:
    """Keyword arguments for ``arq.Worker`` (every key is a real Worker parameter: see tests)."""
    assert settings.redis_url
    return {
        "functions": [
            func(jobs.process_delivery, name="process_delivery"),
            func(jobs.write_back, name="write_back"),
        ],
        "cron_jobs": [
            cron(jobs.sweep, second=set(range(0, 60, 5)), run_at_startup=True, unique=True),
            # no longer timeout than the jobs': arq lets a killed worker's jobs run again only after the longest timeout
            cron(jobs.sync_accounts, minute=set(range(0, 60, 5)), second=0, unique=True),
        ],
        "queue_name": queue_name(settings.key_prefix),
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "job_serializer": job_serializer,
        "job_deserializer": job_deserializer,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": {"settings": settings, **ctx},
        "poll_delay": settings.poll_delay_s,
        "job_timeout": settings.job_timeout_s,
        "max_tries": settings.max_tries,
        "max_jobs": settings.max_jobs,
        "keep_result": 60,
        "handle_signals": True,
        "health_check_interval": 30,
    }
