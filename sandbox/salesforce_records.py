"""Salesforce sandbox: sObject rows (create, get, update, delete, by external id, upsert) and Query / Query More.

Mixed into ``sandbox.salesforce.SalesforceSandbox`` (which holds the org, the faults and the HTTP plumbing).
- sObject rows, create 201, PATCH 204, upsert by external id 201/200, several matches 300:
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_upsert_patch.htm
- Query / Query More with ``nextRecordsUrl``, up to 2,000 records per batch, ``Sforce-Query-Options: batchSize``:
  https://developer.salesforce.com/docs/platform/api-rest/guide/resources-query.html
  and https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_queryoptions.htm
- QueryAll: the same, with deleted and merged records (``IsDeleted``, ``MasterRecordId``) and ``queryAll/`` in
  ``nextRecordsUrl``: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_queryall.htm
- Get Deleted, ``sobjects/{type}/deleted/?start=&end=`` (ISO 8601 with a time zone): ``deletedRecords`` (``id``,
  ``deletedDate``), ``earliestDateAvailable`` and ``latestDateCovered`` (minute precision, never past ``end`` or
  now); ``start`` after ``end``, or more than 30 days back, is 400 INVALID_REPLICATION_DATE (getDeleted's rules:
  start before end, within the past 30 days; the message text is ours):
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_getdeleted.htm and
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_getdeleted.htm
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox import soql
from sandbox.salesforce_org import Org, RequestError, make_id

GET_DELETED_DAYS = 30  # how far back Get Deleted reaches (the Recycle Bin keeps records 15 days; the call allows 30)


@dataclass
class Ctx:
    user_id: str
    version: str
    headers: dict[str, str]
    query: dict[str, str]

    @property
    def auto_assign(self) -> bool:
        # Header absent -> TRUE; TRUE or an AssignmentRule id -> rules run; only FALSE turns them off.
        value = self.headers.get("sforce-auto-assign")
        return value is None or value.strip().upper() != "FALSE"


Result = tuple[int, Any]



class RecordOps:
    """sObject rows and queries of the Salesforce sandbox."""

    org: Org
    query_batch_size: int
    daily_api_limit: int
    api_used: int
    _locators: dict[str, tuple[str, str, list[dict[str, Any]]]]

    def _record_json(self, ctx: Ctx, sobject: str, rec: dict[str, Any]) -> dict[str, Any]:
        wanted = ctx.query.get("fields")
        names = [self.org.field_name(sobject, f.strip()) for f in wanted.split(",")] if wanted else list(rec)
        url = f"/services/data/{ctx.version}/sobjects/{sobject}/{rec['Id']}"
        return {"attributes": {"type": sobject, "url": url}, **{n: rec.get(n) for n in names}}

    @staticmethod
    def _errors_body(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"message": e["message"], "errorCode": e["statusCode"], "fields": e["fields"]} for e in errors]

    def op_create(self, ctx: Ctx, body: Any, sobject: str) -> Result:
        sobject = self.org.canonical_sobject(sobject)
        if not isinstance(body, dict):
            raise RequestError(400, "JSON_PARSER_ERROR", "Expected a JSON object for the record")
        result = self.org.insert(sobject, self.org.coerce(sobject, body), ctx.user_id, ctx.auto_assign)
        if not result["success"]:
            return 400, self._errors_body(result["errors"])
        return 201, result

    def _missing(self, sobject: str, record_id: str) -> Result:
        """404 for an id that is not there: ENTITY_IS_DELETED when it is in the Recycle Bin (error codes page,
        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm)."""
        if record_id in self.org.recycle.get(sobject, {}):
            return 404, [{"errorCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}]
        return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]

    def op_get(self, ctx: Ctx, body: Any, sobject: str, record_id: str) -> Result:
        sobject = self.org.canonical_sobject(sobject)
        found = self.org.find(record_id)
        if found is None or found[0] != sobject:
            return self._missing(sobject, record_id)
        return 200, self._record_json(ctx, sobject, found[1])

    def op_update(self, ctx: Ctx, body: Any, sobject: str, record_id: str) -> Result:
        sobject = self.org.canonical_sobject(sobject)
        found = self.org.find(record_id)
        if found is None or found[0] != sobject:
            return self._missing(sobject, record_id)
        result = self.org.update(
            sobject, found[1]["Id"], self.org.coerce(sobject, body or {}), ctx.user_id, ctx.auto_assign
        )
        if not result["success"]:
            return 400, self._errors_body(result["errors"])
        return 204, None

    def op_delete(self, ctx: Ctx, body: Any, sobject: str, record_id: str) -> Result:
        sobject = self.org.canonical_sobject(sobject)
        result = self.org.delete(sobject, record_id, ctx.user_id)
        if not result["success"]:
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
        return 204, None

    def op_get_by_ext(self, ctx: Ctx, body: Any, sobject: str, field: str, value: str) -> Result:
        sobject = self.org.canonical_sobject(sobject)
        ext = self.org.external_field(sobject, field)
        matches = self.org.by_index(sobject, ext, value)
        if not matches:
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
        if len(matches) > 1:
            return 300, [f"/services/data/{ctx.version}/sobjects/{sobject}/{m['Id']}" for m in matches]
        return 200, self._record_json(ctx, sobject, matches[0])

    def op_upsert(self, ctx: Ctx, body: Any, sobject: str, field: str, value: str) -> Result:
        sobject = self.org.canonical_sobject(sobject)
        ext = self.org.external_field(sobject, field)
        fields = self.org.coerce(sobject, body or {})
        if ext in fields or "Id" in fields:
            # "Do not specify Id or an external ID field in the request body or an error is generated."
            named = ext if ext in fields else "Id"
            raise RequestError(
                400, "INVALID_FIELD", f"The field {named} is specified in both the URL and the body", [named]
            )
        matches = self.org.by_index(sobject, ext, value)
        if len(matches) > 1:
            return 300, [f"/services/data/{ctx.version}/sobjects/{sobject}/{m['Id']}" for m in matches]
        result = self.org.upsert(sobject, ext, value, fields, ctx.user_id, ctx.auto_assign)
        if not result["success"]:
            return 400, self._errors_body(result["errors"])
        return (201 if result["created"] else 200), result

    # --- query ------------------------------------------------------------------------------------------------
    def _batch_size(self, ctx: Ctx) -> int:
        size = self.query_batch_size
        m = re.search(r"batchSize=(\d+)", ctx.headers.get("sforce-query-options", ""))
        if m:
            size = min(size, max(200, min(2000, int(m.group(1)))))
        return size

    def _page(self, ctx: Ctx, locator: str, rows: list[dict[str, Any]], start: int, total: int,
              resource: str = "query") -> dict[str, Any]:
        size = self._batch_size(ctx)
        batch = rows[start : start + size]
        out: dict[str, Any] = {"totalSize": total, "done": start + size >= len(rows), "records": batch}
        if not out["done"]:
            out["nextRecordsUrl"] = f"/services/data/{ctx.version}/{resource}/{locator}-{start + size}"
        return out

    def op_query(self, ctx: Ctx, body: Any, *, include_deleted: bool = False) -> Result:
        text = ctx.query.get("q")
        if not text:
            raise RequestError(400, "MALFORMED_QUERY", "A query string has to be specified")
        query = soql.parse(text)
        sobject, rows = self.org.run_query(query, include_deleted=include_deleted)
        shaped = [self.org.shape(sobject, r, query.fields, ctx.version) for r in rows]
        locator = make_id("01g", int.from_bytes(secrets.token_bytes(5), "big"))
        if len(shaped) > self._batch_size(ctx):
            self._locators[locator] = (ctx.user_id, sobject, shaped)
        resource = "queryAll" if include_deleted else "query"
        return 200, self._page(ctx, locator, shaped, 0, len(shaped), resource)

    def op_query_more(self, ctx: Ctx, body: Any, locator: str, *, resource: str = "query") -> Result:
        base, _, start = locator.rpartition("-")
        stored = self._locators.get(base)
        if stored is None or not start.isdigit():
            raise RequestError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        _, _, rows = stored
        return 200, self._page(ctx, base, rows, int(start), len(rows), resource)

    def op_query_all(self, ctx: Ctx, body: Any) -> Result:
        return self.op_query(ctx, body, include_deleted=True)

    def op_query_all_more(self, ctx: Ctx, body: Any, locator: str) -> Result:
        return self.op_query_more(ctx, body, locator, resource="queryAll")

    def op_get_deleted(self, ctx: Ctx, body: Any, sobject: str) -> Result:
        sobject = self.org.canonical_sobject(sobject)
        start, end = (_instant(ctx.query.get(name), name) for name in ("start", "end"))
        now = datetime.now(UTC)
        if start > end:
            raise RequestError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
        if start < now - timedelta(days=GET_DELETED_DAYS):
            raise RequestError(400, "INVALID_REPLICATION_DATE",
                               f"startDate cannot be more than {GET_DELETED_DAYS} days ago")
        gone = [{"id": rid, "deletedDate": self.org.deleted_dates[rid]}
                for rid in self.org.recycle.get(sobject, {}) if start <= _parse_sf(self.org.deleted_dates[rid]) <= end]
        covered = min(end, now).replace(second=0, microsecond=0)
        earliest = (now - timedelta(days=GET_DELETED_DAYS)).replace(second=0, microsecond=0)
        return 200, {"deletedRecords": gone, "earliestDateAvailable": _sf(earliest), "latestDateCovered": _sf(covered)}

    def op_limits(self, ctx: Ctx, body: Any) -> Result:
        return 200, {
            "DailyApiRequests": {"Max": self.daily_api_limit, "Remaining": self.daily_api_limit - self.api_used}
        }


def _instant(value: str | None, name: str) -> datetime:
    """A Get Deleted bound: ISO 8601 with a time zone ("2013-05-05T00:00:00+00:00")."""
    try:
        parsed = datetime.fromisoformat((value or "").replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise RequestError(400, "INVALID_REPLICATION_DATE",
                           f"{name} must be an ISO 8601 date and time with a time zone, got {value!r}")
    return parsed


def _parse_sf(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")


def _sf(moment: datetime) -> str:
    """Salesforce's datetime format (as ``sf_now`` writes it)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


__all__ = ["Ctx", "RecordOps", "Result"]
