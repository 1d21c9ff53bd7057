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

from connector import transforms as tf
from connector.conditions import lead_view, with_context
from connector.config import Config
from connector.decision import Decision, MatchResult, RouteResult, ScoreResult, WritePlan
from connector.errors import InputError
from connector.mapping import crm_fields, map_payload
from connector.mapping.crm import CrmField, CrmMapping, MatchedObject
from connector.match import IdentityIndex, match
from connector.model import CrmRecord, Lead
from connector.normalize import normalize
from connector.ports import Delivery, WriteItem
from connector.routing import RoutingState, route
from connector.score import score
from connector.sla import held_owner_id
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
    """The CRM owner id to write: the rep's id in that CRM, else the queue's, else none. A lead held after hours
    gets no owner (or the SLA's hold queue's) until its release writes the rep (``worker.sla``)."""
    a = decision.route.assignment
    if a.hold_until is not None:
        return held_owner_id(config.sla, config.team, crm)
    if a.owner_ids.get(crm):
        return a.owner_ids[crm]
    if a.owner and a.owner in config.team.by_id:
        owner = config.team.by_id[a.owner].owner_ids.get(crm)
        if owner:
            return owner
    if a.queue and a.queue in config.team.queues:
        return config.team.queues[a.queue].owner_ids.get(crm)
    return None


_UNKNOWN = object()  # a field of the existing record whose value we were not told


class _Target(msgspec.Struct, kw_only=True, frozen=True):
    """The existing record a write goes to, as far as it is known."""

    record_id: str | None  # None: the record is ours, found by the mapping's upsert key
    kind: str | None  # the person match kind ("lead", "contact"), when it is a matched record
    current: dict[str, Any]  # its field values as the CRM has them (those we were told)
    owner: str | None  # its owner, when known


def _target(decision: Decision, crm: str, record: CrmRecord | None, record_id: str | None) -> _Target | None:
    """The existing record this decision's write updates: ``record`` (the CRM's own record the lead came from, or
    the matched candidate), else the matched person in this CRM, else ``record_id``; None for a new record."""
    m = decision.match
    person = m if m is not None and m.kind != "account" and m.crm == crm else None
    if record is not None and record.crm == crm:
        return _Target(record_id=record.id, kind=record.kind, current=dict(record.fields), owner=record.owner_id)
    if person is not None and record_id in (None, person.record_id):
        return _Target(record_id=person.record_id, kind=person.kind, current={}, owner=person.owner_id)
    return _Target(record_id=record_id, kind=None, current={}, owner=None) if record_id else None


def _current(field: CrmField, target: _Target) -> Any:
    if field.to in target.current:
        return target.current[field.to]
    if field.from_ == "decision.owner_id" and target.owner is not None:
        return target.owner
    return _UNKNOWN


def _keep_existing(fields: dict[str, Any], spec: list[CrmField], mapping: CrmMapping, target: _Target,
                   obj: str, section: bool) -> dict[str, str]:
    """Drop from ``fields`` what the existing record keeps: ``if_empty`` fields it has a value for (or might),
    and a stage that would not move it forward (``lifecycle_backwards: never``). Returns field -> why."""
    kept: dict[str, str] = {}
    for f in spec:
        if f.if_empty and f.to in fields:
            now = _current(f, target)
            if now is _UNKNOWN or not tf.is_empty(now):
                del fields[f.to]
                kept[f.to] = f"the {obj} has one" if now is not _UNKNOWN else f"the {obj}'s own is not known"
    stage = mapping.stage_field
    if not section and stage is not None and stage in fields:
        now = target.current.get(stage, _UNKNOWN)
        why = mapping.stage_kept(fields[stage], None if now is _UNKNOWN else now, known=now is not _UNKNOWN)
        if why is not None:
            del fields[stage]
            kept[stage] = why
    return kept


def plan_write(
    decision: Decision,
    config: Config,
    crm: str,
    *,
    owner_id: str | None = None,
    record_id: str | None = None,
    record: CrmRecord | None = None,
    update: bool = False,
    lane: str = "live",
) -> tuple[WriteItem, WritePlan]:
    """The CRM write for a decision, and what it does. The record written: a new one (upserted by the mapping's
    key, the lead id), or an existing one — ``record`` / the matched person / ``record_id`` — whose current values
    (``record.fields``) decide what it keeps. A matched record of a kind the mapping has a ``matched`` section for
    (a Salesforce Contact) gets that section's fields only. ``update``: the record is one we wrote before (a
    re-decision), its current values unknown."""
    mapping = config.crm[crm]
    owner = owner_id if owner_id is not None else owner_id_for(decision, config, crm)
    target = _target(decision, crm, record, record_id)
    section: MatchedObject | None = mapping.matched.get(target.kind or "") if target is not None else None
    obj = section.object if section is not None else mapping.object
    fields = crm_fields(decision.lead, decision, mapping, owner_id=owner, section=section)
    kept: dict[str, str] = {}
    if target is not None or update:
        known = target or _Target(record_id=None, kind=None, current={}, owner=None)
        spec = section.fields if section is not None else mapping.fields
        kept = _keep_existing(fields, spec, mapping, known, obj, section is not None)
    held = decision.route.assignment.hold_until
    if held is not None and owner_id is None:  # the owner waits for the release (owner_id: the release's write)
        for f in (section.fields if section is not None else mapping.fields):
            if f.from_ == "decision.owner_id" and f.to not in fields:
                kept[f.to] = f"held after hours: the owner is written at {held.isoformat(timespec='minutes')}"
    rid = target.record_id if target is not None else None
    m = decision.match
    item = WriteItem(key=decision.lead.id or decision.lead.identity.email or "", fields=fields, record_id=rid,
                     object_type=obj, lane=lane,
                     account_id=m.account_id if m is not None and section is None else None)
    return item, WritePlan(crm=crm, object=obj, record_id=rid, matched=target.kind if section and target else None,
                           fields=tuple(fields), kept=kept, summary=_summary(mapping, obj, rid, section, kept, update))


def _summary(mapping: CrmMapping, obj: str, rid: str | None, section: MatchedObject | None,
             kept: dict[str, str], update: bool) -> str:
    if section is not None:
        text = f"updates the matched {obj} {rid}; no {mapping.object} is created"
    elif rid:
        text = f"updates {obj} {rid}"
    else:
        text = f"{'updates' if update else 'creates or updates'} {obj} by {mapping.upsert_key}"
    if kept:
        text += "; left as they are: " + ", ".join(f"{k} ({why})" for k, why in kept.items())
    return text


def write_item(
    decision: Decision,
    config: Config,
    crm: str,
    *,
    owner_id: str | None = None,
    record_id: str | None = None,
    record: CrmRecord | None = None,
    update: bool = False,
    lane: str = "live",
) -> WriteItem:
    """The CRM write for a decision (``plan_write`` without the plan)."""
    return plan_write(decision, config, crm, owner_id=owner_id, record_id=record_id, record=record, update=update,
                      lane=lane)[0]
