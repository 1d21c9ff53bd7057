"""Signed console sessions: who signed in, their role, their CSRF token and when it ends, in one HMAC'd cookie.

The cookie is ``base64(json).base64(hmac-sha256)`` under ``LEADRELAY_SESSION_SECRET`` (``leadrelay serve`` requires
it outside development; unset, a secret made once and kept in Redis, as ``worker.lead_ids`` does for lead ids).
It also carries a fingerprint of the credential used to sign in, so removing a token or a user from the environment
ends their sessions at the next restart, and a session id that sign-out marks as revoked in Redis until the cookie
would have expired anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import msgspec

from connector.settings import checked_secret
from leadrelay.console.passwords import AdminUser, parse_users
from worker.store.keys import Keys

COOKIE = "leadrelay_session"
LOGIN_CSRF_COOKIE = "leadrelay_login_csrf"


class Session(msgspec.Struct, frozen=True):
    user: str  # the name shown and recorded as author: the user's name, or "token:<role>"
    role: str
    csrf: str
    expires: float
    sid: str
    cred: str  # fingerprint of the credential signed in with


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(session: Session, secret: bytes) -> str:
    body = _b64(msgspec.json.encode(session))
    return body + "." + _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())


def read(cookie: str, secret: bytes, now: float | None = None) -> Session | None:
    """The session in a cookie value, or None when it is forged, malformed or expired."""
    body, _, mac = cookie.partition(".")
    if not body or not mac:
        return None
    try:
        given = _unb64(mac)
        expected = hmac.new(secret, body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(given, expected):
            return None
        session = msgspec.json.decode(_unb64(body), type=Session)
    except (ValueError, msgspec.DecodeError):
        return None
    return session if session.expires > (time.time() if now is None else now) else None


def fingerprint(secret: bytes, credential: str) -> str:
    return hmac.new(secret, b"credential\0" + credential.encode(), hashlib.sha256).hexdigest()[:24]


class ConsoleAuth:
    """One app's sign-in material: tokens, users, the session secret and the credentials that may hold a session."""

    def __init__(self, settings: Any, tokens: tuple[tuple[str, bytes], ...]) -> None:
        self.settings = settings
        self.tokens = tokens
        self.users: dict[str, AdminUser] = parse_users(settings.admin_users)
        self.keys = Keys(settings.key_prefix)
        self._secret: bytes | None = checked_secret("session_secret", settings.session_secret)
        self._creds: dict[str, str] | None = None

    async def secret(self, redis: Any) -> bytes:
        """The configured secret, else the one in Redis (made now with SET NX so every process agrees)."""
        if self._secret is None:
            await redis.set(self.keys.session_secret, secrets.token_urlsafe(32), nx=True)
            value = await redis.get(self.keys.session_secret)
            if not value:  # pragma: no cover - deleted between the two calls
                raise RuntimeError("the session secret vanished from Redis")
            self._secret = bytes(value)
        return self._secret

    def credential_of_token(self, role: str, token: bytes) -> str:
        return f"token\0{role}\0{token.decode()}"

    def credential_of_user(self, user: AdminUser) -> str:
        return f"user\0{user.name}\0{user.role}\0{user.password_hash}"

    def valid_credentials(self, secret: bytes) -> dict[str, str]:
        """fingerprint -> role of every credential configured now."""
        if self._creds is None:
            creds = {fingerprint(secret, self.credential_of_token(r, t)): r for r, t in self.tokens}
            creds.update({fingerprint(secret, self.credential_of_user(u)): u.role for u in self.users.values()})
            self._creds = creds
        return self._creds

    def new_session(self, secret: bytes, user: str, role: str, credential: str) -> Session:
        return Session(user=user, role=role, csrf=secrets.token_urlsafe(24),
                       expires=time.time() + self.settings.session_ttl_s, sid=secrets.token_urlsafe(12),
                       cred=fingerprint(secret, credential))

    async def current(self, redis: Any, cookie: str | None) -> Session | None:
        """The live session in this cookie: signed, unexpired, its credential still configured, not signed out."""
        if not cookie:
            return None
        secret = await self.secret(redis)
        session = read(cookie, secret)
        if session is None or self.valid_credentials(secret).get(session.cred) != session.role:
            return None
        if await redis.exists(self.keys.session_revoked(session.sid)):
            return None
        return session

    async def revoke(self, redis: Any, session: Session) -> None:
        ttl = max(1, int(session.expires - time.time()) + 1)
        await redis.set(self.keys.session_revoked(session.sid), "1", ex=ttl)


def auth_of(app_state: Any) -> ConsoleAuth:
    """The app's ConsoleAuth, made on first use from its settings and tokens."""
    auth = app_state.get("console_auth")
    if auth is None:
        auth = ConsoleAuth(app_state.settings, app_state.get("api_tokens", ()))
        app_state.console_auth = auth
    return auth
