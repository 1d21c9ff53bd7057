"""HubSpot sandbox: CRM v3 batch read and search. Mixed into ``sandbox.hubspot.HubSpotSandbox``.

- Batch read by id or by a unique ``idProperty``, 100 inputs, ``BatchResponseSimplePublicObject``; inputs that match
  nothing answer 207 with one ``StandardError`` (category OBJECT_NOT_FOUND, ``context.ids``), the answer
  hubspot-api-client maps to ``BatchResponseSimplePublicObjectWithErrors``.
  https://developers.hubspot.com/docs/api-reference/latest/error-handling#multi-status-errors
- Search: ``filterGroups`` (OR of ANDed filters; at most 5 groups, 10 filters per group, 25 in all), ``IN`` with
  ``values``, at most 200 results per page, ``after`` paging, no paging past 10,000 results ("The search endpoints
  are limited to 10,000 total results for any given query. Attempting to page beyond 10,000 will result in a 400
  error"), 5 requests/s per account (the ``SECONDLY`` policy of ``HubSpotSandbox._guard``, besides the portal's
  ten-second limit); the answer is ``CollectionResponseWithTotalSimplePublicObject`` (``total`` and ``results``
  required). Archived records are not searched. https://developers.hubspot.com/docs/api/crm/search
- Date and datetime properties (``lastmodifieddate``, ``createdate``...) compare as instants: a filter value is
  epoch milliseconds, as HubSpot's APIs take timestamps
  (https://developers.hubspot.com/docs/faq/how-should-timestamps-be-formatted-for-hubspots-apis), or an ISO 8601
  string; ``sorts`` order them the same way. A value that is neither is a 400.
  https://developers.hubspot.com/changelog/breaking-change-expanded-filtering-capabilities-and-error-messaging-in-hubspots-search-api
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.hubspot_schema import OBJECT_LABEL, Prop, Row, error_body, now_iso, standard_error
from sandbox.hubspot_writes import MAX_BATCH, too_many_inputs

MAX_SEARCH_PAGE = 200
MAX_SEARCH_RESULTS = 10_000
MAX_IN_VALUES = 100


class HubSpotReads:
    """Batch read and search of the HubSpot sandbox."""

    _objects: dict[str, dict[str, dict[str, Any]]]
    schemas: dict[str, dict[str, Prop]]

    def _batch_read(self, object_type: str, body: Any) -> Row:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return 400, error_body("VALIDATION_ERROR", "Invalid input JSON: `inputs` must be an array")
        if len(inputs) > MAX_BATCH:
            return too_many_inputs()
        id_prop = body.get("idProperty") or "hs_object_id"
        prop = self.schemas[object_type].get(id_prop)
        if prop is None or not prop.unique:
            return 400, error_body("VALIDATION_ERROR", f"{id_prop} is not a unique property")
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        for item in inputs:
            rec = self._find(object_type, id_prop, item.get("id"))
            if rec is None:
                missing.append(str(item.get("id")))
            elif all(r["id"] != rec["id"] for r in results):
                results.append(self._public(object_type, rec, body.get("properties") or [id_prop]))
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now_iso(),
                               "completedAt": now_iso()}
        if missing:
            label = OBJECT_LABEL[object_type].upper()
            out["numErrors"] = 1
            out["errors"] = [standard_error({
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {label} objects, they may be deleted or not exist. "
                           "Check that ids are valid."}, ids=missing)]
            return 207, out
        return 200, out

    def _search_refusal(self, object_type: str, groups: list[Any], limit: int, after: int) -> Row | None:
        schema = self.schemas[object_type]
        if limit > MAX_SEARCH_PAGE:
            return 400, error_body("VALIDATION_ERROR", f"limit must be less than or equal to {MAX_SEARCH_PAGE}")
        if len(groups) > 5 or any(len(g.get("filters", [])) > 10 for g in groups) or \
                sum(len(g.get("filters", [])) for g in groups) > 25:
            return 400, error_body("VALIDATION_ERROR", "Too many filters: at most 5 filterGroups, 10 filters per "
                                                       "group and 25 filters in all")
        for g in groups:
            for f in g.get("filters", []):
                if f.get("propertyName") not in schema:
                    return 400, error_body("VALIDATION_ERROR", f"There was a problem with the request. Property "
                                                               f"{f.get('propertyName')} does not exist")
                if len(f.get("values") or []) > MAX_IN_VALUES:
                    return 400, error_body("VALIDATION_ERROR", f"At most {MAX_IN_VALUES} values are allowed for "
                                                               f"{f.get('operator')}")
        for g in groups:
            for f in g.get("filters", []):
                if schema[f["propertyName"]].type in ("datetime", "date"):
                    for v in (f.get("value"), f.get("highValue"), *(f.get("values") or [])):
                        if v not in (None, "") and _millis(v) is None:
                            return 400, error_body("VALIDATION_ERROR", f"{v!r} is not a valid timestamp for "
                                                                       f"{f['propertyName']}: use epoch milliseconds")
        if after + limit > MAX_SEARCH_RESULTS:
            return 400, error_body("VALIDATION_ERROR", f"The search API can not page beyond {MAX_SEARCH_RESULTS} "
                                                       "results")
        return None

    def _search(self, object_type: str, body: dict[str, Any]) -> Row:
        groups = body.get("filterGroups") or []
        limit = int(body.get("limit") or 10)
        after = int(body.get("after") or 0)
        refused = self._search_refusal(object_type, groups, limit, after)
        if refused:
            return refused
        types = {n: p.type for n, p in self.schemas[object_type].items()}
        matched = [r for r in self._objects[object_type].values()
                   if not groups or any(all(_match(r["properties"], f, types) for f in g.get("filters", []))
                                        for g in groups)]
        sorts = body.get("sorts") or []
        if sorts and isinstance(sorts[0], dict):
            name, desc = sorts[0].get("propertyName", "hs_object_id"), sorts[0].get("direction") == "DESCENDING"
            matched.sort(key=lambda r: int(r["id"]))  # ties keep id order, so pages neither repeat nor skip
            matched.sort(key=lambda r: _sort_key(r["properties"].get(name), types.get(name)), reverse=desc)
        else:
            matched.sort(key=lambda r: int(r["id"]))
        page = matched[after:after + limit]
        out: dict[str, Any] = {"total": len(matched),
                               "results": [self._public(object_type, r, body.get("properties")) for r in page]}
        if after + limit < len(matched):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return 200, out


def _millis(value: Any) -> int | None:
    """A timestamp as epoch milliseconds: digits as they are, an ISO 8601 string parsed; None when neither."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _sort_key(value: Any, kind: str | None = None) -> tuple[int, float, str]:
    if value is None:
        return (1, 0.0, "")
    if kind in ("datetime", "date") and (ms := _millis(value)) is not None:
        return (0, float(ms), "")
    try:
        return (0, float(value), "")
    except ValueError:
        return (0, 0.0, str(value).lower())


