"""The console's page responses: a template (``leadrelay/console/templates``) with the shell's context and our
security headers."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template

from leadrelay.api.auth import request_role

NAV = (
    ("/admin", "Overview"),
    ("/admin/mappings", "Field mappings"),
    ("/admin/rules", "Rules"),
    ("/admin/team", "Team"),
    ("/admin/preview", "Preview a lead"),
    ("/admin/backtest", "Backtest"),
    ("/admin/decisions", "Decisions"),
    ("/admin/dead-letters", "Dead letters"),
    ("/admin/versions", "Versions"),
)
# the console's own pages: no framing, no third-party anything, scripts only from ourselves
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}
HTML = "text/html"  # Litestar adds the charset (utf-8)
GLOBALS = {"NAV": NAV}


def html_template(name: str, context: dict[str, Any], status: int = 200) -> Template:
    """A template answered as a console page (CSP, no caching)."""
    return Template(template_name=name, context=context, status_code=status, headers=dict(HEADERS), media_type=HTML)


def page(request: Request[Any, Any, Any], name: str, *, title: str, active: str, scripts: tuple[str, ...] = (),
         data: dict[str, Any] | None = None, **context: Any) -> Template:
    """A whole console page (template ``name`` extends ``base.html``): header, navigation, our scripts
    (``/admin/static/<name>.js``) and the scripts' data as JSON blocks."""
    return html_template(name, {"title": title, "active": active, "role": request_role(request) or "viewer",
                                "session": request.scope.get("leadrelay_session"), "scripts": ("console", *scripts),
                                "data": data or {}, **context})
