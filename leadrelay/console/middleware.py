"""The console's ASGI middleware: a valid session cookie becomes the caller's role, and it carries its CSRF token.

- a live session sets ``scope["leadrelay_role"]`` / ``scope["leadrelay_user"]`` (``leadrelay.api.auth`` guards read
  them, so the admin API accepts the console's session like a token);
- a request with a live session cookie and an unsafe method must carry the session's CSRF token (header
  ``X-CSRF-Token`` or form field ``csrf_token``), else 403 — unless it is signed with a valid bearer token, which a
  cross-site page cannot send;
- ``/admin*`` pages without a session (nor a token) answer 303 to ``/admin/login``; the API guards answer 401.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote

from connector.errors import AuthError
from leadrelay.api.auth import Forbidden, role_of
from leadrelay.console.session import COOKIE, auth_of

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN = ("/admin/login", "/admin/static/")  # reachable signed out: the form and its CSS/JS


def cookie(scope: dict[str, Any], name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header: no session
                return None
            if name in jar:
                return jar[name].value
    return None


def header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def is_console_page(path: str) -> bool:
    return (path == "/admin" or path.startswith("/admin/")) and not path.startswith(OPEN)


async def _body(receive: Any, limit: int) -> bytes:
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Forbidden("the form is too large to check its CSRF token")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replaying(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return dict(await receive())

    return replay


async def _check_csrf(scope: dict[str, Any], receive: Any, expected: str, limit: int) -> Any:
    """The receive to go on with when the request carries ``expected``; Forbidden (403) when it does not."""
    given = header(scope, b"x-csrf-token")
    if given is None and (header(scope, b"content-type") or "").startswith("application/x-www-form-urlencoded"):
        body = await _body(receive, limit)
        given = (parse_qs(body.decode("latin-1")).get("csrf_token") or [None])[0]
        receive = _replaying(body, receive)
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("the CSRF token is missing or wrong",
                        hint="reload the page; forms send csrf_token, scripts the X-CSRF-Token header")
    return receive


def _redirect(path: str, query: bytes) -> dict[str, Any]:
    target = path + ("?" + query.decode("latin-1") if query else "")
    location = "/admin/login?next=" + quote(target, safe="/")
    return {"type": "http.response.start", "status": 303,
            "headers": [(b"location", location.encode()), (b"content-length", b"0"), (b"cache-control", b"no-store")]}


class SessionMiddleware:
    """See the module docstring. Litestar builds one per route (``middleware=[SessionMiddleware]``)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        auth = auth_of(state)
        bearer = role_of(auth.tokens, header(scope, b"authorization"))
        raw = cookie(scope, COOKIE)
        session = await auth.current(state.store.r, raw) if raw else None
        method = scope["method"]
        if session is not None:
            scope["leadrelay_role"], scope["leadrelay_user"] = session.role, session.user
            scope["leadrelay_session"] = session
            if method not in SAFE and bearer is None:
                receive = await _check_csrf(scope, receive, session.csrf, state.settings.max_body_bytes)
        elif bearer is None and is_console_page(scope["path"]):
            if method not in SAFE:
                raise AuthError("sign in first", hint="open /admin/login")
            await send(_redirect(scope["path"], scope.get("query_string", b"")))
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)
