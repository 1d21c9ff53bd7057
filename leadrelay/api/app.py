"""The Litestar app: ``create_app(settings, ...)`` wires Redis and the CRM client in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, Router, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.params import FromPath

from adapters.crm import registry
from connector.config import Config, read_files
from connector.ports import CrmClient
from connector.settings import Settings
from leadrelay.api.admin import budget
from leadrelay.api.admin import router as admin_router
from leadrelay.api.auth import parse_tokens, request_role, viewer
from leadrelay.api.no_store import no_store
from leadrelay.api.problems import EXCEPTION_HANDLERS, NotFound, problem, problem_responses
from leadrelay.api.ready import checks as ready_checks
from leadrelay.api.webhooks import HANDLERS as WEBHOOKS
from leadrelay.api.webhooks import SOURCES as WEBHOOK_SOURCES
from leadrelay.console import ROUTES as CONSOLE_ROUTES
from leadrelay.console import ConsoleAuth, SessionMiddleware, template_config
from worker import redis_clients
from worker.redis_server import redis_unavailable

Req = Request[Any, Any, State]
_background: set[asyncio.Task[None]] = set()


def _fire(fn: Any, *args: Any) -> None:
    """Run a metrics coroutine without waiting (exception handlers are sync in Litestar)."""
    if fn is None:
        return
    task = asyncio.get_running_loop().create_task(fn(*args))
    _background.add(task)
    task.add_done_callback(_background.discard)


@get("/health", summary="The process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", summary="Redis and the configured CRM answer (the checks only with a token)",
     responses=problem_responses(503))
async def ready(request: Req) -> Response[Any]:
    # the CRM is asked at most once per LEADRELAY_READY_CHECK_INTERVAL_S across every API process (see api.ready)
    checks = await ready_checks(request.app.state)
    good = all(v == "ok" for v in checks.values())
    if request_role(request) is None:  # without a token: ready or not, nothing about what is behind it
        if good:
            return Response({"status": "ready"})
        return problem(503, "Not ready", None, retry_after=5)
    if good:
        return Response({"status": "ready", "checks": checks})
    return problem(503, "Not ready", ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok"),
                   hint="see /metrics and the worker logs", retry_after=5)


@get("/metrics", summary="Prometheus metrics", include_in_schema=False, guards=[viewer])
async def metrics(request: Req) -> Response[bytes]:

    from worker.gauges import job_path_gauges
    from worker.metrics import CONTENT_TYPE, render_async
    from worker.sla import follow_gauges

    st = request.app.state
    if st.get("metrics") is not None:
        await st.metrics.flush()  # this process's own counts, exact at scrape time
    body = await render_async(st.store.r, st.settings.key_prefix, {**await job_path_gauges(st.store, st.settings),
                                                                   **await follow_gauges(st.store)})
    return Response(body, media_type=CONTENT_TYPE)


@get("/api/leads/{lead_id:str}", summary="A lead's decision record and CRM write result", guards=[viewer],
     responses=problem_responses(401, 403, 404, 503))
async def lead_detail(request: Req, lead_id: FromPath[str]) -> dict[str, Any]:
    stored = await request.app.state.store.lead(lead_id)
    if not stored:
        raise NotFound(f"no lead {lead_id!r}", hint="lead ids are in the demo output and the worker logs")
    out: dict[str, Any] = {"id": lead_id}
    for key in ("decision", "write"):
        if key in stored:
            out[key] = msgspec.json.decode(stored[key])
    for key in ("record", "owner_locked", "owner_in_crm", "dead_letter"):
        if key in stored:
            out[key] = stored[key].decode()
    out["timeline"] = _timeline(stored)
    if "decision" in out:  # what happened to it, line by line: routing and follow-through (trace), later changes
        out["trace"], out["history"] = out["decision"]["route"]["trace"], out["decision"].get("history", [])
    return out


# speed to lead as the lead hash has it: received -> assigned (its owner written) -> notified (the first notice of
# its routing sent) -> first contact (as the CRM says); each also in seconds from received
_STEPS = ("assigned_at", "notified_at", "first_contact_at")
_TIMES = ("received_at", "decided_at", "written_at", *_STEPS, "sla_deadline", "held_until", "released_at")


def _timeline(stored: dict[str, bytes]) -> dict[str, Any]:
    from leadrelay.api.admin.common import iso

    at = {k: float(stored[k]) for k in _TIMES if stored.get(k)}
    out: dict[str, Any] = {k: iso(v) for k, v in at.items()}
    for key in ("assigned_to", "sla_owner"):
        if key in stored:
            out[key] = stored[key].decode()
    if "received_at" in at:
        out["seconds"] = {k.removesuffix("_at"): round(at[k] - at["received_at"], 3) for k in _STEPS if k in at}
    out["notices"] = {k: v.decode() for k, v in stored.items() if k.startswith("notice:")}  # queued/sent/failed
    return out


def _lifespan(settings: Settings, redis: Any, crm: CrmClient | bool | None) -> Any:
    """Redis, the store, the CRM client (for /ready) and the metrics, for the app's lifetime."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from worker.metrics import Metrics
        from worker.recent import RecentPayloads, keep_seconds
        from worker.store import Store

        own: list[Any] = []
        r = redis
        if r is None:
            assert redis_clients.configured(settings), "set REDIS_URL (or run `leadrelay demo`, which starts one)"
            r = redis_clients.async_client(settings)
            own.append(r)
        client: CrmClient | None = None if isinstance(crm, bool) else crm
        sync_r = None
        if client is None and crm is None and registry.any_configured(settings):
            # the workers' limiter: /ready's CRM check spends the same budget as the leads, so it goes through it
            if redis_clients.configured(settings):
                sync_r = redis_clients.sync_client(settings)
            client = registry.build_client(settings, sync_r)
        # summed in memory, written twice a second: an accepted delivery costs no extra round trip
        metrics = Metrics(r, settings.key_prefix, flush_s=0.5)

        async def count(source: str, outcome: str, reason: str, n: int = 1) -> None:
            await metrics.inc("leadrelay_deliveries_total", {"source": source, "outcome": outcome, "reason": reason},
                              n)

        async def count_error(request: Req) -> None:
            handler = request.scope.get("route_handler")
            route = next(iter(handler.paths)) if handler is not None and handler.paths else "unmatched"
            await metrics.inc("leadrelay_http_errors_total", {"route": route, "status": "500"})

        recent = RecentPayloads(r, settings.key_prefix, keep_s=keep_seconds(settings),
                                max_per_source=settings.recent_payloads_max)
        app.state.update(store=Store(r, settings.key_prefix), crm=client, count=count, metrics=metrics,
                         count_error=count_error, recent=recent)
        follower = await _follow_config(app, settings, r)
        try:
            yield
        finally:
            await follower.stop()
            budget.shutdown(app.state)
            with contextlib.suppress(Exception):  # Redis already gone: the last half second of counts is lost
                await metrics.aclose()
            for thing in own:
                await thing.aclose()
            if client is not None and hasattr(client, "close"):
                client.close()
            if sync_r is not None:
                sync_r.close()

    return lifespan


