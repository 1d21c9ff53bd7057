"""Salesforce sandbox: sObject Collections create/update/upsert/delete. Mixed into ``SalesforceSandbox``.

At most 200 records, ``allOrNone`` default false, per-row SaveResult/UpsertResult:
https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-create.html
and https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-upsert.html
Messages that are ours (the docs give the code, not the text): a record without ``attributes.type``
(INVALID_TYPE), an upsert row without its external id (MISSING_ARGUMENT), the same external id twice in one
collection (DUPLICATE_EXTERNAL_ID).
"""

from __future__ import annotations

from typing import Any

from sandbox.common import Faults
from sandbox.salesforce_org import Org, RequestError, row_error
from sandbox.salesforce_records import Ctx, Result

MAX_COLLECTION = 200


class CollectionOps:
    """sObject Collections of the Salesforce sandbox."""

    org: Org
    faults: Faults
    _in_transaction: bool

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
                self.org.delete(found[0], rid, ctx.user_id)
                if found
                else {"id": rid, "success": False, "errors": [row_error("ENTITY_IS_DELETED", "entity is deleted")]}
            )
        return 200, self._rows(ctx.query.get("allOrNone", "false").lower() == "true", rows)
