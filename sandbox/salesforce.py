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
- Bulk API 2.0 query jobs (``salesforce_bulk2``), QueryAll and Get Deleted (``salesforce_records``).
- Query / Query More with ``nextRecordsUrl``, up to 2,000 records per batch, ``Sforce-Query-Options: batchSize``:
  https://developer.salesforce.com/docs/platform/api-rest/guide/resources-query.html
  and https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_queryoptions.htm
- URI + headers at most 16,384 bytes, else 414: https://help.salesforce.com/s/articleView?id=000386264&type=1
- Outbound Messages with "Send Session ID" carry a session usable for API requests only, and name the org's
  instance in EnterpriseUrl/PartnerUrl; a listener may call back with it (here: any REST call, e.g. a query on
  the one Organization record, whose Id is the org id):
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_security.htm
  and https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_organization.htm
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

import json
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, post, route

from sandbox import soql
from sandbox.common import Faults
from sandbox.salesforce_bulk2 import Bulk2Ops, Csv, QueryJob
from sandbox.salesforce_collections import MAX_COLLECTION, CollectionOps
from sandbox.salesforce_composite import MAX_COMPOSITE, CompositeOps
from sandbox.salesforce_control import ControlOps
from sandbox.salesforce_metadata import MetadataOps, leadrelay_custom, seed_profiles
from sandbox.salesforce_oauth import INTEGRATION_USERNAME, OAuthOps
from sandbox.salesforce_org import PREFIX, SCHEMA, Org, RequestError, make_id
from sandbox.salesforce_outbound import OutboundSender
from sandbox.salesforce_records import Ctx, RecordOps, Result

DEFAULT_TOKEN = "sandbox-salesforce-token"
DEFAULT_CLIENT_ID = "leadrelay-sandbox-client"
DEFAULT_CLIENT_SECRET = "leadrelay-sandbox-secret"
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


