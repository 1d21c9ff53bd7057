"""Salesforce sandbox: the OAuth 2.0 token endpoint. Mixed into ``SalesforceSandbox``.

- Client credentials flow (token from the My Domain endpoint, runs as the app's "run as" user):
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm
- JWT bearer flow (RS256 assertion with iss=client id, sub=username, aud=login URL, exp within 3 minutes):
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm
What is checked in a JWT assertion is listed in ``sandbox.salesforce``'s docstring.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from litestar import Request, Response

from sandbox.common import Faults
from sandbox.salesforce_org import Org

INTEGRATION_USERNAME = "integration@leadrelay.example"
_JWT_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


class OAuthOps:
    """Token issuing of the Salesforce sandbox."""

    org: Org
    org_id: str
    faults: Faults
    instance_url: str | None
    session_ttl_s: float
    sessions: dict[str, tuple[str, float | None]]
    oauth_clients: dict[str, dict[str, str]]
    jwt_clients: dict[str, str | None]

    def _issue_token(self, user_id: str) -> str:
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(40)}"
        self.sessions[token] = (user_id, time.monotonic() + self.session_ttl_s)
        return token

    def _token_response(self, user_id: str, base_url: str) -> Response[Any]:
        instance = (self.instance_url or base_url).rstrip("/")
        token = self._issue_token(user_id)
        issued = str(int(time.time() * 1000))
        sig = base64.b64encode(
            hmac.new(self.org_id.encode(), (instance + issued).encode(), hashlib.sha256).digest()
        ).decode()
        body = {
            "access_token": token,
            "scope": "api",
            "instance_url": instance,
            "id": f"https://login.salesforce.com/id/{self.org_id}/{user_id}",
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": sig,
        }
        return Response(content=json.dumps(body).encode(), status_code=200, media_type="application/json;charset=UTF-8")

    @staticmethod
    def _oauth_error(error: str, description: str, status: int = 400) -> Response[Any]:
        body = json.dumps({"error": error, "error_description": description}).encode()
        return Response(content=body, status_code=status, media_type="application/json;charset=UTF-8")

    async def _token(self, request: Request[Any, Any, Any]) -> Response[Any]:
        fault = await self.faults.before()
        if fault:
            return self._fault(fault)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        base_url = str(request.base_url).rstrip("/")
        grant = form.get("grant_type")
        if grant == "client_credentials":
            client = self.oauth_clients.get(form.get("client_id", ""))
            if client is None:
                return self._oauth_error("invalid_client_id", "client identifier invalid")
            if not hmac.compare_digest(client.get("secret", ""), form.get("client_secret", "")):
                return self._oauth_error("invalid_client", "invalid client credentials")
            user = self.org.user_by_username(client.get("username", INTEGRATION_USERNAME))
            if user is None or not user["IsActive"]:
                return self._oauth_error("invalid_grant", "no client credentials user enabled")
            return self._token_response(user["Id"], base_url)
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._jwt_grant(form.get("assertion", ""), base_url)
        return self._oauth_error("unsupported_grant_type", "grant type not supported")

    def _jwt_grant(self, assertion: str, base_url: str) -> Response[Any]:
        import jwt  # PyJWT, installed with simple-salesforce

        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return self._oauth_error("invalid_grant", "invalid assertion")
        if header.get("alg") != "RS256":
            return self._oauth_error("invalid_grant", "invalid assertion")
        client_id = str(claims.get("iss", ""))
        if client_id not in self.jwt_clients:
            return self._oauth_error("invalid_client_id", "client identifier invalid")
        if str(claims.get("aud", "")).rstrip("/") not in (*_JWT_AUDIENCES, base_url):
            return self._oauth_error("invalid_grant", "audience is invalid")
        try:
            exp = float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            return self._oauth_error("invalid_grant", "invalid assertion")
        now = time.time()
        if exp <= now or exp > now + 180 + 30:
            return self._oauth_error("invalid_grant", "expired authorization code")
        public_key = self.jwt_clients[client_id]
        if public_key:
            try:
                jwt.decode(assertion, public_key, algorithms=["RS256"], options={"verify_aud": False})
            except jwt.PyJWTError:
                return self._oauth_error("invalid_grant", "invalid assertion")
        user = self.org.user_by_username(str(claims.get("sub", "")))
        if user is None or not user["IsActive"]:
            return self._oauth_error("invalid_grant", "user hasn't approved this consumer")
        return self._token_response(user["Id"], base_url)
