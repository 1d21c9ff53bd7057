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
from worker.store import scripts
from worker.store.keys import DEFAULT_PREFIX, Keys
from worker.store.records import CommitConflict, Committed, DeadLetter, WriteTask, decode_task, encode_task

_dl_dec = msgspec.json.Decoder(DeadLetter)
_record_dec = msgspec.json.Decoder(CrmRecord)
_json = msgspec.json.Encoder()


class Store:
    """leadrelay's Redis state (async). One per process."""

    def __init__(self, redis: Redis, prefix: str = DEFAULT_PREFIX, *, done_ttl_s: int = 7 * 86_400) -> None:
        self.r = redis
        self.keys = Keys(prefix)
        self.done_ttl_s = done_ttl_s
        self._commit = redis.register_script(scripts.COMMIT)
        self._take = redis.register_script(scripts.TAKE)
        self._unlock = redis.register_script(scripts.UNLOCK)

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
    ) -> Committed:
        """Apply a decision atomically, or raise CommitConflict (nothing applied).

        ``owner_written`` (with the task's received time) is recorded on the lead for a new assignment; a
        duplicate's update leaves both as they were. ``lock`` (name, token) is released with the commit."""
        argv: list[Any] = [len(changes)]
        for ch in changes:
            argv += [ch.kind, ch.key, ch.value, "" if ch.expected is None else ch.expected, ch.day or ""]
        argv += [lead_id, decision, encode_task(task) if task else b"", self.done_ttl_s, len(ident_keys),
                 *ident_keys, "0" if owner_written is None else "1", owner_written or "",
                 str(task.received_at) if task else "", repr(time.time())]
        k = self.keys
        keys = [k.route_pointer, k.route_load, k.route_day, k.ident, k.lead(lead_id), k.done(*done),
                k.writes(task.crm if task else "none"), k.route_version]
        if lock is not None:
            keys.append(k.lock(lock[0]))
            argv.append(lock[1])
        result = await self._commit(keys=keys, args=argv)
        result = result.decode() if isinstance(result, bytes) else str(result)
        if not result.startswith("ok "):
            raise CommitConflict(result)
        _, waiting, version = result.split()
        return Committed(int(waiting), int(version))

    # ---- identity ------------------------------------------------------------------------------------------------
    async def lead_for(self, ident_keys: Sequence[str]) -> str | None:
        """The lead already holding any of these identity keys (strongest key first)."""
        if not ident_keys:
            return None
        for v in await self.r.hmget(self.keys.ident, list(ident_keys)):
            if v:
                return str(v.decode())
        return None

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
        key = self.keys.lock(name)
        deadline = time.monotonic() + wait_s
        delay = 0.002
        while True:
            pipe = self.r.pipeline(transaction=False)
            pipe.set(key, token, nx=True, px=int(ttl_s * 1000))
            pipe.get(self.keys.route_version)
            if ident_keys:
                pipe.hmget(self.keys.ident, list(ident_keys))
            got, version, *found = await pipe.execute()
            if got:
                known = next((v.decode() for v in (found[0] if found else []) if v), None)
                return token, known, int(version or 0)
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
        await self.r.hset(self.keys.lead(lead_id), mapping=dict(fields))

    async def record_lead(self, crm: str, record_id: str) -> str | None:
        v = await self.r.get(self.keys.record(crm, record_id))
        return v.decode() if v else None

    async def link_record(self, crm: str, record_id: str, lead_id: str) -> None:
        await self.r.set(self.keys.record(crm, record_id), lead_id)

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
        raw = await self._take(keys=[self.keys.writes(crm), self.keys.write_batch(crm, job_id)], args=[size])
        return [decode_task(x) for x in raw]

    async def finish_batch(
        self, crm: str, job_id: str, keep: Sequence[WriteTask] = (),
        results: Iterable[tuple[WriteTask, bytes, str | None]] = (),
    ) -> None:
        """Record the written leads' results and replace a job's list with the tasks still to try (none: the batch
        is done), in one transaction: one round trip per batch, and a crash leaves both or neither."""
        pipe = self.r.pipeline(transaction=True)
        now = repr(time.time())
        for task, result, record_id in results:
            fields: dict[str, Any] = {"write": result, "written_at": now}
            if record_id:
                fields["record"] = f"{task.crm}:{record_id}"
                pipe.set(self.keys.record(task.crm, record_id), task.lead_id)
            pipe.hset(self.keys.lead(task.lead_id), mapping=fields)
        key = self.keys.write_batch(crm, job_id)
        pipe.delete(key)
        if keep:
            pipe.rpush(key, *[encode_task(t) for t in keep])
        await pipe.execute()

    # ---- dead letters ------------------------------------------------------------------------------------------
    async def dead_letter(self, entry: DeadLetter) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self.keys.dlq_entry(entry.id), _json.encode(entry))
        pipe.zadd(self.keys.dlq, {entry.id: entry.at})
        await pipe.execute()

    async def dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        ids = await self.r.zrange(self.keys.dlq, 0, limit - 1)
        if not ids:
            return []
        raw = await self.r.mget([self.keys.dlq_entry(i.decode()) for i in ids])
        return [_dl_dec.decode(x) for x in raw if x]

    async def dead_letter_count(self) -> int:
        return int(await self.r.zcard(self.keys.dlq))

    async def get_dead_letter(self, dl_id: str) -> DeadLetter | None:
        raw = await self.r.get(self.keys.dlq_entry(dl_id))
        return _dl_dec.decode(raw) if raw else None

    async def drop_dead_letter(self, dl_id: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.keys.dlq_entry(dl_id))
        pipe.zrem(self.keys.dlq, dl_id)
        await pipe.execute()
