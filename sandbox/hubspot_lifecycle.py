"""HubSpot sandbox: reading every record page by page, archiving (deleting) and merging. Mixed into
``sandbox.hubspot.HubSpotSandbox`` (the state, ``_find``, ``_create``, ``_public`` and the webhooks live there).

Shapes from HubSpot's published OpenAPI specification (github.com/HubSpot/HubSpot-public-api-spec-collection,
PublicApiSpecs/CRM/Contacts/Rollouts/424/v3/contacts.json; companies.json alike):

- ``GET /crm/v3/objects/{type}`` (getPage): ``limit`` (default 10), ``after``, ``properties``,
  ``propertiesWithHistory``, ``associations``, ``archived`` ("Whether to return only results that have been
  archived", default false); answers ``CollectionResponseSimplePublicObjectWithAssociationsForwardPaging``,
  ``paging.next.after`` (and its ``link``) only while more records follow. At most 100 per page (the limit
  hubspot-api-client's own ``fetch_all`` pages with, ``PAGE_MAX_SIZE = 100``, hubspot/utils/objects.py), and at most
  50 when ``propertiesWithHistory`` is asked for: a larger limit is a 400 (the live refusal:
  https://github.com/HubSpot/hubspot-api-python/issues/143). Records come in id order and the cursor is the next
  record's id, so a record created or archived while someone pages neither shifts nor repeats a page.
- ``DELETE /crm/v3/objects/{type}/{id}`` archives: 204, the record leaves reads and search, is listed with
  ``archived=true`` (``archived: true``, ``archivedAt``) and its unique values (email) are free again;
  ``POST .../batch/archive`` (``BatchInputSimplePublicObjectId``, 100 inputs) answers 204 too.
  "Deleted contacts can be restored within 90 days" (the spec's description of both endpoints). What HubSpot answers
  for an id that is not there is not documented: the sandbox answers the single DELETE as GET does (404
  OBJECT_NOT_FOUND) and skips such ids in a batch.
- ``POST /crm/v3/objects/{type}/merge`` (``PublicMergeInput``: ``primaryObjectId``, ``objectIdToMerge``, both
  required) answers 200 ``SimplePublicObject``. HubSpot's current merge creates a *new* record with a new id; both
  old records are merged into it and archived, and both old ids keep pointing at it ("fetching any records using the
  original IDs will return the new merged record with the new ID"); the primary's current values win, values only
  the other record has are kept, and the merged record keeps the associations of both:
  https://developers.hubspot.com/changelog/updated-merge-functionality-for-contacts-and-companies
  The primary's email stays ``email``; the other address becomes one of ``hs_additional_emails`` and no new contact
  can be created with it ("you will not be able to create a new contact with the email address of the old contact
  record that was merged": https://knowledge.hubspot.com/articles/kcs_article/contacts/what-happens-when-i-merge-two-contacts).
  ``hs_merged_object_ids`` lists the ids folded in; the older ``createdate`` is kept. Merging a record with itself
  or with an archived one is refused.
- Webhooks: ``{contact,company}.deletion`` (changeFlag DELETED) and ``.merge`` with ``primaryObjectId``,
  ``mergedObjectIds``, ``newObjectId`` and ``numberOfPropertiesMoved``:
  https://developers.hubspot.com/changelog/new-subscription-types-for-webhooks
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from sandbox.hubspot_routes import OBJECT_NOT_FOUND
from sandbox.hubspot_schema import OBJECT_LABEL, Prop, Row, error_body, norm, now_iso
from sandbox.hubspot_writes import MAX_BATCH, too_many_inputs

MAX_PAGE = 100
MAX_PAGE_WITH_HISTORY = 50


class HubSpotLifecycle:
    """List paging, archive and merge of the HubSpot sandbox."""

    _objects: dict[str, dict[str, dict[str, Any]]]
    _archived: dict[str, dict[str, dict[str, Any]]]
    _aliases: dict[tuple[str, str], str]
    _order: dict[str, list[int]]
    _unique: dict[tuple[str, str], dict[str, str]]
    _assoc: set[tuple[str, str, str, str]]
    schemas: dict[str, dict[str, Prop]]

    # ---- list -------------------------------------------------------------------------------------------------

    def _list_page(self, object_type: str, q: dict[str, list[str]]) -> Row:
        """One page of ``GET /crm/v3/objects/{type}``; ``q`` maps each query parameter to its values."""
        def values(name: str) -> list[str]:
            return [p for v in q.get(name, []) for p in v.split(",") if p]

        history = values("propertiesWithHistory")
        cap = MAX_PAGE_WITH_HISTORY if history else MAX_PAGE
        raw_limit = (q.get("limit") or ["10"])[0]
        try:
            limit = int(raw_limit)
        except ValueError:
            return 400, error_body("VALIDATION_ERROR", f"limit must be a number, got {raw_limit!r}")
        if not 1 <= limit <= cap:
            return 400, error_body("VALIDATION_ERROR", f"limit must be between 1 and {cap}"
                                   + (" when propertiesWithHistory is requested" if history else ""))
        after_raw = (q.get("after") or [""])[0]
        if after_raw and not after_raw.isdigit():
            return 400, error_body("VALIDATION_ERROR", f"Invalid paging cursor: after={after_raw!r}")
        after = int(after_raw or 0)
        archived = (q.get("archived") or ["false"])[0].lower() == "true"
        pool = self._archived[object_type] if archived else self._objects[object_type]
        order = sorted(map(int, pool)) if archived else self._order[object_type]  # a full sync pages live ones
        start = bisect_left(order, after)
        page = order[start:start + limit + 1]
        wanted = values("properties")
        results = [self._listed(object_type, pool[str(i)], wanted, history, values("associations"))
                   for i in page[:limit]]
        out: dict[str, Any] = {"results": results}
        if len(page) > limit:
            nxt = str(page[limit])
            out["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
        return 200, out

    def _listed(self, object_type: str, rec: dict[str, Any], wanted: list[str], history: list[str],
                assoc: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = self._public(object_type, rec, wanted, history)  # type: ignore[attr-defined]
        if rec.get("archivedAt"):
            out.update(archived=True, archivedAt=rec["archivedAt"])
        for other in filter(None, (self._type(a) for a in assoc)):  # type: ignore[attr-defined]
            ids = sorted((d for a, b, c, d in self._assoc if a == object_type and b == rec["id"] and c == other),
                         key=int)
            if ids:
                kind = "contact_to_company" if other == "companies" else "company_to_contact"
                out.setdefault("associations", {})[other] = {"results": [{"id": i, "type": kind} for i in ids]}
        return out

    # ---- archive ----------------------------------------------------------------------------------------------

    def _archive(self, object_type: str, object_id: str, source: tuple[str, str] | None = None, *,
                 emit: bool = True) -> bool:
        """Archive one record (False when there is none by that id)."""
        rec = self._objects[object_type].pop(str(object_id), None)
        if rec is None:
            return False
        for (t, _), index in self._unique.items():
            if t == object_type:
                for key in [k for k, rid in index.items() if rid == rec["id"]]:
                    del index[key]
        self._assoc = {a for a in self._assoc if not ((a[0] == object_type and a[1] == rec["id"]) or
                                                      (a[2] == object_type and a[3] == rec["id"]))}
        order = self._order[object_type]
        del order[bisect_left(order, int(rec["id"]))]
        rec["archivedAt"] = now_iso()
        self._archived[object_type][rec["id"]] = rec
        if emit:
            self._emit_event(object_type, "deletion", rec["id"], source, changeFlag="DELETED")  # type: ignore[attr-defined]
        return True

    def _batch_archive(self, object_type: str, body: Any) -> tuple[int, Any]:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(isinstance(i, dict) and "id" in i for i in inputs):
            return 400, error_body("VALIDATION_ERROR", "Invalid input JSON: `inputs` must be an array of {\"id\": ...}")
        if len(inputs) > MAX_BATCH:
            return too_many_inputs(context={"inputs": [str(len(inputs))]})
        for item in inputs:
            self._archive(object_type, str(item["id"]))
        return 204, None

    # ---- merge ------------------------------------------------------------------------------------------------

    def _merge(self, object_type: str, body: Any, source: tuple[str, str] | None = None) -> Row:
        if not isinstance(body, dict) or not body.get("primaryObjectId") or not body.get("objectIdToMerge"):
            return 400, error_body("VALIDATION_ERROR", "Invalid input JSON: `primaryObjectId` and `objectIdToMerge` "
                                                       "are required")
        primary_id, other_id = str(body["primaryObjectId"]), str(body["objectIdToMerge"])
        primary, other = self._objects[object_type].get(primary_id), self._objects[object_type].get(other_id)
        missing = [i for i, r in ((primary_id, primary), (other_id, other)) if r is None]
        if missing:
            return 404, error_body("OBJECT_NOT_FOUND", OBJECT_NOT_FOUND, context={"id": missing})
        assert primary is not None and other is not None
        if primary["id"] == other["id"]:
            return 400, error_body("VALIDATION_ERROR", f"Cannot merge {OBJECT_LABEL[object_type]} {primary_id} "
                                                       "with itself")
        merged = self._merged_record(object_type, primary, other)
        moved = sum(1 for n, v in other["properties"].items() if v and not primary["properties"].get(n))
        links = {(c, d) for a, b, c, d in self._assoc if a == object_type and b in (primary["id"], other["id"])}
        for old in (primary, other):
            self._archive(object_type, old["id"], emit=False)
            self._aliases[(object_type, old["id"])] = merged["id"]
        for old_id, new_id in list(self._aliases.items()):  # ids merged earlier follow the record they ended in
            if new_id in (primary["id"], other["id"]):
                self._aliases[old_id] = merged["id"]
        self._objects[object_type][merged["id"]] = merged
        self._order[object_type].append(int(merged["id"]))
        for name, prop in self.schemas[object_type].items():
            if prop.unique and merged["properties"].get(name):
                self._unique.setdefault((object_type, name), {})[norm(name, merged["properties"][name])] = merged["id"]
        for extra in filter(None, merged["properties"].get("hs_additional_emails", "").split(";")):
            self._unique.setdefault((object_type, "email"), {})[norm("email", extra)] = merged["id"]
        for to_type, to_id in links:
            self._assoc.add((object_type, merged["id"], to_type, to_id))
            self._assoc.add((to_type, to_id, object_type, merged["id"]))
        self._emit_event(object_type, "merge", merged["id"], source, primaryObjectId=int(primary["id"]),  # type: ignore[attr-defined]
                         mergedObjectIds=[int(other["id"])], newObjectId=int(merged["id"]),
                         numberOfPropertiesMoved=moved)
        return 200, self._public(object_type, merged, ())  # type: ignore[attr-defined]

    def _merged_record(self, object_type: str, primary: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
        """The new record a merge creates: the other record's values under the primary's, a new id."""
        new_id = str(next(self._ids))  # type: ignore[attr-defined]
        now = now_iso()
        props = {**{n: v for n, v in other["properties"].items() if v}, **{n: v for n, v in
                                                                         primary["properties"].items() if v}}
        created = min(primary["properties"].get("createdate", now), other["properties"].get("createdate", now))
        props.update(hs_object_id=new_id, createdate=created,
                     hs_merged_object_ids=";".join(sorted({primary["id"], other["id"]}, key=int)))
        if object_type == "contacts":
            extra = [e for r in (primary, other)
                     for e in (r["properties"].get("hs_additional_emails") or "").split(";")]
            other_email = other["properties"].get("email")
            if other_email and norm("email", other_email) != norm("email", props.get("email", "")):
                extra.append(other_email)
            extra = list(dict.fromkeys(e for e in extra if e))
            if extra:
                props["hs_additional_emails"] = ";".join(extra)
            props["lastmodifieddate"] = now
        else:
            props["hs_lastmodifieddate"] = now
        history = {n: [*primary.get("history", {}).get(n, []), *other.get("history", {}).get(n, [])]
                   for n in set(primary.get("history", {})) | set(other.get("history", {}))}
        return {"id": new_id, "properties": props, "createdAt": min(primary["createdAt"], other["createdAt"]),
                "updatedAt": now, "history": history}


__all__ = ["MAX_PAGE", "MAX_PAGE_WITH_HISTORY", "HubSpotLifecycle"]
