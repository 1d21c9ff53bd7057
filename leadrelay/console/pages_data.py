"""The reading pages: overview, preview one lead, backtest, decisions (+ one decision's trace), dead letters and
versions. Drawn as a shell with its form; the page's script fills it from the admin API."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath

from adapters.crm import registry
from leadrelay.api.auth import request_role, viewer
from leadrelay.console.bundle import load
from leadrelay.console.html import admin_button, attrs, esc, page

Req = Request[Any, Any, State]


def _page(request: Req, title: str, active: str, body: str, script: str, data: dict[str, Any] | None = None
          ) -> Response[str]:
    scripts = ("decisionview", script) if script in ("preview", "decision") else (script,)
    return page(title=title, active=active, body=body, role=request_role(request) or "viewer",
                session=request.scope.get("leadrelay_session"), scripts=scripts, data=data)


def _source_options(request: Req) -> str:
    """The source mappings, the ones of forms first (a CRM's own records are previewed less often)."""
    sources = request.app.state.config.sources
    names = sorted(sources, key=lambda n: (registry.is_crm(sources[n].source), n))
    return "".join(f'<option value="{esc(n)}">{esc(n)}</option>' for n in names)


@get("/admin", include_in_schema=False, guards=[viewer])
async def overview(request: Req) -> Response[str]:
    body = """<div class="stats overview-stats" id="stats"><p class="muted">Loading…</p></div>
<div class="charts"><figure class="chart"><figcaption>Leads today by source</figcaption>
<div id="by-source"></div></figure>
<figure class="chart"><figcaption>Leads today by routing rule</figcaption><div id="by-rule"></div></figure>
<figure class="chart wide"><figcaption>Speed to lead (seconds from arrival to CRM owner), p50 and p95</figcaption>
<div id="speed"></div></figure>
<figure class="chart wide"><figcaption>Leads per hour, last 24 hours</figcaption>
<div id="series"></div></figure></div>"""
    return _page(request, "Overview", "/admin", body, "overview")


@get("/admin/preview", include_in_schema=False, guards=[viewer])
async def preview(request: Req) -> Response[str]:
    bundle = await load(request)
    draft = (f"your draft (based on version {bundle['base']})" if bundle["draft"]
             else f"version {bundle['number']} (you have no draft)")
    body = f"""<div class="preview-grid"><form id="preview-form" class="panel-form">
<p class="muted">Run one lead through {esc(draft)}. Nothing is written.</p>
<label class="f"><span>Source</span><select id="lead-source">{_source_options(request)}</select></label>
<label class="f"><span>Payload (JSON)</span><textarea id="lead-payload" rows="14" spellcheck="false"></textarea></label>
<label class="f"><span>Or a stored lead id</span><input type="text" id="lead-id" placeholder="ld_…"></label>
<button type="submit" class="primary">Decide</button></form>
<div id="decision" class="result"><p class="empty">The decision shows here: owner and rule, every score reason,
tags, the route path with each skipped candidate, and the CRM payload.</p></div></div>"""
    return _page(request, "Preview a lead", "/admin/preview", body, "preview", {"draft": bundle["draft"]})


@get("/admin/backtest", include_in_schema=False, guards=[viewer])
async def backtest(request: Req) -> Response[str]:
    bundle = await load(request)
    changed = ", ".join(sorted(bundle["draft"])) or "nothing yet: edit rules, team or mappings first"
    body = f"""<form id="backtest-form" class="panel-form">
<p class="muted">Your draft changes: {esc(changed)}. The backtest runs the draft and version {bundle['number']}
over the same leads and shows what would change. Nothing is written.</p>
<div class="row"><label class="f inline"><span>Stored leads of the last</span>
<input type="number" id="bt-days" value="7" min="1" max="90"><span>days</span></label>
<span class="muted">or</span>
<label class="f inline"><span>a CSV file</span><input type="file" id="bt-csv" accept=".csv,text/csv"></label>
<label class="f inline"><span>read by</span><select id="bt-source">{_source_options(request)}</select></label>
<button type="submit" class="primary">Run backtest</button></div></form>
<div id="bt-summary" class="stats"></div><div id="bt-changes"></div>
<figure class="chart wide" id="bt-chart-fig" hidden><figcaption>Leads per rep: before (version {bundle['number']})
and after (draft)</figcaption><div id="bt-chart"></div></figure>"""
    return _page(request, "Backtest", "/admin/backtest", body, "backtest", {"draft": bundle["draft"]})


@get("/admin/decisions", include_in_schema=False, guards=[viewer])
async def decisions(request: Req) -> Response[str]:
    body = """<form id="search" class="row panel-form">
<label class="f"><span>Email or company</span><input type="search" name="q"></label>
<label class="f"><span>Owner</span><input type="text" name="owner" list="owners" class="narrow"></label>
<label class="f"><span>Rule</span><input type="text" name="rule" class="narrow"></label>
<label class="f"><span>From</span><input type="date" name="since"></label>
<label class="f"><span>To</span><input type="date" name="until"></label>
<button type="submit" class="primary">Search</button></form><div id="results"></div>"""
    return _page(request, "Decisions", "/admin/decisions", body, "decisions")


@get("/admin/decisions/{lead_id:str}", include_in_schema=False, guards=[viewer])
async def decision(request: Req, lead_id: FromPath[str]) -> Response[str]:
    body = f'<p><a href="/admin/decisions">← all decisions</a></p><div id="trace"{attrs(data_lead=lead_id)}></div>'
    return _page(request, f"Decision {lead_id}", "/admin/decisions", body, "decision")


@get("/admin/dead-letters", include_in_schema=False, guards=[viewer])
async def dead_letters(request: Req) -> Response[str]:
    role = request_role(request) or "viewer"
    body = (f'<p class="muted">Deliveries and writes that failed for good. Fix the payload (or the mapping, then '
            f'publish) and replay: a write is replayed with the current mapping.</p><div id="letters"></div>'
            f'<template id="replay-buttons">{admin_button("Replay", role, cls="primary", data_replay=True)}</template>')
    return _page(request, "Dead letters", "/admin/dead-letters", body, "deadletters")


@get("/admin/versions", include_in_schema=False, guards=[viewer])
async def versions(request: Req) -> Response[str]:
    role = request_role(request) or "viewer"
    body = (f'<p class="muted">Every published version, newest first. Rolling back publishes the old files again '
            f'as a new version.</p><div id="versions"></div>'
            f'<template id="rollback-button">{admin_button("Roll back to this", role, cls="warn")}</template>')
    return _page(request, "Versions", "/admin/versions", body, "versions")


ROUTES = [overview, preview, backtest, decisions, decision, dead_letters, versions]
