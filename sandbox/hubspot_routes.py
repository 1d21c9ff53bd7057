"""HubSpot sandbox: Litestar handlers for the CRM v3 object endpoints and owners.

Static paths per object type, so calls are counted per type. Shapes follow HubSpot's published OpenAPI
specification (github.com/HubSpot/HubSpot-public-api-spec-collection, PublicApiSpecs/CRM/Contacts/Rollouts/424/v3/
contacts.json; companies.json alike):

- ``GET /crm/v3/objects/{type}/{id}``: 200 ``SimplePublicObjectWithAssociations`` (with ``propertiesWithHistory`` for
  the properties that parameter names, each change newest first); an id (or ``idProperty`` value)
  that matches nothing is 404 with the spec's ``Error`` body (``default`` response), as the live API answers it:
  ``{"status":"error","message":"Object not found.  objectId are usually numeric.","correlationId":...,
  "context":{"id":[...]},"category":"OBJECT_NOT_FOUND"}`` (https://github.com/HubSpot/hubspot-api-nodejs/issues/669).
- ``GET /crm/v3/objects/{type}`` (every record, page by page), ``DELETE /crm/v3/objects/{type}/{id}``,
  ``POST .../batch/archive`` and ``POST .../merge``: ``hubspot_lifecycle``. ``GET .../{id}?archived=true`` reads an
  archived record; an id a merge folded into another record reads that record (the changelog cited there).
- Owners: ``CollectionResponsePublicOwnerForwardPaging``; each ``PublicOwner`` has the required ``id``, ``type``
  (``PERSON`` or ``QUEUE``), ``createdAt``, ``updatedAt``, ``archived``, and ``userIdIncludingInactive`` as the
  guide's example shows: https://developers.hubspot.com/docs/api-reference/latest/crm/owners/guide.md
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath

from sandbox.hubspot_schema import error_body, now_iso

if TYPE_CHECKING:
    from sandbox.hubspot import HubSpotSandbox

OWNER_TYPES = ("PERSON", "QUEUE")
OBJECT_NOT_FOUND = "Object not found.  objectId are usually numeric."  # sic: two spaces, as HubSpot writes it


def public_owner(owner: dict[str, Any]) -> dict[str, Any]:
    """An owner as ``GET /crm/v3/owners`` lists it: the spec's required fields present even for an owner a test
    put in the list by hand."""
    stamp = now_iso()
    return {"type": "PERSON", "archived": False, "teams": [], "createdAt": stamp, "updatedAt": stamp,
            "userIdIncludingInactive": owner.get("userId"), **owner}


def owners_handler(sb: HubSpotSandbox) -> Any:
    @get("/crm/v3/owners")
    async def owners(request: Request[Any, Any, Any]) -> Response[bytes]:
        if (denied := await sb._guard(request)) is not None:
            return denied
        q = request.query_params
        limit = int(q.get("limit") or 100)
        if not 1 <= limit <= 500:
            return sb._respond(400, error_body("VALIDATION_ERROR", "limit must be between 1 and 500"))
        archived = (q.get("archived") or "false").lower() == "true"
        rows = [public_owner(o) for o in sb.owners if bool(o.get("archived", False)) == archived]
        if q.get("email"):
            rows = [o for o in rows if o["email"].lower() == q["email"].lower()]
        start = int(q.get("after") or 0)
        page = rows[start:start + limit]
        out: dict[str, Any] = {"results": page}
        if start + limit < len(rows):
            out["paging"] = {"next": {"after": str(start + limit)}}
        return sb._respond(200, out)

    return owners


def object_handlers(sb: HubSpotSandbox, t: str) -> list[Any]:
    """CRM v3 object endpoints for one object type."""
    return [*_read_handlers(sb, t), *_write_handlers(sb, t), *_lifecycle_handlers(sb, t)]


def _read_handlers(sb: HubSpotSandbox, t: str) -> list[Any]:
    @get(f"/crm/v3/objects/{t}/{{object_id:str}}")
    async def get_object(request: Request[Any, Any, Any], object_id: FromPath[str]) -> Response[bytes]:
        if (denied := await sb._guard(request)) is not None:
            return denied
        q = request.query_params
        wanted = [p for v in q.getall("properties", []) for p in v.split(",")]
        history = [p for v in q.getall("propertiesWithHistory", []) for p in v.split(",")]
        with sb._lock:
            if (q.get("archived") or "false").lower() == "true":
                rec = sb._archived[t].get(object_id)
            else:
                rec = sb._find(t, q.get("idProperty") or "hs_object_id", object_id)
            if rec is None:
                return sb._respond(404, error_body("OBJECT_NOT_FOUND", OBJECT_NOT_FOUND, context={"id": [object_id]}))
            assoc = [a for v in q.getall("associations", []) for a in v.split(",")]
            out = sb._listed(t, rec, wanted, history, assoc)
        return sb._respond(200, out)

    @get(f"/crm/v3/objects/{t}")
    async def list_objects(request: Request[Any, Any, Any]) -> Response[bytes]:
        if (denied := await sb._guard(request)) is not None:
            return denied
        q = {k: request.query_params.getall(k) for k in request.query_params}
        with sb._lock:
            status, out = sb._list_page(t, q)
        return sb._respond(status, out)

    @post(f"/crm/v3/objects/{t}/batch/read", status_code=200)
    async def batch_read(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await sb._call(request, lambda body: sb._batch_read(t, body))

    @post(f"/crm/v3/objects/{t}/search", status_code=200)
    async def search(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await sb._call(request, lambda body: sb._search(t, body if isinstance(body, dict) else {}),
                              search=True)

    return [get_object, list_objects, batch_read, search]


def _write_handlers(sb: HubSpotSandbox, t: str) -> list[Any]:
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
        return await sb._call(request, lambda body: sb._batch(t, body, kind))

    @post(f"/crm/v3/objects/{t}/batch/create", status_code=201)
    async def batch_create(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await batch_write(request, "create")

    @post(f"/crm/v3/objects/{t}/batch/update", status_code=200)
    async def batch_update(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await batch_write(request, "update")

    @post(f"/crm/v3/objects/{t}/batch/upsert", status_code=200)
    async def batch_upsert(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await batch_write(request, "upsert")

    return [create_object, update_object, batch_create, batch_update, batch_upsert]


def _lifecycle_handlers(sb: HubSpotSandbox, t: str) -> list[Any]:
    @delete(f"/crm/v3/objects/{t}/{{object_id:str}}", status_code=200)  # answers 204 itself
    async def archive_object(request: Request[Any, Any, Any], object_id: FromPath[str]) -> Response[bytes]:
        if (denied := await sb._guard(request)) is not None:
            return denied
        with sb._lock:
            if not sb._archive(t, object_id):
                return sb._respond(404, error_body("OBJECT_NOT_FOUND", OBJECT_NOT_FOUND, context={"id": [object_id]}))
        return sb._respond(204, None)

    @post(f"/crm/v3/objects/{t}/batch/archive", status_code=200)  # answers 204 itself
    async def batch_archive(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await sb._call(request, lambda body: sb._batch_archive(t, body))

    @post(f"/crm/v3/objects/{t}/merge", status_code=200)
    async def merge(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await sb._call(request, lambda body: sb._merge(t, body))

    return [archive_object, batch_archive, merge]
