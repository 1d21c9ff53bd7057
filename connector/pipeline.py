"""The decision pipeline: payload -> canonical lead -> match -> score -> tag -> route -> Decision.

Pure functions of (lead, config, state snapshot, now). The worker supplies candidates and the
routing state from Redis and applies ``decision.route.changes`` atomically; simulate and the
benchmarks supply them from memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from time import perf_counter
from typing import Any

import msgspec

from connector.conditions import lead_view, with_context
from connector.config import Config
from connector.decision import Decision, MatchResult, RouteResult, ScoreResult
from connector.errors import InputError
from connector.mapping import crm_fields, map_payload
from connector.match import IdentityIndex, match
from connector.model import CrmRecord, Lead
from connector.normalize import normalize
from connector.ports import Delivery, WriteItem
from connector.routing import RoutingState, route
from connector.score import score
from connector.tags import tag

# Which source mapping reads a delivery from these sources when the delivery does not name one.
DEFAULT_MAPPINGS = {"form": "website", "csv": "website"}


def mapping_name(delivery: Delivery, config: Config) -> str:
    """The source mapping for a delivery: the form's own, else the source's default, else the one mapping whose
    ``source`` is the delivery's (a CRM's deliveries: ``source: <crm>`` in its mapping file)."""
    if delivery.form:
        return delivery.form
    if delivery.source in DEFAULT_MAPPINGS:
        return DEFAULT_MAPPINGS[delivery.source]
    names = [name for name, m in config.sources.items() if m.source == delivery.source]
    if len(names) > 1:
        raise InputError(f"{delivery.source} deliveries are read by {', '.join(names)}: the delivery must name one",
                         field="form")
    return names[0] if names else delivery.source


def ingest(payload: Mapping[str, Any], config: Config, *, mapping: str) -> Lead:
    """Map a payload with the named source mapping, then normalize. Unknown mapping -> InputError."""
    source = config.sources.get(mapping)
    if source is None:
        raise InputError(f"no source mapping named {mapping!r} (mappings/sources/{mapping}.yaml)", field="form")
    return normalize(map_payload(dict(payload), source))


def ingest_delivery(delivery: Delivery, config: Config, *, mapping: str | None = None) -> Lead:
    """The canonical lead of one queued delivery (origin carries the delivery id).

    ``mapping`` names the source mapping; by default ``mapping_name`` picks it.
    """
    lead = ingest(delivery.payload, config, mapping=mapping or mapping_name(delivery, config))
    origin = msgspec.structs.replace(
        lead.origin,
        delivery_id=delivery.delivery_id,
        submitted_at=lead.origin.submitted_at or delivery.received_at,
    )
    return msgspec.structs.replace(lead, origin=origin)


def explain(m: MatchResult | None, sc: ScoreResult, rt: RouteResult) -> str:
    """One line an admin reads: who, why, and how hot."""
    a = rt.assignment
    who = a.owner or f"queue {a.queue}"
    parts = [f"{who} by rule {a.rule!r} ({a.reason})" if a.reason else f"{who} by rule {a.rule!r}"]
    parts.append(f"score {sc.total:g} ({sc.grade}, {sc.stage})")
    if m is not None:
        parts.append(f"matched {m.kind} {m.record_id} by {m.rule}")
    if rt.skipped:
        parts.append("skipped " + ", ".join(f"{s.rep} ({s.reason})" for s in rt.skipped[:3]))
    if a.hold_until is not None:
        parts.append(f"held until {a.hold_until.isoformat()}")
    return "; ".join(parts)


def decide(
    lead: Lead,
    config: Config,
    *,
    state: RoutingState,
    now: datetime,
    candidates: Sequence[CrmRecord] = (),
    index: IdentityIndex | None = None,
) -> Decision:
    """Decide about one lead. Match against ``candidates`` (or an in-memory ``index``), then score, tag, route."""
    t0 = perf_counter()
    found = index.match(lead, config=config.matching) if index is not None else (
        match(lead, candidates, config=config.matching) if candidates else None
    )
    t1 = perf_counter()
    # the lead view each step reads, built once; each step's result is added for the next as a new value
    view = lead_view(lead, match=found)
    sc = score(lead, config.scoring, now=now, match=found, view=view)
    t2 = perf_counter()
    scored = with_context(view, score=sc)
    tg = tag(lead, sc, config.tags, match=found, view=scored)
    t3 = perf_counter()
    rt = route(lead, score=sc, tags=tg, match=found, config=config.routing, team=config.team, state=state, now=now,
               view=with_context(scored, tags=tg))
    t4 = perf_counter()
    return Decision(
        lead=lead,
        match=found,
        score=sc,
        tags=tg,
        route=rt,
        config_version=config.version,
        decided_at=now,
        timings_ms={
            "match": (t1 - t0) * 1000, "score": (t2 - t1) * 1000, "tag": (t3 - t2) * 1000, "route": (t4 - t3) * 1000,
        },
        explanation=explain(found, sc, rt),
    )


def owner_id_for(decision: Decision, config: Config, crm: str) -> str | None:
    """The CRM owner id to write: the rep's id in that CRM, else the queue's, else none."""
    a = decision.route.assignment
    if a.owner_ids.get(crm):
        return a.owner_ids[crm]
    if a.owner and a.owner in config.team.by_id:
        owner = config.team.by_id[a.owner].owner_ids.get(crm)
        if owner:
            return owner
    if a.queue and a.queue in config.team.queues:
        return config.team.queues[a.queue].owner_ids.get(crm)
    return None


def write_item(
    decision: Decision,
    config: Config,
    crm: str,
    *,
    owner_id: str | None = None,
    record_id: str | None = None,
    lane: str = "live",
) -> WriteItem:
    """The CRM write for a decision: mapped fields, owner, matched account, keyed by the lead id."""
    mapping = config.crm[crm]
    lead = decision.lead
    owner = owner_id if owner_id is not None else owner_id_for(decision, config, crm)
    fields = crm_fields(lead, decision, mapping, owner_id=owner)
    m = decision.match
    return WriteItem(
        key=lead.id or lead.identity.email or "",
        fields=fields,
        record_id=record_id or (m.record_id if m is not None and m.kind != "account" and m.crm == crm else None),
        object_type=mapping.object,
        account_id=m.account_id if m is not None else None,
        lane=lane,
    )
