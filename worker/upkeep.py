"""The sweep (a cron job, every few seconds, one worker per tick): what keeps every lead moving and nothing kept
forever.

- the CRM's breaker open past its cool-down: probe the CRM (``ping``); it answers -> closed;
- a write batch whose arq job is gone (ended for good, expired, its worker killed on the last try) goes back to
  the waiting list;
- the breaker closed: parked deliveries are queued again, and waiting writes get a write_back job;
- a delivery parked longer than the payload retention goes to the dead-letter list;
- the dead-letter list is trimmed to its retention and its cap (drops counted, a warning while it grows past
  ``dead_letter_warn_at``);
- identities still in the one-hash index of before move to expiring keys;
- the decisions index drops leads decided longer ago than the lead retention.

- follow-through jobs (first-contact steps, hold releases) due soon go from the schedule to arq (``worker.sla``).
"""

from __future__ import annotations

import asyncio
import time

import structlog

from connector.settings import Settings
from worker.metrics import Recorder
from worker.parking import expire_parked, unpark
from worker.service import Service
from worker.store import Store
from worker.store.records import DELIVERY_TTL_S

log = structlog.get_logger("leadrelay.worker")

SWEEP_EVERY_S = 5  # worker.settings runs the sweep every 5 seconds


async def sweep(svc: Service) -> None:
    crm = svc.settings.crm
    await probe(svc)
    adopted = await svc.store.adopt_orphaned_batches(crm)
    if adopted:
        log.warning("write_batch_adopted", crm=crm, tasks=adopted)
    if not await svc.breaker.is_open():
        await unpark(svc.store, crm, expires_s=DELIVERY_TTL_S)
        if await svc.store.pending_writes(crm):
            await svc.write_back.request_flush(crm)
    await expire_parked(svc.store, crm, svc.store.retention.payload_s)
    await trim_dead_letters(svc.store, svc.settings, svc.metrics)
    await svc.store.migrate_identities()
    await svc.store.trim_decisions()

    await svc.sla.queue.hand_over()


async def probe(svc: Service) -> bool:
    """The breaker's half-open step: True when the CRM was probed and answered."""
    if not await svc.breaker.probe_due(probe_s=max(10.0, svc.settings.job_timeout_s)):
        return False
    try:
        async with asyncio.timeout(min(10.0, svc.settings.job_timeout_s * 0.8)):
            ok = await asyncio.to_thread(svc.crm.ping)
        why = "" if ok else "the CRM refused the probe"
    except Exception as exc:  # whatever the probe met, the CRM is not back
        ok, why = False, f"probe: {type(exc).__name__}: {exc}"
    if ok:
        await svc.breaker.answered()
    else:
        await svc.breaker.failed(why)
    return ok


async def trim_dead_letters(store: Store, settings: Settings, metrics: Recorder, *, now: float | None = None) -> int:
    """Keep the dead-letter list to its retention and cap; returns how many were dropped."""
    now = time.time() if now is None else now
    dropped = await store.trim_dead_letters(now)
    if dropped:
        await metrics.inc("leadrelay_dead_letters_dropped_total", amount=dropped)
        log.warning("dead_letters_dropped", dropped=dropped, retention_days=settings.dead_letter_retention_days,
                    cap=settings.dead_letter_max)
    count = await store.dead_letter_count()
    if count > settings.dead_letter_warn_at and await store.dead_letters_since(now - SWEEP_EVERY_S):
        log.warning("dead_letters_growing", count=count, warn_at=settings.dead_letter_warn_at,
                    cap=settings.dead_letter_max, hint="leadrelay dlq list; fix the cause, then leadrelay dlq replay")
    return dropped
