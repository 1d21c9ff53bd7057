"""The admin JSON API under /api/admin/ (tag "admin" in the OpenAPI document): read the config, validate, drafts,
preview, backtest, publish, roll back, versions; decisions, rule hits, dead letters, the overview. Viewers read
(and preview: it writes nothing), admins change. The console calls it; so can anyone with a token."""

from __future__ import annotations

from litestar import Router

from leadrelay.api.admin import backtest, config, dead_letters, decisions, overview, preview


def router() -> Router:
    """Every admin route under /api/admin."""
    handlers = [*config.HANDLERS, *preview.HANDLERS, *backtest.HANDLERS, *decisions.HANDLERS,
                *dead_letters.HANDLERS, *overview.HANDLERS]
    return Router(path="/api/admin", route_handlers=handlers)
