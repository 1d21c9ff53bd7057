"""The console's page shell and small HTML helpers (every value escaped; JSON for the scripts escaped for <script>)."""

from __future__ import annotations

from html import escape
from typing import Any

import msgspec
from litestar import Response

from leadrelay.console.session import Session

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


def esc(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def json_script(element_id: str, data: Any) -> str:
    """Data for the page's script, as a JSON block it reads with JSON.parse (never executed)."""
    text = msgspec.json.encode(data).decode().replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


def attrs(**values: Any) -> str:
    """``attrs(data_path="a[0]", disabled=True)`` -> ` data-path="a[0]" disabled` (None/False left out)."""
    out = []
    for name, value in values.items():
        name = name.rstrip("_").replace("_", "-")
        if value is None or value is False:
            continue
        out.append(f" {name}" if value is True else f' {name}="{esc(value)}"')
    return "".join(out)


def html_response(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(body, status_code=status, media_type="text/html; charset=utf-8",
                    headers={**HEADERS, **(headers or {})})


def _nav(active: str) -> str:
    items = "".join(f'<a href="{href}"{attrs(aria_current="page" if href == active else None)}>{esc(label)}</a>'
                    for href, label in NAV)
    return f'<nav class="side">{items}</nav>'


def _who(session: Session | None, role: str) -> str:
    if session is None:
        return f'<span class="who">{esc(role)} (token)</span>'
    return (f'<span class="who">{esc(session.user)} · <b>{esc(role)}</b></span>'
            f'<form method="post" action="/admin/logout" class="inline">'
            f'<input type="hidden" name="csrf_token" value="{esc(session.csrf)}">'
            f'<button type="submit" class="link">Sign out</button></form>')


def page(*, title: str, active: str, body: str, role: str, session: Session | None, scripts: tuple[str, ...] = (),
         data: dict[str, Any] | None = None) -> Response[str]:
    """A whole console page: header, navigation, the body, our scripts (``/admin/static/<name>.js``)."""
    csrf = session.csrf if session else ""
    blocks = "".join(json_script(k, v) for k, v in (data or {}).items())
    tags = "".join(f'<script src="/admin/static/{esc(s)}.js" defer></script>'
                   for s in ("console", *scripts))
    viewer = role != "admin"
    banner = ('<p class="banner">You are signed in as a viewer: you can look at everything and change nothing.</p>'
              if viewer else "")
    return html_response(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · leadrelay</title>
<meta name="csrf-token" content="{esc(csrf)}">
<link rel="stylesheet" href="/admin/static/console.css">{tags}</head>
<body data-role="{esc(role)}" class="{'viewer' if viewer else 'admin'}">
<header class="top"><a class="brand" href="/admin">leadrelay <small>console</small></a>{_who(session, role)}</header>
<div class="frame">{_nav(active)}<main><h1>{esc(title)}</h1>{banner}{body}</main></div>{blocks}
</body></html>""")


def admin_button(label: str, role: str, *, cls: str = "", **extra: Any) -> str:
    """A button that changes something: disabled for viewers (the API refuses them too)."""
    disabled = role != "admin"
    title = "viewers cannot change anything" if disabled else extra.pop("title", None)
    at = attrs(class_=cls or None, disabled=disabled, title=title, data_admin=True, **extra)
    return f'<button type="button"{at}>{esc(label)}</button>'
