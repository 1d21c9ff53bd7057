"""The last raw payloads of each source mapping, for the console's mapping preview ("pick a recent payload").

One sorted set per source mapping (``Keys.recent_payloads``): member = JSON ``{"id", "payload"}``, score = the time
it was received. Every add also drops what is past the retention and what is over the cap, and renews the key's
expiry, so nothing is kept longer than ``recent_payload_retention_days`` (a read filters by time as well). The
payloads are the sender's own words, unredacted: they are never logged.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import msgspec

from connector.config import Config
from connector.errors import InputError
from connector.pipeline import mapping_name
from connector.ports import Delivery
from connector.settings import Settings
from worker.store.keys import DEFAULT_PREFIX, Keys
from worker.store.records import DAY_S


class RecentPayload(msgspec.Struct, kw_only=True, frozen=True):
    id: str  # the delivery id
    source: str  # the source mapping that reads it
    at: float  # unix time it was received
    payload: dict[str, Any]


class _Entry(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    payload: dict[str, Any]


_enc = msgspec.json.Encoder()
MAX_BYTES = 64 * 1024  # a payload kept as a sample is at most this big (50 per source: a few MB at worst)
_dec = msgspec.json.Decoder(_Entry)


def keep_seconds(settings: Settings) -> int:
    """How long a recent payload is kept: its own retention, never past the payload retention."""
    return max(1, min(settings.recent_payload_retention_days, settings.payload_retention_days) * DAY_S)


def source_of(delivery: Delivery, config: Config) -> str:
    """The source mapping a delivery is read by (its source when the config cannot tell)."""
    try:
        return mapping_name(delivery, config)
    except InputError:
        return delivery.source


class RecentPayloads:
    """Recent raw payloads per source mapping (async Redis)."""

    def __init__(self, redis: Any, prefix: str = DEFAULT_PREFIX, *, keep_s: int = 7 * DAY_S,
                 max_per_source: int = 50) -> None:
        self.r, self.keys, self.keep_s, self.max = redis, Keys(prefix), keep_s, max_per_source  # 0: keep none

    def queue_add(self, pipe: Any, deliveries: Sequence[Delivery], config: Config) -> None:
        """Queue on ``pipe`` the commands that keep these deliveries (a redelivery of the same payload only moves
        its time), trim each source's set to the retention and the cap, and renew its expiry."""
        if self.max <= 0 or not deliveries:
            return
        now = time.time()
        touched: set[str] = set()
        for d in deliveries:
            member = _enc.encode(_Entry(id=d.delivery_id, payload=d.payload))
            if len(member) > MAX_BYTES:  # no form sends that much: not worth the memory of a preview sample
                continue
            key = self.keys.recent_payloads(source_of(d, config))
            pipe.zadd(key, {member: d.received_at.timestamp()})
            touched.add(key)
        for key in touched:
            pipe.zremrangebyscore(key, "-inf", now - self.keep_s)
            pipe.zremrangebyrank(key, 0, -(self.max + 1))
            pipe.expire(key, self.keep_s)

    async def add(self, deliveries: Sequence[Delivery], config: Config) -> None:
        """Keep these deliveries' payloads (one round trip)."""
        pipe = self.r.pipeline(transaction=False)
        self.queue_add(pipe, deliveries, config)
        await pipe.execute()

    async def list(self, source: str, limit: int = 50) -> list[RecentPayload]:
        """The newest first, none older than the retention."""
        raw = await self.r.zrevrangebyscore(self.keys.recent_payloads(source), "+inf", time.time() - self.keep_s,
                                            start=0, num=max(1, limit), withscores=True)
        out = []
        for member, score in raw:
            entry = _dec.decode(member)
            out.append(RecentPayload(id=entry.id, source=source, at=float(score), payload=entry.payload))
        return out

    async def get(self, source: str, payload_id: str) -> RecentPayload | None:
        """One kept payload by its delivery id, or None (unknown, or past its retention)."""
        return next((p for p in await self.list(source, self.max) if p.id == payload_id), None)

    async def find(self, sources: Sequence[str], payload_id: str) -> RecentPayload | None:
        """The payload of a delivery in any of these sources' sets (a decision's trace)."""
        for source in sources:
            found = await self.get(source, payload_id)
            if found is not None:
                return found
        return None
