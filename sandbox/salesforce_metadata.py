"""Salesforce sandbox: sObject Describe, custom fields through the Tooling API, and field-level security.

- ``GET /services/data/vXX.X/sobjects/{sObject}/describe``: the object and every field the session's user can see
  (name, label, type, soapType, length, precision/scale, custom, nillable, createable/updateable, externalId,
  unique, idLookup, picklistValues, restrictedPicklist, referenceTo, relationshipName, ...):
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm and the
  Field properties of DescribeSObjectResult:
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_describesobjects_describesobjectresult.htm
- ``POST /services/data/vXX.X/tooling/sobjects/CustomField`` with ``FullName`` (``Lead.Name__c``) and ``Metadata``
  (the Metadata API's CustomField: label, type Text/LongTextArea/Number/Checkbox/Date/DateTime/Email/Phone/Url/
  Picklist/MultiselectPicklist/Lookup, length, precision/scale, visibleLines, valueSet, referenceTo,
  relationshipName, externalId, unique): 201 ``{"id": "00N...", "success": true, "errors": [], ...}``.
  https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_api_objects_customfield.htm
  https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/customfield.htm
  A field's API name begins with a letter, holds letters, digits and single underscores and ends in ``__c``
  (https://help.salesforce.com/s/articleView?id=sf.custom_field_attributes.htm). Invalid metadata is refused with
  FIELD_INTEGRITY_EXCEPTION, a name in use with DUPLICATE_DEVELOPER_NAME (messages ours).
- A field created through the API is visible to no profile until field-level security grants it: a
  ``FieldPermissions`` record (ParentId = a PermissionSet, SobjectType, Field ``Lead.Name__c`` — a restricted
  picklist of the org's fields —, PermissionsRead, PermissionsEdit, which needs Read) on the permission set a
  profile owns (``IsOwnedByProfile``, ``ProfileId``):
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_fieldpermissions.htm
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_permissionset.htm
  Sandbox simplification: every user has the one seeded profile (System Administrator), so a grant on any
  permission set shows the field to every session.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from typing import TYPE_CHECKING, Any

from sandbox.salesforce_schema import NOT_CREATABLE, PREFIX, RELATIONSHIPS, SCHEMA, F, RequestError, make_id, row_error

if TYPE_CHECKING:
    from sandbox.salesforce_org import Org
    from sandbox.salesforce_records import Ctx, Result

CUSTOMIZABLE = ("Lead", "Contact", "Account")  # the objects custom fields may be added to here
_DEV_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)$")
_SOAP = {"int": "xsd:int", "double": "xsd:double", "boolean": "xsd:boolean", "reference": "tns:ID", "id": "tns:ID",
         "datetime": "xsd:dateTime", "date": "xsd:date"}
_TEXT = ("string", "email", "textarea", "picklist", "multipicklist")
_RELATIONSHIP = {v: k for k, v in RELATIONSHIPS.items()}
_SIMPLE = {"Date": F("date"), "DateTime": F("datetime"), "Email": F("email", length=80),
           "Phone": F(length=40), "Url": F(length=255), "Checkbox": F("boolean", default=False)}


def leadrelay_custom(options: dict[str, Any]) -> dict[str, dict[str, F]]:
    """The org's visible custom fields: leadrelay's own with ``leadrelay_fields``, plus ``custom_fields``."""
    from sandbox.salesforce_schema import LEADRELAY_FIELDS

    out: dict[str, dict[str, F]] = {o: dict(f) for o, f in LEADRELAY_FIELDS.items()} \
        if options.get("leadrelay_fields") else {}
    for obj, fields in (options.get("custom_fields") or {}).items():
        out.setdefault(obj, {}).update({n: F(**s) if isinstance(s, dict) else s for n, s in fields.items()})
    return out


def seed_profiles(org: Org, users: list[dict[str, Any]]) -> None:
    """The System Administrator profile, the permission set it owns, and every user on it."""
    profile = make_id(PREFIX["Profile"], 1)
    org.tables["Profile"][profile] = {"Id": profile, "Name": "System Administrator", "IsDeleted": False}
    pset = make_id(PREFIX["PermissionSet"], 1)
    org.tables["PermissionSet"][pset] = {"Id": pset, "Name": "X00e_System_Administrator", "IsDeleted": False,
                                         "Label": "System Administrator", "IsOwnedByProfile": True,
                                         "ProfileId": profile}
    for user in users:
        user["ProfileId"] = profile


def visible_created(org: Org, sobject: str) -> dict[str, F]:
    """The fields created through the Tooling API that field-level security grants (Read; Edit to write)."""
    out: dict[str, F] = {}
    grants = [r for r in org.tables["FieldPermissions"].values() if r.get("PermissionsRead")]
    for name, spec in org.created_fields.get(sobject, {}).items():
        full = f"{sobject}.{name}".lower()
        mine = [r for r in grants if str(r.get("Field", "")).lower() == full]
        if mine:
            out[name] = dataclasses.replace(spec, writable=any(r.get("PermissionsEdit") for r in mine))
    return out


def field_permission_errors(org: Org, merged: dict[str, Any], existing: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A FieldPermissions record's own rules: Field names a field of SobjectType, Edit needs Read, one per field
    and permission set."""
    sobject, _, name = str(merged.get("Field") or "").partition(".")
    known = sobject in SCHEMA and sobject == merged.get("SobjectType") and any(
        n.lower() == name.lower() for n in {**SCHEMA[sobject], **org.custom_fields.get(sobject, {}),
                                            **org.created_fields.get(sobject, {})})
    if not known:
        return [row_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                          f"Field Name: bad value for restricted picklist field: {merged.get('Field')}", ["Field"])]
    if merged.get("PermissionsEdit") and not merged.get("PermissionsRead"):
        return [row_error("FIELD_INTEGRITY_EXCEPTION", "Read access is required for Edit access", ["PermissionsRead"])]
    full = f"{sobject}.{name}".lower()
    for r in org.tables["FieldPermissions"].values():
        same = r.get("ParentId") == merged.get("ParentId") and str(r.get("Field")).lower() == full
        if same and (existing is None or r["Id"] != existing["Id"]):
            return [row_error("DUPLICATE_VALUE", f"duplicate value found: Field duplicates value on record with id: "
                                                 f"{r['Id']}")]
    return []


