"""Leads whose CRM owner is a queue, not a rep: the ``leadrelay_leads_unassigned`` gauge, by queue.

A write that lands making a queue the lead's owner (``WriteTask.rep`` "queue:<name>") files the lead under that queue
(``Keys.unassigned``, by when) and notes the queue on the lead (``in_queue``); a later write giving it a rep (a
recycled lead routed again), or a person making a rep its owner in the CRM, takes it out. Entries older than a lead's
retention are let go with the lead. A held lead is not here: it waits for its release (``leadrelay_leads_held``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from worker.store import Store, WriteTask

FIELD = "in_queue"  # the lead hash's field: the queue it is filed under


class Unassigned:
    """The unassigned leads of one installation."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def landed(self, tasks: Iterable[WriteTask]) -> None:
        """These writes landed: file each lead a queue got, take out each one a rep got."""
        moves = [(t.lead_id, t.rep) for t in tasks if t.rep]
        if not moves:
            return
        keys, r = self.store.keys, self.store.r
        async with r.pipeline(transaction=False) as read:
            for lead_id, _ in moves:
                read.hget(keys.lead(lead_id), FIELD)
            prior = [p.decode() if p else None for p in await read.execute()]
        now, keep = time.time(), self.store.retention.lead_s
        pipe = r.pipeline(transaction=True)
        for (lead_id, rep), was in zip(moves, prior, strict=True):
            queue = rep.removeprefix("queue:") if rep.startswith("queue:") else None
            if was is not None and was != queue:
                pipe.zrem(keys.unassigned(was), lead_id)
            if queue is not None:
                pipe.zadd(keys.unassigned(queue), {lead_id: now})
                pipe.zremrangebyscore(keys.unassigned(queue), "-inf", now - keep)
                pipe.sadd(keys.unassigned_queues, queue)
                pipe.hset(keys.lead(lead_id), FIELD, queue)
            elif was is not None:
                pipe.hdel(keys.lead(lead_id), FIELD)
        await pipe.execute()

    async def took_rep(self, lead_id: str) -> None:
        """A person made a rep the lead's owner in the CRM: it is in no queue now."""
        keys = self.store.keys
        was = await self.store.r.hget(keys.lead(lead_id), FIELD)
        if was:
            pipe = self.store.r.pipeline(transaction=True)
            pipe.zrem(keys.unassigned(was.decode()), lead_id)
            pipe.hdel(keys.lead(lead_id), FIELD)
            await pipe.execute()

    async def counts(self) -> dict[str, float]:
        """Leads in each queue now (the gauge's values, by queue)."""
        keys, r = self.store.keys, self.store.r
        queues = sorted(q.decode() for q in await r.smembers(keys.unassigned_queues))
        since = time.time() - self.store.retention.lead_s
        async with r.pipeline(transaction=False) as pipe:
            for q in queues:
                pipe.zcount(keys.unassigned(q), since, "+inf")
            counted = await pipe.execute()
        return {q: float(n) for q, n in zip(queues, counted, strict=True)}
