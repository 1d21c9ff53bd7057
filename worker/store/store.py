"""leadrelay's Redis state and the atomic steps on it (async). Keys come from ``keys``, scripts from ``scripts``."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis

from connector.decision import StateChange
from connector.model import CrmRecord
from connector.routing import RoutingState
from worker.redis_clients import ReplicaWait, wait_replicas
from worker.store import scripts
from worker.store.decisions import DecisionIndex, day_of
from worker.store.keys import DEFAULT_PREFIX, Keys, arq_in_progress, arq_job, arq_result
from worker.store.records import (
    DELIVERY_TTL_S,
    CommitConflict,
    Committed,
    DeadLetter,
    Parked,
    Retention,
    WriteTask,
    decode_parked,
    decode_task,
    encode_parked,
    encode_task,
)

_dl_dec = msgspec.json.Decoder(DeadLetter)
_record_dec = msgspec.json.Decoder(CrmRecord)
_json = msgspec.json.Encoder()


class Store(DecisionIndex):
    """leadrelay's Redis state (async). One per process."""

    def __init__(self, redis: Redis, prefix: str = DEFAULT_PREFIX, *, done_ttl_s: int = 7 * 86_400,
                 retention: Retention | None = None, wait: ReplicaWait | None = None) -> None:
        self.r = redis
        self.wait = wait or ReplicaWait()  # a commit counts once this many replicas hold it
        self.keys = Keys(prefix)
        self.done_ttl_s = done_ttl_s
        self.retention = retention or Retention()
        self._commit = redis.register_script(scripts.COMMIT)
        self._take = redis.register_script(scripts.TAKE)
        self._release = redis.register_script(scripts.RELEASE)
        self._unlock = redis.register_script(scripts.UNLOCK)
        self._lock_and_find = redis.register_script(scripts.LOCK_AND_FIND)
        self._unpark = redis.register_script(scripts.UNPARK)
        self._breaker_fail = redis.register_script(scripts.BREAKER_FAIL)
        self._breaker_ok = redis.register_script(scripts.BREAKER_OK)
        self._breaker_probe = redis.register_script(scripts.BREAKER_PROBE)
        self._notify = redis.register_script(scripts.NOTIFY)
        self._writes_done = redis.register_script(scripts.WRITES_DONE)

    # ---- delivery idempotency (the API's inbound keys: worker.queue.accept_deliveries) ----------------------------
    async def is_done(self, source: str, delivery_id: str) -> str | None:
        v = await self.r.get(self.keys.done(source, delivery_id))
        return v.decode() if v else None

    async def mark_done(self, source: str, delivery_id: str, lead_id: str) -> None:
        await self.r.set(self.keys.done(source, delivery_id), lead_id, ex=self.done_ttl_s)

    async def forget_done(self, source: str, delivery_id: str) -> None:
        """The worker decides this delivery again when it comes (a dead letter's replay)."""
        await self.r.delete(self.keys.done(source, delivery_id))

    async def done_leads(self, source: str, delivery_ids: Sequence[str]) -> list[str | None]:
        """Per delivery: the lead it was decided as ("" when nothing was routed), None while not yet decided."""
        pipe = self.r.pipeline(transaction=False)
        for did in delivery_ids:
            pipe.get(self.keys.done(source, did))
        return [v.decode() if v is not None else None for v in await pipe.execute()]

    # ---- routing state ----------------------------------------------------------------------------------------------
    async def snapshot(self) -> RoutingState:
        return (await self.versioned_snapshot())[0]

    async def versioned_snapshot(self) -> tuple[RoutingState, int]:
        """The routing state now, and its version (bumped by every commit that changes it)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(self.keys.route_pointer)
        pipe.hgetall(self.keys.route_load)
        pipe.hgetall(self.keys.route_day)
        pipe.get(self.keys.route_version)
        pointers, load, days, version = await pipe.execute()
        state = RoutingState(
            pointers={k.decode(): int(v) for k, v in pointers.items()},
            load={k.decode(): int(v) for k, v in load.items()},
            days={k.decode(): v.decode() for k, v in days.items()},
        )
        return state, int(version or 0)

    async def commit(
        self,
        *,
        lead_id: str,
        decision: bytes,
        changes: Sequence[StateChange],
        ident_keys: Sequence[str],
        task: WriteTask | None,
        done: tuple[str, str],
        owner_written: str | None = None,
        lock: tuple[str, str] | None = None,
        decided_by: str = "",
        hits: Sequence[str] = (),
    ) -> Committed:
        """Apply a decision atomically, or raise CommitConflict (nothing applied).

        ``owner_written`` (with the task's received time) marks a new assignment: it is recorded on the lead with
        the time it was decided and ``decided_by`` (the worker), the lead is indexed by that time and ``hits`` (the
        rules that took part: ``decisions.hit_fields``) are counted; a duplicate's update leaves all of it as it
        was. ``lock`` (name, token) is released with the commit."""
        now = time.time()
        argv: list[Any] = [len(changes)]
        for ch in changes:
            argv += [ch.kind, ch.key, ch.value, "" if ch.expected is None else ch.expected, ch.day or ""]
        argv += [lead_id, decision, encode_task(task) if task else b"", self.done_ttl_s, len(ident_keys),
                 "0" if owner_written is None else "1", owner_written or "",
                 str(task.received_at) if task else "", repr(now), self.retention.lead_s,
                 self.retention.identity_s, decided_by, len(hits), *hits]
        k = self.keys
        keys = [k.route_pointer, k.route_load, k.route_day, k.lead(lead_id), k.done(*done),
                k.writes(task.crm if task else "none"), k.route_version, k.decisions, k.rule_hits(day_of(now)),
                *[k.identity(i) for i in ident_keys]]
        if lock is not None:
            keys.append(k.lock(lock[0]))
            argv.append(lock[1])
        # with replicas to wait for, a commit no replica acknowledged raises NotReplicated: the job's retry redoes it
        # (it finds it done, if the primary kept it; decides again, if a failover lost it)
        result = await wait_replicas(self.wait, self.r, lambda c: self._commit(keys=keys, args=argv, client=c))
        result = result.decode() if isinstance(result, bytes) else str(result)
        if not result.startswith("ok "):
            raise CommitConflict(result)
        _, waiting, version = result.split()
        return Committed(int(waiting), int(version))

    # ---- identity ------------------------------------------------------------------------------------------------
    def _find_identity(self, pipe: Any, ident_keys: Sequence[str]) -> None:
        """Queue on ``pipe`` what ``_found`` reads: the identity keys (renewed: the person is seen), and the same
        in the identity hash of before (until the sweep has moved it)."""
        pipe.mget([self.keys.identity(i) for i in ident_keys])
        pipe.hmget(self.keys.ident, list(ident_keys))
        for i in ident_keys:
            pipe.expire(self.keys.identity(i), self.retention.identity_s)

    @staticmethod
    def _found(replies: Sequence[Any]) -> str | None:
        """The lead of the strongest identity key found (``_find_identity``'s replies)."""
        current, legacy = replies[0], replies[1]
        return next((v.decode() for pair in zip(current, legacy, strict=True) for v in pair if v), None)

    async def lead_for(self, ident_keys: Sequence[str]) -> str | None:
        """The lead already holding any of these identity keys (strongest key first)."""
        if not ident_keys:
            return None
        pipe = self.r.pipeline(transaction=False)
        self._find_identity(pipe, ident_keys)
        return self._found(await pipe.execute())

    async def migrate_identities(self, count: int = 1000) -> int:
        """Move up to ``count`` entries of the identity hash of before into expiring keys; returns how many."""
        _, entries = await self.r.hscan(self.keys.ident, 0, count=count)  # from 0: what it returns is deleted
        if not entries:
            return 0
        pipe = self.r.pipeline(transaction=True)
        for ident, lead_id in entries.items():
            pipe.set(self.keys.identity(ident.decode()), lead_id, nx=True, ex=self.retention.identity_s)
        pipe.hdel(self.keys.ident, *entries)
        await pipe.execute()
        return len(entries)

    async def lock(self, name: str, *, ttl_s: float = 30.0, wait_s: float = 30.0) -> str:
        """Take the per-identity lock; returns the token for unlock. Waits (polling) up to ``wait_s``."""
        token, _, _ = await self.lock_and_find(name, (), ttl_s=ttl_s, wait_s=wait_s)
        return token

    async def lock_and_find(
        self, name: str, ident_keys: Sequence[str], *, ttl_s: float = 30.0, wait_s: float = 30.0
    ) -> tuple[str, str | None, int]:
        """``lock`` and ``lead_for`` in one round trip: (token, lead already holding one of the keys, routing-state
        version: whether a routing state this process holds is still the current one)."""
        token = uuid.uuid4().hex
        keys = [self.keys.lock(name), self.keys.route_version, self.keys.ident,
                *[self.keys.identity(i) for i in ident_keys]]
        argv: list[Any] = [token, int(ttl_s * 1000), self.retention.identity_s, *ident_keys]
        deadline = time.monotonic() + wait_s
        delay = 0.002
        while True:
            got, version, found = await self._lock_and_find(keys=keys, args=argv)
            if got:
                return token, (found.decode() if isinstance(found, bytes) else str(found)) or None, int(version)
            if time.monotonic() > deadline:
                raise TimeoutError(f"identity {name} stayed locked for {wait_s:g}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def unlock(self, name: str, token: str) -> None:
        await self._unlock(keys=[self.keys.lock(name)], args=[token])

    # ---- leads -----------------------------------------------------------------------------------------------------
    async def lead(self, lead_id: str) -> dict[str, bytes]:
        raw = await self.r.hgetall(self.keys.lead(lead_id))
        return {k.decode(): v for k, v in raw.items()}

    async def leads(self, lead_ids: Sequence[str]) -> list[dict[str, bytes]]:
        """``lead`` for many, in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for lid in lead_ids:
            pipe.hgetall(self.keys.lead(lid))
        return [{k.decode(): v for k, v in raw.items()} for raw in await pipe.execute()]

    async def set_lead_fields(self, lead_id: str, **fields: str | bytes) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.keys.lead(lead_id), mapping=dict(fields))
        pipe.expire(self.keys.lead(lead_id), self.retention.lead_s)
        await pipe.execute()

    async def record_lead(self, crm: str, record_id: str) -> str | None:
        v = await self.r.get(self.keys.record(crm, record_id))
        return v.decode() if v else None

    async def link_record(self, crm: str, record_id: str, lead_id: str) -> None:
        await self.r.set(self.keys.record(crm, record_id), lead_id, ex=self.retention.lead_s)

    # ---- account index ---------------------------------------------------------------------------------------------
    async def accounts_version(self) -> bytes | None:
        """The account index's version (None before the first sync)."""
        version: bytes | None = await self.r.get(self.keys.accounts_version)
        return version

    async def account_records(self) -> list[CrmRecord]:
        return [_record_dec.decode(x) for x in await self.r.hvals(self.keys.accounts)]

    async def replace_accounts(self, records: Sequence[CrmRecord]) -> None:
        """Replace the account index atomically (written aside first, then renamed) and bump its version."""
        tmp = self.keys.accounts_tmp(uuid.uuid4().hex)
        pipe = self.r.pipeline(transaction=False)
        for i in range(0, len(records), 1000):
            pipe.hset(tmp, mapping={r.id: _json.encode(r) for r in records[i:i + 1000]})
        await pipe.execute()
        pipe = self.r.pipeline(transaction=True)
        if records:
            pipe.rename(tmp, self.keys.accounts)
        else:
            pipe.delete(self.keys.accounts)
        pipe.incr(self.keys.accounts_version)
        await pipe.execute()

    # ---- write batches -----------------------------------------------------------------------------------------
    async def push_write(self, task: WriteTask) -> int:
        return int(await self.r.rpush(self.keys.writes(task.crm), encode_task(task)))

    async def pending_writes(self, crm: str) -> int:
        return int(await self.r.llen(self.keys.writes(crm)))

    async def take_batch(self, crm: str, job_id: str, size: int) -> list[WriteTask]:
        """Move up to ``size`` waiting tasks into this job's own list and return everything that list holds."""
        k = self.keys
        raw = await self._take(keys=[k.writes(crm), k.write_batch(crm, job_id), k.write_batches(crm)],
                               args=[size, job_id])
        return [decode_task(x) for x in raw]

    async def release_batch(self, crm: str, job_id: str) -> int:
        """Put a job's batch back at the head of the waiting list (the next write_back job takes it)."""
        k = self.keys
        return int(await self._release(keys=[k.write_batch(crm, job_id), k.writes(crm), k.write_batches(crm)],
                                       args=[job_id]))

    async def adopt_orphaned_batches(self, crm: str) -> int:
        """Put back the batch of every job arq no longer knows (ended for good, expired): returns the tasks moved."""
        k = self.keys
        moved = 0
        for raw in await self.r.smembers(k.write_batches(crm)):
            job_id = raw.decode()
            n = int(await self._release(keys=[k.write_batch(crm, job_id), k.writes(crm), k.write_batches(crm),
                                              arq_job(job_id), arq_in_progress(job_id)], args=[job_id]))
            moved += max(0, n)
        return moved

    async def finish_batch(
        self, crm: str, job_id: str, keep: Sequence[WriteTask] = (),
        results: Iterable[tuple[WriteTask, bytes, str | None]] = (), landed: Sequence[str] = (),
    ) -> None:
        """Record the written leads' results and replace a job's list with the tasks still to try (none: the batch
        is done), in one script (``scripts.WRITES_DONE``): one round trip per batch, and a crash leaves both or
        neither. ``landed`` (lead ids) go to the job's landed list: their notifications are queued next
        (``queue_notices``)."""
        k = self.keys
        keys = [k.write_landed(crm, job_id), k.write_batch(crm, job_id), k.write_batches(crm)]
        argv: list[Any] = [repr(time.time()), self.retention.lead_s, DELIVERY_TTL_S, job_id, len(landed), *landed]
        rows = list(results)
        argv.append(len(rows))
        for task, result, record_id in rows:
            # a lead without a record id still names a key per result (never written: the script skips it)
            keys += [k.lead(task.lead_id), k.record(task.crm, record_id or "-")]
            argv += [task.lead_id, result, task.rep or "", f"{task.crm}:{record_id}" if record_id else ""]
        argv += [encode_task(t) for t in keep]
        await self._writes_done(keys=keys, args=argv)

    # ---- notifications (worker.notify) ------------------------------------------------------------------------
    async def landed_leads(self, crm: str, job_id: str) -> list[str]:
        return [x.decode() for x in await self.r.lrange(self.keys.write_landed(crm, job_id), 0, -1)]

    async def queue_notices(self, crm: str, job_id: str, read: int,
                            jobs: Sequence[tuple[str, str, str, bytes]]) -> list[bool]:
        """Queue each (lead id, the lead's field for it, job id, job bytes) unless its field is set, and drop the
        ``read`` ids from the job's landed list, in one step; per job, whether it was queued now."""
        keys = [self.keys.write_landed(crm, job_id), self.keys.queue]
        argv: list[Any] = [DELIVERY_TTL_S * 1000, int(time.time() * 1000), read]
        for lead_id, field, job, data in jobs:
            keys += [self.keys.lead(lead_id), arq_job(job), arq_result(job)]
            argv += [field, job, data]
        return [bool(x) for x in await self._notify(keys=keys, args=argv)]

    async def mark_notice(self, lead_id: str, field: str, status: str, *, notified_at: float | None = None) -> bool:
        """Record how a notification went on the lead; the first one given ``notified_at`` sets the lead's (True)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.keys.lead(lead_id), field, status)
        if notified_at is not None:
            pipe.hsetnx(self.keys.lead(lead_id), "notified_at", repr(notified_at))
        pipe.expire(self.keys.lead(lead_id), self.retention.lead_s)
        done = await pipe.execute()
        return notified_at is not None and bool(done[1])

    # ---- dead letters ------------------------------------------------------------------------------------------
    async def dead_letter(self, entry: DeadLetter) -> None:
        """Add an entry; it expires after the dead-letter retention (a delivery's, holding the sender's raw
        payload, no later than the payload retention). ``trim_dead_letters`` keeps the list in step."""
        keep = self.retention.dead_letter_s
        if entry.kind == "delivery":
            keep = min(keep, self.retention.payload_s)
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self.keys.dlq_entry(entry.id), _json.encode(entry), ex=max(1, int(keep)))
        pipe.zadd(self.keys.dlq, {entry.id: entry.at})
        await pipe.execute()

    async def trim_dead_letters(self, now: float | None = None) -> int:
        """Drop entries past their retention, then the oldest over ``dead_letter_max``; returns how many."""
        now = time.time() if now is None else now
        r, dlq, keep = self.r, self.keys.dlq, self.retention
        drop = set(await r.zrangebyscore(dlq, "-inf", now - keep.dead_letter_s))
        if keep.payload_s < keep.dead_letter_s:  # a delivery's entry expired first (its payload): list it no more
            aged = await r.zrangebyscore(dlq, now - keep.dead_letter_s, now - keep.payload_s, start=0, num=1000)
            pipe = r.pipeline(transaction=False)
            for i in aged:
                pipe.exists(self.keys.dlq_entry(i.decode()))
            drop.update(i for i, there in zip(aged, await pipe.execute(), strict=True) if not there)
        over = await r.zcard(dlq) - len(drop) - keep.dead_letter_max
        if over > 0:
            head = await r.zrange(dlq, 0, len(drop) + over - 1)
            drop.update([i for i in head if i not in drop][:over])
        if not drop:
            return 0
        pipe = r.pipeline(transaction=True)
        pipe.zrem(dlq, *drop)
        pipe.delete(*[self.keys.dlq_entry(i.decode()) for i in drop])
        removed, _ = await pipe.execute()
        return int(removed)

    async def dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        ids = await self.r.zrange(self.keys.dlq, 0, limit - 1)
        if not ids:
            return []
        raw = await self.r.mget([self.keys.dlq_entry(i.decode()) for i in ids])
        return [_dl_dec.decode(x) for x in raw if x]

    async def dead_letter_count(self) -> int:
        return int(await self.r.zcard(self.keys.dlq))

    async def dead_letters_since(self, at: float) -> int:
        """How many entries were added at or after ``at`` (unix time)."""
        return int(await self.r.zcount(self.keys.dlq, at, "+inf"))

    async def get_dead_letter(self, dl_id: str) -> DeadLetter | None:
        raw = await self.r.get(self.keys.dlq_entry(dl_id))
        return _dl_dec.decode(raw) if raw else None

    async def drop_dead_letter(self, dl_id: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.keys.dlq_entry(dl_id))
        pipe.zrem(self.keys.dlq, dl_id)
        await pipe.execute()

    # ---- CRM outages: parked deliveries, the circuit breaker ------------------------------------------------
    async def park(self, crm: str, entry: Parked) -> int:
        """Put a delivery aside until the CRM answers; returns how many are parked."""
        return int(await self.r.rpush(self.keys.parked(crm), encode_parked(entry)))

    async def parked(self, crm: str, n: int) -> list[tuple[bytes, Parked]]:
        """The oldest ``n`` parked deliveries, each as stored (for ``unpark``) and read."""
        return [(raw, decode_parked(raw)) for raw in await self.r.lrange(self.keys.parked(crm), 0, n - 1)]

    async def parked_count(self, crm: str) -> int:
        return int(await self.r.llen(self.keys.parked(crm)))

    async def drop_parked(self, crm: str, raw: bytes) -> None:
        await self.r.lrem(self.keys.parked(crm), 1, raw)

    async def unpark(self, crm: str, jobs: Sequence[tuple[bytes, str, bytes]], *, expires_ms: int) -> int:
        """Queue the first parked deliveries as arq jobs ((as stored, job id, job bytes) each) and take them off the
        list, atomically; 0 when the list's head is no longer what was read."""
        keys = [self.keys.parked(crm), self.keys.queue]
        argv: list[Any] = [len(jobs), expires_ms, int(time.time() * 1000)]
        for raw, job_id, job in jobs:
            keys += [arq_job(job_id), arq_result(job_id)]
            argv += [raw, job_id, job]
        return int(await self._unpark(keys=keys, args=argv))

    async def breaker_failed(self, crm: str, *, threshold: int, cooldown_s: float, reason: str) -> str:
        """Count a retryable CRM failure: "opened" (this one opened the breaker), "open" or "closed"."""
        out = await self._breaker_fail(keys=[self.keys.breaker(crm)],
                                       args=[repr(time.time()), threshold, cooldown_s, reason[:500]])
        return out.decode() if isinstance(out, bytes) else str(out)

    async def breaker_answered(self, crm: str) -> str:
        """The CRM answered: the breaker is closed now; returns the state it was in."""
        out = await self._breaker_ok(keys=[self.keys.breaker(crm)])
        return out.decode() if isinstance(out, bytes) else str(out)

    async def breaker_probe(self, crm: str, *, probe_s: float) -> str:
        """"probe" when the caller is to try the CRM now (open past its cool-down), else "open" or "closed"."""
        out = await self._breaker_probe(keys=[self.keys.breaker(crm)], args=[repr(time.time()), probe_s])
        return out.decode() if isinstance(out, bytes) else str(out)

    async def breaker_state(self, crm: str) -> tuple[str, str]:
        """(state, the last failure's reason): state "closed" | "open" | "half_open"."""
        state, reason = await self.r.hmget(self.keys.breaker(crm), ["state", "reason"])
        return (state or b"closed").decode(), (reason or b"").decode()
