"""The store's part in following a lead through after its decision: the re-score and recycle indexes (sorted sets
by due time, so a scheduled job reads only the due leads) and the atomic update of a lead re-scored or recycled.

Recycling keeps on the lead's hash: ``crm_status`` / ``crm_reason`` (the CRM's lost status and reason as last
reported, ``crm_status_at`` when the status came), ``recycle_reason`` and ``recycle_due`` (unix time) while it
waits, and ``recycle_ready`` once it has entered re-engagement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from worker.store.records import WriteTask, encode_task
from worker.store.store import Store

RECYCLE_FIELDS = ("recycle_reason", "recycle_due", "recycle_ready")


class FollowUps:
    """Re-score and recycle state in Redis (async), over one ``Store``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.r = store.r
        self.keys = store.keys

    async def schedule_rescore(self, lead_id: str, at: float | None) -> None:
        """Index the lead by when its score next crosses a threshold (None: it never will, so it leaves the index)."""
        if at is None:
            await self.r.zrem(self.keys.rescore_due, lead_id)
        else:
            await self.r.zadd(self.keys.rescore_due, {lead_id: at})

    async def due_rescores(self, now: float, limit: int) -> list[str]:
        """The leads whose next crossing is at or before ``now``, earliest first."""
        return [x.decode() for x in await self.r.zrangebyscore(self.keys.rescore_due, "-inf", now, start=0,
                                                               num=limit)]

    async def due_recycles(self, now: float, limit: int) -> list[str]:
        """The lost leads whose delay is over at ``now``, earliest first."""
        return [x.decode() for x in await self.r.zrangebyscore(self.keys.recycle_due, "-inf", now, start=0,
                                                               num=limit)]

    async def update(
        self,
        lead_id: str,
        *,
        decision: bytes,
        task: WriteTask | None = None,
        rescore_at: float | bool | None = False,
        fields: Mapping[str, str | bytes] | None = None,
        drop: Sequence[str] = (),
        recycle_at: float | bool | None = False,
        done: tuple[str, str] | None = None,
    ) -> int:
        """In one transaction: store the lead's decision (and ``fields``; ``drop`` removed), queue its CRM write,
        set its place in the re-score and recycle indexes (a unix time; None: out of the index; False: as it is),
        mark ``done`` (source, delivery id). Returns the writes waiting for its CRM."""
        k, lead = self.keys, self.keys.lead(lead_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(lead, mapping={"decision": decision, **(fields or {})})
        if drop:
            pipe.hdel(lead, *drop)
        pipe.expire(lead, self.store.retention.lead_s)
        if task is not None:
            pipe.rpush(k.writes(task.crm), encode_task(task))
        for index, at in ((k.rescore_due, rescore_at), (k.recycle_due, recycle_at)):
            if at is None:
                pipe.zrem(index, lead_id)
            elif at is not False:
                pipe.zadd(index, {lead_id: float(at)})
        if done is not None:
            pipe.set(k.done(*done), lead_id, ex=self.store.done_ttl_s)
        if task is not None:
            pipe.llen(k.writes(task.crm))
        replies: list[Any] = await pipe.execute()
        return int(replies[-1]) if task is not None else 0

    async def clear(self, lead_id: str, *fields: str) -> None:
        """Remove fields of the lead's hash, and the lead from the recycle index."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hdel(self.keys.lead(lead_id), *fields)
        pipe.zrem(self.keys.recycle_due, lead_id)
        await pipe.execute()

    async def forget(self, lead_id: str) -> None:
        """The lead is gone (its retention ran out): out of both indexes."""
        pipe = self.r.pipeline(transaction=True)
        pipe.zrem(self.keys.rescore_due, lead_id)
        pipe.zrem(self.keys.recycle_due, lead_id)
        await pipe.execute()
