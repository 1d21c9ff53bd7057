"""The webhook endpoints: forms, Typeform, and one per CRM plugin (``/webhooks/{name}``).

Each: size limit -> signature and replay window -> parse -> record + enqueue -> 2xx.

The 2xx goes out only after every delivery in the request is in the arq queue (Redis, AOF in production).
A redelivery (same delivery id) is answered 2xx and queues nothing.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from typing import Any

import structlog
from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from adapters.crm import registry
from adapters.crm.plugin import CrmPlugin, WebhookRequest
from adapters.forms import form as form_adapter
from adapters.forms import standard_webhooks, typeform
from connector.config import Config
from connector.errors import SignatureError
from connector.ports import Delivery
from connector.settings import Settings
from leadrelay.api.problems import NotFound, PayloadTooLarge, problem_responses

Req = Request[Any, Any, State]
log = structlog.get_logger("leadrelay.api")


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
    from worker.redis_clients import ReplicaWait

    # one round trip and one atomic step for up to 100 HubSpot events: a delivery is either a redelivery
    # (nothing done) or recorded and queued together, so a crash can neither lose nor double it
    fresh = await accept_deliveries(app.store.r, deliveries, app.settings.key_prefix,
                                    wait=ReplicaWait.of(app.settings))
    accepted = sum(fresh)
    if accepted and app.get("recent") is not None:
        await keep_recent(app, [d for d, new in zip(deliveries, fresh, strict=True) if new])
    seen = len(fresh) - accepted
    source = deliveries[0].source if deliveries else "unknown"
    if accepted:
        await app.count(source, "accepted", "", accepted)
    if seen:
        await app.count(source, "duplicate", "", seen)
    return accepted, seen


async def keep_recent(app: State, deliveries: list[Delivery]) -> None:
    """Keep the accepted payloads for the console's mapping preview (one pipelined round trip, capped, kept a few
    days). The delivery is queued already: a failure here is logged (never the payload) and the answer stays 2xx."""
    try:
        await app.recent.add(deliveries, app.config)
    except Exception as exc:
        log.warning("recent_payloads_failed", source=deliveries[0].source, error=type(exc).__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@post("/webhooks/forms/{form:str}", status_code=202, summary="A website form submission (Standard Webhooks)",
      responses=problem_responses(400, 401, 404, 413, 503))
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
      responses=problem_responses(400, 401, 404, 413, 503))
async def typeform_webhook(request: Req, form: FromPath[str]) -> dict[str, Any]:
    """Typeform-Signature: sha256=<base64 HMAC of the raw body>."""
    st = request.app.state
    source = _source_mapping(st.config, form, "typeform")
    body = await read_body(request, st.settings)
    typeform.verify(_secret(source.inbound.secret_env, f"typeform form {form!r}"), request.headers, body)
    d = typeform.typeform_delivery(form, body, received_at=_now())
    accepted, _ = await accept(request, [d])
    return {"status": "accepted" if accepted else "duplicate", "delivery_id": d.delivery_id}


def public_url(request: Req, settings: Settings) -> str:
    """The URL as the sender called it (behind a proxy: LEADRELAY_PUBLIC_BASE_URL), which a signature may cover."""
    if not settings.public_base_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return settings.public_base_url.rstrip("/") + request.url.path + query


def crm_webhook(plugin: CrmPlugin) -> HTTPRouteHandler:
    """``POST /webhooks/{name}``: the CRM's own webhooks, verified and parsed by its plugin."""

    async def handler(request: Req) -> Response[bytes]:
        st = request.app.state
        settings: Settings = st.settings
        body = await read_body(request, settings)
        inbound = WebhookRequest(method=request.method, url=public_url(request, settings), body=body,
                                 headers={k.lower(): v for k, v in request.headers.items()})
        # off the event loop: a plugin may call its CRM back to verify a request (Salesforce's SessionId)
        received = await asyncio.to_thread(plugin.receive, inbound, settings=settings, config=st.config, now=_now())
        accepted, duplicate = await accept(request, received.deliveries)
        answer = plugin.answer(received, accepted=accepted, duplicate=duplicate)
        return Response(answer.body, media_type=answer.media_type, status_code=answer.status)

    spec = plugin.endpoint
    handler.__name__ = handler.__qualname__ = spec.handler_name  # names the OpenAPI operation
    handler.__doc__ = spec.description
    documented = ResponseSpec(data_container=spec.answer, description="Request fulfilled, document follows",
                              generate_examples=False)
    return post(f"/webhooks/{plugin.name}", status_code=200, summary=spec.summary,
                responses={200: documented, **problem_responses(400, 401, 413, 503)})(handler)


HANDLERS = [form_webhook, typeform_webhook, *(crm_webhook(p) for p in registry.plugins())]
# the sources a webhook path names ("forms" -> "form"): metric labels come only from these
SOURCES = frozenset({"form", "typeform", *registry.names()})
