"""Salesforce half of the CRM sandbox: the REST subset leadrelay uses, OAuth, limits, faults, Outbound Messages.

Every behaviour follows Salesforce's documentation (record-level rules live in ``org.py``, SOQL in ``soql.py``,
Outbound Message delivery in ``sandbox_outbound.py``):
- Status codes and the error body ``[{"message","errorCode","fields"}]``; 401 INVALID_SESSION_ID;
  403 REQUEST_LIMIT_EXCEEDED: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
- ``Sforce-Limit-Info: api-usage=N/M`` on every REST response:
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
- Daily allocation (``TotalRequests Limit exceeded.``) and concurrent long-running requests
  (``ConcurrentPerOrgLongTxn Limit exceeded.``), both 403 REQUEST_LIMIT_EXCEEDED — the REST API has no 429:
  https://developer.salesforce.com/docs/atlas.en-us.salesforce_app_limits_cheatsheet.meta/salesforce_app_limits_cheatsheet/salesforce_app_limits_platform_api.htm
- sObject rows, create 201, PATCH 204, upsert by external id 201/200:
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_upsert_patch.htm
- sObject Collections create/update/upsert/delete, at most 200 records, ``allOrNone`` default false, per-row
  SaveResult/UpsertResult: https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-create.html
  and https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-upsert.html
- Composite, at most 25 subrequests, ``@{ref.field}`` references, one API call:
  https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-composite-post.html
- Query / Query More with ``nextRecordsUrl``, up to 2,000 records per batch, ``Sforce-Query-Options: batchSize``:
  https://developer.salesforce.com/docs/platform/api-rest/guide/resources-query.html
  and https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_queryoptions.htm
- URI + headers at most 16,384 bytes, else 414: https://help.salesforce.com/s/articleView?id=000386264&type=1
- OAuth 2.0 client credentials flow (token from the My Domain endpoint, runs as the app's "run as" user):
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm
- OAuth 2.0 JWT bearer flow (RS256 assertion with iss=client id, sub=username, aud=login URL, exp within 3 minutes):
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm

Where the docs give a limit or an error code but not the exact text, the message is ours: the 25-subrequest and
5-collections/queries composite refusals, a collection record without ``attributes.type`` (INVALID_TYPE), a
collection upsert row without its external id (MISSING_ARGUMENT), the same external id twice in one collection
(DUPLICATE_EXTERNAL_ID), and an upsert naming the external id in both URL and body (INVALID_FIELD).

What is checked in a JWT assertion: three base64url parts, header ``alg`` RS256, claims ``iss`` is a configured
JWT client, ``sub`` an active user's username, ``aud`` one of https://login.salesforce.com,
https://test.salesforce.com or this sandbox's own URL, ``exp`` in the future and at most 3 minutes (+30 s skew)
ahead. The RS256 signature is verified when a public key (PEM) is configured for the client; with ``None`` only
the shape and claims are checked (there is no certificate chain to check against).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from litestar import Request, Response, post, route

from sandbox import soql
from sandbox.common import Faults
from sandbox.salesforce_org import PREFIX, SCHEMA, F, Org, RequestError, make_id, row_error
from sandbox.salesforce_outbound import OutboundSender

DEFAULT_TOKEN = "sandbox-salesforce-token"
DEFAULT_CLIENT_ID = "leadrelay-sandbox-client"
DEFAULT_CLIENT_SECRET = "leadrelay-sandbox-secret"
INTEGRATION_USERNAME = "integration@leadrelay.example"
MAX_COLLECTION = 200
MAX_COMPOSITE = 25
MAX_URI_BYTES = 16_384
DEFAULT_USERS = [
    {"Email": INTEGRATION_USERNAME, "FirstName": "Leadrelay", "LastName": "Integration", "Title": "Integration User"},
    {"Email": "sarah.chen@leadrelay.example", "FirstName": "Sarah", "LastName": "Chen", "Title": "Account Executive"},
    {"Email": "marcus.reed@leadrelay.example", "FirstName": "Marcus", "LastName": "Reed", "Title": "SDR"},
    {"Email": "ana.lopez@leadrelay.example", "FirstName": "Ana", "LastName": "Lopez", "Title": "SDR"},
    {"Email": "tom.berg@leadrelay.example", "FirstName": "Tom", "LastName": "Berg", "IsActive": False},
]
DEFAULT_OUTBOUND_FIELDS = (
    "Id", "FirstName", "LastName", "Email", "Phone", "Company", "Title", "Website", "Industry", "NumberOfEmployees",
    "AnnualRevenue", "Street", "City", "State", "PostalCode", "Country", "LeadSource", "Status", "Rating", "OwnerId",
    "IsConverted", "Leadrelay_Id__c", "Leadrelay_Score__c", "CreatedDate", "LastModifiedDate", "LastModifiedById",
)  # fmt: skip
_VERSION_RX = re.compile(r"^v\d{2,3}\.\d$")
_JWT_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


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


class SalesforceSandbox:
    """The emulated org. Options (all optional) arrive as ``SandboxServer(salesforce={...})``.

    access_tokens: {token: username} sessions valid from the start (default: DEFAULT_TOKEN -> integration user).
    oauth_clients: {client_id: {"secret": ..., "username": run-as user}} for the client credentials flow.
    jwt_clients: {client_id: public key PEM or None} for the JWT bearer flow.
    users: seeded Users (Email, FirstName, LastName, IsActive, Title); the first is the integration user.
    assignment_owner: "queue" (default: the Inbound Leads queue), a username, or None for no active rule.
    daily_api_limit / api_used: the org's 24-hour allocation and what is already used.
    query_batch_size: records per query batch (2000 like Salesforce; smaller to exercise paging).
    outbound_url: Outbound Message listener; outbound_trigger "created" or "created_and_edited" (the workflow
      rule's evaluation criteria); outbound_exclude_users: usernames whose changes the rule criteria exclude;
      outbound_fields; outbound_send_session_id; outbound_verify; outbound_retry_base_s / _max_s / max_age_s.
    instance_url: what token responses report (default: the URL the request came in on).
    """

    def __init__(self, faults: Faults, **options: Any) -> None:
        self.faults = faults
        self.options = options
        self.org_id = str(options.get("org_id") or make_id("00D", 7_301_001))
        self.session_ttl_s = float(options.get("session_ttl_s", 7200))
        self.instance_url: str | None = options.get("instance_url")
        self.oauth_clients: dict[str, dict[str, str]] = options.get(
            "oauth_clients", {DEFAULT_CLIENT_ID: {"secret": DEFAULT_CLIENT_SECRET, "username": INTEGRATION_USERNAME}}
        )
        self.jwt_clients: dict[str, str | None] = options.get("jwt_clients", {DEFAULT_CLIENT_ID: None})
        self.outbound: OutboundSender | None = None
        self._changes: list[Any] = []
        self._in_transaction = False  # a mutating request is running: its changes can be rolled back
        self.reset()

    # --- state ----------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Fresh org: seeded users and queue, no leads/contacts/accounts, usage back to ``api_used``."""
        opts = self.options
        custom = {
            obj: {name: F(**spec) if isinstance(spec, dict) else spec for name, spec in fields.items()}
            for obj, fields in (opts.get("custom_fields") or {}).items()
        }
        self.org = Org(org_id=self.org_id, custom_fields=custom, on_change=self._changes.append)
        self.users = [self.org.seed_user(u) for u in opts.get("users", DEFAULT_USERS)]
        self.integration_user = self.users[0]
        queue_id = make_id(PREFIX["Group"], 4242)
        self.org.groups[queue_id] = {"Id": queue_id, "Name": "Inbound Leads", "Type": "Queue"}
        for group in opts.get("queues", ()):  # more lead queues (Group records of Type Queue), e.g. nurture
            self.org.groups[group["Id"]] = {"Id": group["Id"], "Name": group["Name"], "Type": "Queue"}
        owner = opts.get("assignment_owner", "queue")
        if owner == "queue":
            self.org.assignment_owner_id = queue_id
        elif owner:
            user = self.org.user_by_username(owner)
            self.org.assignment_owner_id = user["Id"] if user else None
        self.queue_id = queue_id
        self.api_used = int(opts.get("api_used", 0))
        self.daily_api_limit = int(opts.get("daily_api_limit", 15_000))
        self.query_batch_size = int(opts.get("query_batch_size", 2000))
        self.sessions: dict[str, tuple[str, float | None]] = {}
        for token, username in (opts.get("access_tokens") or {DEFAULT_TOKEN: INTEGRATION_USERNAME}).items():
            user = self.org.user_by_username(username)
            if user:
                self.sessions[token] = (user["Id"], None)
        self._locators: dict[str, tuple[str, str, list[dict[str, Any]]]] = {}
        self._changes.clear()
        if self.outbound:
            self.outbound.clear()

    def records(self) -> dict[str, list[dict[str, Any]]]:
        return {name: [dict(r) for r in table.values()] for name, table in self.org.tables.items()}

    def close(self) -> None:
        if self.outbound:
            self.outbound.close()

    def expire_sessions(self) -> None:
        """Invalidate every session, as an admin revoking tokens or a timeout would (next call: 401)."""
        self.sessions.clear()

    def user_id(self, username: str) -> str:
        user = self.org.user_by_username(username)
        if user is None:
            raise KeyError(username)
        return str(user["Id"])

    def edit_as(self, username: str, sobject: str, record_id: str | None, fields: dict[str, Any]) -> dict[str, Any]:
        """A person editing (or creating, with ``record_id=None``) a record in the Salesforce UI: no assignment
        rule unless asked, Outbound Messages fire as for any change."""
        user_id = self.user_id(username)
        coerced = self.org.coerce(sobject, fields)
        if record_id is None:
            result = self.org.insert(sobject, coerced, user_id, auto_assign=False)
        else:
            result = self.org.update(sobject, record_id, coerced, user_id, auto_assign=False)
        self._commit()
        return result

    # --- Outbound Messages ------------------------------------------------------------------------------------
    def _outbound_sender(self, base_url: str) -> OutboundSender | None:
        url = self.options.get("outbound_url")
        if not url:
            return None
        if self.outbound is None:
            instance = self.instance_url or base_url
            version = "62.0"
            org15 = self.org_id[:15]
            session = None
            if self.options.get("outbound_send_session_id"):
                session = self._issue_token(self.integration_user["Id"])
            self.outbound = OutboundSender(
                url=url,
                organization_id=self.org_id,
                action_id=make_id("04k", 1),
                enterprise_url=f"{instance}/services/Soap/c/{version}/{org15}",
                partner_url=f"{instance}/services/Soap/u/{version}/{org15}",
                snapshot=self._outbound_snapshot,
                session_id=session,
                verify=self.options.get("outbound_verify", True),
                batch_window_s=float(self.options.get("outbound_batch_window_s", 0.05)),
                retry_base_s=float(self.options.get("outbound_retry_base_s", 1.0)),
                retry_max_s=float(self.options.get("outbound_retry_max_s", 7200)),
                max_age_s=float(self.options.get("outbound_max_age_s", 86400)),
            )
        return self.outbound

    def _outbound_snapshot(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        rec = self.org.tables.get(sobject, {}).get(record_id)
        if rec is None:
            return None
        fields = self.options.get("outbound_fields", DEFAULT_OUTBOUND_FIELDS)
        return {f: rec.get(f) for f in fields if f in rec}

    def _commit(self, base_url: str = "") -> None:
        """After a request commits, queue Outbound Messages for changes the workflow rule matches."""
        changes, self._changes[:] = list(self._changes), []
        sender = self._outbound_sender(base_url or self.instance_url or "https://sandbox.invalid")
        if sender is None:
            return
        sobjects = tuple(self.options.get("outbound_sobjects", ("Lead",)))
        trigger = self.options.get("outbound_trigger", "created_and_edited")
        excluded = {self.user_id(u) for u in self.options.get("outbound_exclude_users", ())}
        for ch in changes:
            if ch.sobject not in sobjects or ch.user_id in excluded:
                continue
            if trigger == "created" and not ch.created:
                continue
            sender.enqueue(make_id("04l", int.from_bytes(secrets.token_bytes(5), "big")), ch.sobject, ch.record_id)

    # --- HTTP plumbing ----------------------------------------------------------------------------------------
    def _limit_header(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.daily_api_limit}"}

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
        content = b"" if status == 204 or body is None else json.dumps(body).encode()
        return Response(
            content=content,
            status_code=status,
            media_type="application/json;charset=UTF-8",
            headers={**self._limit_header(), **(headers or {})},
        )

    def _fault(self, kind: str) -> Response[Any]:
        if kind == "rate_limit":
            return self._json(
                403, [{"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
            )
        if kind == "timeout":
            body = [
                {
                    "message": "Your request was running for too long, and has been stopped.",
                    "errorCode": "REQUEST_RUNNING_TOO_LONG",
                }
            ]
            return self._json(504, body)
        if kind == "server_error" and secrets.randbelow(2) == 0:
            ref = f"{secrets.randbelow(10**9)}-{secrets.randbelow(10**5)} ({secrets.randbelow(10**9)})"
            msg = f"An unexpected error occurred. Please include this ErrorId if you contact support: {ref}"
            return self._json(500, [{"message": msg, "errorCode": "UNKNOWN_EXCEPTION"}])
        return self._json(
            503, [{"message": "Server temporarily unavailable. Try again later.", "errorCode": "SERVER_UNAVAILABLE"}]
        )

    def _session_user(self, request: Request[Any, Any, Any]) -> str | None:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token:
            return None
        found = self.sessions.get(token.strip())
        if found is None:
            return None
        user_id, expires = found
        if expires is not None and time.monotonic() > expires:
            del self.sessions[token.strip()]
            return None
        return user_id

    async def _serve(
        self, request: Request[Any, Any, Any], op: Callable[..., Result], params: dict[str, Any]
    ) -> Response[Any]:
        # The request is read in full first: a client that gives up while we are slow does not stop the save,
        # as with the real service (the answer is what gets lost).
        raw = await request.body()
        fault = await self.faults.before()
        if fault:
            return self._fault(fault)
        raw_uri = request.scope.get("raw_path", b"") + b"?" + request.scope.get("query_string", b"")
        if len(raw_uri) > MAX_URI_BYTES:
            return self._json(414, [{"message": "URI Too Long", "errorCode": "URI_TOO_LONG"}])
        user_id = self._session_user(request)
        if user_id is None:
            return self._json(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        version = params.pop("version", "")
        if not _VERSION_RX.match(version):
            return self._json(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
        if self.api_used >= self.daily_api_limit:
            return self._json(
                403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
            )
        self.api_used += 1
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError as exc:
            return self._json(400, [{"message": f"Unexpected character: {exc}", "errorCode": "JSON_PARSER_ERROR"}])
        ctx = Ctx(
            user_id=user_id,
            version=version,
            headers={k.lower(): v for k, v in request.headers.items()},
            query={k: v for k, v in request.query_params.items()},
        )
        status, payload = self._dispatch(op, ctx, body, params, mutating=request.method != "GET")
        self._commit(str(request.base_url).rstrip("/"))
        return self._json(status, payload)

    def _dispatch(
        self, op: Callable[..., Result], ctx: Ctx, body: Any, params: dict[str, Any], *, mutating: bool
    ) -> Result:
        # One request is one transaction: a request-level error or allOrNone failure restores this snapshot.
        self._in_transaction = mutating
        if mutating:
            self.org.begin()
        try:
            return op(ctx, body, **params)
        except RequestError as exc:
            if self._in_transaction:
                self._rollback()
            return exc.status, exc.body()
        except soql.SoqlError as exc:
            return 400, [{"message": exc.message, "errorCode": exc.error_code}]

    def _rollback(self) -> None:
        self.org.rollback()
        self._changes.clear()

    # --- sObject rows -----------------------------------------------------------------------------------------
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

    def op_get(self, ctx: Ctx, body: Any, sobject: str, record_id: str) -> Result:
        sobject = self.org.canonical_sobject(sobject)
        found = self.org.find(record_id)
        if found is None or found[0] != sobject:
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
        return 200, self._record_json(ctx, sobject, found[1])

    def op_update(self, ctx: Ctx, body: Any, sobject: str, record_id: str) -> Result:
        sobject = self.org.canonical_sobject(sobject)
        found = self.org.find(record_id)
        if found is None or found[0] != sobject:
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
        result = self.org.update(
            sobject, found[1]["Id"], self.org.coerce(sobject, body or {}), ctx.user_id, ctx.auto_assign
        )
        if not result["success"]:
            return 400, self._errors_body(result["errors"])
        return 204, None

    def op_delete(self, ctx: Ctx, body: Any, sobject: str, record_id: str) -> Result:
        sobject = self.org.canonical_sobject(sobject)
        result = self.org.delete(sobject, record_id)
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

    # --- sObject Collections ----------------------------------------------------------------------------------
    def _collection(self, body: Any, *, need_id: bool) -> tuple[bool, list[dict[str, Any]]]:
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise RequestError(400, "JSON_PARSER_ERROR", "The request body must be an object with a records array")
        records = body["records"]
        if len(records) > MAX_COLLECTION:
            raise RequestError(
                400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"
            )
        for rec in records:
            if (
                not isinstance(rec, dict)
                or not isinstance(rec.get("attributes"), dict)
                or not rec["attributes"].get("type")
            ):
                raise RequestError(
                    400, "INVALID_TYPE", "Each record in the collection must have an attributes map with a type"
                )
            if need_id is not ("id" in {k.lower() for k in rec}):
                if need_id:
                    raise RequestError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
                raise RequestError(400, "INVALID_FIELD", "Can't specify an Id when creating records", ["Id"])
        return bool(body.get("allOrNone", False)), records

    def _rows(self, all_or_none: bool, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if all_or_none and any(not r["success"] for r in rows) and self._in_transaction:
            self._rollback()
            rolled = row_error(
                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "Record rolled back because not all records were valid and the request was using AllOrNone header",
            )
            return [r if not r["success"] else {**r, "id": None, "success": False, "errors": [rolled]} for r in rows]
        return rows

    def _locked(self, record_id: str | None = None) -> dict[str, Any] | None:
        if not self.faults.row_lock_error():
            return None
        suffix = f" or 1 records: {record_id}" if record_id else ""
        return {
            "success": False,
            "errors": [row_error("UNABLE_TO_LOCK_ROW", f"unable to obtain exclusive access to this record{suffix}")],
        }

    def op_coll_create(self, ctx: Ctx, body: Any) -> Result:
        all_or_none, records = self._collection(body, need_id=False)
        rows = []
        for rec in records:
            sobject = self.org.canonical_sobject(rec["attributes"]["type"])
            rows.append(
                self._locked() or self.org.insert(sobject, self.org.coerce(sobject, rec), ctx.user_id, ctx.auto_assign)
            )
        return 200, self._rows(all_or_none, rows)

    def op_coll_update(self, ctx: Ctx, body: Any) -> Result:
        all_or_none, records = self._collection(body, need_id=True)
        rows = []
        for rec in records:
            sobject = self.org.canonical_sobject(rec["attributes"]["type"])
            fields = self.org.coerce(sobject, rec)
            rid = str(fields.pop("Id"))
            rows.append(self._locked(rid) or self.org.update(sobject, rid, fields, ctx.user_id, ctx.auto_assign))
        return 200, self._rows(all_or_none, rows)

    def op_coll_upsert(self, ctx: Ctx, body: Any, sobject: str, field: str) -> Result:
        sobject = self.org.canonical_sobject(sobject)
        ext = self.org.external_field(sobject, field)
        all_or_none, records = self._collection(body, need_id=ext == "Id")
        keys = [
            str(rec.get(ext) or next((v for k, v in rec.items() if k.lower() == ext.lower()), "")).lower()
            for rec in records
        ]
        rows: list[dict[str, Any]] = []
        for rec, key in zip(records, keys, strict=True):
            if self.org.canonical_sobject(rec["attributes"]["type"]) != sobject:
                raise RequestError(400, "INVALID_TYPE", f"All records must be of type {sobject} in this request")
            fields = self.org.coerce(sobject, rec)
            value = fields.pop(ext, None)
            if value in (None, ""):
                rows.append(
                    {
                        "success": False,
                        "created": False,
                        "errors": [row_error("MISSING_ARGUMENT", f"{ext} not specified", [ext])],
                    }
                )
                continue
            if keys.count(key) > 1:
                err = row_error("DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {value}", [ext])
                rows.append({"success": False, "created": False, "errors": [err]})
                continue
            existing = self.org.by_index(sobject, ext, value) if ext != "Id" else []
            locked = self._locked(existing[0]["Id"] if existing else None)
            if locked:
                rows.append({**locked, "created": False})
                continue
            rows.append(self.org.upsert(sobject, ext, value, fields, ctx.user_id, ctx.auto_assign))
        return 200, self._rows(all_or_none, rows)

    def op_coll_delete(self, ctx: Ctx, body: Any) -> Result:
        ids = [i for i in ctx.query.get("ids", "").split(",") if i]
        if len(ids) > MAX_COLLECTION:
            raise RequestError(
                400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"
            )
        rows = []
        for rid in ids:
            found = self.org.find(rid)
            rows.append(
                self.org.delete(found[0], rid)
                if found
                else {"id": rid, "success": False, "errors": [row_error("ENTITY_IS_DELETED", "entity is deleted")]}
            )
        return 200, self._rows(ctx.query.get("allOrNone", "false").lower() == "true", rows)

    # --- query ------------------------------------------------------------------------------------------------
    def _batch_size(self, ctx: Ctx) -> int:
        size = self.query_batch_size
        m = re.search(r"batchSize=(\d+)", ctx.headers.get("sforce-query-options", ""))
        if m:
            size = min(size, max(200, min(2000, int(m.group(1)))))
        return size

    def _page(self, ctx: Ctx, locator: str, rows: list[dict[str, Any]], start: int, total: int) -> dict[str, Any]:
        size = self._batch_size(ctx)
        batch = rows[start : start + size]
        out: dict[str, Any] = {"totalSize": total, "done": start + size >= len(rows), "records": batch}
        if not out["done"]:
            out["nextRecordsUrl"] = f"/services/data/{ctx.version}/query/{locator}-{start + size}"
        return out

    def op_query(self, ctx: Ctx, body: Any) -> Result:
        text = ctx.query.get("q")
        if not text:
            raise RequestError(400, "MALFORMED_QUERY", "A query string has to be specified")
        query = soql.parse(text)
        sobject, rows = self.org.run_query(query)
        shaped = [self.org.shape(sobject, r, query.fields, ctx.version) for r in rows]
        locator = make_id("01g", int.from_bytes(secrets.token_bytes(5), "big"))
        if len(shaped) > self._batch_size(ctx):
            self._locators[locator] = (ctx.user_id, sobject, shaped)
        return 200, self._page(ctx, locator, shaped, 0, len(shaped))

    def op_query_more(self, ctx: Ctx, body: Any, locator: str) -> Result:
        base, _, start = locator.rpartition("-")
        stored = self._locators.get(base)
        if stored is None or not start.isdigit():
            raise RequestError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        _, _, rows = stored
        return 200, self._page(ctx, base, rows, int(start), len(rows))

    def op_limits(self, ctx: Ctx, body: Any) -> Result:
        return 200, {
            "DailyApiRequests": {"Max": self.daily_api_limit, "Remaining": self.daily_api_limit - self.api_used}
        }

    # --- composite --------------------------------------------------------------------------------------------
    def _subroutes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Result]]]:
        seg = r"([^/?]+)"
        table: list[tuple[str, str, Callable[..., Result], tuple[str, ...]]] = [
            ("POST", rf"sobjects/{seg}", self.op_create, ("sobject",)),
            ("GET", rf"sobjects/{seg}/{seg}", self.op_get, ("sobject", "record_id")),
            ("PATCH", rf"sobjects/{seg}/{seg}", self.op_update, ("sobject", "record_id")),
            ("DELETE", rf"sobjects/{seg}/{seg}", self.op_delete, ("sobject", "record_id")),
            ("GET", rf"sobjects/{seg}/{seg}/{seg}", self.op_get_by_ext, ("sobject", "field", "value")),
            ("PATCH", rf"sobjects/{seg}/{seg}/{seg}", self.op_upsert, ("sobject", "field", "value")),
            ("POST", r"composite/sobjects", self.op_coll_create, ()),
            ("PATCH", r"composite/sobjects", self.op_coll_update, ()),
            ("PATCH", rf"composite/sobjects/{seg}/{seg}", self.op_coll_upsert, ("sobject", "field")),
            ("GET", r"query", self.op_query, ()),
            ("GET", rf"query/{seg}", self.op_query_more, ("locator",)),
        ]
        return [
            (m, re.compile(rf"^/services/data/(v[\d.]+)/{p}/?(?:\?.*)?$"), self._named(f, n)) for m, p, f, n in table
        ]

    @staticmethod
    def _named(fn: Callable[..., Result], names: tuple[str, ...]) -> Callable[..., Result]:
        def call(ctx: Ctx, body: Any, *groups: str) -> Result:
            return fn(ctx, body, **dict(zip(names, groups, strict=True)))

        return call

    def op_composite(self, ctx: Ctx, body: Any) -> Result:
        if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
            raise RequestError(
                400, "JSON_PARSER_ERROR", "The request body must be an object with a compositeRequest array"
            )
        subs = body["compositeRequest"]
        # Documented limits: 25 subrequests, of which at most 5 are sObject Collections or queries. The refusal
        # texts below are ours (the docs give the limits, not the messages).
        if len(subs) > MAX_COMPOSITE:
            raise RequestError(400, "LIMIT_EXCEEDED", "Number of subrequests is greater than the limit of 25.")
        heavy = [s for s in subs if re.search(r"/(composite/sobjects|query)\b", str(s.get("url", "")))]
        if len(heavy) > 5:
            raise RequestError(
                400,
                "LIMIT_EXCEEDED",
                "A composite request can have at most 5 sObject Collections or query subrequests.",
            )
        all_or_none = bool(body.get("allOrNone", False))
        results: dict[str, Any] = {}
        out: list[dict[str, Any]] = []
        failed = False
        routes = self._subroutes()
        for sub in subs:
            ref = sub.get("referenceId", "")
            try:
                method = str(sub["method"]).upper()
                url = self._substitute(sub["url"], results)
                sub_body = (
                    json.loads(self._substitute(json.dumps(sub.get("body")), results))
                    if sub.get("body") is not None
                    else None
                )
            except KeyError as exc:
                out.append(
                    self._sub_result(
                        ref,
                        400,
                        [
                            {
                                "errorCode": "PROCESSING_HALTED",
                                "message": f"Invalid reference specified. No value for {exc.args[0]} found",
                            }
                        ],
                    )
                )
                failed = True
                continue
            sub_ctx = Ctx(
                ctx.user_id,
                ctx.version,
                {**ctx.headers, **{k.lower(): v for k, v in (sub.get("httpHeaders") or {}).items()}},
                {},
            )
            if "?" in url:
                sub_ctx.query = {k: v[0] for k, v in parse_qs(url.split("?", 1)[1]).items()}
            status, payload = 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
            for m, rx, fn in routes:
                match = rx.match(url)
                if m == method and match:
                    try:
                        status, payload = fn(sub_ctx, sub_body, *match.groups()[1:])
                    except RequestError as exc:
                        status, payload = exc.status, exc.body()
                    except soql.SoqlError as exc:
                        status, payload = 400, [{"message": exc.message, "errorCode": exc.error_code}]
                    break
            if status >= 400:
                failed = True
            elif isinstance(payload, dict):
                results[ref] = payload
            location = None
            if status == 201 and isinstance(payload, dict) and payload.get("id"):
                found = self.org.find(str(payload["id"]))
                location = f"/services/data/{ctx.version}/sobjects/{found[0]}/{payload['id']}" if found else None
            out.append(self._sub_result(ref, status, payload, location))
            if failed and all_or_none:
                break
        if failed and all_or_none and self._in_transaction:
            self._rollback()
            halted = [
                {
                    "errorCode": "PROCESSING_HALTED",
                    "message": "The transaction was rolled back since another operation in the same "
                    "transaction failed.",
                }
            ]
            out = [r if r["httpStatusCode"] >= 400 else {**r, "httpStatusCode": 400, "body": halted} for r in out]
            done = {r["referenceId"] for r in out}
            out += [
                self._sub_result(s.get("referenceId", ""), 400, halted)
                for s in subs
                if s.get("referenceId", "") not in done
            ]
        return 200, {"compositeResponse": out}

    @staticmethod
    def _sub_result(ref: str, status: int, body: Any, location: str | None = None) -> dict[str, Any]:
        headers = {"Location": location} if location else {}
        return {"body": body, "httpHeaders": headers, "httpStatusCode": status, "referenceId": ref}

    @staticmethod
    def _substitute(text: str, results: dict[str, Any]) -> str:
        def repl(m: re.Match[str]) -> str:
            ref, _, path = m.group(1).partition(".")
            value: Any = results[ref]
            for part in re.findall(r"[^.\[\]]+", path):
                value = value[int(part)] if isinstance(value, list) else value[part]
            return str(value)

        return re.sub(r"@\{([^}]+)\}", repl, text)

    # --- OAuth ------------------------------------------------------------------------------------------------
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

    # --- routes -----------------------------------------------------------------------------------------------
    def route_handlers(self) -> list[Any]:
        """Litestar handlers for every Salesforce path, all under ``/services/``."""
        sandbox = self
        data = "/services/data/{version:str}"
        table: list[tuple[str, dict[str, Callable[..., Result]]]] = [
            ("/sobjects/{sobject:str}", {"POST": self.op_create}),
            (
                "/sobjects/{sobject:str}/{record_id:str}",
                {"GET": self.op_get, "PATCH": self.op_update, "DELETE": self.op_delete},
            ),
            ("/sobjects/{sobject:str}/{field:str}/{value:str}", {"GET": self.op_get_by_ext, "PATCH": self.op_upsert}),
            (
                "/composite/sobjects",
                {"POST": self.op_coll_create, "PATCH": self.op_coll_update, "DELETE": self.op_coll_delete},
            ),
            ("/composite/sobjects/{sobject:str}/{field:str}", {"PATCH": self.op_coll_upsert}),
            ("/composite", {"POST": self.op_composite}),
            ("/query", {"GET": self.op_query}),
            ("/query/{locator:str}", {"GET": self.op_query_more}),
            ("/limits", {"GET": self.op_limits}),
        ]
        handlers: list[Any] = []
        for i, (path, ops) in enumerate(table):

            def make(ops: dict[str, Callable[..., Result]]) -> Callable[..., Any]:
                async def handler(request: Request[Any, Any, Any]) -> Response[Any]:
                    return await sandbox._serve(request, ops[request.method], dict(request.path_params))

                return handler

            methods: list[Any] = list(ops)
            handlers.append(route(data + path, http_method=methods, name=f"salesforce-{i}", status_code=200)(make(ops)))

        @post("/services/oauth2/token", name="salesforce-oauth-token")
        async def token(request: Request[Any, Any, Any]) -> Response[Any]:
            return await sandbox._token(request)

        handlers.append(token)
        handlers += self._control_handlers()
        return handlers

    def _control_handlers(self) -> list[Any]:
        """Test/demo controls (not Salesforce API; not counted): expire sessions, edit a record as a rep."""
        sandbox = self

        @post("/_sandbox/salesforce/expire-sessions", name="salesforce-expire-sessions", status_code=204)
        async def expire() -> None:
            sandbox.expire_sessions()

        @post("/_sandbox/salesforce/edit-as", name="salesforce-edit-as")
        async def edit_as(request: Request[Any, Any, Any]) -> Response[Any]:
            data = json.loads(await request.body())
            try:
                result = sandbox.edit_as(data["username"], data.get("sobject", "Lead"), data.get("id"), data["fields"])
            except (KeyError, RequestError) as exc:
                return Response(
                    content=json.dumps({"error": str(exc)}).encode(), status_code=400, media_type="application/json"
                )
            return Response(content=json.dumps(result).encode(), status_code=200, media_type="application/json")

        return [expire, edit_as]


__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_TOKEN",
    "INTEGRATION_USERNAME",
    "SCHEMA",
    "SalesforceSandbox",
]
