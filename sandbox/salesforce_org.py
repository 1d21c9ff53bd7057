"""The sandbox's in-memory Salesforce org: schema, record ids, validation and DML, no HTTP.

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
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox import soql

PREFIX = {"Lead": "00Q", "Contact": "003", "Account": "001", "User": "005", "Group": "00G"}
_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RX = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_EMAIL_RX = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def case_safe_id(id15: str) -> str:
    """The documented 15 -> 18 character conversion (one suffix char per 5-char chunk, bit per uppercase letter)."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        suffix += _SUFFIX_CHARS[bits]
    return id15 + suffix


def make_id(prefix: str, n: int, pod: str = "5e") -> str:
    digits = ""
    while True:
        n, r = divmod(n, 62)
        digits = _B62[r] + digits
        if n == 0:
            break
    return case_safe_id(prefix + pod + digits.rjust(10, "0"))


def sf_now() -> str:
    """Salesforce REST datetime format, e.g. 2024-09-15T08:22:10.000+0000."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{datetime.now(UTC).microsecond // 1000:03d}+0000"


@dataclass(frozen=True)
class F:
    """One field of an sObject as describe() would report it."""

    type: str = "string"  # string | email | picklist | int | double | boolean | reference | datetime | id
    length: int = 255
    required: bool = False  # nillable=false and createable (REQUIRED_FIELD_MISSING)
    writable: bool = True  # createable/updateable
    values: tuple[str, ...] = ()  # picklist values
    restricted: bool = False
    default: Any = None
    refs: tuple[str, ...] = ()  # reference targets
    external_id: bool = False
    unique: bool = False
    label: str = ""


_SYSTEM = {
    "Id": F("id", writable=False),
    "IsDeleted": F("boolean", writable=False, default=False),
    "CreatedDate": F("datetime", writable=False),
    "CreatedById": F("reference", writable=False, refs=("User",)),
    "LastModifiedDate": F("datetime", writable=False),
    "LastModifiedById": F("reference", writable=False, refs=("User",)),
    "SystemModstamp": F("datetime", writable=False),
}
_LEADRELAY = {
    "Leadrelay_Id__c": F(length=255, external_id=True, unique=True, label="Leadrelay Id"),
    "Leadrelay_Score__c": F("double", label="Leadrelay Score"),
    "Leadrelay_Tags__c": F(length=255, label="Leadrelay Tags"),
    "Leadrelay_Reason__c": F(length=255, label="Leadrelay Reason"),
}
LEAD_STATUS = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
RATING = ("Hot", "Warm", "Cold")
LEAD_SOURCE = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
_OWNER = F("reference", refs=("User", "Group"), label="Owner ID")

SCHEMA: dict[str, dict[str, F]] = {
    "Lead": {
        **_SYSTEM,
        "LastName": F(length=80, required=True, label="Last Name"),
        "FirstName": F(length=40, label="First Name"),
        "Salutation": F("picklist", values=("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
        "Name": F(length=121, writable=False),
        "Title": F(length=128),
        "Company": F(length=255, required=True),
        "Street": F(length=255),
        "City": F(length=40),
        "State": F(length=80),
        "PostalCode": F(length=20),
        "Country": F(length=80),
        "Phone": F(length=40),
        "MobilePhone": F(length=40),
        "Email": F("email", length=80),
        "Website": F(length=255),
        "Description": F(length=32000),
        "LeadSource": F("picklist", values=LEAD_SOURCE),
        "Status": F("picklist", values=LEAD_STATUS, restricted=True, default=LEAD_STATUS[0], label="Lead Status"),
        "Industry": F("picklist", length=255),
        "Rating": F("picklist", values=RATING, restricted=True),
        "AnnualRevenue": F("double"),
        "NumberOfEmployees": F("int"),
        "OwnerId": _OWNER,
        "IsConverted": F("boolean", writable=False, default=False),
        "HasOptedOutOfEmail": F("boolean", default=False),
        **_LEADRELAY,
        "Matched_Account__c": F("reference", refs=("Account",), label="Matched Account"),
    },
    "Contact": {
        **_SYSTEM,
        "LastName": F(length=80, required=True, label="Last Name"),
        "FirstName": F(length=40),
        "Name": F(length=121, writable=False),
        "Email": F("email", length=80),
        "Phone": F(length=40),
        "Title": F(length=128),
        "AccountId": F("reference", refs=("Account",), label="Account ID"),
        "MailingCountry": F(length=80),
        "LeadSource": F("picklist", values=LEAD_SOURCE),
        "OwnerId": _OWNER,
        **_LEADRELAY,
    },
    "Account": {
        **_SYSTEM,
        "Name": F(length=255, required=True, label="Account Name"),
        "Website": F(length=255),
        "Industry": F("picklist"),
        "Type": F("picklist"),
        "Phone": F(length=40),
        "NumberOfEmployees": F("int"),
        "AnnualRevenue": F("double"),
        "BillingCity": F(length=40),
        "BillingState": F(length=80),
        "BillingPostalCode": F(length=20),
        "BillingCountry": F(length=80),
        "OwnerId": _OWNER,
        "Leadrelay_Id__c": _LEADRELAY["Leadrelay_Id__c"],
    },
    "User": {
        **_SYSTEM,
        "Username": F(length=80, writable=False),
        "Email": F("email", length=128, writable=False),
        "FirstName": F(length=40, writable=False),
        "LastName": F(length=80, writable=False),
        "Name": F(length=121, writable=False),
        "Alias": F(length=8, writable=False),
        "IsActive": F("boolean", writable=False),
        "UserType": F("picklist", writable=False),
        "Title": F(length=80, writable=False),
    },
}
RELATIONSHIPS = {
    "Owner": "OwnerId",
    "Account": "AccountId",
    "CreatedBy": "CreatedById",
    "LastModifiedBy": "LastModifiedById",
}


def row_error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    """One entry of a SaveResult's ``errors`` array."""
    return {"statusCode": code, "message": message, "fields": fields or []}


