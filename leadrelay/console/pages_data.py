"""The reading pages: overview, preview one lead, backtest, decisions (+ one decision's trace), dead letters and
versions. Drawn as a shell with its form (``templates/pages/``); the page's script fills it from the admin API."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Template

from adapters.crm import registry
from leadrelay.api.auth import viewer
from leadrelay.console.bundle import load
from leadrelay.console.html import page

Req = Request[Any, Any, State]


def _page(request: Req, name: str, title: str, active: str, script: str, data: dict[str, Any] | None = None,
          **context: Any) -> Template:
    scripts = ("decisionview", script) if script in ("preview", "decision") else (script,)
    return page(request, f"pages/{name}.html", title=title, active=active, scripts=scripts, data=data, **context)


def _sources(request: Req) -> list[str]:
    """The source mappings, the ones of forms first (a CRM's own records are previewed less often)."""
    sources = request.app.state.config.sources
    return sorted(sources, key=lambda n: (registry.is_crm(sources[n].source), n))


@get("/admin", include_in_schema=False, guards=[viewer])
async def overview(request: Req) -> Template:
    return _page(request, "overview", "Overview", "/admin", "overview")


@get("/admin/preview", include_in_schema=False, guards=[viewer])
async def preview(request: Req) -> Template:
    bundle = await load(request)
    return _page(request, "preview", "Preview a lead", "/admin/preview", "preview", {"draft": bundle["draft"]},
                 bundle=bundle, sources=_sources(request))


@get("/admin/backtest", include_in_schema=False, guards=[viewer])
async def backtest(request: Req) -> Template:
    bundle = await load(request)
    return _page(request, "backtest", "Backtest", "/admin/backtest", "backtest", {"draft": bundle["draft"]},
                 bundle=bundle, sources=_sources(request))


@get("/admin/decisions", include_in_schema=False, guards=[viewer])
async def decisions(request: Req) -> Template:
    return _page(request, "decisions", "Decisions", "/admin/decisions", "decisions")


@get("/admin/decisions/{lead_id:str}", include_in_schema=False, guards=[viewer])
async def decision(request: Req, lead_id: FromPath[str]) -> Template:
    return _page(request, "decision", f"Decision {lead_id}", "/admin/decisions", "decision", lead_id=lead_id)


@get("/admin/dead-letters", include_in_schema=False, guards=[viewer])
async def dead_letters(request: Req) -> Template:
    return _page(request, "dead_letters", "Dead letters", "/admin/dead-letters", "deadletters")


@get("/admin/versions", include_in_schema=False, guards=[viewer])
async def versions(request: Req) -> Template:
    return _page(request, "versions", "Versions", "/admin/versions", "versions")


ROUTES = [overview, preview, backtest, decisions, decision, dead_letters, versions]