class SalesforceSandbox(RecordOps, CollectionOps, CompositeOps, OAuthOps, MetadataOps, Bulk2Ops, ControlOps):
    """The emulated org. Options (all optional) arrive as ``SandboxServer(salesforce={...})``.

    access_tokens: {token: username} sessions valid from the start (default: DEFAULT_TOKEN -> integration user).
    oauth_clients: {client_id: {"secret": ..., "username": run-as user}} for the client credentials flow.
    jwt_clients: {client_id: public key PEM or None} for the JWT bearer flow.
    users: seeded Users (Email, FirstName, LastName, IsActive, Title); the first is the integration user.
    leadrelay_fields: leadrelay's custom fields are there (as after `leadrelay crm setup`); a fresh org lacks them.
    custom_fields: {sObject: {name: F or F's keywords}} more visible custom fields.
    assignment_owner: "queue" (default: the Inbound Leads queue), a username, or None for no active rule.
    daily_api_limit / api_used: the org's 24-hour allocation and what is already used.
    query_batch_size: records per query batch (2000 like Salesforce; smaller to exercise paging).
    outbound_url: Outbound Message listener; outbound_trigger "created" or "created_and_edited" (the workflow
      rule's evaluation criteria); outbound_exclude_users: usernames whose changes the rule criteria exclude;
      outbound_fields; outbound_send_session_id (each message carries a live API session of the integration
      user, as "Send Session ID" does); outbound_verify; outbound_retry_base_s / _max_s / max_age_s.
    instance_url: what token responses report (default: the URL the request came in on) and the host of the
      messages' EnterpriseUrl/PartnerUrl (default: ``server_url``, which ``SandboxServer`` sets to its own URL).
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
        self.server_url: str | None = None  # this sandbox's own URL (set by SandboxServer): the org's instance
        self.outbound: OutboundSender | None = None
        self._outbound_session_id: str | None = None
        self._changes: list[Any] = []
        self._in_transaction = False  # a mutating request is running: its changes can be rolled back
        self.reset()

    # --- state ----------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Fresh org: seeded users and queue, no leads/contacts/accounts, usage back to ``api_used``."""
        opts = self.options
        self.org = Org(org_id=self.org_id, custom_fields=leadrelay_custom(opts), on_change=self._changes.append)
        self.org.seed_organization()
        self.users = [self.org.seed_user(u) for u in opts.get("users", DEFAULT_USERS)]
        seed_profiles(self.org, self.users)
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
        self._bulk_jobs: dict[str, QueryJob] = {}
        self._bulk_seq = 0
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

    def log_activity(self, record_id: str, day: str | None = None) -> None:
        """A rep logs a completed call or email (a closed Task on the Lead) in the UI: Salesforce sets the Lead's
        LastActivityDate to the task's date (the Lead's LastModifiedDate stays; the Task is not kept)."""
        found = self.org.find(record_id)
        if found is None:
            raise KeyError(record_id)
        found[1]["LastActivityDate"] = day or datetime.now(UTC).date().isoformat()

    def seed(self, sobject: str, fields: dict[str, Any]) -> str:
        """A record that was in the org before leadrelay came: created by its owner (or the first user who is not
        the integration user), no assignment rule, no Outbound Message. Returns its id (RequestError if invalid)."""
        people = [u for u in self.users if u["Id"] != self.integration_user["Id"]] or self.users
        owner = fields.get("OwnerId")
        creator = owner if owner in self.org.tables["User"] else people[0]["Id"]
        listener, self.org.on_change = self.org.on_change, None
        try:
            result = self.org.insert(sobject, self.org.coerce(sobject, fields), creator, auto_assign=False)
        finally:
            self.org.on_change = listener
        if not result["success"]:
            err = result["errors"][0]
            raise RequestError(400, err["statusCode"], err["message"], err["fields"])
        return str(result["id"])

    # --- Outbound Messages ------------------------------------------------------------------------------------
    def _outbound_sender(self, base_url: str) -> OutboundSender | None:
        url = self.options.get("outbound_url")
        if not url:
            return None
        if self.outbound is None:
            instance = (self.instance_url or self.server_url or base_url).rstrip("/")
            version = "62.0"
            org15 = self.org_id[:15]
            session = self._outbound_session if self.options.get("outbound_send_session_id") else None
            self.outbound = OutboundSender(
                url=url,
                organization_id=self.org_id,
                action_id=make_id("04k", 1),
                enterprise_url=f"{instance}/services/Soap/c/{version}/{org15}",
                partner_url=f"{instance}/services/Soap/u/{version}/{org15}",
                snapshot=self._outbound_snapshot,
                session=session,
                verify=self.options.get("outbound_verify", True),
                batch_window_s=float(self.options.get("outbound_batch_window_s", 0.05)),
                retry_base_s=float(self.options.get("outbound_retry_base_s", 1.0)),
                retry_max_s=float(self.options.get("outbound_retry_max_s", 7200)),
                max_age_s=float(self.options.get("outbound_max_age_s", 86400)),
            )
        return self.outbound

    def _outbound_session(self) -> str:
        """The session a message carries: the integration user's, valid for API calls ("Send Session ID"); one
        session for every message until it expires or is revoked, then a fresh one."""
        current = self._outbound_session_id
        found = self.sessions.get(current) if current else None
        if current is None or found is None or (found[1] is not None and time.monotonic() > found[1]):
            current = self._outbound_session_id = self._issue_token(self.integration_user["Id"])
        return current

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
        if isinstance(payload, Csv):  # Bulk API 2.0 query results
            return Response(content=payload.text.encode(), status_code=status, media_type="text/csv",
                            headers={**self._limit_header(), **payload.headers})
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

    # --- routes -----------------------------------------------------------------------------------------------
    def route_handlers(self) -> list[Any]:
        """Litestar handlers for every Salesforce path, all under ``/services/``."""
        sandbox = self
        data = "/services/data/{version:str}"
        table: list[tuple[str, dict[str, Callable[..., Result]]]] = [
            ("/sobjects/{sobject:str}", {"POST": self.op_create}),
            ("/sobjects/{sobject:str}/describe", {"GET": self.op_describe}),  # before the record id route
            ("/sobjects/{sobject:str}/deleted", {"GET": self.op_get_deleted}),
            ("/tooling/sobjects/{tobject:str}", {"POST": self.op_tooling_create}),
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
            ("/queryAll", {"GET": self.op_query_all}),
            ("/queryAll/{locator:str}", {"GET": self.op_query_all_more}),
            ("/jobs/query", {"POST": self.op_bulk_create, "GET": self.op_bulk_list}),
            (
                "/jobs/query/{job_id:str}",
                {"GET": self.op_bulk_get, "PATCH": self.op_bulk_abort, "DELETE": self.op_bulk_delete},
            ),
            ("/jobs/query/{job_id:str}/results", {"GET": self.op_bulk_results}),
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


__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_TOKEN",
    "INTEGRATION_USERNAME",
    "MAX_COLLECTION",
    "MAX_COMPOSITE",
    "SCHEMA",
    "Ctx",
    "Result",
    "SalesforceSandbox",
]
