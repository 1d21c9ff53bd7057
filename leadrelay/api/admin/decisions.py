"""Stored decisions: search (email, company, owner, rule, dates), one lead's whole trace (raw payload -> canonical
lead -> match -> score -> route with skipped candidates -> CRM write and its result, with a link to the record),
and how often each rule applied over the last N days."""

from __future__ import annotations

import time
from typing import Annotated, Any

import msgspec
from litestar import get
from litestar.params import FromPath, Parameter

from adapters.crm import registry
from connector.decision import Decision
from leadrelay.api.admin import budget, index
from leadrelay.api.admin.common import CHECK, READ, TAGS, Req, iso, parse_time, to_builtins
from leadrelay.api.auth import viewer
from leadrelay.api.problems import NotFound, problem_responses
from worker.recent import RecentPayloads

Text = Annotated[str | None, Parameter(max_length=200)]
FILTERED_WINDOW = 20_000  # decisions read from the index when a filter is to be applied to them


class DecisionRow(msgspec.Struct, kw_only=True):
    lead_id: str
    email: str | None
    company: str | None
    owner: str | None
    queue: str | None
    rule: str
    score: float
    grade: str
    stage: str
    source: str | None
    decided_at: str | None
    config_version: str


def row(s: index.Stored) -> DecisionRow:
    d = s.decision
    a = d.route.assignment
    return DecisionRow(lead_id=s.lead_id, email=d.lead.identity.email, company=d.lead.company.name, owner=a.owner,
                       queue=a.queue, rule=a.rule, score=d.score.total, grade=d.score.grade, stage=d.score.stage,
                       source=d.lead.origin.form or d.lead.origin.source, decided_at=iso(s.at),
                       config_version=d.config_version)


def _matches(s: index.Stored, q: str | None, owner: str | None, rule: str | None) -> bool:
    d = s.decision
    a = d.route.assignment
    if owner and owner not in (a.owner, a.queue, f"queue:{a.queue}"):
        return False
    if rule and rule != a.rule:
        return False
    if q:
        needle = q.casefold()
        c = d.lead.company
        hay = (s.lead_id, d.lead.identity.email, d.lead.identity.full_name, d.lead.identity.first_name,
               d.lead.identity.last_name, c.name, c.domain)
        return any(needle in h.casefold() for h in hay if h)
    return True


@get("/decisions", summary="Search decided leads by email, company, name, owner, rule and date, newest first",
     guards=[viewer], tags=TAGS, responses=problem_responses(400, 401, 403, 422, 503))
async def search(request: Req, q: Text = None, owner: Text = None, rule: Text = None, since: Text = None,
                 until: Text = None, limit: Annotated[int, Parameter(ge=1, le=1000)] = 100) -> list[DecisionRow]:
    start = parse_time(since, "since") or 0.0
    end = parse_time(until, "until") or time.time() + 1
    filtered = bool(q or owner or rule)
    raw = await index.fetch_between(request.app.state.store, start, end, FILTERED_WINDOW if filtered else limit)
    # decoding and filtering up to FILTERED_WINDOW decisions is CPU work: off the event loop, within the budget
    return await budget.answer(request, "the decision search", _search, raw, start, end, q, owner, rule,
                               limit)  # type: ignore[no-any-return]


def _search(raw: list[index.Raw], start: float, end: float, q: str | None, owner: str | None, rule: str | None,
            limit: int) -> list[DecisionRow]:
    return [row(s) for s in index.decode(raw, start, end) if _matches(s, q, owner, rule)][:limit]


def record_url(settings: Any, record: str | None) -> str | None:
    """A link to the CRM record ("crm:id"), when the settings say enough for the CRM's plugin to make one."""
    if not record:
        return None
    crm, _, record_id = record.partition(":")
    if not registry.is_crm(crm):
        return None
    return registry.plugin(crm).record_url(settings, record_id) or None


async def _payload(request: Req, d: Decision) -> dict[str, Any] | None:
    """The raw payload this lead came in with, while it is kept (recent payloads, by delivery id)."""
    recent: RecentPayloads | None = request.app.state.get("recent")
    delivery = d.lead.origin.delivery_id
    if recent is None or not delivery:
        return None
    sources = [s for s in (d.lead.origin.form, d.lead.origin.source) if s]
    found = await recent.find(sources, delivery)
    return found.payload if found is not None else None


def _text(raw: bytes | None) -> str | None:
    return raw.decode() if raw is not None else None


@get("/decisions/{lead_id:str}", summary="One lead's trace: payload, canonical lead, match, score, route, CRM write",
     guards=[viewer], tags=TAGS, responses=CHECK)
async def trace(request: Req, lead_id: FromPath[str]) -> dict[str, Any]:
    stored = await index.one(request.app.state.store, lead_id)
    if stored is None:
        raise NotFound(f"no decided lead {lead_id!r}", hint="GET /api/admin/decisions finds one")
    d = stored.decision
    record = _text(stored.fields.get("record"))
    result = msgspec.json.decode(stored.fields["write"]) if "write" in stored.fields else None
    return {
        "lead_id": lead_id,
        "payload": await _payload(request, d),
        "lead": to_builtins(d.lead),
        "match": to_builtins(d.match),
        "score": to_builtins(d.score),
        "tags": to_builtins(d.tags),
        "route": to_builtins(d.route),
        "write": to_builtins(d.write),
        "crm_result": result,
        "record": record,
        "record_url": record_url(request.app.state.settings, record),
        "dead_letter": _text(stored.fields.get("dead_letter")),
        "explanation": d.explanation,
        "config_version": d.config_version,
        "decided_at": iso(stored.at),
        "received_at": iso(float(stored.fields["received_at"])) if stored.fields.get("received_at") else None,
        "written_at": iso(float(stored.fields["written_at"])) if stored.fields.get("written_at") else None,
    }


@get("/rules/hits", summary="How often each routing, scoring and tag rule applied over the last N days",
     guards=[viewer], tags=TAGS, responses=READ)
async def rule_hits(request: Req, days: Annotated[int, Parameter(ge=1, le=366)] = 7) -> dict[str, int]:
    return await index.rule_hits(request.app.state.store, days)


HANDLERS = [search, trace, rule_hits]
