"""The stored decisions the admin API searches and counts, through the store's decision index
(``Store.decisions_between``, by decided_at) and its per-day rule hit counts (``Store.rule_hits``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import msgspec

from connector.decision import Decision, decision_from_json
from worker.store import Store

FETCH_CHUNK = 500  # leads read per round trip
_FIELDS = ("decision", "received_at", "decided_at", "written_at", "record", "write", "dead_letter")


class Stored(NamedTuple):
    """One decided lead as stored: its decision, when it was decided (unix), and the hash's other fields."""

    lead_id: str
    decision: Decision
    at: float
    fields: dict[str, bytes]


def _decided_at(decision: Decision, fields: dict[str, bytes]) -> float:
    if decision.decided_at is not None:
        return decision.decided_at.timestamp()
    raw = fields.get("decided_at")
    return float(raw) if raw else 0.0


def _stored(lead_id: str, values: Sequence[bytes | None]) -> Stored | None:
    fields = {k: v for k, v in zip(_FIELDS, values, strict=True) if v is not None}
    raw = fields.pop("decision", None)
    if raw is None:
        return None
    try:
        decision = decision_from_json(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):  # written by a much older version: not searchable
        return None
    return Stored(lead_id, decision, _decided_at(decision, fields), fields)


Raw = tuple[str, list[bytes | None]]  # a lead id and its hash's _FIELDS, as Redis answered


async def fetch(store: Store, lead_ids: Iterable[str]) -> list[Raw]:
    """The stored fields of these leads, undecoded (decoding thousands is CPU work: ``decode`` it off the loop)."""
    ids = list(lead_ids)
    out: list[Raw] = []
    for start in range(0, len(ids), FETCH_CHUNK):  # a pipeline per chunk: the loop reads other sockets between
        chunk = ids[start:start + FETCH_CHUNK]
        pipe = store.r.pipeline(transaction=False)
        for lid in chunk:
            pipe.hmget(store.keys.lead(lid), list(_FIELDS))
        out += zip(chunk, await pipe.execute(), strict=True)
    return out


def decode(raw: Iterable[Raw], since: float | None = None, until: float | None = None) -> list[Stored]:
    """The decisions among ``raw`` (those that have one); with ``since``/``until``, those decided in [since, until),
    newest first."""
    out = [s for lid, values in raw if (s := _stored(lid, values)) is not None]
    if since is None or until is None:
        return out
    found = [s for s in out if since <= s.at < until]
    found.sort(key=lambda s: s.at, reverse=True)
    return found


async def load(store: Store, lead_ids: Iterable[str]) -> list[Stored]:
    """The stored decisions of these leads (those that have one), in the order given."""
    return decode(await fetch(store, lead_ids))


async def one(store: Store, lead_id: str) -> Stored | None:
    found = await load(store, [lead_id])
    return found[0] if found else None


async def fetch_between(store: Store, since: float, until: float, limit: int) -> list[Raw]:
    """The newest ``limit`` leads decided in [since, until), undecoded (``decode(raw, since, until)``)."""
    return await fetch(store, [lead_id for lead_id, _ in await store.decisions_between(since, until, limit)])


async def decisions_between(store: Store, since: float, until: float, limit: int) -> list[Stored]:
    """Decisions made in [since, until), newest first, at most ``limit`` (decoded off the event loop)."""
    raw = await fetch_between(store, since, until, limit)
    return (await asyncio.to_thread(decode, raw, since, until))[:limit]


async def rule_hits(store: Store, days: int) -> dict[str, int]:
    """Per rule, the decisions of the last ``days`` days it applied in, keyed ``kind:name`` (``routing:<rule>``,
    ``scoring:<rule>``, ``tags:<rule>``, ``segments:<name>``: one name may be a scoring and a tag rule)."""
    return await store.rule_hits(days)