def describe_field(name: str, f: F) -> dict[str, Any]:
    texty = f.type in _TEXT
    relationship = _RELATIONSHIP.get(name) or (name[:-3] + "__r" if name.endswith("__c") else
                                               name[:-2] if name.endswith("Id") else None)
    return {
        "name": name, "label": f.label or name, "type": f.type, "soapType": _SOAP.get(f.type, "xsd:string"),
        "length": f.length if texty else 0, "precision": 18 if f.type == "double" else 0,
        "scale": 2 if f.type == "double" else 0, "digits": 9 if f.type == "int" else 0,
        "custom": name.endswith("__c"), "nillable": not f.required and f.type != "boolean",
        "createable": f.writable, "updateable": f.writable, "defaultedOnCreate": f.default is not None,
        "defaultValue": f.default, "externalId": f.external_id, "unique": f.unique,
        "idLookup": f.external_id or f.type in ("id", "email"), "caseSensitive": False, "calculated": False,
        "picklistValues": [{"active": True, "defaultValue": v == f.default, "label": v, "validFor": None, "value": v}
                           for v in f.values],
        "restrictedPicklist": f.restricted, "referenceTo": list(f.refs),
        "relationshipName": relationship if f.type == "reference" else None,
        "filterable": True, "sortable": f.type != "textarea", "groupable": f.type not in ("double", "textarea"),
    }


def _fail(message: str, code: str = "FIELD_INTEGRITY_EXCEPTION") -> RequestError:
    return RequestError(400, code, message)


def _picklist(kind: str, meta: dict[str, Any]) -> F:
    value_set = meta.get("valueSet") or {}
    values = [v.get("fullName") for v in (value_set.get("valueSetDefinition") or {}).get("value") or ()]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise _fail("A picklist needs valueSet.valueSetDefinition.value, each with a fullName")
    return F(kind, length=255, values=tuple(values), restricted=bool(value_set.get("restricted")))


def _number(meta: dict[str, Any], name: str) -> F:
    precision, scale = meta.get("precision"), meta.get("scale", 0)
    if not isinstance(precision, int) or not 1 <= precision <= 18 or not isinstance(scale, int) \
            or not 0 <= scale <= precision:
        raise _fail(f"{name}: a Number needs precision 1..18 and scale 0..precision")
    return F("double")


