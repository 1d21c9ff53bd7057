"""Salesforce sandbox: test and demo controls that are not Salesforce API (not counted as API calls): expire every
session, edit a record as a rep in the UI would, merge duplicates as a rep in the UI would. Mixed into
``sandbox.salesforce.SalesforceSandbox``.

A UI merge does what SOAP ``merge()`` does (``Org.merge``): up to three records of one type, the main record kept.
https://developer.salesforce.com/docs/platform/api/guide/sforce-api-calls-merge.html
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response, post

from sandbox.salesforce_org import Org, RequestError


class ControlOps:
    """The ``/_sandbox/salesforce/...`` controls and the rep actions behind them."""

    org: Org

    def merge_as(self, username: str, sobject: str, master_id: str, victim_ids: list[str],
                 fields: dict[str, Any] | None = None) -> dict[str, Any]:
        """A person merging duplicates in the Salesforce UI: the MergeResult (nothing changed when it failed)."""
        sb: Any = self
        self.org.begin()
        result = self.org.merge(sobject, master_id, victim_ids, sb.user_id(username),
                                self.org.coerce(sobject, fields or {}))
        if not result["success"]:
            sb._rollback()
        sb._commit()
        return result

    def _control_handlers(self) -> list[Any]:
        sandbox: Any = self

        @post("/_sandbox/salesforce/expire-sessions", name="salesforce-expire-sessions", status_code=204)
        async def expire() -> None:
            sandbox.expire_sessions()

        def answer(act: Any) -> Response[Any]:
            try:
                result, status = act(), 200
            except (KeyError, RequestError) as exc:
                result, status = {"error": str(exc)}, 400
            return Response(content=json.dumps(result).encode(), status_code=status, media_type="application/json")

        @post("/_sandbox/salesforce/edit-as", name="salesforce-edit-as")
        async def edit_as(request: Request[Any, Any, Any]) -> Response[Any]:
            data = json.loads(await request.body())
            return answer(lambda: sandbox.edit_as(data["username"], data.get("sobject", "Lead"), data.get("id"),
                                                  data["fields"]))

        @post("/_sandbox/salesforce/merge-as", name="salesforce-merge-as")
        async def merge_as(request: Request[Any, Any, Any]) -> Response[Any]:
            data = json.loads(await request.body())
            return answer(lambda: sandbox.merge_as(data["username"], data["sobject"], data["master_id"],
                                                   data["victim_ids"], data.get("fields")))

        return [expire, edit_as, merge_as]
