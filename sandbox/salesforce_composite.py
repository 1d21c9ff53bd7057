"""Salesforce sandbox: the Composite resource. Mixed into ``SalesforceSandbox``.

At most 25 subrequests, of which at most 5 sObject Collections or queries; ``@{ref.field}`` references; one API
call: https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-composite-post.html
The refusal texts for the two limits are ours (the docs give the limits, not the messages).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from sandbox import soql
from sandbox.salesforce_org import Org, RequestError
from sandbox.salesforce_records import Ctx, Result

MAX_COMPOSITE = 25


class CompositeOps:
    """Composite requests of the Salesforce sandbox."""

    org: Org
    _in_transaction: bool

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

    @staticmethod
    def _composite_subrequests(body: Any) -> list[dict[str, Any]]:
        """The subrequests, or the whole request refused (malformed, or over the documented limits)."""
        if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
            raise RequestError(
                400, "JSON_PARSER_ERROR", "The request body must be an object with a compositeRequest array"
            )
        subs: list[dict[str, Any]] = body["compositeRequest"]
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
        return subs

    def _run_subrequest(
        self, ctx: Ctx, sub: dict[str, Any], results: dict[str, Any],
        routes: list[tuple[str, re.Pattern[str], Callable[..., Result]]],
    ) -> tuple[dict[str, Any], bool]:
        """One subrequest, its ``@{ref}`` references resolved from earlier results: its entry of the answer, and
        whether the references resolved (an unresolved one is answered without running the subrequest)."""
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
            message = f"Invalid reference specified. No value for {exc.args[0]} found"
            return self._sub_result(ref, 400, [{"errorCode": "PROCESSING_HALTED", "message": message}]), False
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
        if status < 400 and isinstance(payload, dict):
            results[ref] = payload
        location = None
        if status == 201 and isinstance(payload, dict) and payload.get("id"):
            found = self.org.find(str(payload["id"]))
            location = f"/services/data/{ctx.version}/sobjects/{found[0]}/{payload['id']}" if found else None
        return self._sub_result(ref, status, payload, location), True

    def op_composite(self, ctx: Ctx, body: Any) -> Result:
        subs = self._composite_subrequests(body)
        all_or_none = bool(body.get("allOrNone", False))
        results: dict[str, Any] = {}
        out: list[dict[str, Any]] = []
        failed = False
        routes = self._subroutes()
        for sub in subs:
            entry, resolved = self._run_subrequest(ctx, sub, results, routes)
            out.append(entry)
            failed = failed or entry["httpStatusCode"] >= 400
            if not resolved:
                continue
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