class RequestError(Exception):
    """The whole request is refused (REST answers ``[{"message","errorCode","fields"}]`` with this status)."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or []

    def body(self) -> list[dict[str, Any]]:
        out: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields:
            out["fields"] = self.fields
        return [out]


@dataclass
class Change:
    sobject: str
    record_id: str
    created: bool
    user_id: str


@dataclass
class Org:
    """Records by sObject and id, plus the org's settings that DML consults."""

    org_id: str
    assignment_owner_id: str | None = None  # the active Lead assignment rule's owner (a queue or user)
    custom_fields: dict[str, dict[str, F]] = field(default_factory=dict)
    on_change: Callable[[Change], None] | None = None
    tables: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # indexed fields (external ids, Email on Lead/Contact), built on first use: (sobject, field) -> value -> ids
    _indexes: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)
    # while a request runs: each record's state before each change, so a failed transaction is undone
    # without copying the whole org per request
    _journal: list[tuple[str, str, dict[str, Any] | None]] | None = None

    def __post_init__(self) -> None:
        for name in SCHEMA:
            self.tables.setdefault(name, {})

    # --- schema -----------------------------------------------------------------------------------------------
    def schema(self, sobject: str) -> dict[str, F]:
        if sobject not in SCHEMA:
            raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")
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
            if value is None or not spec.writable:
                continue
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
        if sobject == "User":
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

    def delete(self, sobject: str, record_id: str) -> dict[str, Any]:
        found = self.find(record_id)
        if found is None or found[0] != sobject or sobject == "User":
            return {"id": record_id, "success": False, "errors": [row_error("ENTITY_IS_DELETED", "entity is deleted")]}
        self._remember(sobject, found[1]["Id"])
        del self.tables[sobject][found[1]["Id"]]
        return {"id": found[1]["Id"], "success": True, "errors": []}

    # --- query ------------------------------------------------------------------------------------------------
    def resolve(self, sobject: str, record: dict[str, Any], path: str) -> Any:
        """A field value by (case-insensitive) name or one-level relationship path such as ``Owner.Email``."""
        if "." in path:
            rel, _, sub = path.partition(".")
            ref_field = self._relationship_field(sobject, rel)
            target_id = record.get(ref_field)
            target = self.find(str(target_id)) if target_id else None
            if target is None:
                group = self.groups.get(str(target_id)) if target_id else None
                return group.get(sub) if group else None
            return self.resolve(target[0], target[1], sub)
        return record.get(self.field_name(sobject, path))

    def _relationship_field(self, sobject: str, rel: str) -> str:
        schema = self.schema(sobject)
        candidates = [
            RELATIONSHIPS.get(rel[:1].upper() + rel[1:], ""),
            rel[:-3] + "__c" if rel.lower().endswith("__r") else "",
        ]
        for cand in candidates:
            for known in schema:
                if cand and known.lower() == cand.lower():
                    return known
        for known in RELATIONSHIPS:
            if known.lower() == rel.lower() and RELATIONSHIPS[known] in schema:
                return RELATIONSHIPS[known]
        raise RequestError(
            400,
            "INVALID_FIELD",
            f"Didn't understand relationship '{rel}' in field path. If you are attempting to use a custom "
            "relationship, be sure to append the '__r' after the custom relationship name.",
        )

    def run_query(self, query: soql.Query) -> tuple[str, list[dict[str, Any]]]:
        sobject = self.canonical_sobject_for_query(query.sobject)
        for path in [*query.fields, *soql.where_fields(query.where), *(o[0] for o in query.order_by)]:
            self.resolve(sobject, {}, path) if "." not in path else self._relationship_field(
                sobject, path.split(".")[0]
            )

        def get(rec: dict[str, Any], path: str) -> Any:
            return self.resolve(sobject, rec, path)

        rows = [r for r in self._candidates(sobject, query.where) if soql.matches(query.where, r, get)]
        if query.order_by:
            soql.sort_records(rows, query.order_by, get)
        rows = rows[query.offset :]
        if query.limit is not None:
            rows = rows[: query.limit]
        return sobject, rows

    def _candidates(self, sobject: str, where: Any) -> Iterable[dict[str, Any]]:
        """Rows a query must test: through an index when a top-level AND term is `=`/`IN` on an indexed field.

        Salesforce's query optimizer leads with a selective indexed filter; Email on Lead and Contact and
        external ids are indexed by the platform ("Indexes", Large Data Volumes best practices:
        developer.salesforce.com/docs/platform/salesforce-large-data-volumes-bp/guide/
        ldv-deployments-infrastructure-indexes.html). Every returned row is still tested by `soql.matches`.
        """
        terms = where.items if isinstance(where, soql.BoolOp) and where.op == "and" else [where]
        for term in terms:
            if not isinstance(term, soql.Cmp) or term.op not in ("=", "in") or "." in term.field:
                continue
            name = next((k for k in self.schema(sobject) if k.lower() == term.field.lower()), None)
            values = term.value if term.op == "in" else [term.value]
            if name is None or not self._indexed(sobject, name) or not all(isinstance(v, str) for v in values):
                continue
            found: dict[str, dict[str, Any]] = {}
            for value in values:
                for rec in self.by_index(sobject, name, value):
                    found[rec["Id"]] = rec
            return found.values()
        return self.tables[sobject].values()

    def _indexed(self, sobject: str, name: str) -> bool:
        if name == "Email" and sobject in ("Lead", "Contact"):
            return True
        spec = self.schema(sobject).get(name)
        return spec is not None and spec.external_id

    def canonical_sobject_for_query(self, name: str) -> str:
        try:
            return self.canonical_sobject(name)
        except RequestError as exc:
            raise RequestError(
                400,
                "INVALID_TYPE",
                f"sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to "
                "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
            ) from exc

    def shape(self, sobject: str, record: dict[str, Any], fields: list[str], version: str) -> dict[str, Any]:
        """A query row: ``attributes`` then the selected fields with their API-name casing."""
        out: dict[str, Any] = {
            "attributes": {"type": sobject, "url": f"/services/data/{version}/sobjects/{sobject}/{record['Id']}"}
        }
        for path in fields:
            if "." in path:
                rel, _, sub = path.partition(".")
                ref_field = self._relationship_field(sobject, rel)
                rel_name = ref_field[:-2] if ref_field.endswith("Id") else ref_field[:-3] + "__r"
                target_id = record.get(ref_field)
                target = self.find(str(target_id)) if target_id else None
                if target is None:
                    out.setdefault(rel_name, None)
                    continue
                sub_obj = out.get(rel_name) or {
                    "attributes": {
                        "type": target[0],
                        "url": f"/services/data/{version}/sobjects/{target[0]}/{target[1]['Id']}",
                    }
                }
                sub_obj[self.field_name(target[0], sub)] = target[1].get(self.field_name(target[0], sub))
                out[rel_name] = sub_obj
            else:
                name = self.field_name(sobject, path)
                out[name] = record.get(name)
        return out
