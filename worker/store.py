"""Everything leadrelay keeps in Redis, under one prefix, and the atomic steps on it.

Keys (``p`` is ``Settings.key_prefix``):
  p+"route:pointer" / "route:load" / "route:day"   hashes: round-robin pointers, per-rep load and its day
  p+"route:version"                counter: bumped by every commit that changes the routing state
  p+"ident"                        hash: identity key (email:/phone:/person:) -> lead id
  p+"lead:{id}"                    hash: decision (JSON), write (JSON), record (crm:id), owner_locked
  p+"record:{crm}:{id}"            string: lead id of a CRM record we wrote (echo suppression)
  p+"inbound:{source}:{id}"        string: idempotency key of an accepted delivery (API)
  p+"done:{source}:{id}"           string: the delivery was decided (worker; a redelivered job stops here)
  p+"writes:{crm}"                 list: write tasks waiting for a batch
  p+"writes:{crm}:batch:{job}"     list: the tasks one write_back job holds (survives a killed worker)
  p+"dlq" / p+"dlq:{id}"           sorted set of dead-letter ids by time / one entry (JSON)
  p+"lock:{identity key}"          per-identity lock
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec
from redis.asyncio import Redis

from connector.decision import StateChange
from connector.ports import WriteItem
from connector.route import RoutingState


class WriteTask(msgspec.Struct, kw_only=True, frozen=True):
    """One CRM write waiting in Redis: the item, when its lead was received, and how often it was tried."""

    crm: str
    lead_id: str
    item: WriteItem
    received_at: float  # unix time the webhook was received (speed-to-lead)
    delivery: str = ""  # source:delivery id, for the dead-letter list
    attempts: int = 0


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    """A delivery or write that will not succeed by waiting. ``kind`` says how to replay it."""

    id: str
    kind: str  # "delivery" (replay = queue the delivery again) | "write" (replay = queue the write task)
    reason: str
    at: float
    source: str = ""
    lead_id: str | None = None
    data: bytes = b""  # msgpack Delivery or WriteTask
    error_code: str | None = None
    attempts: int = 0


_enc = msgspec.msgpack.Encoder()
_task_dec = msgspec.msgpack.Decoder(WriteTask)
_dl_dec = msgspec.json.Decoder(DeadLetter)
_json = msgspec.json.Encoder()

# Commit one decision atomically: compare-and-set the routing state, claim the identity keys (first claim wins),
# store the decision, queue the write, mark the delivery done. All of it happens or none (returns the conflict).
#   KEYS: pointer, load, day, ident, lead, done, writes, version (counts routing-state changes)
#         [, lock: released with the commit when we hold it]
#   ARGV: n_changes, then per change (kind, key, value, expected|"", day|""), then lead_id, decision, task,
#         done_ttl, n_ident, ident keys..., then "1"|"0" (record owner_written, received_at and decided_at),
#         owner, received, decided [, lock token]
# Returns "ok <writes waiting> <routing-state version>" or the conflict.
_COMMIT = """
local n = tonumber(ARGV[1])
local i = 2
for c = 1, n do
  local kind, key, value, expected, day = ARGV[i], ARGV[i+1], tonumber(ARGV[i+2]), ARGV[i+3], ARGV[i+4]
  i = i + 5
  if kind == 'pointer' then
    local cur = tonumber(redis.call('HGET', KEYS[1], key) or '0')
    local want = tonumber(expected ~= '' and expected or '0')
    if cur ~= want then return 'pool ' .. key .. ': pointer is ' .. cur .. ', expected ' .. want end
  elseif kind == 'load' then
    local cur = 0
    if redis.call('HGET', KEYS[3], key) == day then cur = tonumber(redis.call('HGET', KEYS[2], key) or '0') end
    if expected ~= '' and cur + value > tonumber(expected) then
      return 'rep ' .. key .. ': ' .. (cur + value) .. ' leads on ' .. day .. ' exceeds the cap ' .. expected
    end
  end
end
local lead_id, decision, task, ttl = ARGV[i], ARGV[i+1], ARGV[i+2], tonumber(ARGV[i+3])
local n_ident = tonumber(ARGV[i+4])
i = 2
for c = 1, n do
  local kind, key, value, day = ARGV[i], ARGV[i+1], tonumber(ARGV[i+2]), ARGV[i+4]
  i = i + 5
  if kind == 'pointer' then
    redis.call('HSET', KEYS[1], key, value)
  else
    if redis.call('HGET', KEYS[3], key) ~= day then
      redis.call('HSET', KEYS[2], key, 0)
      redis.call('HSET', KEYS[3], key, day)
    end
    redis.call('HINCRBY', KEYS[2], key, value)
  end
