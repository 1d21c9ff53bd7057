"""Is an Outbound Message from our org? Salesforce cannot sign one; what it offers is the session id.

Salesforce's advice for Outbound Messages ("Considerations for Security",
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_security.htm):
accept requests only from Salesforce's IP ranges, use TLS (and its client certificate), check the organization
id — and the message may carry a SessionId ("Send Session ID"), scoped to API requests, that the listener can use
to call back into the org. That call is the check here: the session id must be accepted by *our* org's instance
(the configured LEADRELAY_SALESFORCE_INSTANCE_URL — never a URL the message names, or a forger would answer his
own check), the message's EnterpriseUrl/PartnerUrl must name that host, and the org that answers must be the one
the message claims. The call is a one-row SOQL query on Organization (queryable through the API:
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_organization.htm),
through simple-salesforce like every other call. A session once verified is trusted for ``ttl_s`` (the org sends
the same session with each message until it expires), so a burst of messages costs one call.
"""

from __future__ import annotations

import hashlib
import threading
import time
from urllib.parse import urlsplit

from adapters.salesforce.outbound import OutboundMessage
from connector.errors import AuthError, RetryableError, SignatureError
from connector.settings import Settings

ORG_QUERY = "SELECT Id FROM Organization LIMIT 1"


def _host(url: str) -> tuple[str, int]:
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise SignatureError(f"{url[:200]!r} is not an https URL")
    return parts.hostname.lower(), parts.port or 443


class SessionCheck:
    """Verifies the SessionId of Outbound Messages against the configured org (thread-safe; one per process)."""

    def __init__(self, *, ttl_s: float = 300.0, timeout_s: float = 10.0, max_entries: int = 1024) -> None:
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.max_entries = max_entries
        self._verified: dict[str, float] = {}  # sha256(org + session) -> monotonic expiry
        self._lock = threading.Lock()

    def verify(self, message: OutboundMessage, settings: Settings) -> None:
        """Return when the message's session is our org's; SignatureError (401) when it is not, RetryableError
        (503: Salesforce sends the message again) when the org cannot be asked now."""
        session = message.session_id
        if not session:
            if settings.salesforce_require_session_id:
                raise SignatureError("the Outbound Message carries no SessionId",
                                     hint='tick "Send Session ID" on the outbound message, or unset '
                                          "LEADRELAY_SALESFORCE_REQUIRE_SESSION_ID")
            return
        instance = settings.salesforce_instance_url
        if not instance:
            raise SignatureError("cannot verify the Outbound Message's SessionId: no instance URL configured",
                                 hint="set LEADRELAY_SALESFORCE_INSTANCE_URL to the org's My Domain URL")
        self._check_urls(message, instance)
        key = hashlib.sha256(f"{message.organization_id[:15]}\0{session}".encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            if self._verified.get(key, 0.0) > now:
                return
        org = self._org_of(session, instance, settings)
        if org[:15] != message.organization_id.strip()[:15]:
            raise SignatureError("the Outbound Message's SessionId belongs to another organization")
        with self._lock:
            if len(self._verified) >= self.max_entries:
                self._verified = {k: t for k, t in self._verified.items() if t > now}
                if len(self._verified) >= self.max_entries:
                    self._verified.clear()
            self._verified[key] = now + self.ttl_s

    @staticmethod
    def _check_urls(message: OutboundMessage, instance: str) -> None:
        urls = [u for u in (message.enterprise_url, message.partner_url) if u]
        if not urls:
            raise SignatureError("the Outbound Message names no EnterpriseUrl or PartnerUrl")
        ours = _host(instance)
        for url in urls:
            if _host(url) != ours:
                raise SignatureError(f"the Outbound Message names {urlsplit(url).netloc[:200]!r}, not the "
                                     "configured instance", hint="LEADRELAY_SALESFORCE_INSTANCE_URL must be the "
                                                                 "org's My Domain URL")

    def _org_of(self, session: str, instance: str, settings: Settings) -> str:
        """The id of the org that accepts this session, asked of the configured instance."""
        import requests  # the vendor library loads when a message first needs it: the API starts cheaply
        from simple_salesforce.api import Salesforce
        from simple_salesforce.exceptions import SalesforceError

        from adapters.salesforce.auth import make_session
        from adapters.salesforce.errors import classify

        http = make_session(settings.ca_bundle)
        try:
            sf = Salesforce(instance_url=instance.rstrip("/"), session_id=session, session=http,
                            version=settings.salesforce_api_version)
            rows = sf.query(ORG_QUERY, timeout=self.timeout_s).get("records") or []
        except (SalesforceError, requests.RequestException) as exc:
            err = classify(exc)
            if isinstance(err, RetryableError):
                raise RetryableError(f"cannot verify the Outbound Message now: {err.message}",
                                     retry_after=err.retry_after) from None
            if isinstance(err, AuthError):
                raise SignatureError("the org refused the Outbound Message's SessionId") from None
            raise SignatureError(f"the org did not confirm the Outbound Message's SessionId: {err.message}",
                                 hint="the outbound message's user needs API access") from None
        finally:
            http.close()
        if not rows or not rows[0].get("Id"):
            raise SignatureError("the org did not confirm the Outbound Message's SessionId")
        return str(rows[0]["Id"])
