"""Parking: a delivery that cannot be decided because its CRM is down waits in Redis — not in arq's retries (they
run out), not in the dead-letter list (nothing is wrong with it) — and is queued again when the CRM answers.

``park`` puts one aside (its idempotency key stays: a redelivery is still a duplicate, the parked copy is the
lead); ``unpark`` (the sweep, once the breaker is closed) turns the parked deliveries back into arq jobs, atomically;
``expire_parked`` moves a delivery parked longer than the payload retention to the dead-letter list.
"""

from __future__ import annotations

import time

import structlog
from arq.jobs import serialize_job

from connector.ports import Delivery
from worker.dead_letters import dead_letter_delivery
from worker.metrics import Recorder
from worker.queue import PROCESS_DELIVERY, decode_delivery, encode_delivery, job_serializer
from worker.store import Parked, Store

log = structlog.get_logger("leadrelay.worker")


async def park(store: Store, crm: str, delivery: Delivery, reason: str, metrics: Recorder) -> None:
    """Put a delivery aside until ``crm`` answers again."""
    n = await store.park(crm, Parked(data=encode_delivery(delivery), at=time.time(), reason=reason))
    await metrics.inc("leadrelay_parked_total", {"kind": "delivery"})
    log.info("delivery_parked", source=delivery.source, delivery=delivery.delivery_id, parked=n, reason=reason)


async def unpark(store: Store, crm: str, *, expires_s: int, chunk: int = 100, limit: int = 10_000) -> int:
    """Queue up to ``limit`` parked deliveries as fresh ``process_delivery`` jobs (oldest first); returns how many.
    Each job keeps its data ``expires_s`` (as long as the deliveries' idempotency keys)."""
    queued = 0
    while queued < limit:
        entries = await store.parked(crm, min(chunk, limit - queued))
        if not entries:
            break
        now_ms = int(time.time() * 1000)
        jobs = []
        for raw, entry in entries:
            d = decode_delivery(entry.data)
            job_id = store.keys.delivery_unpark_job(d.source, d.delivery_id, entry.at)
            jobs.append((raw, job_id, serialize_job(PROCESS_DELIVERY, (entry.data,), {}, None, now_ms,
                                                    serializer=job_serializer)))
        n = await store.unpark(crm, jobs, expires_ms=expires_s * 1000)
        if n == 0:
            break  # another process took them first: the next sweep sees what is left
        queued += n
    if queued:
        log.info("deliveries_unparked", crm=crm, queued=queued)
    return queued


async def expire_parked(store: Store, crm: str, max_age_s: float, *, now: float | None = None) -> int:
    """Parked longer than ``max_age_s`` (the CRM down for weeks): into the dead-letter list, with the last reason."""
    now = time.time() if now is None else now
    moved = 0
    while True:
        entries = await store.parked(crm, 1)
        if not entries or now - entries[0][1].at < max_age_s:
            return moved
        raw, entry = entries[0]
        days = (now - entry.at) / 86_400
        await dead_letter_delivery(store, decode_delivery(entry.data),
                                   f"parked {days:.0f} days while the CRM did not answer: {entry.reason}")
        await store.drop_parked(crm, raw)
        moved += 1
