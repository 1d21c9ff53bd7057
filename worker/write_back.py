"""Write-back: decided leads wait in Redis and go to the CRM in vendor-sized batches.

A batch goes out when it is full or when its window closes (the CRM plugin's ``write_window_ms``, or
LEADRELAY_WRITE_BATCH_WINDOW_MS). The tasks a job takes move into that job's own list, so a killed worker's batch
is written by the job's retry (upserts: never twice); a batch whose job arq ended for good is put back by the sweep.
Rows the CRM refuses for good go to the dead-letter list with its words; rows refused for now are retried, and
wait in the waiting list while the CRM is down (``worker.jobs``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import msgspec
import structlog

from adapters.crm import registry
from connector.errors import AuthError, RetryableError
from connector.ports import CrmClient, WriteItem, WriteOutcome
from connector.settings import Settings
from worker.dead_letters import dead_letter_write
from worker.metrics import Recorder
from worker.store import Store, WriteTask
from worker.unassigned import Unassigned

if TYPE_CHECKING:
    from worker.sla import SlaClock

# (crm, arq job id, when to run it: unix time, or None for now) -> queue a write_back job
Enqueue = Callable[[str, str, float | None], Awaitable[None]]
# (crm, arq job id) -> what follows the leads a write_back job wrote with a new owner (their ids are in the job's
# landed list, ``Store.landed_leads``): queue their notifications (``worker.notify.Notifier.landed``). Never raises.
Landed = Callable[[str, str], Awaitable[None]]
_json = msgspec.json.Encoder()
log = structlog.get_logger("leadrelay.worker")


def coalesce(tasks: Sequence[WriteTask]) -> list[WriteItem]:
    """One item per lead: later fields win, earlier ones are kept (a second form fills blanks)."""
    merged: dict[str, WriteItem] = {}
    for t in tasks:
        prev = merged.get(t.item.key)
        if prev is None:
            merged[t.item.key] = t.item
        else:
            merged[t.item.key] = msgspec.structs.replace(
                t.item, fields={**prev.fields, **t.item.fields}, record_id=t.item.record_id or prev.record_id,
                account_id=t.item.account_id or prev.account_id)
    return list(merged.values())


class WriteBack:
    def __init__(self, settings: Settings, store: Store, crm: CrmClient, *, enqueue: Enqueue,
                 metrics: Recorder, landed: Landed | None = None) -> None:
        self.settings = settings
        self.store = store
        self.crm = crm
        self.enqueue = enqueue
        self.metrics = metrics
        self.landed = landed
        self.unassigned = Unassigned(store)
        self._flush_slot: dict[str, int] = {}
        self.sla: SlaClock | None = None  # follow-through: told of every batch that landed (worker.sla)

    async def request_flush(self, crm: str, waiting: int | None = None) -> None:
        """Make sure a write_back job will take the waiting writes: now when a batch is full, else at the window."""
        n = await self.store.pending_writes(crm) if waiting is None else waiting
        if n == 0:
            return
        batch = registry.plugin(crm).batch_max
        window = max(1, registry.write_window_ms(self.settings, crm))
        if n % batch == 0:
            await self.enqueue(crm, self.store.keys.write_back_full_job(crm, time.time_ns()), None)
        else:
            slot = int(time.time() * 1000 // window) + 1
            if self._flush_slot.get(crm) == slot:
                return  # this process already asked for this window's job (arq would refuse the same id anyway)
            self._flush_slot[crm] = slot
            await self.enqueue(crm, self.store.keys.write_back_job(crm, slot), slot * window / 1000)

    async def write(self, crm: str, job_id: str) -> tuple[int, list[WriteTask]]:
        """Write one batch. Returns (written, tasks still retryable) — the job retries or dead-letters those."""
        tasks = await self.store.take_batch(crm, job_id, registry.plugin(crm).batch_max)
        done = await self._write(crm, job_id, tasks) if tasks else (0, [])
        if self.landed is not None:
            # after the write is recorded, and only Redis: notifications never hold up or fail the write. Also on a
            # run with no batch: the run before may have been killed between the two
            await self.landed(crm, job_id)
        return done

    async def _write(self, crm: str, job_id: str, tasks: list[WriteTask]) -> tuple[int, list[WriteTask]]:
        items = coalesce(tasks)
        try:
            outcomes = await asyncio.to_thread(self.crm.write, items)
        except RetryableError as exc:
            outcomes = [WriteOutcome(key=i.key, status="retryable", message=exc.message, retry_after=exc.retry_after)
                        for i in items]
        except AuthError as exc:
            outcomes = [WriteOutcome(key=i.key, status="permanent", message=f"CRM refused our credentials: {exc}",
                                     error_code="AUTH") for i in items]
        by_key = {o.key: o for o in outcomes}
        keep: list[WriteTask] = []
        results: list[tuple[WriteTask, bytes, str | None]] = []
        now = time.time()
        for t in tasks:
            o = by_key.get(t.item.key) or WriteOutcome(key=t.item.key, status="retryable", message="no outcome")
            if o.status == "written":
                results.append((t, _json.encode(o), o.record_id))
                if t.kind == "decision":  # a re-score or a follow-through write is no lead arriving
                    await self.metrics.observe("leadrelay_speed_to_lead_seconds", max(0.0, now - t.received_at),
                                               {"crm": crm})
                if t.rep:
                    await self.metrics.observe("leadrelay_assigned_seconds", max(0.0, now - t.received_at), {
                        "source": t.delivery.partition(":")[0], "rep": t.rep,
                        "hour": f"{time.gmtime(t.received_at).tm_hour:02d}"})
            elif o.status == "retryable":
                keep.append(msgspec.structs.replace(t, attempts=t.attempts + 1,
                                                    last_error=o.message or o.error_code or "refused for now"))
            else:
                await dead_letter_write(self.store, t, o)
        # a new owner was written (a duplicate's update keeps the owner, and tells nobody again)
        owner = registry.plugin(crm).owner_field
        landed = [t.lead_id for t, _, _ in results if owner in t.item.fields] if self.landed is not None else []
        await self.store.finish_batch(crm, job_id, keep, results=results, landed=landed)
        try:  # the unassigned gauge: never worth failing a write that landed
            await self.unassigned.landed([t for t, _, _ in results])
        except Exception:
            log.exception("unassigned_not_counted", crm=crm, job=job_id)
        if self.sla is not None:  # first-contact clocks and after-hours holds start when the owner is written
            await self.sla.start_clock(crm, results)
        return len(results), keep

    async def give_up(self, crm: str, job_id: str, reason: str, tries: int) -> int:
        """The job failed on its last try for a reason no wait will mend (a bug, an unknown answer): its batch goes
        to the dead-letter list with that reason, and the batch is done. Returns how many rows."""
        tasks = await self.store.take_batch(crm, job_id, 0)
        for t in tasks:
            await dead_letter_write(self.store, t, WriteOutcome(key=t.item.key, status="permanent",
                                                                message=f"{reason} (try {tries})"))
        await self.store.finish_batch(crm, job_id)
        return len(tasks)