end
i = i + 4
for k = 1, n_ident do redis.call('HSETNX', KEYS[4], ARGV[i+k], lead_id) end
redis.call('HSET', KEYS[5], 'decision', decision)
if ARGV[i + n_ident + 1] == '1' then
  redis.call('HSET', KEYS[5], 'owner_written', ARGV[i + n_ident + 2], 'received_at', ARGV[i + n_ident + 3],
             'decided_at', ARGV[i + n_ident + 4])
end
if task ~= '' then redis.call('RPUSH', KEYS[7], task) end
redis.call('SET', KEYS[6], lead_id, 'EX', ttl)
local version = tonumber(redis.call('GET', KEYS[8]) or '0')
if n > 0 then version = redis.call('INCR', KEYS[8]) end
if KEYS[9] and redis.call('GET', KEYS[9]) == ARGV[#ARGV] then redis.call('DEL', KEYS[9]) end
return 'ok ' .. redis.call('LLEN', KEYS[7]) .. ' ' .. version
"""

# Top a job's own batch list up to ARGV[1] tasks from the waiting list (a killed job finds its list again).
_TAKE = """
local want = tonumber(ARGV[1]) - redis.call('LLEN', KEYS[2])
if want <= 0 then return redis.call('LRANGE', KEYS[2], 0, -1) end
local out = redis.call('LRANGE', KEYS[1], 0, want - 1)
if #out > 0 then
  redis.call('LTRIM', KEYS[1], #out, -1)
  redis.call('RPUSH', KEYS[2], unpack(out))
end
return redis.call('LRANGE', KEYS[2], 0, -1)
"""

# Release a lock only if we still hold it.
_UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class Committed(NamedTuple):
    waiting: int  # write tasks waiting for a batch, this one included
    version: int  # of the routing state after the commit


class CommitConflict(Exception):
    """The routing state or an identity key moved since the snapshot: decide again."""


class Store:
    """leadrelay's Redis state (async). One per process."""

    def __init__(self, redis: Redis, prefix: str = "leadrelay:", *, done_ttl_s: int = 7 * 86_400) -> None:
        self.r = redis
        self.p = prefix
        self.done_ttl_s = done_ttl_s
        self._commit = redis.register_script(_COMMIT)
        self._take = redis.register_script(_TAKE)
        self._unlock = redis.register_script(_UNLOCK)

    # ---- keys -----------------------------------------------------------------------------------------------------
    def k(self, *parts: str) -> str:
        return self.p + ":".join(parts)

    # ---- delivery idempotency (the API's inbound keys: worker.queue.accept_deliveries) ----------------------------
    async def is_done(self, source: str, delivery_id: str) -> str | None:
        v = await self.r.get(self.k("done", source, delivery_id))
        return v.decode() if v else None

    async def mark_done(self, source: str, delivery_id: str, lead_id: str) -> None:
        await self.r.set(self.k("done", source, delivery_id), lead_id, ex=self.done_ttl_s)

    # ---- routing state ----------------------------------------------------------------------------------------------
    async def snapshot(self) -> RoutingState:
        return (await self.versioned_snapshot())[0]

    async def versioned_snapshot(self) -> tuple[RoutingState, int]:
        """The routing state now, and its version (bumped by every commit that changes it)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(self.k("route", "pointer"))
        pipe.hgetall(self.k("route", "load"))
        pipe.hgetall(self.k("route", "day"))
        pipe.get(self.k("route", "version"))
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
        argv += [lead_id, decision, _enc.encode(task) if task else b"", self.done_ttl_s, len(ident_keys), *ident_keys,
                 "0" if owner_written is None else "1", owner_written or "", str(task.received_at) if task else "",
                 repr(time.time())]
        keys = [self.k("route", "pointer"), self.k("route", "load"), self.k("route", "day"), self.k("ident"),
                self.k("lead", lead_id), self.k("done", *done), self.k("writes", task.crm if task else "none"),
                self.k("route", "version")]
        if lock is not None:
            keys.append(self.k("lock", lock[0]))
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
        for v in await self.r.hmget(self.k("ident"), list(ident_keys)):
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
        key = self.k("lock", name)
        deadline = time.monotonic() + wait_s
        delay = 0.002
        while True:
            pipe = self.r.pipeline(transaction=False)
            pipe.set(key, token, nx=True, px=int(ttl_s * 1000))
            pipe.get(self.k("route", "version"))
            if ident_keys:
                pipe.hmget(self.k("ident"), list(ident_keys))
            got, version, *found = await pipe.execute()
            if got:
                known = next((v.decode() for v in (found[0] if found else []) if v), None)
                return token, known, int(version or 0)
            if time.monotonic() > deadline:
                raise TimeoutError(f"identity {name} stayed locked for {wait_s:g}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def unlock(self, name: str, token: str) -> None:
        await self._unlock(keys=[self.k("lock", name)], args=[token])

    # ---- leads -----------------------------------------------------------------------------------------------------
    async def lead(self, lead_id: str) -> dict[str, bytes]:
        raw = await self.r.hgetall(self.k("lead", lead_id))
        return {k.decode(): v for k, v in raw.items()}

    async def set_lead_fields(self, lead_id: str, **fields: str | bytes) -> None:
        await self.r.hset(self.k("lead", lead_id), mapping=dict(fields))

    async def record_lead(self, crm: str, record_id: str) -> str | None:
        v = await self.r.get(self.k("record", crm, record_id))
        return v.decode() if v else None

    async def link_record(self, crm: str, record_id: str, lead_id: str) -> None:
        await self.r.set(self.k("record", crm, record_id), lead_id)

    # ---- write batches -----------------------------------------------------------------------------------------
    async def push_write(self, task: WriteTask) -> int:
        return int(await self.r.rpush(self.k("writes", task.crm), _enc.encode(task)))

    async def pending_writes(self, crm: str) -> int:
        return int(await self.r.llen(self.k("writes", crm)))

    async def take_batch(self, crm: str, job_id: str, size: int) -> list[WriteTask]:
        """Move up to ``size`` waiting tasks into this job's own list and return everything that list holds."""
        raw = await self._take(keys=[self.k("writes", crm), self.k("writes", crm, "batch", job_id)], args=[size])
        return [_task_dec.decode(x) for x in raw]

    async def finish_batch(
        self, crm: str, job_id: str, keep: Sequence[WriteTask] = (),
        results: Sequence[tuple[WriteTask, bytes, str | None]] = (),
    ) -> None:
        """Record the written leads' results and replace a job's list with the tasks still to try (none: the batch
        is done), in one transaction: one round trip per batch, and a crash leaves both or neither."""
        pipe = self.r.pipeline(transaction=True)
        now = repr(time.time())
        for task, result, record_id in results:
            fields: dict[str, Any] = {"write": result, "written_at": now}
            if record_id:
                fields["record"] = f"{task.crm}:{record_id}"
                pipe.set(self.k("record", task.crm, record_id), task.lead_id)
            pipe.hset(self.k("lead", task.lead_id), mapping=fields)
        key = self.k("writes", crm, "batch", job_id)
        pipe.delete(key)
        if keep:
            pipe.rpush(key, *[_enc.encode(t) for t in keep])
        await pipe.execute()

    # ---- dead letters ------------------------------------------------------------------------------------------
    async def dead_letter(self, entry: DeadLetter) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self.k("dlq", entry.id), _json.encode(entry))
        pipe.zadd(self.k("dlq"), {entry.id: entry.at})
        await pipe.execute()

    async def dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        ids = await self.r.zrange(self.k("dlq"), 0, limit - 1)
        if not ids:
            return []
        raw = await self.r.mget([self.k("dlq", i.decode()) for i in ids])
        return [_dl_dec.decode(x) for x in raw if x]

    async def dead_letter_count(self) -> int:
        return int(await self.r.zcard(self.k("dlq")))

    async def get_dead_letter(self, dl_id: str) -> DeadLetter | None:
        raw = await self.r.get(self.k("dlq", dl_id))
        return _dl_dec.decode(raw) if raw else None

    async def drop_dead_letter(self, dl_id: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.k("dlq", dl_id))
        pipe.zrem(self.k("dlq"), dl_id)
        await pipe.execute()


def encode_task(task: WriteTask) -> bytes:
    return _enc.encode(task)


def decode_task(data: bytes) -> WriteTask:
    return _task_dec.decode(data)