def _match(props: dict[str, Any], f: dict[str, Any], types: dict[str, str]) -> bool:
    """One search filter. String comparisons are case-insensitive, as HubSpot's search is; dates as instants."""
    op = f.get("operator", "EQ")
    kind = types.get(f.get("propertyName", ""))
    raw = props.get(f.get("propertyName", ""))
    if op == "HAS_PROPERTY":
        return raw not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return raw in (None, "")
    if kind in ("datetime", "date") and op in ("EQ", "NEQ"):
        same = raw is not None and _sort_key(raw, kind) == _sort_key(f.get("value"), kind)
        return same if op == "EQ" else not same
    value = "" if raw is None else str(raw).lower()
    target = str(f.get("value", "")).lower()
    if op == "EQ":
        return raw is not None and value == target
    if op == "NEQ":
        return value != target
    if op == "IN":
        return raw is not None and value in {str(v).lower() for v in f.get("values") or []}
    if op == "NOT_IN":
        return value not in {str(v).lower() for v in f.get("values") or []}
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = target.strip("*")
        found = raw is not None and (token in value if "*" in target else token in value.replace("@", " ").split())
        return found if op == "CONTAINS_TOKEN" else not found
    if raw is None:
        return False
    a, b = _sort_key(raw, kind), _sort_key(f.get("value"), kind)
    if op == "BETWEEN":
        return b <= a <= _sort_key(f.get("highValue"), kind)
    return {"LT": a < b, "LTE": a <= b, "GT": a > b, "GTE": a >= b}.get(op, False)
