"""Salesforce OAuth for a server: JWT bearer or client credentials, secrets from the environment only.

- JWT bearer flow: an RS256-signed assertion (iss = connected app's consumer key, sub = the integration user's
  username, aud = the login URL, exp within 3 minutes) posted to ``/services/oauth2/token``:
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm
- Client credentials flow: consumer key + secret posted to the org's My Domain token endpoint; the session runs
  as the app's "run as" user: https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm
- A pre-issued session id (``LEADRELAY_SALESFORCE_SESSION_ID``) is accepted too, but cannot be refreshed.

simple-salesforce's own login helpers build ``https://{domain}.salesforce.com`` URLs, which cannot point at a
My Domain host with a port (or the sandbox), so the token request is made here with the same requests session,
and simple-salesforce is then given ``instance_url`` + ``session_id``. Nothing here logs a secret or a token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from connector.errors import AuthError, ConfigError, CrmUnavailable
from connector.settings import Settings

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def login_url(domain: str) -> str:
    """``login``/``test`` -> https://login.salesforce.com / https://test.salesforce.com; a host or URL as given."""
    domain = domain.strip().rstrip("/")
    if domain in ("login", "test"):
        return f"https://{domain}.salesforce.com"
    return domain if domain.startswith("https://") else f"https://{domain}"


def make_session(ca_bundle: str | None) -> requests.Session:
    """A requests session that trusts ``ca_bundle`` (the sandbox CA) and ignores REQUESTS_CA_BUNDLE & co."""
    session = requests.Session()
    if ca_bundle:
        session.verify = ca_bundle
        session.trust_env = False  # otherwise REQUESTS_CA_BUNDLE overrides session.verify
    return session


@dataclass(frozen=True)
class Token:
    access_token: str
    instance_url: str
    user_id: str | None = None  # the session's user, from the identity URL the token response names (``id``)

    def __repr__(self) -> str:  # never print the token
        return f"Token(instance_url={self.instance_url!r}, access_token='***')"


@dataclass
class SalesforceAuth:
    """Gets a session for the integration user; ``login()`` again whenever Salesforce says INVALID_SESSION_ID."""

    session: requests.Session
    login_url: str = "https://login.salesforce.com"
    client_id: str | None = None
    client_secret: str | None = None
    username: str | None = None
    private_key: str | None = None  # PEM text (JWT bearer)
    session_id: str | None = None  # pre-issued, not refreshable
    instance_url: str | None = None
    audience: str | None = None  # JWT aud; default from the login URL (see ``jwt_audience``)
    timeout_s: float = 30.0

    @property
    def jwt_audience(self) -> str:
        """The authorization server named in ``aud``: https://login.salesforce.com for production orgs (also when
        the token is requested from a My Domain), https://test.salesforce.com for sandbox orgs."""
        if self.audience:
            return self.audience
        sandbox_org = "test.salesforce.com" in self.login_url or ".sandbox.my.salesforce.com" in self.login_url
        return "https://test.salesforce.com" if sandbox_org else "https://login.salesforce.com"

    def __repr__(self) -> str:
        return f"SalesforceAuth(flow={self.flow!r}, login_url={self.login_url!r}, username={self.username!r})"

    @property
    def flow(self) -> str:
        if self.client_id and self.username and self.private_key:
            return "jwt-bearer"
        if self.client_id and self.client_secret:
            return "client-credentials"
        if self.session_id:
            return "session-id"
        return "none"

    @property
    def refreshable(self) -> bool:
        return self.flow in ("jwt-bearer", "client-credentials")

    @classmethod
    def from_settings(cls, settings: Settings, session: requests.Session | None = None) -> SalesforceAuth:
        key = None
        if settings.salesforce_private_key_file:
            path = Path(settings.salesforce_private_key_file)
            if not path.is_file():
                raise ConfigError(
                    "private key file not found", file=str(path), field="LEADRELAY_SALESFORCE_PRIVATE_KEY_FILE"
                )
            key = path.read_text()
        return cls(
            session=session or make_session(settings.ca_bundle),
            login_url=login_url(settings.salesforce_domain),
            client_id=settings.salesforce_client_id,
            client_secret=settings.salesforce_client_secret,
            username=settings.salesforce_username,
            private_key=key,
            session_id=settings.salesforce_session_id,
            instance_url=settings.salesforce_instance_url,
        )

    def login(self) -> Token:
        """A fresh access token and the instance URL to call."""
        if self.flow == "jwt-bearer":
            return self._token_request({"grant_type": JWT_GRANT, "assertion": self._assertion()}, self.login_url)
        if self.flow == "client-credentials":
            # The client credentials flow is served by the org's My Domain, not login.salesforce.com.
            url = self.instance_url if self.login_url in _GENERIC_LOGINS and self.instance_url else self.login_url
            data = {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            }
            return self._token_request(data, url)
        if self.flow == "session-id" and self.session_id and self.instance_url:
            return Token(self.session_id, self.instance_url.rstrip("/"))
        raise AuthError(
            "no Salesforce credentials",
            hint="set LEADRELAY_SALESFORCE_CLIENT_ID with LEADRELAY_SALESFORCE_USERNAME and "
            "LEADRELAY_SALESFORCE_PRIVATE_KEY_FILE (JWT bearer) or LEADRELAY_SALESFORCE_CLIENT_SECRET "
            "(client credentials), and LEADRELAY_SALESFORCE_INSTANCE_URL",
        )

    def _assertion(self) -> str:
        import jwt  # PyJWT (a simple-salesforce dependency)

        assert self.private_key is not None  # flow == "jwt-bearer"
        claims = {"iss": self.client_id, "sub": self.username, "aud": self.jwt_audience, "exp": int(time.time()) + 170}
        return str(jwt.encode(claims, self.private_key, algorithm="RS256"))

    def _token_request(self, data: dict[str, Any], base: str) -> Token:
        url = base.rstrip("/") + "/services/oauth2/token"
        try:
            resp = self.session.post(url, data=data, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise CrmUnavailable(
                f"Salesforce token endpoint unreachable: {type(exc).__name__}", retry_after=5
            ) from None
        if resp.status_code >= 500:
            raise CrmUnavailable(f"Salesforce token endpoint answered {resp.status_code}", retry_after=5)
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200 or "access_token" not in body:
            error = body.get("error", f"HTTP {resp.status_code}")
            raise AuthError(
                f"Salesforce refused the {self.flow} login: {error}: {body.get('error_description', '')}".rstrip(": "),
                hint="check the connected app's consumer key/secret or certificate, the integration user, "
                "and that the app is approved for that user",
            )
        identity = str(body.get("id") or "")  # https://login.salesforce.com/id/<org id>/<user id>
        return Token(str(body["access_token"]), str(body.get("instance_url") or self.instance_url or base).rstrip("/"),
                     user_id=identity.rstrip("/").rpartition("/")[2] or None)


_GENERIC_LOGINS = ("https://login.salesforce.com", "https://test.salesforce.com")
