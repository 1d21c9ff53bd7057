"""The sandbox's in-memory Salesforce org: records, validation and DML, no HTTP (schema and ids in
``salesforce_schema``, queries in ``salesforce_org_query``).

Behaviour and error codes follow Salesforce's documentation:
- Record ids are 15-character case-sensitive ids plus a 3-character case-safe suffix, prefix per object
  (Lead 00Q, Contact 003, Account 001, User 005, Group/queue 00G):
  https://help.salesforce.com/s/articleView?id=000385008&type=1 (What are Salesforce IDs composed of?)
- Lead fields, required LastName and Company, restricted picklists Status/Rating:
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_lead.htm
- Error codes (REQUIRED_FIELD_MISSING, INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, DUPLICATE_VALUE, INVALID_EMAIL_ADDRESS,
  STRING_TOO_LONG, INVALID_CROSS_REFERENCE_KEY, INACTIVE_OWNER_OR_USER, INVALID_FIELD_FOR_INSERT_UPDATE, ...):
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_concepts_core_data_objects.htm#statuscode
- External id upsert (created 201 / updated 200, unique external ids):
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_upsert.htm
- Assignment rules run on create *and* update unless ``Sforce-Auto-Assign: FALSE`` (header default TRUE):
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_autoassign.htm
- Every write (create, update, delete, merge) sets ``SystemModstamp``; a deleted record goes to the Recycle Bin:
  ``IsDeleted`` true, gone from queries, still read by ``queryAll`` and listed by Get Deleted (kept 15 days):
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_queryall.htm and
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_getdeleted.htm
- Merge: ``salesforce_merge``.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce_merge import merge
from sandbox.salesforce_metadata import field_permission_errors, visible_created
from sandbox.salesforce_org_query import OrgQuery
from sandbox.salesforce_schema import (
    _EMAIL_RX,
    _ID_RX,
    LEAD_SOURCE,
    LEAD_STATUS,
    NOT_CREATABLE,
    PREFIX,
    RATING,
    RELATIONSHIPS,
    SCHEMA,
    F,
    RequestError,
    case_safe_id,
    make_id,
    row_error,
    sf_now,
)

__all__ = [
    "LEAD_SOURCE", "LEAD_STATUS", "PREFIX", "RATING", "RELATIONSHIPS", "SCHEMA", "Change", "F", "Org", "RequestError",
    "case_safe_id", "make_id", "row_error", "sf_now",
]


@dataclass
class Change:
    sobject: str
    record_id: str
    created: bool
    user_id: str


@dataclass
class Org(OrgQuery):
    """Records by sObject and id, plus the org's settings that DML consults."""

    org_id: str
    assignment_owner_id: str | None = None  # the active Lead assignment rule's owner (a queue or user)
    custom_fields: dict[str, dict[str, F]] = field(default_factory=dict)
    # created through the Tooling API: hidden until field-level security grants them (salesforce_metadata)
    created_fields: dict[str, dict[str, F]] = field(default_factory=dict)
    on_change: Callable[[Change], None] | None = None
    tables: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # indexed fields (external ids, Email on Lead/Contact), built on first use: (sobject, field) -> value -> ids
    _indexes: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)
    # while a request runs: each record's state before each change, so a failed transaction is undone
    # without copying the whole org per request
    _journal: list[tuple[str, str, dict[str, Any] | None]] | None = None
    # the Recycle Bin: deleted records by sObject and id (IsDeleted true), and when each was deleted
    recycle: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    deleted_dates: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in SCHEMA:
            self.tables.setdefault(name, {})

    # --- schema -----------------------------------------------------------------------------------------------
    def schema(self, sobject: str) -> dict[str, F]:
        if sobject not in SCHEMA:
            raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")
        if self.created_fields.get(sobject):
            return {**SCHEMA[sobject], **self.custom_fields.get(sobject, {}), **visible_created(self, sobject)}
        return {**SCHEMA[sobject], **self.custom_fields.get(sobject, {})}

    def canonical_sobject(self, name: str) -> str:
        for known in SCHEMA:
            if known.lower() == name.lower():
                return known
        raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")

    def field_name(self, sobject: str, name: str) -> str:
        """Field names are case-insensitive in the API; unknown ones fail the request (INVALID_FIELD)."""
        for known in self.schema(sobject):
            if known.lower() == name.lower():
                return known
        raise RequestError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}", [name])

    # --- transactions -------------------------------------------------------------------------------------------
    def begin(self) -> None:
        """Start remembering changes (one request is one transaction)."""
        self._journal = []

    def rollback(self) -> None:
        """Undo every change since ``begin`` (the external-id index keeps stale entries; lookups re-check)."""
        for sobject, rid, before in reversed(self._journal or []):
            self.recycle.get(sobject, {}).pop(rid, None)  # a record deleted in this transaction comes back
            self.deleted_dates.pop(rid, None)
            if before is None:
                self.tables[sobject].pop(rid, None)
            else:
                self.tables[sobject][rid] = before
        self._journal = []

    def _remember(self, sobject: str, rid: str) -> None:
        if self._journal is not None:
            before = self.tables[sobject].get(rid)
            self._journal.append((sobject, rid, copy.deepcopy(before) if before is not None else None))

    def new_id(self, sobject: str) -> str:
        return make_id(PREFIX[sobject], next(self._seq))

    # --- seeding ----------------------------------------------------------------------------------------------
    def seed_user(self, user: dict[str, Any]) -> dict[str, Any]:
        rec = {
            "Id": user.get("Id") or self.new_id("User"),
            "Username": user.get("Username") or user["Email"],
            "Email": user["Email"],
            "FirstName": user.get("FirstName"),
            "LastName": user["LastName"],
            "Alias": user.get("Alias") or (str(user.get("FirstName") or "")[:1] + user["LastName"][:4]).lower(),
            "IsActive": user.get("IsActive", True),
            "UserType": user.get("UserType", "Standard"),
            "Title": user.get("Title"),
            "IsDeleted": False,
            "CreatedDate": sf_now(),
            "LastModifiedDate": sf_now(),
            "SystemModstamp": sf_now(),
        }
        rec["Name"] = " ".join(p for p in (rec["FirstName"], rec["LastName"]) if p)
        rec["CreatedById"] = rec["LastModifiedById"] = rec["Id"]
        self.tables["User"][rec["Id"]] = rec
        return rec

    def seed_organization(self, name: str = "Leadrelay Sandbox") -> dict[str, Any]:
        """The org's own Organization record (its Id is the organization id every message and token carries)."""
        now = sf_now()
        rec = {"Id": self.org_id, "Name": name, "OrganizationType": "Developer Edition", "InstanceName": "SBX1",
               "IsSandbox": True, "IsDeleted": False, "CreatedDate": now, "LastModifiedDate": now,
               "SystemModstamp": now, "CreatedById": None, "LastModifiedById": None}
        self.tables["Organization"] = {self.org_id: rec}
        return rec

    def user_by_username(self, username: str) -> dict[str, Any] | None:
        return next((u for u in self.tables["User"].values() if u["Username"].lower() == username.lower()), None)

    # --- lookups ----------------------------------------------------------------------------------------------
    def find(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        rid = record_id if len(record_id) == 18 else case_safe_id(record_id) if len(record_id) == 15 else record_id
        for name, table in self.tables.items():
            if rid in table:
                return name, table[rid]
        return None

    def by_index(self, sobject: str, field_name: str, value: Any) -> list[dict[str, Any]]:
        """Records whose field equals ``value`` (case-insensitive, as SOQL compares text), through an index."""
        key = str(value).lower()
        table = self.tables[sobject]
        index = self._indexes.get((sobject, field_name))
        if index is None:
            index = {}
            for r in table.values():
                if r.get(field_name) is not None:
                    index.setdefault(str(r[field_name]).lower(), []).append(r["Id"])
            self._indexes[(sobject, field_name)] = index
        out = []
        for rid in dict.fromkeys(index.get(key, ())):  # entries may be stale (value changed, deleted): check
            r = table.get(rid)
            if r is not None and r.get(field_name) is not None and str(r[field_name]).lower() == key:
                out.append(r)
        return out

    def _index(self, sobject: str, rec: dict[str, Any]) -> None:
        for (indexed, name), index in self._indexes.items():
            if indexed == sobject and rec.get(name) is not None:
                ids = index.setdefault(str(rec[name]).lower(), [])
                if rec["Id"] not in ids:
                    ids.append(rec["Id"])

    def external_field(self, sobject: str, name: str) -> str:
        if name.lower() == "id":
            return "Id"
        try:
            canonical = self.field_name(sobject, name)
        except RequestError:
            canonical = name
        spec = self.schema(sobject).get(canonical)
        if spec is None or not spec.external_id:
            raise RequestError(
                400, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}"
            )
        return canonical

    # --- validation -------------------------------------------------------------------------------------------
    def coerce(self, sobject: str, body: dict[str, Any]) -> dict[str, Any]:
        """Canonical field names and JSON types; request-level errors as Salesforce's deserializer raises them."""
        schema = self.schema(sobject)
        out: dict[str, Any] = {}
        for raw_name, value in body.items():
            if raw_name == "attributes":
                continue
            name = self.field_name(sobject, raw_name)
            spec = schema[name]
            if value is not None and spec.type in ("int", "double"):
                if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                    raise RequestError(
                        400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {spec.type} from {value!r}"
                    )
                try:
                    value = int(value) if spec.type == "int" else float(value)
                except ValueError as exc:
                    raise RequestError(
                        400,
                        "JSON_PARSER_ERROR",
                        f"Cannot deserialize instance of {spec.type} from VALUE_STRING value {value}",
                    ) from exc
            if value is not None and spec.type == "boolean" and not isinstance(value, bool):
                raise RequestError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of boolean from {value!r}")
            out[name] = value
        return out

    def validate(self, sobject: str, fields: dict[str, Any], existing: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Per-record errors (a SaveResult with success=false), empty when the record can be saved."""
        schema = self.schema(sobject)
        errors: list[dict[str, Any]] = []
        readonly = [n for n in fields if not schema[n].writable and not (n == "Id" and existing is not None)]
        if readonly:
            errors.append(
                row_error(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {', '.join(readonly)}. Please check the security settings of "
                    "this field and verify that it is read/write for your profile or permission set.",
                    readonly,
                )
            )
        merged = {**(existing or {}), **fields}
        missing = [n for n, s in schema.items() if s.required and merged.get(n) in (None, "")]
        if missing:
            errors.append(
                row_error("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
            )
        for name, value in fields.items():
            spec = schema[name]
            if value is not None and spec.writable:
                errors += self._field_errors(sobject, name, value, spec, existing)
        if sobject == "FieldPermissions" and not errors:
            errors += field_permission_errors(self, merged, existing)
        return errors

    def _field_errors(
        self, sobject: str, name: str, value: Any, spec: F, existing: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        """The errors of one written field value (length, email, restricted picklist, reference, uniqueness)."""
        errors: list[dict[str, Any]] = []
        label = spec.label or name
        if spec.type in ("string", "email", "picklist") and isinstance(value, str) and len(value) > spec.length:
            errors.append(
                row_error(
                    "STRING_TOO_LONG",
                    f"{label}: data value too large: {value[:40]} (max length={spec.length})",
                    [name],
                )
            )
        if spec.type == "email" and not _EMAIL_RX.match(str(value)):
            errors.append(row_error("INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {value}", [name]))
        if spec.type == "picklist" and spec.restricted and value not in spec.values:
            errors.append(
                row_error(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{label}: bad value for restricted picklist field: {value}",
                    [name],
                )
            )
        if spec.type == "reference":
            err = self._check_reference(name, label, str(value), spec.refs)
            if err:
                errors.append(err)
        changed = existing is None or str(value).lower() != str(existing.get(name) or "").lower()
        if spec.unique and changed:
            dupes = [
                r
                for r in self.by_index(sobject, name, value)
                if existing is None or r["Id"] != existing["Id"]
            ]
            if dupes:
                errors.append(
                    row_error(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {name} duplicates value on record with id: {dupes[0]['Id']}",
                    )
                )
        return errors

    def _check_reference(self, name: str, label: str, value: str, refs: tuple[str, ...]) -> dict[str, Any] | None:
        if not _ID_RX.match(value):
            return row_error("MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [name])
        rid = value if len(value) == 18 else case_safe_id(value)
        if "Group" in refs and rid in self.groups:
            return None
        target = self.find(rid)
        if target is None or target[0] not in refs:
            return row_error("INVALID_CROSS_REFERENCE_KEY", f"{label}: invalid cross reference id", [name])
        if target[0] == "User" and not target[1].get("IsActive"):
            return row_error("INACTIVE_OWNER_OR_USER", "operation performed with inactive user as owner", [name])
        return None

    # --- DML --------------------------------------------------------------------------------------------------
    def _assign(self, sobject: str, rec: dict[str, Any], auto_assign: bool) -> None:
        if auto_assign and sobject == "Lead" and self.assignment_owner_id:
            rec["OwnerId"] = self.assignment_owner_id

    def _stamp(self, sobject: str, rec: dict[str, Any], user_id: str) -> None:
        now = sf_now()
        rec["LastModifiedDate"] = rec["SystemModstamp"] = now
        rec["LastModifiedById"] = user_id
        if "FirstName" in self.schema(sobject) and "LastName" in self.schema(sobject):
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)

    def insert(self, sobject: str, fields: dict[str, Any], user_id: str, auto_assign: bool) -> dict[str, Any]:
        """Create one record; returns a SaveResult-like dict."""
        if sobject in NOT_CREATABLE:
            return {
                "success": False,
                "errors": [row_error("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights")],
            }
        errors = self.validate(sobject, fields, None)
        if errors:
            return {"success": False, "errors": errors}
        schema = self.schema(sobject)
        rec: dict[str, Any] = {n: s.default for n, s in schema.items() if s.default is not None}
        rec.update(fields)
        rec["Id"] = self.new_id(sobject)
        rec["CreatedDate"] = sf_now()
        rec["CreatedById"] = user_id
        if "OwnerId" in schema and not rec.get("OwnerId"):
            rec["OwnerId"] = user_id
        self._assign(sobject, rec, auto_assign)
        self._stamp(sobject, rec, user_id)
        self._remember(sobject, rec["Id"])
        self.tables[sobject][rec["Id"]] = rec
        self._index(sobject, rec)
        if self.on_change:
            self.on_change(Change(sobject, rec["Id"], True, user_id))
        return {"id": rec["Id"], "success": True, "errors": []}

    def update(
        self, sobject: str, record_id: str, fields: dict[str, Any], user_id: str, auto_assign: bool
    ) -> dict[str, Any]:
        found = self.find(record_id)
        if found is None or found[0] != sobject:
            err = row_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            return {"id": record_id, "success": False, "errors": [err]}
        existing = found[1]
        fields = {k: v for k, v in fields.items() if k != "Id"}
        errors = self.validate(sobject, fields, existing)
        if errors:
            return {"id": existing["Id"], "success": False, "errors": errors}
        self._remember(sobject, existing["Id"])
        existing.update(fields)
        self._index(sobject, existing)
        self._assign(sobject, existing, auto_assign)
        self._stamp(sobject, existing, user_id)
        if self.on_change:
            self.on_change(Change(sobject, existing["Id"], False, user_id))
        return {"id": existing["Id"], "success": True, "errors": []}

    def upsert(
        self, sobject: str, ext_field: str, value: Any, fields: dict[str, Any], user_id: str, auto_assign: bool
    ) -> dict[str, Any]:
        """Upsert by external id: one match updates, none creates, several -> MULTIPLE_CHOICES (HTTP 300)."""
        matches = self.by_index(sobject, ext_field, value) if ext_field != "Id" else []
        if ext_field == "Id" and value:
            found = self.find(str(value))
            matches = [found[1]] if found and found[0] == sobject else []
        if len(matches) > 1:
            return {
                "success": False,
                "errors": [
                    row_error(
                        "DUPLICATE_EXTERNAL_ID",
                        f"{ext_field}: more than one record found for external id field: {[m['Id'] for m in matches]}",
                        [ext_field],
                    )
                ],
                "created": False,
            }
        if matches:
            result = self.update(sobject, matches[0]["Id"], fields, user_id, auto_assign)
            return {**result, "created": False}
        if ext_field != "Id":
            fields = {**fields, ext_field: value}
        result = self.insert(sobject, fields, user_id, auto_assign)
        return {**result, "created": result["success"]}

    def merge(self, sobject: str, master_id: str, victim_ids: list[str], user_id: str,
              fields: dict[str, Any] | None = None) -> dict[str, Any]:
        """Merge up to two records into ``master_id`` (``salesforce_merge.merge``)."""
        return merge(self, sobject, master_id, victim_ids, user_id, fields)

    def delete(self, sobject: str, record_id: str, user_id: str | None = None) -> dict[str, Any]:
        """Move one record to the Recycle Bin (``IsDeleted`` true, ``SystemModstamp`` now)."""
        found = self.find(record_id)
        if found is None or found[0] != sobject or sobject in NOT_CREATABLE:
            return {"id": record_id, "success": False, "errors": [row_error("ENTITY_IS_DELETED", "entity is deleted")]}
        rec = found[1]
        self._remember(sobject, rec["Id"])
        del self.tables[sobject][rec["Id"]]
        rec["IsDeleted"] = True
        rec["SystemModstamp"] = self.deleted_dates[rec["Id"]] = sf_now()
        if user_id:
            rec["LastModifiedById"] = user_id
        self.recycle.setdefault(sobject, {})[rec["Id"]] = rec
        return {"id": rec["Id"], "success": True, "errors": []}
