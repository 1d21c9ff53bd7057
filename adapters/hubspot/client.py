"""HubSpot CRM adapter: ``connector.ports.CrmClient`` on hubspot-api-client (unmodified).

How it talks to HubSpot:
- Every call first takes a token from the shared Redis bucket (100 or 190 requests per rolling 10 s by tier,
  plus 5/s for search), so all workers together stay under the portal's limit.
- The library's own urllib3 retry is limited to connect errors (it never retries POST); all other retries are
  ours: tenacity, exponential backoff with jitter, the wait a 429 implies, and never past the call's deadline.
- Calls use ``_preload_content=False`` and read the JSON ourselves, so a 207 Multi-Status is split per row
  exactly as HubSpot sent it (the library returns 207 without raising).
- Writes (``adapters.hubspot.writes``) are batch **upserts** keyed on a unique property (``email``, else
  ``leadrelay_id``), 100 inputs per call, each input tagged with ``objectWriteTraceId`` = the item key so HubSpot
  reports per-row failures (207) instead of failing the whole batch. Replaying the same items updates the same
  records: exactly once.
- Lookups use batch read with ``idProperty=email`` rather than search: 100 emails per call either way, but
  batch read is exact, not subject to search's 5/s limit or its indexing delay. Companies have no unique
  domain property, so they are found with search (``domain IN [...]``, 100 values, 200 per page).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from typing import Any

import redis as redis_lib
import structlog
import urllib3
from hubspot import HubSpot
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsApiException
from hubspot.crm.companies.exceptions import ApiException as CompaniesApiException
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.owners.exceptions import ApiException as OwnersApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from urllib3.util.retry import Retry

from adapters.hubspot.common import (
    BATCH_LIMIT,
    COMPANY_PROPERTIES,
    CONTACT_PROPERTIES,
    IN_VALUES,
    SEARCH_PAGE,
    HubSpotError,
    Json,
    _body,
    _chunks,
)
from adapters.hubspot.writes import HubSpotWrites
from adapters.ratelimit import RedisTokenBucket, rolling_window_bucket
from adapters.retry import Deadline, call_with_retry
from connector.errors import AuthError, CrmUnavailable, FatalError, LeadrelayError, RetryableError
from connector.model import CrmRecord
from connector.ports import Owner

log = structlog.get_logger("leadrelay.hubspot")

# every API package of hubspot-api-client has its own ApiException class
API_EXCEPTIONS = (ContactsApiException, CompaniesApiException, OwnersApiException, AssociationsApiException,
                  PropertiesApiException)


class HubSpotCrm(HubSpotWrites):
    """The HubSpot CRM as leadrelay sees it. Sync; one instance per worker process."""

    name = "hubspot"

    def __init__(
        self,
        *,
        token: str | None = None,
        base_url: str = "https://api.hubapi.com",
        ca_bundle: str | None = None,
        redis: redis_lib.Redis | None = None,
        rate_per_10s: int = 100,
        search_per_second: int = 5,
        account: str | None = None,
        key_prefix: str = "leadrelay:",
        deadline_s: float = 30.0,
        request_timeout_s: float = 10.0,
        batch_size: int = BATCH_LIMIT,
        lifecycle_backwards: str = "never",
        stage_field: str = "lifecyclestage",
        id_properties: tuple[str, ...] = ("email", "leadrelay_id"),
    ) -> None:
        token = token or os.environ.get("LEADRELAY_HUBSPOT_TOKEN")
        if not token:
            raise AuthError("no HubSpot token", hint="set LEADRELAY_HUBSPOT_TOKEN to the private app's access token")
        if not 1 <= batch_size <= BATCH_LIMIT:
            raise ValueError(f"batch_size must be 1..{BATCH_LIMIT} (HubSpot's batch limit)")
        self.base_url = base_url.rstrip("/")
        self.deadline_s = deadline_s
        self.request_timeout_s = request_timeout_s
        self.batch_size = batch_size
        self.lifecycle_backwards = lifecycle_backwards
        self.stage_field = stage_field
        self.id_properties = id_properties
        # Limits are per app per portal: one bucket per token unless the account is named.
        self.account = account or hashlib.sha256(token.encode()).hexdigest()[:12]
        self.bucket: RedisTokenBucket | None = None
        self.search_bucket: RedisTokenBucket | None = None
        if redis is not None:
            key = f"{key_prefix}ratelimit:hubspot:{self.account}"
            self.bucket = rolling_window_bucket(redis, key, limit=rate_per_10s, window_s=10.0)
            self.search_bucket = rolling_window_bucket(redis, key + ":search", limit=search_per_second, window_s=1.0)
        retry = Retry(total=None, connect=2, read=0, status=0, redirect=0, other=0)
        client = HubSpot(access_token=token, retry=retry, host=self.base_url, ssl_ca_cert=ca_bundle)
        crm = client.crm
        self._contacts_basic = crm.contacts.basic_api
        self._contacts_batch = crm.contacts.batch_api
        self._companies_search = crm.companies.search_api
        self._owners = crm.owners.owners_api
        self._assoc_batch = crm.associations.v4.batch_api
        # the properties API (`leadrelay crm check` / `setup`, adapters.hubspot.fields)
        self._properties = crm.properties.core_api
        self._property_groups = crm.properties.groups_api

    def close(self) -> None:
        """Drop pooled connections (keep-alive TLS sockets) to HubSpot."""
        for api in (self._contacts_basic, self._contacts_batch, self._companies_search, self._owners,
                    self._assoc_batch, self._properties, self._property_groups):
            api.api_client.rest_client.pool_manager.clear()

    def __repr__(self) -> str:  # never show the token
        return f"HubSpotCrm(base_url={self.base_url!r}, account={self.account!r})"

    @classmethod
    def from_settings(cls, settings: Any, redis: redis_lib.Redis | None, **kwargs: Any) -> HubSpotCrm:
        """Build from ``connector.settings.Settings`` (token, base URL, CA bundle, tier)."""
        return cls(token=settings.hubspot_token, base_url=settings.hubspot_base_url, ca_bundle=settings.ca_bundle,
                   redis=redis, rate_per_10s=settings.hubspot_rate_per_10s,
                   key_prefix=settings.key_prefix, **kwargs)

    # ---- one HTTP call, limited, classified, retried ---------------------------------------------------------------

    def _request(
        self, fn: Callable[..., Any], deadline: Deadline, *, lane: str = "live", search: bool = False,
        ok: tuple[int, ...] = (),
    ) -> tuple[int, Json]:
        def once() -> tuple[int, Json]:
            left = deadline.left()
            if left <= 0:
                raise CrmUnavailable("HubSpot call: time budget used up", retry_after=1.0)
            if self.bucket:
                self.bucket.acquire(timeout=left, lane=lane)
            if search and self.search_bucket:
                self.search_bucket.acquire(timeout=deadline.left(), lane=lane)
            timeout = max(0.5, min(self.request_timeout_s, deadline.left()))
            try:
                resp = fn(_preload_content=False, _request_timeout=(min(3.0, timeout), timeout))
            except API_EXCEPTIONS as exc:
                if exc.status in ok:
                    return int(exc.status), _body(exc.body)
                raise self._classify(exc) from None
            except urllib3.exceptions.HTTPError as exc:
                reason = getattr(exc, "reason", None)
                if isinstance(reason, urllib3.exceptions.SSLError):
                    raise FatalError("TLS to HubSpot failed", hint="check LEADRELAY_CA_BUNDLE / base URL") from None
                raise CrmUnavailable(f"HubSpot did not answer ({type(reason or exc).__name__})",
                                     retry_after=0.5) from None
            return int(resp.status), _body(resp.data)

        return call_with_retry(once, deadline=deadline, on_retry=self._on_retry)

    @staticmethod
    def _on_retry(exc: RetryableError, wait: float) -> None:
        log.info("hubspot.retry", reason=exc.message, wait_s=round(wait, 3))

    def _classify(self, exc: Any) -> LeadrelayError:
        status = int(exc.status or 0)
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        body = _body(exc.body)
        message = str(body.get("message") or exc.reason or "no message")
        if status == 401:
            return AuthError(f"HubSpot refused the token (401): {message[:200]}",
                             hint="check LEADRELAY_HUBSPOT_TOKEN (a private app access token) and its scopes")
        if status == 429:
            return CrmUnavailable(f"HubSpot rate limit ({body.get('policyName', '?')})",
                                  retry_after=self._retry_after(headers, body))
        if status >= 500 or status in (0, 408):
            return CrmUnavailable(f"HubSpot error {status}: {message[:200]}", retry_after=0.5)
        return HubSpotError(f"HubSpot {status} {body.get('category', '')}: {message}", status=status,
                            category=body.get("category"))

    def _retry_after(self, headers: dict[str, str], body: Json) -> float:
        """How long a 429 asks us to wait: Retry-After if sent; else by policy and the X-HubSpot-RateLimit-* headers."""
        if headers.get("retry-after"):
            try:
                return float(headers["retry-after"])
            except ValueError:
                pass
        policy = body.get("policyName")
        if policy == "DAILY":
            return 3600.0
        if policy == "SECONDLY":
            return 1.0
        interval = float(headers.get("x-hubspot-ratelimit-interval-milliseconds") or 10_000) / 1000
        limit = max(1, int(headers.get("x-hubspot-ratelimit-max") or 100))
        remaining = int(headers.get("x-hubspot-ratelimit-remaining") or 0)
        if remaining == 0 and self.bucket:
            self.bucket.set_tokens(0)  # tell every worker: the window is full
        # one request's share of the window; backoff with jitter grows it if the window stays full
        return interval / limit

    # ---- CrmClient -------------------------------------------------------------------------------------------------

    def find(self, emails: Sequence[str], domains: Sequence[str] = (), *, deadline_s: float | None = None,
             lane: str = "live") -> list[CrmRecord]:
        """Contacts by email (batch read, idProperty=email) with their company, and companies by domain (search)."""
        deadline = Deadline(deadline_s or self.deadline_s)
        out: list[CrmRecord] = []
        wanted = list(dict.fromkeys(e.strip().lower() for e in emails if e and e.strip()))
        contacts: list[Json] = []
        for chunk in _chunks(wanted, BATCH_LIMIT):
            body = {"inputs": [{"id": e} for e in chunk], "idProperty": "email", "properties": CONTACT_PROPERTIES,
                    "propertiesWithHistory": []}
            _, data = self._request(lambda b=body, **kw: self._contacts_batch.read(b, archived=False, **kw),
                                    deadline, lane=lane)
            contacts += data.get("results", [])
        accounts = self._companies_of([c["id"] for c in contacts], deadline, lane) if contacts else {}
        for c in contacts:
            p = c.get("properties") or {}
            out.append(CrmRecord(crm="hubspot", id=str(c["id"]), kind="contact", email=p.get("email"),
                                 phone=p.get("phone"), first_name=p.get("firstname"), last_name=p.get("lastname"),
                                 company=p.get("company"), country=p.get("country"),
                                 owner_id=p.get("hubspot_owner_id"), account_id=accounts.get(str(c["id"])),
                                 fields={k: v for k, v in p.items() if v is not None}))
        wanted_domains = list(dict.fromkeys(d.strip().lower() for d in domains if d and d.strip()))
        for chunk in _chunks(wanted_domains, IN_VALUES):
            after: str | None = None
            while True:
                req: Json = {"filterGroups": [{"filters": [{"propertyName": "domain", "operator": "IN",
                                                            "values": list(chunk)}]}],
                             "properties": COMPANY_PROPERTIES, "limit": SEARCH_PAGE}
                if after:
                    req["after"] = after
                _, data = self._request(lambda r=req, **kw: self._companies_search.do_search(r, **kw), deadline,
                                        lane=lane, search=True)
                for c in data.get("results", []):
                    p = c.get("properties") or {}
                    out.append(CrmRecord(crm="hubspot", id=str(c["id"]), kind="account", company=p.get("name"),
                                         domain=p.get("domain"), country=p.get("country"),
                                         owner_id=p.get("hubspot_owner_id"),
                                         fields={k: v for k, v in p.items() if v is not None}))
                after = ((data.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
        return out

    def accounts(self, *, deadline_s: float | None = None) -> list[CrmRecord]:
        """Every company with a domain, for the account index. Search pages of 200, keyset-paged on
        hs_object_id because search will not page past 10,000 results; run in the background (5 searches/s)."""
        deadline = Deadline(deadline_s or self.deadline_s)
        out: list[CrmRecord] = []
        last = "0"
        while True:
            req: Json = {"filterGroups": [{"filters": [
                {"propertyName": "domain", "operator": "HAS_PROPERTY"},
                {"propertyName": "hs_object_id", "operator": "GT", "value": last}]}],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "properties": COMPANY_PROPERTIES, "limit": SEARCH_PAGE}
            _, data = self._request(lambda r=req, **kw: self._companies_search.do_search(r, **kw), deadline,
                                    lane="bulk", search=True)
            rows = data.get("results", [])
            for c in rows:
                p = c.get("properties") or {}
                out.append(CrmRecord(crm="hubspot", id=str(c["id"]), kind="account", company=p.get("name"),
                                     domain=p.get("domain"), country=p.get("country"),
                                     owner_id=p.get("hubspot_owner_id"),
                                     fields={k: v for k, v in p.items() if v is not None}))
            if len(rows) < SEARCH_PAGE:
                return out
            last = str(rows[-1]["id"])

    def _companies_of(self, contact_ids: list[str], deadline: Deadline, lane: str) -> dict[str, str]:
        """contact id -> its (first) company, from one associations v4 batch read per 1,000 contacts."""
        found: dict[str, str] = {}
        for chunk in _chunks(contact_ids, 1000):
            body = {"inputs": [{"id": i} for i in chunk]}
            _, data = self._request(
                lambda b=body, **kw: self._assoc_batch.get_page("contacts", "companies", b, **kw), deadline, lane=lane)
            for row in data.get("results", []):
                to = sorted(row.get("to") or [], key=lambda t: int(t.get("toObjectId", 0)))
                if to:
                    found[str(row["from"]["id"])] = str(to[0]["toObjectId"])
        return found

    def get(self, record_id: str, *, deadline_s: float | None = None) -> CrmRecord | None:
        """One contact by id, with its company; None when HubSpot has no such record."""
        deadline = Deadline(deadline_s or self.deadline_s)
        status, c = self._request(
            lambda **kw: self._contacts_basic.get_by_id(record_id, properties=CONTACT_PROPERTIES,
                                                        associations=["companies"], archived=False, **kw),
            deadline, ok=(404,))
        if status == 404:
            return None
        p = c.get("properties") or {}
        companies = ((c.get("associations") or {}).get("companies") or {}).get("results") or []
        return CrmRecord(crm="hubspot", id=str(c["id"]), kind="contact", email=p.get("email"), phone=p.get("phone"),
                         first_name=p.get("firstname"), last_name=p.get("lastname"), company=p.get("company"),
                         country=p.get("country"), owner_id=p.get("hubspot_owner_id"),
                         account_id=str(companies[0]["id"]) if companies else None,
                         fields={k: v for k, v in p.items() if v is not None})

    def owners(self, *, deadline_s: float | None = None) -> list[Owner]:
        """Every active owner (paged 500 at a time)."""
        deadline = Deadline(deadline_s or self.deadline_s)
        out: list[Owner] = []
        after: str | None = None
        while True:
            kwargs: Json = {"limit": 500, "archived": False}
            if after:
                kwargs["after"] = after
            _, data = self._request(lambda k=kwargs, **kw: self._owners.get_page(**k, **kw), deadline)
            for o in data.get("results", []):
                out.append(Owner(crm="hubspot", id=str(o["id"]), email=o.get("email") or "",
                                 first_name=o.get("firstName") or None, last_name=o.get("lastName") or None,
                                 active=not o.get("archived", False)))
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out

    def ping(self) -> bool:
        """True when HubSpot answers an authenticated call."""
        try:
            self._request(lambda **kw: self._owners.get_page(limit=1, **kw), Deadline(min(5.0, self.deadline_s)))
        except LeadrelayError:
            return False
        return True


__all__ = ["HubSpotCrm", "HubSpotError"]
