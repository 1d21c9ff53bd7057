"""SalesforceCrm: the worker's Salesforce port, on simple-salesforce (unmodified) over the REST API.

- Writes are sObject Collections upserts by the external id ``Leadrelay_Id__c`` (200 records per call,
  ``allOrNone: false``), so replaying a write creates nothing new; records already known by id are updated by
  id (``PATCH composite/sobjects``). ``Sforce-Auto-Assign: FALSE`` goes with every call that writes ``OwnerId`` so
  the org's assignment rules do not overwrite our owner
  (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_autoassign.htm).
- Each row's ``success/errors`` is split into written / retryable (UNABLE_TO_LOCK_ROW, ...) / permanent
  (validation, with Salesforce's message and code kept); only failed rows are sent again (adapters.retry).
- Whole-call failures are classified from simple-salesforce's exceptions: 401 -> refresh the session once,
  then AuthError; 403 REQUEST_LIMIT_EXCEEDED -> RetryableError (long wait for the daily ``TotalRequests``
  allocation, short for ``ConcurrentPerOrgLongTxn``); other 4xx -> FatalError; 5xx/timeouts -> RetryableError.
- Every call first takes a token from the Redis bucket shared by all workers, sized from the org's daily
  allocation as read from ``Sforce-Limit-Info`` (simple-salesforce's ``api_usage``); calls stop before the
  allocation's last ``reserve_share`` so a burst never runs the org dry for its other integrations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar, cast
from urllib.parse import quote_plus

import redis as redis_lib
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from adapters.ratelimit import RedisTokenBucket
from adapters.retry import Deadline, call_with_retry
from adapters.salesforce.auth import SalesforceAuth
from connector.errors import AuthError, FatalError, LeadrelayError, RetryableError
from connector.keys import registrable_domain
from connector.model import CrmRecord
from connector.ports import Owner, WriteItem, WriteOutcome
from connector.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH = 200  # sObject Collections limit
RETRYABLE_ROW_CODES = {
    "UNABLE_TO_LOCK_ROW",
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "UNKNOWN_EXCEPTION",
    "SERVER_UNAVAILABLE",
}
SOBJECTS = {"lead": "Lead", "contact": "Contact", "account": "Account"}
ID_PREFIX = {"00Q": "Lead", "003": "Contact", "001": "Account"}


def soql_quote(value: str, *, like: bool = False) -> str:
    """A SOQL string literal (backslash escapes; ``%``/``_`` escaped too inside LIKE)."""
    text = value.replace("\\", "\\\\").replace("'", "\\'")
    if like:
        text = text.replace("%", "\\%").replace("_", "\\_")
    return f"'{text}'"


class SalesforceRefusal(FatalError):
    """Salesforce refused the whole request (4xx other than 401/limits); ``error_code`` is Salesforce's."""

    def __init__(self, message: str, *, error_code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.error_code = error_code


def _errors_of(exc: SalesforceError) -> list[dict[str, Any]]:
    content = exc.content
    if isinstance(content, list):
        return [e for e in content if isinstance(e, dict)]
    if isinstance(content, dict):
        return [content]
    return []


# A Composite subrequest's failure as simple-salesforce raises the same status for a request of its own.
_SUB_ERRORS: dict[int, type[SalesforceError]] = {
    400: SalesforceMalformedRequest, 401: SalesforceExpiredSession, 403: SalesforceRefusedRequest,
    404: SalesforceResourceNotFound,
}


def classify(exc: Exception, *, daily_retry_after: float = 900.0) -> LeadrelayError:
    """A simple-salesforce / requests failure as one of connector.errors (what to do next included)."""
    if isinstance(exc, requests.Timeout):
        return RetryableError("Salesforce did not answer in time", retry_after=2.0)
    if isinstance(exc, requests.ConnectionError):
        return RetryableError("Salesforce could not be reached", retry_after=2.0)
    if not isinstance(exc, SalesforceError):
        return FatalError(f"unexpected Salesforce failure: {type(exc).__name__}")
    errors = _errors_of(exc)
    code = str(errors[0].get("errorCode", "")) if errors else ""
    message = str(errors[0].get("message", "")) if errors else str(exc.content)[:300]
    detail = f"{code}: {message}" if code else message
    if isinstance(exc, SalesforceExpiredSession):
        return AuthError(f"Salesforce session refused ({detail})", hint="check the connected app and integration user")
    if isinstance(exc, SalesforceRefusedRequest):
        if code == "REQUEST_LIMIT_EXCEEDED":
            if "TotalRequests" in message:
                return RetryableError(
                    f"Salesforce daily API allocation used up ({detail})",
                    retry_after=daily_retry_after,
                    hint="the org's 24-hour API allocation is exhausted; writes resume as it frees up",
                )
            return RetryableError(f"Salesforce request limit ({detail})", retry_after=1.0)
        return SalesforceRefusal(
            f"Salesforce refused the request ({detail})",
            error_code=code or None,
            hint="check the integration user's permissions",
        )
    if isinstance(exc, SalesforceMalformedRequest | SalesforceResourceNotFound):
        return SalesforceRefusal(f"Salesforce rejected the request ({detail})", error_code=code or None)
    status = int(getattr(exc, "status", 0) or 0)
    if status >= 500 or status in (408, 429):
        return RetryableError(f"Salesforce answered {status} ({detail})", retry_after=1.0)
    return SalesforceRefusal(f"Salesforce answered {status} ({detail})", error_code=code or None)


class SalesforceCrm:
    """``connector.ports.CrmClient`` for Salesforce (sync; one per worker process)."""

    name = "salesforce"

    def __init__(
        self,
        auth: SalesforceAuth,
        *,
        api_version: str = "62.0",
        redis: redis_lib.Redis | None = None,
        key_prefix: str = "leadrelay:",
        upsert_key: str = "Leadrelay_Id__c",
        account_field: str = "Matched_Account__c",
        deadline_s: float = 60.0,
        timeout_s: float = 30.0,
        budget_share: float = 0.5,
        reserve_share: float = 0.05,
        assumed_daily_limit: int = 15_000,
        daily_retry_after_s: float = 900.0,
        max_query_uri: int = 8000,
        retry_base_s: float = 0.2,
        retry_max_s: float = 10.0,
    ) -> None:
        self.auth = auth
        self.api_version = api_version
        self.redis = redis
        self.key_prefix = key_prefix
        self.upsert_key = upsert_key
        self.account_field = account_field
        self.deadline_s = deadline_s
        self.timeout_s = timeout_s
        self.budget_share = budget_share
        self.reserve_share = reserve_share
        self.daily_retry_after_s = daily_retry_after_s
        self.max_query_uri = max_query_uri
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.usage: tuple[int, int] | None = None  # (used, total) from the last Sforce-Limit-Info
        self._daily_total = assumed_daily_limit
        self._bucket: RedisTokenBucket | None = None
        self._sf: Salesforce | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, redis: redis_lib.Redis | None = None, **kwargs: Any) -> SalesforceCrm:
        """From ``LEADRELAY_SALESFORCE_*`` settings (secrets only ever from the environment)."""
        return cls(
            SalesforceAuth.from_settings(settings),
            api_version=settings.salesforce_api_version,
            redis=redis,
            key_prefix=settings.key_prefix,
            deadline_s=kwargs.pop("deadline_s", float(settings.job_timeout_s) * 0.8),
            **kwargs,
        )

    # --- session, limits, one call ----------------------------------------------------------------------------
    def _connect(self) -> Salesforce:
        token = self.auth.login()
        self._sf = Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token,
            session=self.auth.session,
            version=self.api_version,
        )
        return self._sf

    def _bucket_for(self, total: int) -> RedisTokenBucket | None:
        if self.redis is None:
            return None
        if self._bucket is None or total != self._daily_total:
            old = self._bucket
            self._daily_total = total
            per_day = max(1.0, total * self.budget_share)
            capacity = max(10, int(per_day / 24))  # at most an hour's share in one burst
            host = (self._sf.sf_instance if self._sf else "salesforce").replace(":", "_")
            self._bucket = RedisTokenBucket(
                self.redis,
                f"{self.key_prefix}ratelimit:salesforce:{host}",
                capacity=capacity,
                per_seconds=capacity * 86_400 / per_day,
            )
            if old is not None and capacity > old.capacity:
                # the assumed allocation was a placeholder until Sforce-Limit-Info told the real one: the
                # difference in an hour's share is there to use now, not after an hour of refilling
                self._bucket.set_tokens(min(capacity, old.tokens() + capacity - old.capacity))
        return self._bucket

    def _observe(self, sf: Salesforce) -> None:
        usage = sf.api_usage.get("api-usage")
        if usage is not None:
            self.usage = (int(usage.used), int(usage.total))
            self._bucket_for(int(usage.total))

    def _exhausted_key(self) -> str:
        host = (self._sf.sf_instance if self._sf else "salesforce").replace(":", "_")
        return f"{self.key_prefix}salesforce:{host}:allocation-exhausted"

    def _check_allocation(self) -> None:
        if self.redis is not None:
            # Another worker saw TotalRequests Limit exceeded: nobody calls until its pause is over.
            ttl = float(cast(int, self.redis.pttl(self._exhausted_key())))
            if ttl > 0:
                raise RetryableError("Salesforce daily API allocation used up", retry_after=ttl / 1000)
        if self.usage is None:
            return
        used, total = self.usage
        if total - used <= total * self.reserve_share and self.reserve_share > 0:
            raise RetryableError(
                f"Salesforce API allocation nearly used ({used}/{total}); keeping the last "
                f"{self.reserve_share:.0%} for the org's other integrations",
                retry_after=self.daily_retry_after_s,
            )

    def _call(self, fn: Callable[[Salesforce], T], *, deadline: Deadline, lane: str = "live") -> T:
        """One REST call: allocation guard, shared limiter, session refresh on INVALID_SESSION_ID, classification."""
        sf = self._sf or self._connect()
        self._check_allocation()
        bucket = self._bucket_for(self._daily_total)
        if bucket is not None:
            bucket.acquire(1, timeout=max(0.0, deadline.left()), lane=lane)
        try:
            try:
                result = fn(sf)
            except SalesforceExpiredSession as exc:
                codes = {e.get("errorCode") for e in _errors_of(exc)}
                if not self.auth.refreshable or "INVALID_SESSION_ID" not in codes:
                    raise
                log.info("salesforce session expired; logging in again")
                sf = self._connect()
                result = fn(sf)
        except (SalesforceError, requests.RequestException) as exc:
            err = classify(exc, daily_retry_after=self.daily_retry_after_s)
            if (
                isinstance(err, RetryableError)
                and err.retry_after >= self.daily_retry_after_s
                and self.redis is not None
            ):
                # The org is out of calls: every worker pauses, not just this one.
                self.redis.set(self._exhausted_key(), "1", px=int(self.daily_retry_after_s * 1000))
            raise err from None
        self._observe(sf)
        return result

    def _retrying(self, fn: Callable[[], T], deadline: Deadline) -> T:
        return call_with_retry(fn, deadline=deadline, base_s=self.retry_base_s, max_s=self.retry_max_s)

    # --- read -------------------------------------------------------------------------------------------------
    def _query(self, soql: str, deadline: Deadline, lane: str = "live") -> list[dict[str, Any]]:
        """All records of one SOQL query, following ``nextRecordsUrl`` (each page is one call)."""
        page = self._retrying(
            lambda: self._call(lambda sf: sf.query(soql, timeout=self.timeout_s), deadline=deadline, lane=lane),
            deadline,
        )
        return self._all_pages(page, deadline, lane)

    def _all_pages(self, page: dict[str, Any], deadline: Deadline, lane: str = "live") -> list[dict[str, Any]]:
        """A query's records from its first page on, following ``nextRecordsUrl`` (each page is one call)."""
        records = list(page["records"])
        while not page.get("done", True):
            url = str(page["nextRecordsUrl"])

            def more(sf: Salesforce, url: str = url) -> Any:
                return sf.query_more(url, identifier_is_url=True, timeout=self.timeout_s)

            page = self._retrying(lambda: self._call(more, deadline=deadline, lane=lane), deadline)
            records.extend(page["records"])
        return [{k: v for k, v in r.items() if k != "attributes"} for r in records]

    def _chunks(
        self, head: str, values: Sequence[str], render: Callable[[str], str], joiner: str, tail: str = ""
    ) -> Iterable[str]:
        """SOQL statements ``head + v1 joiner v2 ... + tail`` each short enough for one request URI."""
        budget = self.max_query_uri - 200  # instance URL and path
        current: list[str] = []
        for value in values:
            candidate = head + joiner.join([*current, render(value)]) + tail
            if current and len(quote_plus(candidate)) > budget:
                yield head + joiner.join(current) + tail
                current = []
            current.append(render(value))
        if current:
            yield head + joiner.join(current) + tail

    def find(self, emails: Sequence[str], domains: Sequence[str] = ()) -> list[CrmRecord]:
        """Leads and Contacts by email (``Email IN (...)``), Accounts by website domain; chunked and paged."""
        deadline = Deadline(self.deadline_s)
        wanted = sorted({e.strip().lower() for e in emails if e and "@" in e})
        doms = sorted({d.strip().lower() for d in domains if d})
        lead_fields = (
            "Id, Email, FirstName, LastName, Phone, Company, Website, Country, OwnerId, Status, "
            f"{self.upsert_key}, {self.account_field}"
        )
        contact_fields = (
            "Id, Email, FirstName, LastName, Phone, MailingCountry, OwnerId, AccountId, Account.Name, Account.Website"
        )

        def website_like(domain: str) -> str:
            return "Website LIKE '%" + soql_quote(domain, like=True)[1:-1] + "%'"

        account_head = "SELECT Id, Name, Website, OwnerId, BillingCountry FROM Account WHERE "
        tagged = [
            *(("lead", q) for q in self._chunks(
                f"SELECT {lead_fields} FROM Lead WHERE IsConverted = false AND Email IN (", wanted, soql_quote, ", ",
                ")")),
            *(("contact", q) for q in self._chunks(
                f"SELECT {contact_fields} FROM Contact WHERE Email IN (", wanted, soql_quote, ", ", ")")),
            *(("account", q) for q in self._chunks(account_head, doms, website_like, " OR ")),
        ]  # fmt: skip
        out: list[CrmRecord] = []
        for (kind, _), rows in zip(tagged, self._queries([q for _, q in tagged], deadline), strict=True):
            if kind == "lead":
                out += [self._lead(r) for r in rows]
            elif kind == "contact":
                out += [self._contact(r) for r in rows]
            else:
                accounts = [self._account(r) for r in rows]
                out += [a for a in accounts if a.domain in doms]  # LIKE '%acme.com%' also matches notacme.com
        return out

    def _queries(self, soqls: Sequence[str], deadline: Deadline) -> list[list[dict[str, Any]]]:
        """The records of several SOQL queries, up to 5 per Composite request: one API call instead of one per
        query (Composite resource: developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/
        resources_composite_composite.htm; at most 5 of its subrequests may be queries)."""
        if len(soqls) <= 1:
            return [self._query(q, deadline) for q in soqls]
        out: list[list[dict[str, Any]]] = []
        for start in range(0, len(soqls), 5):
            send = self._composite(soqls[start:start + 5])
            subs: list[dict[str, Any]] = self._retrying(partial(self._call, send, deadline=deadline), deadline)
            out += [self._all_pages(sub["body"], deadline) for sub in subs]
        return out

    def _composite(self, soqls: Sequence[str]) -> Callable[[Salesforce], list[dict[str, Any]]]:
        """One Composite request of up to 5 queries; a failed subrequest raises as simple-salesforce would."""
        body = {"allOrNone": False, "compositeRequest": [
            {"method": "GET", "referenceId": f"q{i}",
             "url": f"/services/data/v{self.api_version}/query?q={quote_plus(q)}"} for i, q in enumerate(soqls)]}

        def send(sf: Salesforce) -> list[dict[str, Any]]:
            answer = cast(dict[str, Any], sf.restful("composite", method="POST", json=body, timeout=self.timeout_s))
            for sub in answer["compositeResponse"]:
                status = int(sub["httpStatusCode"])
                if status >= 300:  # the error simple-salesforce raises for the same answer to a plain query
                    kind = _SUB_ERRORS.get(status, SalesforceGeneralError)
                    raise kind("composite/query", status, "query", sub["body"])
            return cast(list[dict[str, Any]], answer["compositeResponse"])

        return send

    def accounts(self, *, deadline_s: float | None = None) -> list[CrmRecord]:
        """Every Account with a website, for the account index (one SOQL query, paged by nextRecordsUrl)."""
        soql = "SELECT Id, Name, Website, OwnerId, BillingCountry FROM Account WHERE Website != null"
        return [self._account(r) for r in self._query(soql, Deadline(deadline_s or self.deadline_s), lane="bulk")]

    def _lead(self, r: dict[str, Any]) -> CrmRecord:
        return CrmRecord(
            crm="salesforce", id=r["Id"], kind="lead", email=r.get("Email"), phone=r.get("Phone"),
            first_name=r.get("FirstName"), last_name=r.get("LastName"), company=r.get("Company"),
            domain=registrable_domain(r.get("Website")) or registrable_domain(r.get("Email")), country=r.get("Country"),
            owner_id=r.get("OwnerId"), account_id=r.get(self.account_field), fields=r,
        )  # fmt: skip

    def _contact(self, r: dict[str, Any]) -> CrmRecord:
        account = r.get("Account") or {}
        return CrmRecord(
            crm="salesforce", id=r["Id"], kind="contact", email=r.get("Email"), phone=r.get("Phone"),
            first_name=r.get("FirstName"), last_name=r.get("LastName"), company=account.get("Name"),
            domain=registrable_domain(account.get("Website")) or registrable_domain(r.get("Email")),
            country=r.get("MailingCountry"), owner_id=r.get("OwnerId"), account_id=r.get("AccountId"),
            fields={k: v for k, v in r.items() if k != "Account"},
        )  # fmt: skip

    def _account(self, r: dict[str, Any]) -> CrmRecord:
        return CrmRecord(
            crm="salesforce", id=r["Id"], kind="account", company=r.get("Name"),
            domain=registrable_domain(r.get("Website")), country=r.get("BillingCountry"), owner_id=r.get("OwnerId"),
            fields=r,
        )  # fmt: skip

    def owners(self) -> list[Owner]:
        """Active standard Users (people who can own leads)."""
        deadline = Deadline(self.deadline_s)
        soql = (
            "SELECT Id, Email, FirstName, LastName, IsActive FROM User "
            "WHERE IsActive = true AND UserType = 'Standard' ORDER BY Email"
        )
        return [
            Owner(
                crm="salesforce",
                id=r["Id"],
                email=r["Email"],
                first_name=r.get("FirstName"),
                last_name=r.get("LastName"),
                active=True,
            )
            for r in self._query(soql, deadline)
        ]

    def get(self, record_id: str) -> CrmRecord | None:
        """A Lead, Contact or Account by id (object from the id prefix); None when it does not exist."""
        sobject = ID_PREFIX.get(record_id[:3])
        if sobject is None:
            return None
        deadline = Deadline(self.deadline_s)
        try:
            rec = self._retrying(
                lambda: self._call(
                    lambda sf: sf.restful(f"sobjects/{sobject}/{record_id}", timeout=self.timeout_s), deadline=deadline
                ),
                deadline,
            )
        except FatalError as exc:
            if "NOT_FOUND" in exc.message or "ENTITY_IS_DELETED" in exc.message:
                return None
            raise
        rec = {k: v for k, v in (rec or {}).items() if k != "attributes"}
        return {"Lead": self._lead, "Contact": self._contact, "Account": self._account}[sobject](rec)

    def ping(self) -> bool:
        """True when Salesforce answers with our credentials (the Limits resource)."""
        try:
            self._call(lambda sf: sf.restful("limits/", timeout=self.timeout_s), deadline=Deadline(self.timeout_s))
        except LeadrelayError:
            return False
        return True

    # --- write ------------------------------------------------------------------------------------------------
    def _sobject(self, item: WriteItem) -> str:
        if item.record_id and item.record_id[:3] in ID_PREFIX:
            return ID_PREFIX[item.record_id[:3]]
        return SOBJECTS.get(item.object_type.lower(), item.object_type)

    def _record(self, item: WriteItem, sobject: str) -> dict[str, Any]:
        fields = dict(item.fields)
        if item.account_id:
            fields.setdefault(self.account_field if sobject == "Lead" else "AccountId", item.account_id)
        rec: dict[str, Any] = {"attributes": {"type": sobject}, **fields}
        if item.record_id:
            rec.pop(self.upsert_key, None)  # the record exists; its external id (if any) stays as it is
            rec["Id"] = item.record_id
        else:
            rec[self.upsert_key] = fields.get(self.upsert_key) or item.key
        return rec

    def _plan(self, items: Iterable[WriteItem]) -> list[tuple[str, list[WriteItem]]]:
        """Calls to make: (sObject, up to 200 items), upserts and updates-by-id apart, one sObject per call."""
        groups: dict[tuple[bool, str], list[WriteItem]] = {}
        for item in items:
            groups.setdefault((bool(item.record_id), self._sobject(item)), []).append(item)
        return [(obj, chunk[i : i + BATCH]) for (_, obj), chunk in groups.items() for i in range(0, len(chunk), BATCH)]

    def _send(self, sobject: str, chunk: list[WriteItem], deadline: Deadline) -> list[dict[str, Any]]:
        records = [self._record(item, sobject) for item in chunk]
        headers = {"Sforce-Auto-Assign": "FALSE"} if any("OwnerId" in r for r in records) else {}
        by_id = bool(chunk[0].record_id)
        path = "composite/sobjects" if by_id else f"composite/sobjects/{sobject}/{self.upsert_key}"
        body = {"allOrNone": False, "records": records}
        lane = "live" if any(i.lane != "bulk" for i in chunk) else "bulk"
        rows = self._call(
            lambda sf: sf.restful(path, method="PATCH", json=body, headers=headers, timeout=self.timeout_s),
            deadline=deadline,
            lane=lane,
        )
        if not isinstance(rows, list) or len(rows) != len(chunk):
            raise RetryableError(
                f"Salesforce answered {len(rows or [])} results for {len(chunk)} records", retry_after=1.0
            )
        return rows

    @staticmethod
    def _row_outcome(item: WriteItem, row: dict[str, Any]) -> WriteOutcome:
        if row.get("success"):
            return WriteOutcome(
                key=item.key, status="written", record_id=row.get("id"), created=bool(row.get("created"))
            )
        errors = row.get("errors") or [{"statusCode": "UNKNOWN", "message": "no error detail"}]
        code = str(errors[0].get("statusCode", "UNKNOWN"))
        message = "; ".join(str(e.get("message", "")) for e in errors)
        if code in RETRYABLE_ROW_CODES:
            return WriteOutcome(key=item.key, status="retryable", message=message, error_code=code, retry_after=0.5)
        return WriteOutcome(key=item.key, status="permanent", record_id=row.get("id"), message=message, error_code=code)

    def write(self, items: Sequence[WriteItem]) -> list[WriteOutcome]:
        """Upsert in collections of 200; one outcome per item; failed rows retried alone until the deadline."""
        deadline = Deadline(self.deadline_s)
        latest = {item.key: item for item in items}  # the same lead twice: the later decision wins
        pending = dict(latest)
        done: dict[str, WriteOutcome] = {}
        last: dict[str, WriteOutcome] = {}

        def attempt() -> None:
            wait = 0.0
            for sobject, chunk in self._plan(list(pending.values())):
                try:
                    rows = self._send(sobject, chunk, deadline)
                except RetryableError as exc:
                    wait = max(wait, exc.retry_after)
                    for item in chunk:
                        last[item.key] = WriteOutcome(
                            key=item.key, status="retryable", message=exc.message, retry_after=exc.retry_after
                        )
                    continue
                except AuthError:
                    raise
                except FatalError as exc:
                    code = exc.error_code if isinstance(exc, SalesforceRefusal) else None
                    for item in chunk:
                        done[item.key] = WriteOutcome(
                            key=item.key, status="permanent", message=exc.message, error_code=code
                        )
                        pending.pop(item.key, None)
                    continue
                for item, row in zip(chunk, rows, strict=True):
                    outcome = self._row_outcome(item, row)
                    if outcome.status == "retryable":
                        last[item.key] = outcome
                        wait = max(wait, outcome.retry_after or 0.0)
                    else:
                        done[item.key] = outcome
                        pending.pop(item.key, None)
            if pending:
                raise RetryableError(f"{len(pending)} Salesforce rows not written yet", retry_after=wait)

        try:
            self._retrying(attempt, deadline)
        except RetryableError as exc:
            for key in pending:
                done[key] = last.get(key) or WriteOutcome(
                    key=key, status="retryable", message=exc.message, retry_after=exc.retry_after
                )
        return [done[item.key] for item in items]


__all__ = ["SalesforceCrm", "SalesforceRefusal", "classify", "soql_quote"]
