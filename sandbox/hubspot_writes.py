"""HubSpot sandbox: CRM v3 batch writes (create, update, upsert), planned against the state, then applied.

Mixed into ``sandbox.hubspot.HubSpotSandbox`` (the state, ``_find``, ``_create``, ``_apply``, ``_public`` live there).
Each behaviour cites its page:

- 100 inputs per batch request; more is a 400 VALIDATION_ERROR (community answer quoting the current limit:
  https://community.hubspot.com/t5/APIs-Integrations/Limit-for-contact-batch-API/m-p/1196389; message text in
  HubSpot's own wording for the analogous property-history limit: https://github.com/activepieces/activepieces/pull/9359)
- Multi-status: batch writes report partial failures as 207 with ``errors[]`` when every input carries an
  ``objectWriteTraceId``; otherwise one bad input fails the whole request and nothing is written.
  https://developers.hubspot.com/docs/api-reference/latest/error-handling#multi-status-errors
  Batch update answers 200, or 207 when one or more inputs fail:
  https://developers.hubspot.com/changelog/simplifying-batch-update-response-codes-for-crm-v3-apis
- Each entry of ``errors[]`` is the spec's ``StandardError`` (``hubspot_schema.standard_error``).
- Duplicate on create: 409 CONFLICT "Contact already exists. Existing ID: N"
  https://github.com/HubSpot/hubspot-api-python/issues/51
- Batch upsert by ``idProperty`` (a property with unique values, e.g. email):
  https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts
"""

from __future__ import annotations

from typing import Any

from sandbox.hubspot_schema import (
    OBJECT_LABEL,
    Prop,
    Row,
    error_body,
    norm,
    now_iso,
    standard_error,
    validate,
    validation_body,
)

MAX_BATCH = 100
Claimed = dict[tuple[str, str], str]  # (unique property, value) -> the record id an earlier input claimed


def too_many_inputs(**extra: Any) -> Row:
    return 400, error_body(
        "VALIDATION_ERROR",
        f"The maximum number of inputs supported in a batch request is {MAX_BATCH}. "
        "Please reduce the number of items and try again", **extra)


class HubSpotWrites:
    """Row planning and batch writes of the HubSpot sandbox."""

    _objects: dict[str, dict[str, dict[str, Any]]]
    schemas: dict[str, dict[str, Prop]]

    # ---- rows: plan against the current state, then apply --------------------------------------------------------

    def _check_props(self, object_type: str, props: Any) -> Row | None:
        if not isinstance(props, dict):
            return 400, error_body("VALIDATION_ERROR", "Invalid input JSON: `properties` must be an object")
        problems = validate(self.schemas[object_type], props, owner_ids=self._owner_ids())
        return (400, validation_body(problems)) if problems else None

    def _conflict(self, object_type: str, props: Any, self_id: str | None, claimed: Claimed) -> Row | None:
        for name, value in props.items():
            if not value or not self.schemas[object_type][name].unique:
                continue
            key = (name, norm(name, value))
            other = self._find(object_type, name, value)
            other_id = other["id"] if other else claimed.get(key)
            if other_id and other_id != self_id:
                label = OBJECT_LABEL[object_type]
                return 409, error_body("CONFLICT", f"{label} already exists. Existing ID: {other_id}")
            claimed[key] = self_id or "new"
        return None

    def _row_create(self, object_type: str, item: Any, claimed: Claimed) -> Row:
        props = item.get("properties") if isinstance(item, dict) else None
        return self._check_props(object_type, props) or self._conflict(object_type, props, None, claimed) or (201, {})

    def _row_update(self, object_type: str, item: Any, claimed: Claimed) -> Row:
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

    def _row_upsert(self, object_type: str, item: Any, claimed: Claimed) -> Row:
        if not isinstance(item, dict) or "id" not in item or not item.get("idProperty"):
            return 400, error_body("VALIDATION_ERROR", "Invalid input JSON: each input needs `id` and `idProperty`")
        id_prop = item["idProperty"]
        prop = self.schemas[object_type].get(id_prop)
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

    # ---- the batch ------------------------------------------------------------------------------------------------

    @staticmethod
    def _batch_refusal(body: Any, kind: str) -> Row | None:
        """The whole batch refused before any row is looked at: malformed, oversized, or an id twice."""
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return 400, error_body("VALIDATION_ERROR", "Invalid input JSON: `inputs` must be an array")
        if len(inputs) > MAX_BATCH:
            return too_many_inputs(context={"inputs": [str(len(inputs))]})
        if kind != "create":
            ids = [norm(i.get("idProperty", ""), i.get("id")) for i in inputs if isinstance(i, dict)]
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                return 400, error_body("VALIDATION_ERROR", f"Duplicate IDs found in batch input: {dupes}")
        return None

    def _write_row(self, object_type: str, kind: str, item: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
        """Apply one planned input; its result as the batch answer lists it."""
        if kind == "create":
            rec, new, sent = self._create(object_type, item["properties"]), True, item["properties"]
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
        result: dict[str, Any] = self._public(object_type, rec, sent)
        if kind == "upsert":
            result["new"] = new
        if item.get("objectWriteTraceId"):
            result["objectWriteTraceId"] = item["objectWriteTraceId"]
        return result

    def _batch(self, object_type: str, body: Any, kind: str) -> Row:
        """Run a batch write: 400 for an oversized or malformed batch, all-or-nothing without trace ids,
        207 Multi-Status (only the bad rows fail) when every input has an ``objectWriteTraceId``."""
        refused = self._batch_refusal(body, kind)
        if refused:
            return refused
        inputs = body["inputs"]
        traced = bool(inputs) and all(isinstance(i, dict) and i.get("objectWriteTraceId") for i in inputs)
        started = now_iso()
        claimed: Claimed = {}
        plan_row = {"create": self._row_create, "update": self._row_update, "upsert": self._row_upsert}[kind]
        planned = [(item, plan_row(object_type, item, claimed)) for item in inputs]
        failed = [(item, row) for item, row in planned if row[0] >= 300]
        if failed and not traced:
            return failed[0][1]
        results = [self._write_row(object_type, kind, item, plan) for item, (status, plan) in planned if status < 300]
        errors = [standard_error(err, objectWriteTraceId=[item["objectWriteTraceId"]]) for item, (_, err) in failed]
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": now_iso()}
        if errors:
            out.update(numErrors=len(errors), errors=errors)
            return 207, out
        return (201 if kind == "create" else 200), out
