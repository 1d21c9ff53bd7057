"""HubSpot sandbox: the associations v4 endpoints leadrelay uses. Mixed into ``sandbox.hubspot.HubSpotSandbox``.

Shapes follow HubSpot's published OpenAPI specification for associations v4
(github.com/HubSpot/HubSpot-public-api-spec-collection, PublicApiSpecs/CRM/Associations/Rollouts/130902/v4/
associations.json); default association types (contact -> company 279, the reverse 280):
https://developers.hubspot.com/docs/api/crm/associations

- ``POST /crm/v4/associations/{from}/{to}/batch/associate/default`` documents one answer, 200
  ``BatchResponsePublicDefaultAssociation``, whose ``errors[]``/``numErrors`` report the pairs that failed (an
  object that does not exist): 200 even then, never 207.
  https://developers.hubspot.com/docs/api-reference/latest/crm/associations/associate-records/batch/create-associations
- ``PUT /crm/v4/objects/{from}/{id}/associations/default/{to}/{id}``: 200 ``BatchResponsePublicDefaultAssociation``;
  a refusal is the spec's ``Error`` body (``correlationId`` included).
- ``POST /crm/v4/associations/{from}/{to}/batch/read``: 200 ``BatchResponsePublicAssociationMultiWithLabel``, or 207
  ``...WithErrors`` when some inputs have no association of that type; each such input is one ``StandardError``,
  category OBJECT_NOT_FOUND, subCategory ``crm.associations.NO_ASSOCIATIONS_FOUND``, message "No company is
  associated with contact N." (the 207 and its ``errors[]`` per the spec and the reference page
  https://developers.hubspot.com/docs/api-reference/legacy/crm/associations/associate-records/batch/get-associations;
  subCategory and message text as integrations report the live API, not in HubSpot's docs). At most 1,000 inputs:
  https://developers.hubspot.com/changelog/bug-fix-batch-read-limit-for-hubspot-associations-api
  ``toObjectId`` stays a number, as HubSpot's public Postman collection for associations v4 types it
  (``<integer>``); the current spec files type it as a string. Left as it was: clients read both (hubspot-api-client
  turns it into a string), and which one the live API sends is not documented.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post, put
from litestar.params import FromPath

from sandbox.hubspot_schema import Row, error_body, now_iso, standard_error

TYPE_ALIASES = {"contact": "contacts", "contacts": "contacts", "0-1": "contacts",
                "company": "companies", "companies": "companies", "0-2": "companies"}
SINGULAR = {"contacts": "contact", "companies": "company"}
ASSOC_TYPE = {("contacts", "companies"): 279, ("companies", "contacts"): 280}
MAX_READ_INPUTS = 1000


class HubSpotAssociations:
    """Associations v4 of the HubSpot sandbox."""

    _objects: dict[str, dict[str, dict[str, Any]]]
    _assoc: set[tuple[str, str, str, str]]

    def _type(self, object_type: str) -> str | None:
        return TYPE_ALIASES.get(object_type)

    def _associate(self, from_type: str, inputs: list[Any], to_type: str) -> Row:
        """Default associations for each pair; a pair naming a missing object is one entry of ``errors[]``."""
        f, t = self._type(from_type), self._type(to_type)
        if f is None or t is None:
            return 400, error_body("VALIDATION_ERROR", f"Unable to infer object type from: {from_type}/{to_type}")
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in inputs:
            fid, tid = str(item.get("from", {}).get("id")), str(item.get("to", {}).get("id"))
            if fid not in self._objects[f] or tid not in self._objects[t]:
                errors.append(standard_error({
                    "category": "VALIDATION_ERROR",
                    "message": f"One or more objects not found: {f} {fid}, {t} {tid}"},
                    fromObjectId=[fid], toObjectId=[tid]))
                continue
            self._assoc.add((f, fid, t, tid))
            self._assoc.add((t, tid, f, fid))
            for a, b, c in ((fid, tid, ASSOC_TYPE.get((f, t), 1)), (tid, fid, ASSOC_TYPE.get((t, f), 1))):
                results.append({"from": {"id": a}, "to": {"id": b},
                                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": c}})
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now_iso(),
                               "completedAt": now_iso()}
        if errors:
            out.update(numErrors=len(errors), errors=errors)
        return 200, out

    def _read_associations(self, from_type: str, to_type: str, body: Any) -> Row:
        f, t = self._type(from_type), self._type(to_type)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if f is None or t is None or not isinstance(inputs, list):
            return 400, error_body("VALIDATION_ERROR", "Invalid input")
        if len(inputs) > MAX_READ_INPUTS:
            return 400, error_body("VALIDATION_ERROR", f"Batch read is limited to {MAX_READ_INPUTS} inputs")
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        type_id = ASSOC_TYPE.get((f, t), 1)
        for item in inputs:
            fid = str(item.get("id"))
            to = sorted((d for a, b, c, d in self._assoc if a == f and b == fid and c == t), key=int)
            if not to:
                errors.append(standard_error({
                    "category": "OBJECT_NOT_FOUND", "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                    "message": f"No {SINGULAR[t]} is associated with {SINGULAR[f]} {fid}."},
                    fromObjectId=[fid], fromObjectType=[SINGULAR[f]], toObjectType=[SINGULAR[t]]))
                continue
            results.append({"from": {"id": fid}, "to": [
                {"toObjectId": int(d), "associationTypes": [
                    {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]} for d in to]})
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now_iso(),
                               "completedAt": now_iso()}
        if errors:
            out.update(numErrors=len(errors), errors=errors)
            return 207, out
        return 200, out

    def _association_handlers(self) -> list[Any]:
        """Litestar handlers for the associations v4 paths."""
        sb: Any = self

        @put("/crm/v4/objects/{from_type:str}/{from_id:str}/associations/default/{to_type:str}/{to_id:str}")
        async def associate_default(
            request: Request[Any, Any, Any], from_type: FromPath[str], from_id: FromPath[str], to_type: FromPath[str],
            to_id: FromPath[str],
        ) -> Response[bytes]:
            if (denied := await sb._guard(request)) is not None:
                return denied
            with sb._lock:
                status, out = sb._associate(from_type, [{"from": {"id": from_id}, "to": {"id": to_id}}], to_type)
            if out.get("errors"):
                failed = out["errors"][0]
                return sb._respond(400, error_body(failed["category"], failed["message"], context=failed["context"]))
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
            return await sb._call(request, lambda body: sb._read_associations(from_type, to_type, body))

        return [associate_default, batch_associate, batch_read_associations]
