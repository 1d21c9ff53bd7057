"""HubSpot sandbox: the subset of HubSpot's CRM API v3/v4 that leadrelay uses, with state in memory.

Faithful to HubSpot's documentation, never shaped to our adapter. Each behaviour cites its page:

- Objects (get/create/update, batch read/create/update/upsert): https://developers.hubspot.com/docs/api/crm/contacts
  batch upsert by ``idProperty`` (a property with unique values, e.g. email):
  https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts
- 100 inputs per batch request; more is a 400 VALIDATION_ERROR (community answer quoting the current limit:
  https://community.hubspot.com/t5/APIs-Integrations/Limit-for-contact-batch-API/m-p/1196389; message text in
  HubSpot's own wording for the analogous property-history limit: https://github.com/activepieces/activepieces/pull/9359)
- Multi-status: batch writes report partial failures as 207 with ``errors[]`` when every input carries an
  ``objectWriteTraceId``; otherwise one bad input fails the whole request and nothing is written.
  https://developers.hubspot.com/docs/api-reference/latest/error-handling#multi-status-errors
- Duplicate on create: 409 CONFLICT "Contact already exists. Existing ID: N"
  https://github.com/HubSpot/hubspot-api-python/issues/51
- Rate limits: private apps 100 requests / 10 s (Free, Starter) or 190 (Professional, Enterprise), rolling;
  429 body ``{"status":"error","message":...,"errorType":"RATE_LIMIT","correlationId":...,"policyName":...}``;
  ``X-HubSpot-RateLimit-*`` headers on every response. https://developers.hubspot.com/docs/api/usage-details
  https://developers.hubspot.com/changelog/2018-11-06-rate-limit-information-headers-will-be-included-in-http-responses
- Search: ``filterGroups`` (OR of ANDed filters; at most 5 groups, 10 filters per group, 25 in all), ``IN`` with
  ``values``, at most 200 results per page, ``after`` paging, no paging past 10,000 results, 5 requests/s per
  token. https://developers.hubspot.com/docs/api/crm/search
  https://developers.hubspot.com/changelog/breaking-change-expanded-filtering-capabilities-and-error-messaging-in-hubspots-search-api
- Lifecycle stage only moves forward: an API write of an earlier stage leaves the value unchanged (no error);
  clear it (empty string) first, then set it. https://knowledge.hubspot.com/records/use-lifecycle-stages
- Owners: https://developers.hubspot.com/docs/api/crm/owners
- Associations v4 default (contact -> company, type 279; the reverse 280):
  https://developers.hubspot.com/docs/api/crm/associations
- 401 body (category INVALID_AUTHENTICATION): https://developers.hubspot.com/docs/api-reference/latest/error-handling
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, Router, get, patch, post, put
from litestar.params import FromPath

from sandbox.common import Faults
from sandbox.hubspot_schema import (
    DEFAULT_PROPERTIES,
    LIFECYCLE_STAGES,
    OBJECT_LABEL,
    SCHEMAS,
    correlation_id,
    error_body,
    validate,
    validation_body,
)
from sandbox.hubspot_webhooks import WebhookEmitter

TIERS = {"free": 100, "starter": 100, "professional": 190, "enterprise": 190}
DAILY = {"free": 250_000, "starter": 250_000, "professional": 625_000, "enterprise": 1_000_000}
MAX_BATCH = 100
MAX_SEARCH_PAGE = 200
MAX_SEARCH_RESULTS = 10_000
MAX_IN_VALUES = 100
TYPE_ALIASES = {"contact": "contacts", "contacts": "contacts", "0-1": "contacts",
                "company": "companies", "companies": "companies", "0-2": "companies"}
ASSOC_TYPE = {("contacts", "companies"): 279, ("companies", "contacts"): 280}
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
    "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)

Row = tuple[int, dict[str, Any]]  # (status, body): 2xx body is the result, else HubSpot's error body


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _norm(prop: str, value: Any) -> str:
    return str(value).strip().lower() if prop == "email" else str(value)


class _Silent:
    def emit(self, event: dict[str, Any]) -> None:
        pass


class HubSpotSandbox:
    """In-memory HubSpot portal. Options arrive as ``SandboxServer(hubspot={...})``."""

    def __init__(
        self,
        faults: Faults,
        *,
        token: str = "sandbox-hubspot-token",
        tier: str = "starter",
        rate_limit_per_10s: int | None = None,
        search_per_second: int = 5,
        owners: Iterable[dict[str, Any]] = (),
        portal_id: int = 12345678,
        app_id: int = 1234567,
        webhook_url: str | None = None,
        client_secret: str = "sandbox-client-secret",
        webhook_properties: Iterable[str] | None = None,
        webhook_verify: bool | str = True,
        webhook_retry_delays: tuple[float, ...] | None = None,
    ) -> None:
        self.faults = faults
        self.token = token
        self.tier = tier
        self.rate_limit = rate_limit_per_10s or TIERS[tier]
        self.daily_limit = DAILY[tier]
        self.search_per_second = search_per_second
        self.portal_id = portal_id
        self.app_id = app_id
        self.webhook_properties = set(webhook_properties) if webhook_properties is not None else None
        self.owners = [self._owner(o, i) for i, o in enumerate(owners, start=1)]
        kwargs: dict[str, Any] = {"verify": webhook_verify}
        if webhook_retry_delays is not None:
            kwargs["retry_delays"] = webhook_retry_delays
        self.webhooks = WebhookEmitter(webhook_url, client_secret, **kwargs)
        self._lock = threading.RLock()
        self.reset()

    # ---- state -------------------------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._objects: dict[str, dict[str, dict[str, Any]]] = {"contacts": {}, "companies": {}}
            self._unique: dict[tuple[str, str], dict[str, str]] = {}
            self._assoc: set[tuple[str, str, str, str]] = set()
            self._ids = itertools.count(1001)
            self._event_ids = itertools.count(1)
            self._fault_n = itertools.count()
            self._window: deque[float] = deque()
            self._search_window: deque[float] = deque()
            self._daily_used = 0
        self.webhooks.clear()

    def records(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            out: dict[str, list[dict[str, Any]]] = {
                t: [self._full(r) for r in objs.values()] for t, objs in self._objects.items()
            }
            out["owners"] = list(self.owners)
            out["associations"] = [
                {"fromObjectType": a, "fromObjectId": b, "toObjectType": c, "toObjectId": d}
                for a, b, c, d in sorted(self._assoc)
            ]
            return out

    def close(self) -> None:
        self.webhooks.close()

    def ui_update(self, object_id: str, properties: dict[str, Any], *, user_id: int = 1) -> None:
        """A change made by a person in HubSpot's UI (webhooks carry CRM_UI / userId:N) — for echo tests."""
        with self._lock:
            rec = self._objects["contacts"][object_id]
            self._apply("contacts", rec, properties, creating=False, source=("CRM_UI", f"userId:{user_id}"))

    def _owner(self, o: dict[str, Any], i: int) -> dict[str, Any]:
        return {
            "id": str(o.get("id", 100 + i)),
            "email": o["email"],
            "firstName": o.get("firstName", o.get("first_name", "")),
            "lastName": o.get("lastName", o.get("last_name", "")),
            "userId": o.get("userId", 9000 + i),
            "createdAt": _now(),
            "updatedAt": _now(),
            "archived": bool(o.get("archived", False)),
            "teams": o.get("teams", []),
        }

    def _owner_ids(self) -> tuple[str, ...]:
        return tuple(o["id"] for o in self.owners if not o["archived"])

    def _find(self, object_type: str, prop: str, value: Any) -> dict[str, Any] | None:
        if prop in ("hs_object_id", "id"):
            return self._objects[object_type].get(str(value))
        rec_id = self._unique.get((object_type, prop), {}).get(_norm(prop, value))
        return self._objects[object_type].get(rec_id) if rec_id else None

    def _full(self, rec: dict[str, Any]) -> dict[str, Any]:
        return {"id": rec["id"], "properties": dict(rec["properties"]), "createdAt": rec["createdAt"],
                "updatedAt": rec["updatedAt"], "archived": False}

    def _public(self, object_type: str, rec: dict[str, Any], wanted: Iterable[str] | None) -> dict[str, Any]:
        names = list(DEFAULT_PROPERTIES[object_type]) + [n for n in (wanted or ()) if n]
        props = {n: rec["properties"].get(n) for n in dict.fromkeys(names)}
        return {"id": rec["id"], "properties": props, "createdAt": rec["createdAt"], "updatedAt": rec["updatedAt"],
                "archived": False}

    def _apply(
        self, object_type: str, rec: dict[str, Any], props: dict[str, Any], *, creating: bool,
        source: tuple[str, str] | None = None,
    ) -> None:
        """Write validated properties; an earlier lifecycle stage is ignored unless the value was cleared."""
        stored = rec["properties"]
        changed: list[tuple[str, str]] = []
        for name, raw in props.items():
            value = "" if raw is None else str(raw)
            if name == "email":
                value = value.strip().lower()
            old = stored.get(name)
            if name == "lifecyclestage" and value and old and not creating and \
                    LIFECYCLE_STAGES.index(value) < LIFECYCLE_STAGES.index(old):
                continue  # HubSpot: lifecycle stage cannot move backwards without clearing it first
            if value == (old or ""):
                continue
            prop = SCHEMAS[object_type][name]
            if prop.unique:
                index = self._unique.setdefault((object_type, name), {})
                if old:
                    index.pop(_norm(name, old), None)
                if value:
                    index[_norm(name, value)] = rec["id"]
            if value:
                stored[name] = value
            else:
                stored.pop(name, None)
            changed.append((name, value))
        now = _now()
        rec["updatedAt"] = now
        stored["lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"] = now
        if object_type == "contacts":
            self._emit(rec["id"], changed, creating, source or ("INTEGRATION", str(self.app_id)))

    def _emit(self, object_id: str, changed: list[tuple[str, str]], creating: bool, source: tuple[str, str]) -> None:
        base = {"portalId": self.portal_id, "appId": self.app_id, "objectId": int(object_id),
                "changeSource": source[0], "sourceId": source[1]}
        occurred = int(time.time() * 1000)
        if creating:
            self.webhooks.emit({"eventId": next(self._event_ids), "subscriptionId": 1, "occurredAt": occurred,
                                "subscriptionType": "contact.creation", "changeFlag": "CREATED", **base})
        for name, value in changed:
            if self.webhook_properties is not None and name not in self.webhook_properties:
                continue
            self.webhooks.emit({"eventId": next(self._event_ids), "subscriptionId": 2, "occurredAt": occurred,
                                "subscriptionType": "contact.propertyChange", "propertyName": name,
                                "propertyValue": value, **base})

    def _create(self, object_type: str, props: dict[str, Any], source: tuple[str, str] | None = None) -> dict[str, Any]:
        rec_id = str(next(self._ids))
        now = _now()
        rec = {"id": rec_id, "properties": {"hs_object_id": rec_id, "createdate": now}, "createdAt": now,
               "updatedAt": now}
        self._objects[object_type][rec_id] = rec
        self._apply(object_type, rec, props, creating=True, source=source)
        return rec

    def seed(self, object_type: str, properties: dict[str, Any]) -> str:
        """A record that was in the portal before leadrelay came (no webhook fires). Returns its id."""
        with self._lock:
            emitter, self.webhooks = self.webhooks, _Silent()  # type: ignore[assignment]
            try:
                return str(self._create(object_type, properties)["id"])
            finally:
                self.webhooks = emitter

    def ui_create(self, properties: dict[str, Any], *, user_id: int = 1) -> str:
        """A contact a person creates in HubSpot's UI (contact.creation carries CRM_UI / userId:N). Returns its id."""
        with self._lock:
            if validate("contacts", properties, owner_ids=self._owner_ids()):
                raise ValueError(f"invalid contact properties: {properties}")
            return str(self._create("contacts", properties, source=("CRM_UI", f"userId:{user_id}"))["id"])

    # ---- rows: plan against the current state, then apply --------------------------------------------------------

    def _check_props(self, object_type: str, props: Any) -> Row | None:
        if not isinstance(props, dict):
            return 400, error_body("VALIDATION_ERROR", "Invalid input JSON: `properties` must be an object")
        problems = validate(object_type, props, owner_ids=self._owner_ids())
        return (400, validation_body(problems)) if problems else None

    def _conflict(self, object_type: str, props: Any, self_id: str | None,
                  claimed: dict[tuple[str, str], str]) -> Row | None:
        for name, value in props.items():
            if not value or not SCHEMAS[object_type][name].unique:
                continue
            key = (name, _norm(name, value))
            other = self._find(object_type, name, value)
            other_id = other["id"] if other else claimed.get(key)
            if other_id and other_id != self_id:
                label = OBJECT_LABEL[object_type]
                return 409, error_body("CONFLICT", f"{label} already exists. Existing ID: {other_id}")
            claimed[key] = self_id or "new"
        return None

    def _row_create(self, object_type: str, item: Any, claimed: dict[tuple[str, str], str]) -> Row:
        props = item.get("properties") if isinstance(item, dict) else None
        return self._check_props(object_type, props) or self._conflict(object_type, props, None, claimed) or (201, {})

    def _row_update(self, object_type: str, item: Any, claimed: dict[tuple[str, str], str]) -> Row:
        if not isinstance(item, dict) or "id" not in item:
            return 400, error_body("VALIDATION_ERROR", "Invalid input JSON: each input needs an `id`")
        id_prop = item.get("idProperty") or "hs_object_id"
        rec = self._find(object_type, id_prop, item["id"])
        if rec is None:
            return 404, error_body("OBJECT_NOT_FOUND", f"{OBJECT_LABEL[object_type]} {item['id']} not found",
                                   context={"ids": [str(item["id"])]})
        props = item.get("properties")
        bad = self._check_props(object_type, props) or self._conflict(object_type, props, rec["id"], claimed)
        return bad or (200, {"_rec": rec})

    def _row_upsert(self, object_type: str, item: Any, claimed: dict[tuple[str, str], str]) -> Row:
        if not isinstance(item, dict) or "id" not in item or not item.get("idProperty"):
            return 400, error_body("VALIDATION_ERROR", "Invalid input JSON: each input needs `id` and `idProperty`")
        id_prop = item["idProperty"]
        prop = SCHEMAS[object_type].get(id_prop)
        if prop is None or not prop.unique or prop.read_only:
            return 400, error_body("VALIDATION_ERROR", f"{id_prop} is not a unique property")
        props = item.get("properties")
        bad = self._check_props(object_type, props)
        if bad:
            return bad
        merged = {**(props or {}), id_prop: item["id"]}
        rec = self._find(object_type, id_prop, item["id"])
        return self._conflict(object_type, merged, rec["id"] if rec else None, claimed) or \
            (200, {"_rec": rec, "_props": merged})

    def _batch(self, object_type: str, body: Any, kind: str) -> Row:
        """Run a batch write: 400 for an oversized or malformed batch, all-or-nothing without trace ids,
        207 Multi-Status (only the bad rows fail) when every input has an ``objectWriteTraceId``."""
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return 400, error_body("VALIDATION_ERROR", "Invalid input JSON: `inputs` must be an array")
        if len(inputs) > MAX_BATCH:
            return 400, error_body(
                "VALIDATION_ERROR",
                f"The maximum number of inputs supported in a batch request is {MAX_BATCH}. "
                "Please reduce the number of items and try again",
                context={"inputs": [str(len(inputs))]})
        if kind != "create":
            ids = [_norm(i.get("idProperty", ""), i.get("id")) for i in inputs if isinstance(i, dict)]
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                return 400, error_body("VALIDATION_ERROR", f"Duplicate IDs found in batch input: {dupes}")
        traced = bool(inputs) and all(isinstance(i, dict) and i.get("objectWriteTraceId") for i in inputs)
        started = _now()
        claimed: dict[tuple[str, str], str] = {}
        plan_row = {"create": self._row_create, "update": self._row_update, "upsert": self._row_upsert}[kind]
        planned = [(item, plan_row(object_type, item, claimed)) for item in inputs]
        failed = [(item, row) for item, row in planned if row[0] >= 300]
        if failed and not traced:
            return failed[0][1]
        results = []
        for item, (status, plan) in planned:
            if status >= 300:
                continue
            if kind == "create":
                rec, new = self._create(object_type, item["properties"]), True
                sent = item["properties"]
            elif kind == "update":
                rec, new, sent = plan["_rec"], False, item["properties"]
                self._apply(object_type, rec, sent, creating=False)
            else:
                rec, sent = plan["_rec"], plan["_props"]
                new = rec is None
                if rec is None:
                    rec = self._create(object_type, sent)
                else:
                    self._apply(object_type, rec, sent, creating=False)
            result = self._public(object_type, rec, sent)
            if kind == "upsert":
                result["new"] = new
            if item.get("objectWriteTraceId"):
                result["objectWriteTraceId"] = item["objectWriteTraceId"]
            results.append(result)
        errors = []
        for item, (_status, err) in failed:
            err = {**err, "status": "error", "context": {**err.get("context", {}),
                                                         "objectWriteTraceId": [item["objectWriteTraceId"]]}}
            errors.append(err)
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                               "completedAt": _now()}
        if errors:
            out.update(numErrors=len(errors), errors=errors)
            return 207, out
        return (201 if kind == "create" else 200), out

    # ---- HTTP -----------------------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        remaining = max(0, self.rate_limit - len(self._window))
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily_limit - self._daily_used)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(self.rate_limit),
            "X-HubSpot-RateLimit-Remaining": str(remaining),
        }

    def _respond(self, status: int, body: Any, *, limit_headers: bool = True) -> Response[bytes]:
        headers = self._headers() if limit_headers else {}
        content = b"" if body is None else json.dumps(body).encode()
        return Response(content=content, status_code=status, media_type="application/json", headers=headers)

    def _rate_limited(self, policy: str, message: str) -> Response[bytes]:
        body = {"status": "error", "message": message, "errorType": "RATE_LIMIT", "correlationId": correlation_id(),
                "policyName": policy, "requestId": correlation_id()}
        return self._respond(429, body)

    def _fault(self, fault: str) -> Response[bytes]:
        if fault == "rate_limit":
            return self._rate_limited("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")
        if fault == "timeout":
            return self._respond(504, error_body("GATEWAY_TIMEOUT", "The request timed out."))
        if fault == "outage":
            return self._respond(503, error_body("SERVICE_UNAVAILABLE", "Service Unavailable"))
        # alternate the two 5xx HubSpot's edge answers with when a backend is unhealthy
        status = 502 if next(self._fault_n) % 2 else 503
        return self._respond(status, error_body("INTERNAL_ERROR", "internal error" if status == 502 else
                                                "Service Unavailable"))

    async def _guard(self, request: Request[Any, Any, Any], *, search: bool = False) -> Response[bytes] | None:
        """Faults, then auth, then the rolling 10 s limit (and search's 5/s), then the daily limit."""
        fault = await self.faults.before()
        if fault:
            return self._fault(fault)
        if request.headers.get("authorization", "") != f"Bearer {self.token}":
            return self._respond(401, error_body("INVALID_AUTHENTICATION", AUTH_MESSAGE), limit_headers=False)
        now = time.monotonic()
        with self._lock:
            while self._window and now - self._window[0] >= 10:
                self._window.popleft()
            while self._search_window and now - self._search_window[0] >= 1:
                self._search_window.popleft()
            if len(self._window) >= self.rate_limit:
                return self._rate_limited("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")
            if search and len(self._search_window) >= self.search_per_second:
                return self._rate_limited("SECONDLY", "You have reached your secondly limit.")
            if self._daily_used >= self.daily_limit:
                return self._rate_limited("DAILY", "You have reached your daily limit.")
            self._window.append(now)
            self._daily_used += 1
            if search:
                self._search_window.append(now)
        return None

    async def _json(self, request: Request[Any, Any, Any]) -> tuple[Any, Response[bytes] | None]:
        raw = await request.body()
        try:
            return json.loads(raw or b"null"), None
        except ValueError as exc:
            return None, self._respond(400, error_body("VALIDATION_ERROR", f"Invalid input JSON: {exc}"))

    def _type(self, object_type: str) -> str | None:
        return TYPE_ALIASES.get(object_type)

    def route_handlers(self) -> list[Any]:
        """Litestar handlers for HubSpot's paths (all under /crm/)."""
        sb = self

        @get("/crm/v3/owners")
        async def owners(request: Request[Any, Any, Any]) -> Response[bytes]:
            if (denied := await sb._guard(request)) is not None:
                return denied
            q = request.query_params
            limit = int(q.get("limit") or 100)
            if not 1 <= limit <= 500:
                return sb._respond(400, error_body("VALIDATION_ERROR", "limit must be between 1 and 500"))
            archived = (q.get("archived") or "false").lower() == "true"
            rows = [o for o in sb.owners if o["archived"] == archived]
            if q.get("email"):
                rows = [o for o in rows if o["email"].lower() == q["email"].lower()]
            start = int(q.get("after") or 0)
            page = rows[start:start + limit]
            out: dict[str, Any] = {"results": page}
            if start + limit < len(rows):
                out["paging"] = {"next": {"after": str(start + limit)}}
            return sb._respond(200, out)

        @put("/crm/v4/objects/{from_type:str}/{from_id:str}/associations/default/{to_type:str}/{to_id:str}")
        async def associate_default(
            request: Request[Any, Any, Any], from_type: FromPath[str], from_id: FromPath[str], to_type: FromPath[str],
            to_id: FromPath[str],
        ) -> Response[bytes]:
            if (denied := await sb._guard(request)) is not None:
                return denied
            with sb._lock:
                status, out = sb._associate(from_type, [{"from": {"id": from_id}, "to": {"id": to_id}}], to_type)
            if status == 207:
                return sb._respond(400, out["errors"][0])
            return sb._respond(status, out)

        @post("/crm/v4/associations/{from_type:str}/{to_type:str}/batch/associate/default", status_code=200)
        async def batch_associate(
            request: Request[Any, Any, Any], from_type: FromPath[str], to_type: FromPath[str]
        ) -> Response[bytes]:
            if (denied := await sb._guard(request)) is not None:
                return denied
            body, bad = await sb._json(request)
            if bad:
                return bad
            inputs = body.get("inputs") if isinstance(body, dict) else None
            if not isinstance(inputs, list):
                return sb._respond(400, error_body("VALIDATION_ERROR", "Invalid input JSON: `inputs` must be an array"))
            with sb._lock:
                status, out = sb._associate(from_type, inputs, to_type)
            return sb._respond(status, out)

        @post("/crm/v4/associations/{from_type:str}/{to_type:str}/batch/read", status_code=200)
        async def batch_read_associations(request: Request[Any, Any, Any], from_type: FromPath[str],
                                          to_type: FromPath[str]) -> Response[bytes]:
            if (denied := await sb._guard(request)) is not None:
                return denied
            body, bad = await sb._json(request)
            if bad:
                return bad
            f, t = sb._type(from_type), sb._type(to_type)
            inputs = body.get("inputs") if isinstance(body, dict) else None
            if f is None or t is None or not isinstance(inputs, list):
                return sb._respond(400, error_body("VALIDATION_ERROR", "Invalid input"))
            if len(inputs) > 1000:  # https://developers.hubspot.com/changelog/bug-fix-batch-read-limit-for-hubspot-associations-api
                return sb._respond(400, error_body("VALIDATION_ERROR", "Batch read is limited to 1000 inputs"))
            results = []
            with sb._lock:
                for item in inputs:
                    fid = str(item.get("id"))
                    to = sorted((d for a, b, c, d in sb._assoc if a == f and b == fid and c == t), key=int)
                    if to:
                        type_id = ASSOC_TYPE.get((f, t), 1)
                        results.append({"from": {"id": fid}, "to": [
                            {"toObjectId": int(d), "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]} for d in to]})
            return sb._respond(200, {"status": "COMPLETE", "results": results, "startedAt": _now(),
                                     "completedAt": _now()})

        objects = [h for t in ("contacts", "companies") for h in sb._object_handlers(t)]
        return [Router(path="/", route_handlers=[
            *objects, owners, associate_default, batch_associate, batch_read_associations,
        ])]

    def _object_handlers(self, t: str) -> list[Any]:
        """CRM v3 object endpoints for one object type (static paths, so calls are counted per type)."""
        sb = self

        @get(f"/crm/v3/objects/{t}/{{object_id:str}}")
        async def get_object(request: Request[Any, Any, Any], object_id: FromPath[str]) -> Response[bytes]:
            if (denied := await sb._guard(request)) is not None:
                return denied
            q = request.query_params
            wanted = [p for v in q.getall("properties", []) for p in v.split(",")]
            with sb._lock:
                rec = sb._find(t, q.get("idProperty") or "hs_object_id", object_id)
                if rec is None:
                    return sb._respond(404, None)  # HubSpot answers an unknown id with an empty 404
                out = sb._public(t, rec, wanted)
                assoc = [a for v in q.getall("associations", []) for a in v.split(",")]
                for other in filter(None, (sb._type(a) for a in assoc)):
                    ids = sorted(d for a, b, c, d in sb._assoc if a == t and b == rec["id"] and c == other)
                    if ids:
                        kind = "contact_to_company" if other == "companies" else "company_to_contact"
                        out.setdefault("associations", {})[other] = {
                            "results": [{"id": i, "type": kind} for i in ids]}
            return sb._respond(200, out)

        @post(f"/crm/v3/objects/{t}", status_code=201)
        async def create_object(request: Request[Any, Any, Any]) -> Response[bytes]:
            if (denied := await sb._guard(request)) is not None:
                return denied
            body, bad = await sb._json(request)
            if bad:
                return bad
            with sb._lock:
                status, out = sb._row_create(t, body, {})
                if status >= 300:
                    return sb._respond(status, out)
                rec = sb._create(t, body["properties"])
                return sb._respond(201, sb._public(t, rec, body["properties"]))

        @patch(f"/crm/v3/objects/{t}/{{object_id:str}}")
        async def update_object(request: Request[Any, Any, Any], object_id: FromPath[str]) -> Response[bytes]:
            if (denied := await sb._guard(request)) is not None:
                return denied
            body, bad = await sb._json(request)
            if bad:
                return bad
            id_prop = request.query_params.get("idProperty")
            with sb._lock:
                item = {**(body if isinstance(body, dict) else {}), "id": object_id, "idProperty": id_prop}
                status, out = sb._row_update(t, item, {})
                if status >= 300:
                    return sb._respond(status, out)
                sb._apply(t, out["_rec"], body["properties"], creating=False)
                return sb._respond(200, sb._public(t, out["_rec"], body["properties"]))

        async def batch_write(request: Request[Any, Any, Any], kind: str) -> Response[bytes]:
            if (denied := await sb._guard(request)) is not None:
                return denied
            body, bad = await sb._json(request)
            if bad:
                return bad
            with sb._lock:
                status, out = sb._batch(t, body, kind)
            return sb._respond(status, out)

        @post(f"/crm/v3/objects/{t}/batch/create", status_code=201)
        async def batch_create(request: Request[Any, Any, Any]) -> Response[bytes]:
            return await batch_write(request, "create")

        @post(f"/crm/v3/objects/{t}/batch/update", status_code=200)
        async def batch_update(request: Request[Any, Any, Any]) -> Response[bytes]:
            return await batch_write(request, "update")

        @post(f"/crm/v3/objects/{t}/batch/upsert", status_code=200)
        async def batch_upsert(request: Request[Any, Any, Any]) -> Response[bytes]:
            return await batch_write(request, "upsert")

        @post(f"/crm/v3/objects/{t}/batch/read", status_code=200)
        async def batch_read(request: Request[Any, Any, Any]) -> Response[bytes]:
            if (denied := await sb._guard(request)) is not None:
                return denied
            body, bad = await sb._json(request)
            if bad:
                return bad
            with sb._lock:
                status, out = sb._batch_read(t, body)
            return sb._respond(status, out)

        @post(f"/crm/v3/objects/{t}/search", status_code=200)
        async def search(request: Request[Any, Any, Any]) -> Response[bytes]:
            if (denied := await sb._guard(request, search=True)) is not None:
                return denied
            body, bad = await sb._json(request)
            if bad:
                return bad
            with sb._lock:
                status, out = sb._search(t, body if isinstance(body, dict) else {})
            return sb._respond(status, out)

        return [get_object, create_object, update_object, batch_create, batch_update, batch_upsert, batch_read, search]


    # ---- reads, search, associations ------------------------------------------------------------------------------

    def _batch_read(self, object_type: str, body: Any) -> Row:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return 400, error_body("VALIDATION_ERROR", "Invalid input JSON: `inputs` must be an array")
        if len(inputs) > MAX_BATCH:
            return 400, error_body(
                "VALIDATION_ERROR",
                f"The maximum number of inputs supported in a batch request is {MAX_BATCH}. "
                "Please reduce the number of items and try again")
        id_prop = body.get("idProperty") or "hs_object_id"
        prop = SCHEMAS[object_type].get(id_prop)
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
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": _now(), "completedAt": _now()}
        if missing:
            label = OBJECT_LABEL[object_type].upper()
            out["numErrors"] = 1
            out["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                              "message": f"Could not get some {label} objects, they may be deleted or not exist. "
                                         "Check that ids are valid.",
                              "context": {"ids": missing}}]
            return 207, out
        return 200, out

    def _search(self, object_type: str, body: dict[str, Any]) -> Row:
        groups = body.get("filterGroups") or []
        limit = int(body.get("limit") or 10)
        after = int(body.get("after") or 0)
        schema = SCHEMAS[object_type]
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
        if after + limit > MAX_SEARCH_RESULTS:
            return 400, error_body("VALIDATION_ERROR", f"The search API can not page beyond {MAX_SEARCH_RESULTS} "
                                                       "results")
        matched = [r for r in self._objects[object_type].values()
                   if not groups or any(all(_match(r["properties"], f) for f in g.get("filters", [])) for g in groups)]
        sorts = body.get("sorts") or []
        if sorts and isinstance(sorts[0], dict):
            name, desc = sorts[0].get("propertyName", "hs_object_id"), sorts[0].get("direction") == "DESCENDING"
            matched.sort(key=lambda r: _sort_key(r["properties"].get(name)), reverse=desc)
        else:
            matched.sort(key=lambda r: int(r["id"]))
        page = matched[after:after + limit]
        out: dict[str, Any] = {"total": len(matched),
                               "results": [self._public(object_type, r, body.get("properties")) for r in page]}
        if after + limit < len(matched):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return 200, out

    def _associate(self, from_type: str, inputs: list[Any], to_type: str) -> Row:
        f, t = self._type(from_type), self._type(to_type)
        if f is None or t is None:
            return 400, error_body("VALIDATION_ERROR", f"Unable to infer object type from: {from_type}/{to_type}")
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in inputs:
            fid, tid = str(item.get("from", {}).get("id")), str(item.get("to", {}).get("id"))
            if fid not in self._objects[f] or tid not in self._objects[t]:
                errors.append({"status": "error", "category": "VALIDATION_ERROR",
                               "message": f"One or more objects not found: {f} {fid}, {t} {tid}",
                               "context": {"fromObjectId": [fid], "toObjectId": [tid]}})
                continue
            self._assoc.add((f, fid, t, tid))
            self._assoc.add((t, tid, f, fid))
            for a, b, c in ((fid, tid, ASSOC_TYPE.get((f, t), 1)), (tid, fid, ASSOC_TYPE.get((t, f), 1))):
                results.append({"from": {"id": a}, "to": {"id": b},
                                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": c}})
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": _now(), "completedAt": _now()}
        if errors:
            out.update(numErrors=len(errors), errors=errors)
            return 207, out
        return 200, out


def _sort_key(value: Any) -> tuple[int, float, str]:
    if value is None:
        return (1, 0.0, "")
    try:
        return (0, float(value), "")
    except ValueError:
        return (0, 0.0, str(value).lower())


def _match(props: dict[str, Any], f: dict[str, Any]) -> bool:
    """One search filter. String comparisons are case-insensitive, as HubSpot's search is."""
    op = f.get("operator", "EQ")
    raw = props.get(f.get("propertyName", ""))
    if op == "HAS_PROPERTY":
        return raw not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return raw in (None, "")
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
    a, b = _sort_key(raw), _sort_key(f.get("value"))
    if op == "BETWEEN":
        return b <= a <= _sort_key(f.get("highValue"))
    return {"LT": a < b, "LTE": a <= b, "GT": a > b, "GTE": a >= b}.get(op, False)


__all__ = ["HubSpotSandbox"]
