"""arq ``WorkerSettings``: jobs, queue, serializer and the timing choices, built from ``Settings``.

Timing choices (see README "Speed to lead"):
- ``poll_delay`` 0.02 s: arq looks for new and due jobs every poll_delay, so it bounds how late a delivery or a
  write batch whose window has closed starts. 20 ms is a tenth of the speed-to-lead budget; an idle worker
  pays ~50 cheap Redis calls a second for it.
- The write batch window: each CRM plugin's ``write_window_ms`` (HubSpot 200 ms, Salesforce 50 ms), unless
  LEADRELAY_WRITE_BATCH_WINDOW_MS sets one.
- ``job_timeout``: the adapters' retry deadline is 80 % of it, so tenacity's waits always fit inside one try.
- ``max_tries`` 8 with exponential defers (0.05 s doubling, capped at 60 s) rides out a short CRM hiccup; a longer
  outage opens the CRM's breaker and parks the leads until it answers (``worker.breaker``, ``worker.jobs``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import structlog
from arq import cron
from arq.worker import func

from adapters.crm import registry
from connector.config import read_files
from connector.normalize import warm_up
from connector.settings import Settings, load_settings
from worker import jobs, lead_ids, redis_clients, rescore
from worker.configs import ConfigFollower, ConfigStore
from worker.queue import (
    NOTIFY,
    PROCESS_DELIVERY,
    WRITE_BACK,
    job_deserializer,
    job_serializer,
    queue_name,
    write_back_enqueuer,
)
from worker.redis_server import WORKER_RETRIES, c_packed
from worker.service import Service
from worker.sla import HOLD_RELEASE, SLA_STEP
from worker.sla import jobs as sla_jobs
from worker.store import Retention, Store
from worker.store.keys import Keys

log = structlog.get_logger("leadrelay.worker")


def count_calls(crm: Any, metrics: Any) -> None:
    """Count the CRM client's calls by endpoint and status into ``leadrelay_crm_calls_total``."""

    def observe(name: str, endpoint: str, status: int) -> None:
        metrics.inc("leadrelay_crm_calls_total", {"crm": name, "endpoint": endpoint, "status": str(status)})

    if registry.is_crm(crm.name):
        registry.plugin(crm.name).count_calls(crm, observe)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or load_settings()
    assert redis_clients.configured(settings), "the worker needs REDIS_URL or LEADRELAY_REDIS_SENTINELS"
    warm_up()
    # every client rides out a Redis restart or failover (~10 s of new tries; see worker.redis_clients)
    redis = redis_clients.async_client(settings, retries=WORKER_RETRIES)
    sync_redis = redis_clients.sync_client(settings, retries=WORKER_RETRIES)
    arq_pool = c_packed(ctx["redis"]).connection_pool  # arq's own pool: the poll, starting and finishing jobs
    await arq_pool.disconnect()  # the connection arq made before (its start-up ping) is made again, packed in C
    arq_pool.reset()
    # the published config version (seeded from the files on first start), followed while the worker runs
    configs = ConfigStore(redis, settings.key_prefix)
    follower = await ConfigFollower.start(configs, read_files(Path(settings.config_dir)),
                                          poll_s=settings.config_poll_s)
    config = follower.config
    secret, source = await lead_ids.load_secret(redis, settings.key_prefix, settings.lead_id_secret)
    lead_ids.use_secret(secret)
    if source != "environment":
        log.warning("lead_id_secret_from_redis", hint="set LEADRELAY_LEAD_ID_SECRET: lead ids are CRM upsert keys "
                    "and this secret is lost with Redis' data")
    crm = ctx.get("crm") or registry.build_client(settings, sync_redis)
    from worker.metrics import Metrics, SyncMetrics

    # summed in memory and written twice a second: per lead, metrics cost no Redis round trip
    metrics = Metrics(redis, settings.key_prefix, flush_s=0.5)
    call_metrics = SyncMetrics(sync_redis, settings.key_prefix, flush_s=0.5)
    count_calls(crm, call_metrics)
    store = Store(redis, settings.key_prefix, retention=Retention.from_settings(settings),
                  wait=redis_clients.ReplicaWait.of(settings))
    svc = Service(settings, config, store, crm, metrics=metrics, enqueue_write_back=write_back_enqueuer(ctx["redis"]))
    follower.on_change = svc.use_config
    await follower.refresh()  # a version published while this worker started
    await svc.accounts.sync_if_never_synced()
    ctx.update(svc=svc, follower=follower, aredis=redis, sync_redis=sync_redis, crm=crm,
               metrics=(metrics, call_metrics))
    # who this worker is on its decisions (decided_by), and the config version it starts deciding under
    log.info("worker_ready", worker=svc.decider.identity, config_number=follower.number,
             config_version=follower.config.version)


async def shutdown(ctx: dict[str, Any]) -> None:
    if "follower" in ctx:
        await ctx["follower"].stop()
    if "svc" in ctx:
        with contextlib.suppress(Exception):
            await ctx["svc"].notifier.aclose()
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
    assert redis_clients.configured(settings)
    keys = Keys(settings.key_prefix)
    return {
        "functions": [
            # no result kept: its delivery's done and inbound keys say it ran, and a kept result (the delivery's bytes
            # with arq's bookkeeping) cost a write and a minute of Redis memory per lead
            func(jobs.process_delivery, name=PROCESS_DELIVERY, keep_result=0),
            func(jobs.write_back, name=WRITE_BACK),
            # its own limit (ours, then arq's above it, as for the others): a channel down for minutes is retried
            func(jobs.notify, name=NOTIFY, max_tries=settings.notify_max_tries + jobs.ARQ_EXTRA_TRIES),

            func(sla_jobs.sla_step, name=SLA_STEP),
            func(sla_jobs.hold_release, name=HOLD_RELEASE),
        ],
        # arq ids a cron run "<name>:<time>": the name carries the key prefix, or a second installation on the same
        # Redis finds each run's id taken and never runs its own
        "cron_jobs": [
            cron(jobs.sweep, name=keys.cron_job("sweep"), second=set(range(0, 60, 5)), run_at_startup=True,
                 unique=True),
            # no longer timeout than the jobs': arq lets a killed worker's jobs run again only after the longest timeout
            cron(jobs.sync_accounts, name=keys.cron_job("sync_accounts"), minute=set(range(0, 60, 5)), second=0,
                 unique=True),
            # scores decayed across a threshold are re-scored and written; lost leads enter re-engagement
            cron(rescore.rescore_job, name=keys.cron_job("rescore"), second=30, unique=True),
        ],
        "queue_name": queue_name(settings.key_prefix),
        "health_check_key": keys.health_check,
        **redis_clients.worker_redis(settings),
        "job_serializer": job_serializer,
        "job_deserializer": job_deserializer,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": {"settings": settings, **ctx},
        "poll_delay": settings.poll_delay_s,
        "job_timeout": settings.job_timeout_s,
        # our jobs stop at settings.max_tries themselves; arq's limit is above it, so that a killed last try is
        # still seen by our code (and dead-lettered) instead of ending as arq's "max retries exceeded"
        "max_tries": jobs.arq_max_tries(settings),
        "max_jobs": settings.max_jobs,
        "keep_result": 60,
        "handle_signals": True,
        "health_check_interval": 30,
    }