def field_from_metadata(meta: dict[str, Any], name: str) -> F:  # one branch per field type
    """The field a CustomField's metadata describes; FIELD_INTEGRITY_EXCEPTION naming what is wrong."""
    kind, length = meta.get("type"), meta.get("length")
    if kind == "Text":
        if not isinstance(length, int) or not 1 <= length <= 255:
            raise _fail(f"{name}: a Text field needs a length of 1..255")
        out = F(length=length)
    elif kind == "LongTextArea":
        if not isinstance(length, int) or not 256 <= length <= 131072 or not meta.get("visibleLines"):
            raise _fail(f"{name}: a LongTextArea needs a length of 256..131072 and visibleLines")
        out = F("textarea", length=length)
    elif kind == "Number":
        out = _number(meta, name)
    elif kind in ("Picklist", "MultiselectPicklist"):
        out = _picklist("picklist" if kind == "Picklist" else "multipicklist", meta)
    elif kind == "Lookup":
        ref = meta.get("referenceTo")
        if ref not in SCHEMA or ref in NOT_CREATABLE or not meta.get("relationshipName"):
            raise _fail(f"{name}: a Lookup needs referenceTo (an object) and relationshipName")
        out = F("reference", refs=(ref,))
    elif kind in _SIMPLE:
        out = _SIMPLE[kind]
        if kind == "Checkbox" and meta.get("defaultValue") is None:
            raise _fail(f"{name}: a Checkbox needs a defaultValue")
    else:
        raise _fail(f"{name}: unknown field type {kind!r}")
    if (meta.get("externalId") or meta.get("unique")) and kind not in ("Text", "Number", "Email"):
        raise _fail(f"{name}: only Text, Number and Email fields can be External IDs or unique")
    return dataclasses.replace(out, label=str(meta["label"]), external_id=bool(meta.get("externalId")),
                               unique=bool(meta.get("unique")))


class MetadataOps:
    """Describe and the Tooling API's CustomField, mixed into ``SalesforceSandbox``."""

    org: Org
    _field_ids = itertools.count(1)

    def op_describe(self, ctx: Ctx, body: Any, sobject: str) -> Result:
        sobject = self.org.canonical_sobject(sobject)
        base = f"/services/data/{ctx.version}/sobjects/{sobject}"
        fields = [describe_field(n, f) for n, f in self.org.schema(sobject).items()]
        return 200, {"name": sobject, "label": sobject, "labelPlural": sobject + "s", "keyPrefix": PREFIX[sobject],
                     "custom": False, "createable": sobject not in NOT_CREATABLE, "updateable": True,
                     "deletable": sobject not in NOT_CREATABLE, "queryable": True, "fields": fields,
                     "urls": {"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}"}}

    def op_tooling_create(self, ctx: Ctx, body: Any, tobject: str) -> Result:
        if tobject.lower() != "customfield":
            raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")
        if not isinstance(body, dict) or not body.get("FullName") or not isinstance(body.get("Metadata"), dict):
            raise RequestError(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [FullName, Metadata]")
        sobject, _, name = str(body["FullName"]).partition(".")
        meta = body["Metadata"]
        if sobject not in CUSTOMIZABLE:
            raise _fail(f"Cannot add a custom field to {sobject or body['FullName']!r}")
        if not name.endswith("__c") or not _DEV_NAME.match(name[:-3]) or len(name) > 43:
            raise _fail(f"{name}: the API name must begin with a letter, hold only letters, digits and single "
                        "underscores, have at most 40 characters and end in __c")
        if not meta.get("label"):
            raise RequestError(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [label]")
        taken = {**self.org.schema(sobject), **self.org.created_fields.get(sobject, {})}
        if any(n.lower() == name.lower() for n in taken):
            raise _fail(f"There is already a field named {name[:-3]} on {sobject}.", "DUPLICATE_DEVELOPER_NAME")
        self.org.created_fields.setdefault(sobject, {})[name] = field_from_metadata(meta, name)
        field_id = make_id(PREFIX["CustomField"], next(self._field_ids))
        return 201, {"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []}
