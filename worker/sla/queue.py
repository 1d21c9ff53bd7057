"""When follow-through jobs run: each rung of a lead's first-contact clock, and the release of held leads.

They are arq jobs deferred to their moment (``_defer_until``) under deterministic ids (``Keys.sla_job``,
``Keys.hold_release_job``): arq refuses a second job with an id it holds, so a step scheduled twice runs once,
and one release job serves every lead held until the same moment. A moment more than ``HAND_OVER_S`` away waits
in Redis' schedule (``Keys.sla_schedule``) first and is handed to arq by the sweep (every 5 s) shortly before:
minutes or a weekend of deferred jobs in arq's queue would count as queue depth and keep a ``--burst`` worker
from ever finding its queue empty.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from arq.connections import ArqRedis
from arq.jobs import serialize_job

from worker.queue import enqueue_job, job_deserializer, job_serializer, queue_name
from worker.store import Store

SLA_STEP = "sla_step"
HOLD_RELEASE = "hold_release"
HAND_OVER_S = 15.0  # three sweeps: a moment this close goes to arq at once

_entry = msgspec.json.Encoder()  # (function, job id, arguments): the same job is the same member
_decode = msgspec.json.Decoder(tuple[str, str, tuple[Any, ...]])


class FollowQueue:
    """Defer follow-through jobs: to arq when near, else to the schedule until the sweep hands them over."""

    def __init__(self, store: Store, prefix: str) -> None:
        self.store = store
        self.pool = ArqRedis(store.r.connection_pool, job_serializer=job_serializer,
                             job_deserializer=job_deserializer, default_queue_name=queue_name(prefix))

    async def defer(self, function: str, args: tuple[Any, ...], job_id: str, at: datetime) -> bool:
        """Run ``function(*args)`` at ``at`` as job ``job_id`` (once). False when arq already holds that job."""
        if at.timestamp() - time.time() <= HAND_OVER_S:
            return await self._to_arq(function, job_id, args, at.timestamp())
        entry = _entry.encode((function, job_id, args))
        await self.store.r.zadd(self.store.keys.sla_schedule, {entry: at.timestamp()})
        return True

    def planned(self, function: str, args: tuple[Any, ...], job_id: str, at: datetime) -> tuple[str, str, bytes, bytes]:
        """What ``defer`` would store, for a script that stores it (``scripts.SLA_START``): (where: "arq" or
        "schedule", when: its score there, member: the job id or the schedule entry, the job as arq stores it)."""
        if at.timestamp() - time.time() <= HAND_OVER_S:
            job = serialize_job(function, args, {}, None, int(time.time() * 1000), serializer=job_serializer)
            return "arq", str(int(at.timestamp() * 1000)), job_id.encode(), job
        return "schedule", repr(at.timestamp()), _entry.encode((function, job_id, args)), b""

    async def _to_arq(self, function: str, job_id: str, args: tuple[Any, ...], at: float) -> bool:
        when = datetime.fromtimestamp(at, UTC)
        return await enqueue_job(self.pool, function, *args, _job_id=job_id, _defer_until=when) is not None

    async def hand_over(self) -> int:
        """Give arq every scheduled job due within ``HAND_OVER_S`` (the sweep); returns how many."""
        key = self.store.keys.sla_schedule
        due = await self.store.r.zrangebyscore(key, "-inf", time.time() + HAND_OVER_S, withscores=True)
        for raw, at in due:
            function, job_id, args = _decode.decode(raw)
            await self._to_arq(function, job_id, tuple(args), float(at))
            await self.store.r.zrem(key, raw)  # after arq has it: a crash in between hands it over again
        return len(due)

    async def scheduled(self) -> list[tuple[str, str, tuple[Any, ...], float]]:
        """Every job waiting in the schedule: (function, job id, arguments, when), soonest first."""
        rows = await self.store.r.zrange(self.store.keys.sla_schedule, 0, -1, withscores=True)
        return [(*_decode.decode(raw), float(at)) for raw, at in rows]
