"""The four webhook endpoints. Each: size limit -> signature and replay window -> parse -> record + enqueue -> 2xx.

The 2xx goes out only after every delivery in the request is in the arq queue (Redis, AOF in production).
A redelivery (same delivery id) is answered 2xx and queues nothing.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import FromPath

from adapters.forms import form as form_adapter
from adapters.forms import standard_webhooks, typeform
from adapters.hubspot import webhook as hubspot_webhook
from adapters.salesforce import outbound as sf_outbound
from connector.config import Config
from connector.errors import SignatureError
from connector.ports import Delivery
from connector.settings import Settings
from leadrelay.api.problems import NotFound, PayloadTooLarge, problem_responses

Req = Request[Any, Any, State]


async def read_body(request: Req, settings: Settings) -> bytes:
    """The raw body, refusing anything over the limit before reading it when the length is declared."""
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit}",
                              hint="raise LEADRELAY_MAX_BODY_BYTES if such deliveries are legitimate")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _source_mapping(config: Config, name: str, kind: str) -> Any:
    source = config.sources.get(name)
    if source is None or source.source != kind:
        known = sorted(n for n, s in config.sources.items() if s.source == kind)
        raise NotFound(f"no {kind} mapping named {name!r}", hint=f"known: {', '.join(known) or 'none'}; "
                       f"add mappings/sources/{name}.yaml")
    return source


def _secret(env_name: str | None, what: str) -> str:
    value = os.environ.get(env_name) if env_name else None
    if not value:
        raise SignatureError(f"{what} has no signing secret configured",
                             hint=f"set {env_name or 'its secret_env'} in the environment")
    return value


async def accept(request: Req, deliveries: list[Delivery]) -> tuple[int, int]:
    """Queue each new delivery; (accepted, duplicates). Called after verification and parsing."""
    app = request.app.state
    from worker.queue import accept_deliveries

    # one round trip and one atomic step for up to 100 HubSpot events: a delivery is either a redelivery
    # (nothing done) or recorded and queued together, so a crash can neither lose nor double it
    fresh = await accept_deliveries(app.store.r, deliveries, app.settings.key_prefix)
    accepted = sum(fresh)
    seen = len(fresh) - accepted
    source = deliveries[0].source if deliveries else "unknown"
    if accepted:
        await app.count(source, "accepted", "", accepted)
    if seen:
        await app.count(source, "duplicate", "", seen)
    return accepted, seen


def _now() -> datetime:
    return datetime.now(UTC)


@post("/webhooks/forms/{form:str}", status_code=202, summary="A website form submission (Standard Webhooks)",
      responses=problem_responses(400, 401, 404, 413))
async def form_webhook(request: Req, form: FromPath[str]) -> dict[str, Any]:
    """JSON or urlencoded; signed with webhook-id / webhook-timestamp / webhook-signature when the form has a secret."""
    st = request.app.state
    settings: Settings = st.settings
    source = _source_mapping(st.config, form, "form")
    body = await read_body(request, settings)
    msg_id = None
    if source.inbound.secret_env:
        secret = _secret(source.inbound.secret_env, f"form {form!r}")
        msg_id = standard_webhooks.verify(secret, request.headers, body, now=time.time(),
                                          tolerance_s=settings.replay_window_s)
    d = form_adapter.form_delivery(form, body, request.headers.get("content-type", ""), delivery_id=msg_id,
                                   received_at=_now())
    accepted, _ = await accept(request, [d])
    return {"status": "accepted" if accepted else "duplicate", "delivery_id": d.delivery_id}


@post("/webhooks/typeform/{form:str}", status_code=200, summary="A Typeform form_response webhook",
      responses=problem_responses(400, 401, 404, 413))
async def typeform_webhook(request: Req, form: FromPath[str]) -> dict[str, Any]:
    """Typeform-Signature: sha256=<base64 HMAC of the raw body>."""
    st = request.app.state
    source = _source_mapping(st.config, form, "typeform")
    body = await read_body(request, st.settings)
    typeform.verify(_secret(source.inbound.secret_env, f"typeform form {form!r}"), request.headers, body)
    d = typeform.typeform_delivery(form, body, received_at=_now())
    accepted, _ = await accept(request, [d])
    return {"status": "accepted" if accepted else "duplicate", "delivery_id": d.delivery_id}


@post("/webhooks/hubspot", status_code=200, summary="HubSpot webhook events (signature v3)",
      responses=problem_responses(400, 401, 413))
async def hubspot_webhooks(request: Req) -> dict[str, Any]:
    """Up to 100 contact.creation / contact.propertyChange events; the worker fetches each contact."""
    st = request.app.state
    settings: Settings = st.settings
    body = await read_body(request, settings)
    secret = settings.hubspot_webhook_secret or _secret(
        st.config.sources["hubspot_contact"].inbound.secret_env if "hubspot_contact" in st.config.sources else None,
        "HubSpot webhooks")
    uri = (settings.public_base_url.rstrip("/") + request.url.path + (f"?{request.url.query}" if request.url.query
           else "")) if settings.public_base_url else str(request.url)
    hubspot_webhook.verify(secret, "POST", uri, request.headers, body, now=time.time(),
                           tolerance_s=settings.replay_window_s)
    events = hubspot_webhook.parse_events(body)
    deliveries = hubspot_webhook.event_deliveries(events, received_at=_now())
    accepted, dup = await accept(request, deliveries)
    return {"events": len(events), "accepted": accepted, "duplicate": dup}


@post("/webhooks/salesforce", status_code=200, summary="Salesforce Outbound Message (SOAP)",
      responses=problem_responses(400, 401, 413))
async def salesforce_outbound(request: Req) -> Response[bytes]:
    """Up to 100 notifications; the organization id must be on the allow-list; answered with the SOAP Ack."""
    st = request.app.state
    settings: Settings = st.settings
    body = await read_body(request, settings)
    allowed = set(settings.salesforce_org_ids)
    mapping = st.config.sources.get("salesforce_lead")
    env_name = mapping.inbound.allowed_org_ids_env if mapping is not None else None
    if env_name and os.environ.get(env_name):
        allowed |= {x.strip() for x in os.environ[env_name].split(",") if x.strip()}
    message = sf_outbound.parse_outbound(body)
    sf_outbound.check_org(message, allowed)
    await accept(request, sf_outbound.outbound_deliveries(message, received_at=_now()))
    return Response(sf_outbound.ack(True), media_type="text/xml; charset=utf-8", status_code=200)


HANDLERS = [form_webhook, typeform_webhook, hubspot_webhooks, salesforce_outbound]
