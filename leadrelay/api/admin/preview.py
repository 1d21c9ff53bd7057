"""Previews that write nothing: a raw payload through a draft's source mapping to the canonical lead and the exact
CRM payload of each CRM mapping; one lead (pasted or stored) through a draft to its whole decision; and the recent
raw payloads of a source to pick from. Pure core calls on this process's copy of the routing state: no CRM call,
no commit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import get, post
from litestar.params import JSONBody, Parameter

from adapters.inbound_json import check_nesting
from connector.config import Config
from connector.decision import Decision
from connector.errors import InputError
from connector.model import Lead
from connector.pipeline import ingest, plan_write
from connector.routing import RoutingState
from connector.simulate import run_leads
from leadrelay.api.admin import budget, index
from leadrelay.api.admin.common import CHECK, TAGS, Changes, Req, draft_config, iso, to_builtins
from leadrelay.api.auth import viewer
from leadrelay.api.problems import NotFound
from worker.recent import RecentPayloads

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class MappingPreviewIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    source: Name  # the source mapping (mappings/sources/<name>.yaml)
    payload: dict[str, Any] | None = None  # a pasted raw payload ...
    recent_id: str | None = None  # ... or a recent one's id (GET /api/admin/payloads)
    files: Changes = {}  # the draft's changed files


class LeadPreviewIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    source: Name | None = None  # with payload: the source mapping that reads it
    payload: dict[str, Any] | None = None
    lead_id: str | None = None  # or a stored lead, decided again
    files: Changes = {}


class Payload(msgspec.Struct, kw_only=True):
    id: str
    source: str
    at: str | None
    payload: dict[str, Any]


def _recent(request: Req) -> RecentPayloads:
    recent: RecentPayloads = request.app.state.recent
    return recent


def _source(config: Config, name: str) -> None:
    if name not in config.sources:
        raise NotFound(f"no source mapping named {name!r}",
                       hint=f"known: {', '.join(sorted(config.sources)) or 'none'}")


@get("/payloads", summary="Recent raw payloads of one source mapping, newest first", guards=[viewer], tags=TAGS,
     responses=CHECK)
async def payloads(request: Req, source: Annotated[str, Parameter(min_length=1, max_length=200)],
                   limit: Annotated[int, Parameter(ge=1, le=500)] = 50) -> list[Payload]:
    _source(request.app.state.config, source)
    return [Payload(id=p.id, source=p.source, at=iso(p.at), payload=p.payload)
            for p in await _recent(request).list(source, limit)]


async def _payload(request: Req, source: str, payload: dict[str, Any] | None, recent_id: str | None) -> dict[str, Any]:
    if payload is not None:
        return payload
    if recent_id is None:
        raise InputError("give `payload` (a raw payload) or `recent_id` (from /api/admin/payloads)", field="payload")
    found = await _recent(request).get(source, recent_id)
    if found is None:
        raise NotFound(f"no recent {source} payload {recent_id!r}", hint="it may be past its retention; "
                       "GET /api/admin/payloads?source=... lists those kept")
    return found.payload


def _now() -> datetime:
    return datetime.now(UTC)


def crm_payloads(decision: Decision, config: Config) -> dict[str, Any]:
    """Per CRM mapping, the object and the exact fields the write would send (a new record)."""
    out = {}
    for crm in sorted(config.crm):
        item, plan = plan_write(decision, config, crm)
        out[crm] = {"object": item.object_type or plan.object, "fields": item.fields, "summary": plan.summary,
                    "kept": plan.kept}
    return out


async def _draft(request: Req, payload: dict[str, Any] | None, files: Changes) -> Config:
    """The draft's config, once a pasted payload is known not to nest deeper than the webhooks allow."""
    if payload is not None:
        check_nesting(payload, "payload")
    return await draft_config(request, files)


def _mapping_preview(config: Config, source: str, payload: dict[str, Any], state: RoutingState,
                     now: datetime) -> dict[str, Any]:
    _source(config, source)
    errors: list[dict[str, Any]] = []
    try:
        lead = ingest(payload, config, mapping=source)
    except InputError as exc:
        return {"lead": None, "crm": {}, "errors": [{"field": exc.field, "message": exc.message}]}
    # the flags a mapping row raises (a value it could not read) are what the admin fixes in the table
    errors += [{"field": flag.removesuffix("_unparsed"), "message": "the value could not be read"}
               for flag in lead.flags if flag.endswith("_unparsed")]
    decision = run_leads(config, [lead], [], now=now, state=state).decisions[0]
    return {"lead": to_builtins(lead), "crm": crm_payloads(decision, config), "errors": errors,
            "config_version": config.version}


@post("/preview/mapping", status_code=200, summary="A raw payload through a draft's source mapping: the canonical "
      "lead and each CRM's payload (writes nothing)", guards=[viewer], tags=TAGS, responses=CHECK)
async def preview_mapping(request: Req, data: JSONBody[MappingPreviewIn]) -> dict[str, Any]:
    config = await _draft(request, data.payload, data.files)
    _source(config, data.source)
    payload = await _payload(request, data.source, data.payload, data.recent_id)
    state = await request.app.state.store.snapshot()
    return await budget.answer(request, "the mapping preview", _mapping_preview, config, data.source, payload,
                               state, _now())  # type: ignore[no-any-return]


async def _lead(request: Req, data: LeadPreviewIn, config: Config) -> Lead | None:
    """The stored lead to decide again, or None for a pasted payload (read by ``_lead_preview``)."""
    if data.lead_id is not None:
        stored = await index.one(request.app.state.store, data.lead_id)
        if stored is None:
            raise NotFound(f"no decided lead {data.lead_id!r}", hint="GET /api/admin/decisions finds one")
        return stored.decision.lead
    if data.payload is None or data.source is None:
        raise InputError("give `source` and `payload`, or `lead_id`", field="payload")
    _source(config, data.source)
    return None


def _lead_preview(config: Config, lead: Lead | None, data: LeadPreviewIn, state: RoutingState, now: datetime,
                  crm: str) -> dict[str, Any]:
    if lead is None:
        assert data.payload is not None and data.source is not None
        lead = msgspec.structs.replace(ingest(data.payload, config, mapping=data.source), id="preview")
    decision = run_leads(config, [lead], [], now=now, state=state).decisions[0]
    if crm in config.crm:
        _, plan = plan_write(decision, config, crm)
        decision = msgspec.structs.replace(decision, write=plan)
    out: dict[str, Any] = to_builtins(decision)
    out["crm"] = crm_payloads(decision, config)
    return out


@post("/preview/lead", status_code=200, summary="One lead through a draft: the whole decision, every reason and "
      "skipped candidate (writes nothing)", guards=[viewer], tags=TAGS, responses=CHECK)
async def preview_lead(request: Req, data: JSONBody[LeadPreviewIn]) -> dict[str, Any]:
    config = await _draft(request, data.payload, data.files)
    lead = await _lead(request, data, config)
    state: RoutingState = await request.app.state.store.snapshot()
    return await budget.answer(request, "the lead preview", _lead_preview, config, lead, data, state, _now(),
                               request.app.state.settings.crm)  # type: ignore[no-any-return]


HANDLERS = [payloads, preview_mapping, preview_lead]
