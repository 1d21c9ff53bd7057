"""Bearer tokens with roles: viewers read, admins change. Only the inbound webhooks and /health are open.

Tokens come from the environment (``LEADRELAY_API_TOKENS="admin:<token>,viewer:<token>,..."``) and are compared in
constant time. A route declares the role it needs with ``guards=[viewer]`` or ``guards=[admin]``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from connector.errors import AuthError, SettingsError

ROLES = ("viewer", "admin")  # each role may do what the ones before it may
_RANK = {role: i for i, role in enumerate(ROLES)}


class Forbidden(AuthError):
    """A valid token whose role may not do this."""


def parse_tokens(entries: Iterable[str]) -> tuple[tuple[str, bytes], ...]:
    """``["admin:abc", "viewer:def"]`` -> ((role, token), ...); a bad entry is a SettingsError naming it."""
    out = []
    for n, entry in enumerate(entries, 1):
        role, sep, token = entry.strip().partition(":")
        role = role.strip().lower()
        if not sep or role not in _RANK:  # never repeat the entry: without its `role:`, it is the token itself
            raise SettingsError(f"LEADRELAY_API_TOKENS entry {n}: expected `role:token` with role one of "
                                f"{', '.join(ROLES)}")
        if len(token.strip()) < 16:
            raise SettingsError(f"LEADRELAY_API_TOKENS entry {n} ({role}): the token is shorter than 16 characters",
                                hint="make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        out.append((role, token.strip().encode()))
    return tuple(out)


def role_of(tokens: tuple[tuple[str, bytes], ...], authorization: str | None) -> str | None:
    """The role of the bearer token in an Authorization header, or None. Every token is compared (constant time)."""
    if not authorization:
        return None
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return None
    given = presented.strip().encode()
    found = None
    for role, token in tokens:
        if hmac.compare_digest(given, token) and (found is None or _RANK[role] > _RANK[found]):
            found = role
    return found


def request_role(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The caller's role: from the bearer token, else from a signed-in console session (if any)."""
    tokens = connection.app.state.get("api_tokens", ())
    role = role_of(tokens, connection.headers.get("authorization"))
    if role is None:
        session_role = connection.scope.get("leadrelay_role")  # set by the console's session middleware
        role = session_role if session_role in _RANK else None
    return role


def _require(needed: str, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    role = request_role(connection)
    if role is None:
        raise AuthError("a bearer token is required", hint="send `Authorization: Bearer <token>`; tokens are set "
                        "in LEADRELAY_API_TOKENS (`leadrelay demo` prints one)")
    if _RANK[role] < _RANK[needed]:
        raise Forbidden(f"the {role} role may not do this; it needs {needed}")


def viewer(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: any valid token."""
    _require("viewer", connection)


def admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: an admin token."""
    _require("admin", connection)
