"""HubSpot sandbox: the subset of HubSpot's CRM API v3/v4 that leadrelay uses, with state in memory.

Faithful to HubSpot's documentation, never shaped to our adapter. Each behaviour cites its page; where HubSpot's
published OpenAPI specification (github.com/HubSpot/HubSpot-public-api-spec-collection) and its documented live
behaviour disagree, the live behaviour wins and says so. This module holds the portal's state and the HTTP
plumbing; the endpoints live beside it:

- ``hubspot_routes``: CRM v3 objects (get/create/update) and owners;
- ``hubspot_writes``: batch create/update/upsert, 100 inputs, multi-status 207;
- ``hubspot_reads``: batch read and search;
- ``hubspot_lifecycle``: reading every record page by page, archive (delete) and merge;
- ``hubspot_associations``: associations v4 (default associations, batch read);
- ``hubspot_schema``: properties, validation and the error shapes (``Error``, ``StandardError``);
- ``hubspot_properties``: the Properties API (read the portal's properties, create custom ones and groups);
- ``hubspot_webhooks``: signed v3 webhooks.

Cross-cutting behaviour, here:
- Objects: https://developers.hubspot.com/docs/api/crm/contacts
- Rate limits: private apps 100 requests / 10 s (Free, Starter) or 190 (Professional, Enterprise), rolling;
  ``X-HubSpot-RateLimit-*`` headers on every response. https://developers.hubspot.com/docs/api/usage-details
  https://developers.hubspot.com/changelog/2018-11-06-rate-limit-information-headers-will-be-included-in-http-responses
- The 429 body is the live one the usage guidelines show, ``{"status":"error","message":...,"errorType":
  "RATE_LIMIT","correlationId":...,"policyName":...,"requestId":...}``, without the ``category`` the spec's
  ``Error`` schema requires (https://developers.hubspot.com/docs/api/usage-details; HubSpot's error-handling page:
  "the fields ... should all be treated as optional", https://developers.hubspot.com/docs/api/error-handling).
- Lifecycle stage only moves forward: an API write of an earlier stage leaves the value unchanged (no error);
  clear it (empty string) first, then set it. https://knowledge.hubspot.com/records/use-lifecycle-stages
- Property values read back as ``null`` when a requested property has no value: the spec's ``SimplePublicObject``
  types ``properties`` values as nullable strings (PublicApiSpecs/CRM/Contacts/Rollouts/424/v3/contacts.json).
- Every change of a property is kept in its history, newest first, as ``propertiesWithHistory`` answers it: a
  ``ValueWithTimestamp`` (value, timestamp, sourceType, sourceId) per change; the spec's
  ``SimplePublicObjectWithAssociations.propertiesWithHistory`` and the ``propertiesWithHistory`` query parameter of
  https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts/get-contact
- 401 body (category INVALID_AUTHENTICATION): https://developers.hubspot.com/docs/api-reference/latest/error-handling
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from litestar import Request, Response, Router

from sandbox.common import Faults
from sandbox.hubspot_associations import HubSpotAssociations
from sandbox.hubspot_lifecycle import HubSpotLifecycle
from sandbox.hubspot_properties import HubSpotProperties, property_handlers
from sandbox.hubspot_reads import HubSpotReads
from sandbox.hubspot_routes import OWNER_TYPES, object_handlers, owners_handler
from sandbox.hubspot_schema import (
    DEFAULT_PROPERTIES,
    LEADRELAY_CONTACT_PROPERTIES,
    LIFECYCLE_STAGES,
    SCHEMAS,
    correlation_id,
    error_body,
    validate,
)
from sandbox.hubspot_schema import norm as _norm
from sandbox.hubspot_schema import now_iso as _now
from sandbox.hubspot_webhooks import WebhookEmitter
from sandbox.hubspot_writes import HubSpotWrites

TIERS = {"free": 100, "starter": 100, "professional": 190, "enterprise": 190}
DAILY = {"free": 250_000, "starter": 250_000, "professional": 625_000, "enterprise": 1_000_000}
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
    "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class _Silent:
    def emit(self, event: dict[str, Any]) -> None:
        pass


# The webhook subscriptions an app can hold for these objects, each with its subscription id. An app is sent only the
# types it subscribed to (https://developers.hubspot.com/docs/api/webhooks); ``webhook_subscriptions`` chooses them.
SUBSCRIPTION_IDS = {
    "contact.creation": 1, "contact.propertyChange": 2, "contact.deletion": 3, "contact.merge": 4,
    "company.creation": 5, "company.propertyChange": 6, "company.deletion": 7, "company.merge": 8,
}
DEFAULT_SUBSCRIPTIONS = ("contact.creation", "contact.propertyChange")
EVENT_PREFIX = {"contacts": "contact", "companies": "company"}


class HubSpotSandbox(HubSpotWrites, HubSpotReads, HubSpotAssociations, HubSpotProperties, HubSpotLifecycle):
    """In-memory HubSpot portal. Options arrive as ``SandboxServer(hubspot={...})``.

    A fresh portal has HubSpot's own properties only; ``leadrelay_fields=True`` starts it with leadrelay's custom
    properties too, as `leadrelay crm setup` creates them. ``webhook_subscriptions`` names the event types the app
    subscribed to (default: contact creation and property change).
    """

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
        leadrelay_fields: bool = False,
        webhook_subscriptions: Iterable[str] = DEFAULT_SUBSCRIPTIONS,
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
        self.leadrelay_fields = leadrelay_fields
        unknown = set(webhook_subscriptions) - set(SUBSCRIPTION_IDS)
        if unknown:
            raise ValueError(f"unknown webhook subscription types {sorted(unknown)}: use {sorted(SUBSCRIPTION_IDS)}")
        self.webhook_subscriptions = frozenset(webhook_subscriptions)
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
            self._archived: dict[str, dict[str, dict[str, Any]]] = {"contacts": {}, "companies": {}}
            self._order: dict[str, list[int]] = {"contacts": [], "companies": []}  # live ids, ascending (list pages)
            self._aliases: dict[tuple[str, str], str] = {}  # (type, id merged away) -> the record it lives on in
            self._unique: dict[tuple[str, str], dict[str, str]] = {}
            self._assoc: set[tuple[str, str, str, str]] = set()
            self._ids = itertools.count(1001)
            self._event_ids = itertools.count(1)
            self._fault_n = itertools.count()
            self._window: deque[float] = deque()
            self._search_window: deque[float] = deque()
            self._daily_used = 0
            extra = {"contacts": dict(LEADRELAY_CONTACT_PROPERTIES)} if self.leadrelay_fields else {}
            self.reset_schemas(SCHEMAS, extra)
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

    def track(self, object_id: str, properties: dict[str, Any]) -> None:
        """HubSpot's own tracking changes a contact's analytics properties (page views, email clicks): webhooks carry
        changeSource ANALYTICS. https://developers.hubspot.com/docs/api/webhooks (changeSource)"""
        with self._lock:
            rec = self._objects["contacts"][object_id]
            self._apply("contacts", rec, properties, creating=False, source=("ANALYTICS", ""))

    def ui_delete(self, object_type: str, object_id: str, *, user_id: int = 1) -> None:
        """A person deletes a record in HubSpot's UI (``{contact,company}.deletion`` carries CRM_UI / userId:N)."""
        with self._lock:
            if not self._archive(object_type, object_id, ("CRM_UI", f"userId:{user_id}")):
                raise KeyError(object_id)

    def ui_merge(self, object_type: str, primary_id: str, other_id: str, *, user_id: int = 1) -> str:
        """A person merges two records in HubSpot's UI; returns the merged record's (new) id."""
        with self._lock:
            status, out = self._merge(object_type, {"primaryObjectId": primary_id, "objectIdToMerge": other_id},
                                      ("CRM_UI", f"userId:{user_id}"))
        if status != 200:
            raise ValueError(out["message"])
        return str(out["id"])

    def log_call(self, object_id: str, *, user_id: int = 1) -> None:
        """A rep logs a call on a contact in the UI: HubSpot sets the contact's calculated "last contacted" and
        "last engagement" dates (the call itself, an engagement object, is not kept)."""
        with self._lock:
            rec = self._objects["contacts"][object_id]
            now = _now()
            self._apply("contacts", rec, {"notes_last_contacted": now, "hs_last_sales_activity_timestamp": now},
                        creating=False, source=("CALCULATED", f"userId:{user_id}"))

    def _owner(self, o: dict[str, Any], i: int) -> dict[str, Any]:
        # PublicOwner: id, type (PERSON | QUEUE), createdAt, updatedAt, archived are required (see hubspot_routes)
        if o.get("type", "PERSON") not in OWNER_TYPES:
            raise ValueError(f"owner type must be one of {OWNER_TYPES}: {o}")
        user_id = o.get("userId", 9000 + i)
        return {
            "id": str(o.get("id", 100 + i)),
            "email": o["email"],
            "type": o.get("type", "PERSON"),
            "firstName": o.get("firstName", o.get("first_name", "")),
            "lastName": o.get("lastName", o.get("last_name", "")),
            "userId": user_id,
            "userIdIncludingInactive": o.get("userIdIncludingInactive", user_id),
            "createdAt": _now(),
            "updatedAt": _now(),
            "archived": bool(o.get("archived", False)),
            "teams": o.get("teams", []),
        }

    def _owner_ids(self) -> tuple[str, ...]:
        return tuple(o["id"] for o in self.owners if not o["archived"])

    def _find(self, object_type: str, prop: str, value: Any) -> dict[str, Any] | None:
        if prop in ("hs_object_id", "id"):
            alias = self._aliases.get((object_type, str(value)), str(value))  # a merged id reads the merged record
            return self._objects[object_type].get(alias)
        rec_id = self._unique.get((object_type, prop), {}).get(_norm(prop, value))
        return self._objects[object_type].get(rec_id) if rec_id else None

    def _full(self, rec: dict[str, Any]) -> dict[str, Any]:
        return {"id": rec["id"], "properties": dict(rec["properties"]), "createdAt": rec["createdAt"],
                "updatedAt": rec["updatedAt"], "archived": False}

    def _public(self, object_type: str, rec: dict[str, Any], wanted: Iterable[str] | None,
                with_history: Iterable[str] = ()) -> dict[str, Any]:
        names = list(DEFAULT_PROPERTIES[object_type]) + [n for n in (wanted or ()) if n]
        props = {n: rec["properties"].get(n) for n in dict.fromkeys(names)}
        out = {"id": rec["id"], "properties": props, "createdAt": rec["createdAt"], "updatedAt": rec["updatedAt"],
               "archived": False}
        asked = [n for n in with_history if n in SCHEMAS[object_type]]  # unknown properties are ignored
        if asked:
            out["propertiesWithHistory"] = {n: list(rec.get("history", {}).get(n, [])) for n in asked}
        return out

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
            prop = self.schemas[object_type][name]
            if prop.unique or name == "hs_additional_emails":  # a contact's other addresses are taken too
                key = "email" if name == "hs_additional_emails" else name
                index = self._unique.setdefault((object_type, key), {})
                olds, news = ((old or "").split(";"), value.split(";")) if key != name else ([old or ""], [value])
                for gone in filter(None, olds):
                    index.pop(_norm(key, gone), None)
                for taken in filter(None, news):
                    index[_norm(key, taken)] = rec["id"]
            if value:
                stored[name] = value
            else:
                stored.pop(name, None)
            changed.append((name, value))
        now = _now()
        kind, by = source or ("INTEGRATION", str(self.app_id))
        history = rec.setdefault("history", {})
        for name, value in changed:  # newest first, as propertiesWithHistory lists them
            history.setdefault(name, []).insert(0, {"value": value, "timestamp": now, "sourceType": kind,
                                                    "sourceId": by})
        rec["updatedAt"] = now
        stored["lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"] = now
        if creating:
            self._emit_event(object_type, "creation", rec["id"], source, changeFlag="CREATED")
        for name, value in changed:
            if self.webhook_properties is None or name in self.webhook_properties:
                self._emit_event(object_type, "propertyChange", rec["id"], source, propertyName=name,
                                 propertyValue=value)

    def _emit_event(self, object_type: str, kind: str, object_id: str, source: tuple[str, str] | None,
                    **fields: Any) -> None:
        """One webhook event, when the app subscribed to its type (``contact.creation``, ``company.merge``, ...)."""
        subscription = f"{EVENT_PREFIX[object_type]}.{kind}"
        if subscription not in self.webhook_subscriptions:
            return
        by = source or ("INTEGRATION", str(self.app_id))
        self.webhooks.emit({"eventId": next(self._event_ids), "subscriptionId": SUBSCRIPTION_IDS[subscription],
                            "portalId": self.portal_id, "appId": self.app_id, "occurredAt": int(time.time() * 1000),
                            "subscriptionType": subscription, "objectId": int(object_id), "changeSource": by[0],
                            "sourceId": by[1], **fields})

    def _create(self, object_type: str, props: dict[str, Any], source: tuple[str, str] | None = None) -> dict[str, Any]:
        rec_id = str(next(self._ids))
        now = _now()
        rec = {"id": rec_id, "properties": {"hs_object_id": rec_id, "createdate": now}, "createdAt": now,
               "updatedAt": now}
        self._objects[object_type][rec_id] = rec
        self._order[object_type].append(int(rec_id))  # ids only grow, so the list stays sorted
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
            if validate(self.schemas["contacts"], properties, owner_ids=self._owner_ids()):
                raise ValueError(f"invalid contact properties: {properties}")
            return str(self._create("contacts", properties, source=("CRM_UI", f"userId:{user_id}"))["id"])

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

    async def _call(self, request: Request[Any, Any, Any], op: Callable[[Any], tuple[int, Any]], *,
                    search: bool = False) -> Response[bytes]:
        """The shape of a plain JSON route: limits and token, parse the body, run ``op`` under the lock, answer."""
        if (denied := await self._guard(request, search=search)) is not None:
            return denied
        body, bad = await self._json(request)
        if bad:
            return bad
        with self._lock:
            status, out = op(body)
        return self._respond(status, out)

    def route_handlers(self) -> list[Any]:
        """Litestar handlers for HubSpot's paths (all under /crm/)."""
        objects = [h for t in ("contacts", "companies") for h in object_handlers(self, t)]
        properties = [h for t in ("contacts", "companies") for h in property_handlers(self, t)]
        return [Router(path="/", route_handlers=[*objects, *properties, owners_handler(self),
                                                 *self._association_handlers()])]


__all__ = ["HubSpotSandbox"]