async def _follow_config(app: Litestar, settings: Settings, redis: Any) -> Any:
    """Serve the published config version, and each newer one within ``config_poll_s`` (no restart)."""
    from worker.configs import ConfigFollower, ConfigStore

    def use(config: Config) -> None:
        app.state.config = config

    store = ConfigStore(redis, settings.key_prefix)
    app.state.configs = store
    try:
        follower = await ConfigFollower.start(store, read_files(Path(settings.config_dir)),
                                              poll_s=settings.config_poll_s, on_change=use)
        use(follower.config)
    except Exception as exc:  # Redis down at start: serve the files' config; the follower catches up later
        if not redis_unavailable(exc):
            raise
        follower = ConfigFollower(store, app.state.config, 0, poll_s=settings.config_poll_s, on_change=use).follow()
    app.state.follower = follower
    return follower


def _rejected(request: Req, exc: Exception) -> Response[bytes]:
    """Every error as problem details; a webhook's rejection is counted by source and reason."""
    from litestar.exceptions import HTTPException

    from connector.errors import LeadrelayError
    from leadrelay.api.problems import domain_error, http_error, internal_error, too_deep, unavailable

    if redis_unavailable(exc):  # never a 2xx without the delivery in Redis: the sender keeps it and sends it again
        resp = unavailable(request, exc)
    elif isinstance(exc, LeadrelayError):
        resp = domain_error(request, exc)
    elif isinstance(exc, HTTPException):
        resp = http_error(request, exc)
    elif isinstance(exc, RecursionError):  # msgspec reading a body of ~1,000 nested lists: the input, not a bug
        resp = too_deep(request, exc)
    else:  # a bug: logged with its traceback and counted, answered with a problem body that reveals nothing
        resp = internal_error(request, exc)
        _fire(request.app.state.get("count_error"), request)
    if request.url.path.startswith("/webhooks/") and "count" in request.app.state:
        # labels only from names we configured: a request path is the sender's to choose
        segment = request.url.path.split("/")[2]
        source = {"forms": "form"}.get(segment, segment)
        if source not in WEBHOOK_SOURCES:
            source = "unknown"
        reasons = {401: "signature", 413: "too_large", 400: "malformed", 404: "unknown_form", 500: "error",
                   503: "unavailable"}
        status = resp.status_code or 500
        reason = reasons.get(status, "other")
        _fire(request.app.state.count, source, "rejected", reason)
    return resp


def create_app(
    settings: Settings,
    *,
    config: Config | None = None,
    redis: Any = None,
    crm: CrmClient | bool | None = None,
) -> Litestar:
    """The API. ``redis``/``crm`` may be injected (tests); otherwise built from settings at startup.

    ``crm=False`` runs without a CRM client (``/ready`` then checks Redis only).
    """
    config = config or registry.load_config(Path(settings.config_dir))
    handlers: dict[type[Exception], Any] = {k: _rejected for k in EXCEPTION_HANDLERS}
    handlers[Exception] = _rejected
    tokens = parse_tokens(settings.api_tokens)
    return Litestar(
        route_handlers=[*WEBHOOKS, health, ready, metrics, lead_detail, admin_router(), *CONSOLE_ROUTES],
        lifespan=[_lifespan(settings, redis, crm)],
        middleware=[SessionMiddleware],  # the console's session: a role for the guards, CSRF on unsafe methods
        state=State({"settings": settings, "config": config, "api_tokens": tokens,
                     "console_auth": ConsoleAuth(settings, tokens)}),
        exception_handlers=handlers,  # type: ignore[arg-type]
        template_config=template_config(),  # the console's pages (Jinja2, autoescaped)
        # the schema's own pages are not operations of the API: kept out of the document it serves. Only the
        # document (JSON at /schema and /schema/openapi.json, YAML): the UIs load unpinned scripts from CDNs into
        # the console's origin
        openapi_config=OpenAPIConfig(title="leadrelay", version="0.1.0",
                                     render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"]),
                                                     YamlRenderPlugin()],
                                     openapi_router=Router(path="/schema", route_handlers=[], guards=[viewer],
                                                           include_in_schema=False)),
        before_send=[no_store],
        request_max_body_size=settings.max_body_bytes + 1,
        logging_config=None,  # logs go through connector.logs (structlog, redacted), not Litestar's root config
        debug=False,
    )
