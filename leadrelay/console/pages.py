"""The editing pages: field mappings, rules (scoring, tags, routing) and team. Each is drawn from the published
version with the signed-in admin's draft over it; the page's script keeps the edited documents, saves the draft,
previews, and publishes through the admin API."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State

from connector.config import CRMS, SOURCES
from leadrelay.api.auth import request_role, viewer
from leadrelay.console.bundle import context, datalists, docs_of, load
from leadrelay.console.html import admin_button, attrs, esc, page
from leadrelay.console.views import render

Req = Request[Any, Any, State]


def toolbar(role: str, bundle: dict[str, Any]) -> str:
    """Draft state, publish with a message, and the page-level messages (errors not tied to one field)."""
    state = (f"Draft saved, based on version {bundle['base']}." if bundle["draft"]
             else f"Editing version {bundle['number']} (published). Changes are kept as your draft.")
    return (f'<div class="toolbar" id="toolbar"><span class="status" id="draft-status">{esc(state)}</span>'
            f'<input type="text" id="publish-message" placeholder="What changed and why" aria-label="publish message"'
            f'{attrs(disabled=role != "admin")}>'
            f'{admin_button("Discard draft", role, id="discard-draft")}'
            f'{admin_button("Publish", role, cls="primary", id="publish")}</div>'
            f'<div id="messages" class="messages" role="status"></div>')


def _editor_page(request: Req, *, title: str, active: str, bundle: dict[str, Any], views: dict[str, str],
                 body: str, scripts: tuple[str, ...]) -> Response[str]:
    role = request_role(request) or "viewer"
    docs = docs_of(bundle, list(views))
    ctx = context(request.app.state.config, docs)
    sections = {key: render(view, key, docs[key], ctx) for key, view in views.items() if key in docs}
    html = body.format(**{f"s{i}": sections.get(k, "") for i, k in enumerate(views)})
    published = docs_of({**bundle, "draft": {}}, list(views))
    data = {"editor": {"number": bundle["number"], "base": bundle["base"], "draft": bundle["draft"],
                       "docs": docs, "published": published, "views": views}}
    if role != "admin":  # viewers see every field and change none (the API refuses them as well)
        html = html.replace('<fieldset class="edits">', '<fieldset class="edits" disabled>')
    return page(title=title, active=active, role=role, session=request.scope.get("leadrelay_session"),
                body=toolbar(role, bundle) + html + datalists(request.app.state.config),
                scripts=("editor", *scripts), data=data)


def _tabs(name: str, tabs: list[tuple[str, str]]) -> str:
    """Buttons that show one panel at a time (``data-tab`` = the panel's id)."""
    return f'<div class="tabs" role="tablist" data-tabs="{esc(name)}">' + "".join(
        f'<button type="button" role="tab" data-tab="{esc(pid)}"{attrs(class_="on" if i == 0 else None)}>'
        f"{esc(label)}</button>" for i, (pid, label) in enumerate(tabs)) + "</div>"


@get("/admin/mappings", include_in_schema=False, guards=[viewer])
async def mappings(request: Req) -> Response[str]:
    bundle = await load(request)
    keys = sorted({*bundle["files"], *bundle["draft"]})
    sources = [k for k in keys if k.startswith(SOURCES)]
    crms = [k for k in keys if k.startswith(CRMS)]
    views = {**dict.fromkeys(sources, "source_mapping"), **dict.fromkeys(crms, "crm_mapping")}
    tabs = [(f"tab-{i}", ("→ " if k in crms else "") + k.rsplit("/", 1)[-1][:-5]) for i, k in enumerate(views)]
    panels = "".join(f'<div class="panel" id="tab-{i}"{attrs(hidden=i > 0, data_source=k[len(SOURCES):-5] if k in sources else None)}>{{s{i}}}</div>'  # noqa: E501
                     for i, k in enumerate(views))
    preview = """<aside class="preview" id="preview"><h2>Live preview</h2>
<label class="f"><span>Source</span><select id="pv-source"></select></label>
<label class="f"><span>Recent payload</span><select id="pv-recent">
<option value="">— paste one below —</option></select></label>
<label class="f"><span>Or paste a payload (JSON)</span>
<textarea id="pv-payload" rows="3" spellcheck="false"></textarea></label>
<p class="error small" id="pv-error" hidden></p>
<h3>Canonical lead</h3><pre id="pv-lead" class="json">—</pre>
<h3>CRM payload</h3><div id="pv-crm"><pre class="json">—</pre></div></aside>"""
    body = f'<div class="split"><div class="edit-col">{_tabs("mappings", tabs)}{panels}</div>{preview}</div>'
    return _editor_page(request, title="Field mappings", active="/admin/mappings", bundle=bundle, views=views,
                        body=body, scripts=("mappings",))


@get("/admin/rules", include_in_schema=False, guards=[viewer])
async def rules(request: Req) -> Response[str]:
    bundle = await load(request)
    views = {"rules/routing.yaml": "routing", "rules/scoring.yaml": "scoring", "rules/tags.yaml": "tags"}
    tabs = _tabs("rules", [("tab-0", "Routing"), ("tab-1", "Scoring"), ("tab-2", "Tags")])
    days = ('<label class="f inline"><span>Hit counts over the last</span><input type="number" id="hit-days" '
            'value="7" min="1" max="90" class="narrow"><span>days</span></label>'
            '<a class="button" href="/admin/backtest">Backtest this draft →</a>')
    panels = "".join(f'<div class="panel" id="tab-{i}"{attrs(hidden=i > 0)}>{{s{i}}}</div>' for i in range(3))
    return _editor_page(request, title="Rules", active="/admin/rules", bundle=bundle, views=views,
                        body=f'<div class="row">{tabs}{days}</div>{panels}', scripts=("rules",))


@get("/admin/team", include_in_schema=False, guards=[viewer])
async def team(request: Req) -> Response[str]:
    bundle = await load(request)
    views = {"rules/team.yaml": "team", "rules/routing.yaml": "territories"}
    return _editor_page(request, title="Team", active="/admin/team", bundle=bundle, views=views,
                        body="{s0}{s1}", scripts=())


ROUTES = [mappings, rules, team]
