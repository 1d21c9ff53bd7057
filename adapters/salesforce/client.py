"""SalesforceCrm: the worker's Salesforce port, on simple-salesforce (unmodified) over the REST API.

- Writes are sObject Collections upserts by the external id ``Leadrelay_Id__c`` (200 records per call,
  ``allOrNone: false``), so replaying a write creates nothing new; records already known by id are updated by
  id (``PATCH composite/sobjects``). ``Sforce-Auto-Assign: FALSE`` goes with every call that writes ``OwnerId`` so
  the org's assignment rules do not overwrite our owner
  (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_autoassign.htm).
- Each row's ``success/errors`` is split into written / retryable (UNABLE_TO_LOCK_ROW, ...) / permanent
  (validation, with Salesforce's message and code kept); only failed rows are sent again (adapters.retry).
- Salesforce refuses a whole collection for one record's fault (an unknown field — INVALID_FIELD "No such column",
  a value it cannot deserialize): such a refusal of several records is split in halves until it is one record's,
  so one bad row costs ~2·log2(n) calls and never fails the rest of its batch.
- Whole-call failures are classified from simple-salesforce's exceptions (``adapters.salesforce.errors``): 401 ->
  refresh the session once, then AuthError; 403 REQUEST_LIMIT_EXCEEDED -> RetryableError (long wait for the daily
  ``TotalRequests`` allocation, short for ``ConcurrentPerOrgLongTxn``); other 4xx -> FatalError; 5xx/timeouts ->
  RetryableError.
- Reads (``adapters.salesforce.lookup``) are SOQL queries, up to 5 per Composite call.
- Every call first takes a token from the Redis bucket shared by all workers, sized from the org's daily
  allocation as read from ``Sforce-Limit-Info`` (simple-salesforce's ``api_usage``); calls stop before the
  allocation's last ``reserve_share`` so a burst never runs the org dry for its other integrations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

import redis as redis_lib
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from adapters.ratelimit import RedisTokenBucket
from adapters.retry import Deadline, call_with_retry
from adapters.salesforce.auth import SalesforceAuth
from adapters.salesforce.errors import SalesforceRefusal, _errors_of, classify
from adapters.salesforce.lookup import ID_PREFIX, SalesforceLookups, soql_quote
from connector.errors import AuthError, CrmUnavailable, FatalError, LeadrelayError, RetryableError
from connector.ports import WriteItem, WriteOutcome
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


class SalesforceCrm(SalesforceLookups):
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
        self.user_id: str | None = None  # the integration user, once logged in (when the login says)

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
        self.user_id = token.user_id or self.user_id
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
                raise CrmUnavailable("Salesforce daily API allocation used up", retry_after=ttl / 1000)
        if self.usage is None:
            return
        used, total = self.usage
        if total - used <= total * self.reserve_share and self.reserve_share > 0:
            raise CrmUnavailable(
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
            raise CrmUnavailable(
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

    def _rows(self, sobject: str, chunk: list[WriteItem], deadline: Deadline) -> list[tuple[WriteItem, WriteOutcome]]:
        """One outcome per record of one call. A whole-call refusal of several records is split in halves (the
        refusal does not say which record it is about), so the other records are written."""
        try:
            rows = self._send(sobject, chunk, deadline)
        except RetryableError as exc:
            return [(i, WriteOutcome(key=i.key, status="retryable", message=exc.message, retry_after=exc.retry_after))
                    for i in chunk]
        except AuthError:
            raise
        except FatalError as exc:
            if len(chunk) > 1:
                mid = len(chunk) // 2
                return self._rows(sobject, chunk[:mid], deadline) + self._rows(sobject, chunk[mid:], deadline)
            code = exc.error_code if isinstance(exc, SalesforceRefusal) else None
            return [(chunk[0], WriteOutcome(key=chunk[0].key, status="permanent", message=exc.message,
                                            error_code=code))]
        return [(item, self._row_outcome(item, row)) for item, row in zip(chunk, rows, strict=True)]

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
                for item, outcome in self._rows(sobject, chunk, deadline):
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
