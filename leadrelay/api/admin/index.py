"""The stored decisions the admin API searches and counts, through the store's decision index
(``Store.decisions_between``, by decided_at) and its per-day rule hit counts (``Store.rule_hits``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import msgspec

from connector.decision import Decision, decision_from_json
from worker.store import Store

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


async def load(store: Store, lead_ids: Iterable[str]) -> list[Stored]:
    """The stored decisions of these leads (those that have one), in the order given."""
    ids = list(lead_ids)
    if not ids:
        return []
    pipe = store.r.pipeline(transaction=False)
    for lid in ids:
        pipe.hmget(store.keys.lead(lid), list(_FIELDS))
    out = [_stored(lid, values) for lid, values in zip(ids, await pipe.execute(), strict=True)]
    return [s for s in out if s is not None]


async def one(store: Store, lead_id: str) -> Stored | None:
    found = await load(store, [lead_id])
    return found[0] if found else None


async def decisions_between(store: Store, since: float, until: float, limit: int) -> list[Stored]:
    """Decisions made in [since, until), newest first, at most ``limit``."""
    found = await load(store, [lead_id for lead_id, _ in await store.decisions_between(since, until, limit)])
    found = [s for s in found if since <= s.at < until]
    found.sort(key=lambda s: s.at, reverse=True)
    return found[:limit]


async def rule_hits(store: Store, days: int) -> dict[str, int]:
    """Per rule, the decisions of the last ``days`` days it applied in, keyed ``kind:name`` (``routing:<rule>``,
    ``scoring:<rule>``, ``tags:<rule>``, ``segments:<name>``: one name may be a scoring and a tag rule)."""
    return await store.rule_hits(days)
