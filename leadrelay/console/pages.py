"""The editing pages: field mappings, rules (scoring, tags, routing) and team. Each is drawn from the published
version with the signed-in admin's draft over it; the page's script keeps the edited documents, saves the draft,
previews, and publishes through the admin API."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.response import Template

from connector.config import CRMS, SOURCES
from leadrelay.api.auth import request_role, viewer
from leadrelay.console.bundle import context, datalists, docs_of, load
from leadrelay.console.html import page

Req = Request[Any, Any, State]


def _editor_page(request: Req, name: str, *, title: str, active: str, bundle: dict[str, Any], views: dict[str, str],
                 scripts: tuple[str, ...], **extra: Any) -> Template:
    """Template ``name`` (extends ``pages/editor.html``) with the editors of ``views`` (file key -> view)."""
    docs = docs_of(bundle, list(views))
    published = docs_of({**bundle, "draft": {}}, list(views))
    data = {"editor": {"number": bundle["number"], "base": bundle["base"], "draft": bundle["draft"],
                       "docs": docs, "published": published, "views": views}}
    config = request.app.state.config
    # viewers see every field and change none (the API refuses them as well)
    return page(request, name, title=title, active=active, scripts=("editor", *scripts), data=data, bundle=bundle,
                views=views, docs={k: d if isinstance(d, dict) else {} for k, d in docs.items()},
                ctx=context(config, docs), readonly=request_role(request) != "admin", datalists=datalists(config),
                **extra)


@get("/admin/mappings", include_in_schema=False, guards=[viewer])
async def mappings(request: Req) -> Template:
    bundle = await load(request)
    keys = sorted({*bundle["files"], *bundle["draft"]})
    sources = [k for k in keys if k.startswith(SOURCES)]
    crms = [k for k in keys if k.startswith(CRMS)]
    views = {**dict.fromkeys(sources, "source_mapping"), **dict.fromkeys(crms, "crm_mapping")}
    tabs = [(f"tab-{i}", ("→ " if k in crms else "") + k.rsplit("/", 1)[-1][:-5]) for i, k in enumerate(views)]
    panels = [(f"tab-{i}", k, k[len(SOURCES):-5] if k in sources else None) for i, k in enumerate(views)]
    return _editor_page(request, "pages/mappings.html", title="Field mappings", active="/admin/mappings",
                        bundle=bundle, views=views, scripts=("mappings",), tabs=tabs, panels=panels)


@get("/admin/rules", include_in_schema=False, guards=[viewer])
async def rules(request: Req) -> Template:
    bundle = await load(request)
    views = {"rules/routing.yaml": "routing", "rules/scoring.yaml": "scoring", "rules/tags.yaml": "tags"}
    return _editor_page(request, "pages/rules.html", title="Rules", active="/admin/rules", bundle=bundle,
                        views=views, scripts=("rules",))


@get("/admin/team", include_in_schema=False, guards=[viewer])
async def team(request: Req) -> Template:
    bundle = await load(request)
    views = {"rules/team.yaml": "team", "rules/routing.yaml": "territories"}
    return _editor_page(request, "pages/team.html", title="Team", active="/admin/team", bundle=bundle, views=views,
                        scripts=())


ROUTES = [mappings, rules, team]
