"""The stored decisions the admin API searches and counts: through the store's decision index when it has one
(``Store.decisions_between`` / ``Store.rule_hits``), else by walking the lead hashes (SCAN; fine for the size
of one installation's retention, and exact).

This is the one place that knows how decisions are found: the integrator reconciles it with the index.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import msgspec

from connector.decision import Decision, decision_from_json
from worker.store import Store

DAY_S = 86_400
SCAN_MAX = 200_000  # lead hashes walked at most by one search without the index
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


def _lead_id(key: bytes, prefix_len: int) -> str:
    return key.decode()[prefix_len:]


async def _scan(store: Store, since: float, until: float) -> list[Stored]:
    pattern = store.keys.lead_pattern
    cut = len(pattern) - 1  # the key less the trailing "*" is the lead id's prefix
    out: list[Stored] = []
    walked = 0
    async for batch in _batches(store, pattern):
        walked += len(batch)
        for s in await load(store, [_lead_id(k, cut) for k in batch]):
            if since <= s.at < until:
                out.append(s)
        if walked >= SCAN_MAX:
            break
    return out


async def _batches(store: Store, pattern: str) -> Any:
    cursor: int | bytes = 0
    while True:
        cursor, keys = await store.r.scan(cursor=cursor, match=pattern, count=1000)
        if keys:
            yield keys
        if not int(cursor):
            return


def _ids(found: Iterable[Any]) -> list[str]:
    """Lead ids from what an index returns: ids, or (id, score) pairs."""
    out = []
    for item in found:
        value = item[0] if isinstance(item, tuple | list) else item
        out.append(value.decode() if isinstance(value, bytes) else str(value))
    return out


async def decisions_between(store: Store, since: float, until: float, limit: int) -> list[Stored]:
    """Decisions made in [since, until), newest first, at most ``limit``."""
    index = getattr(store, "decisions_between", None)
    if index is not None:
        found = await load(store, _ids(await index(since, until, limit)))
    else:
        found = await _scan(store, since, until)
    found.sort(key=lambda s: s.at, reverse=True)
    return found[:limit]


def hits_of(decisions: Iterable[Decision]) -> dict[str, int]:
    """How often each routing, scoring and tag rule applied in these decisions."""
    counts: Counter[str] = Counter()
    for d in decisions:
        if d.route.assignment.rule:
            counts[d.route.assignment.rule] += 1
        counts.update({hit.rule for hit in d.score.hits})
        # a tag's reason starts with its rule's name ("fit_enterprise: ..."; "segment junk: ...")
        counts.update({why.split(": ", 1)[0].removeprefix("segment ") for why in d.tags.reasons.values()})
    return dict(counts.most_common())


async def rule_hits(store: Store, days: int) -> dict[str, int]:
    """Per rule name, the decisions of the last ``days`` days it applied in."""
    index = getattr(store, "rule_hits", None)
    if index is not None:
        found: dict[str, int] = await index(days)
        return found
    now = time.time()
    return hits_of(s.decision for s in await _scan(store, now - days * DAY_S, now + 1))
