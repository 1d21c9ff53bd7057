"""Salesforce fields for `leadrelay crm check` / `setup`: describe them, create leadrelay's own, say what to do by hand.

- Describe: ``GET /services/data/vXX.X/sobjects/{sObject}/describe`` lists the fields the session's user can see,
  each with type, length, createable/updateable, externalId/unique, picklistValues, restrictedPicklist, referenceTo:
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm and the
  Field properties of DescribeSObjectResult:
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_describesobjects_describesobjectresult.htm
- Create: the Tooling API's ``CustomField`` (``POST /services/data/vXX.X/tooling/sobjects/CustomField`` with
  ``FullName`` = ``Lead.Name__c`` and ``Metadata`` = the Metadata API's CustomField as JSON), through
  simple-salesforce's ``toolingexecute``:
  https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_api_objects_customfield.htm
  and the CustomField metadata type (type Text/LongTextArea/Number/Checkbox/Date/DateTime/Picklist/
  MultiselectPicklist/Lookup, length, precision/scale, externalId, unique, valueSet, referenceTo):
  https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/customfield.htm
  Chosen over the SOAP Metadata API (``sf.mdapi.CustomField.create``): the same CustomField, as one JSON REST call
  on the session leadrelay already has, where mdapi needs zeep, the Metadata WSDL and a SOAP endpoint.
- A field created through the API is visible to no profile until field-level security grants it, so it would
  not show in describe nor be writable. After creating it, Read and Edit are granted to the permission set owned by
  the integration user's profile with a ``FieldPermissions`` record (REST sObject create; ``IsOwnedByProfile``):
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_fieldpermissions.htm
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_permissionset.htm
  Creating needs the "Customize Application" permission; without it the manual steps are printed instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.retry import Deadline
from adapters.salesforce.errors import SalesforceRefusal
from adapters.salesforce.lookup import soql_quote
from connector.errors import FatalError
from connector.mapping.fields import CrmFieldInfo, FieldCheck, FieldSpec, Kind

if TYPE_CHECKING:
    from adapters.salesforce.client import SalesforceCrm

_KINDS: dict[str, Kind] = {
    "string": "text", "email": "text", "phone": "text", "url": "text", "encryptedstring": "text", "combobox": "text",
    "textarea": "textarea", "int": "number", "double": "number", "currency": "number", "percent": "number",
    "long": "number", "boolean": "bool", "date": "date", "datetime": "datetime", "picklist": "picklist",
    "multipicklist": "multipicklist", "reference": "reference",
}
_OWNER_TARGETS = {"User", "Group"}
# leadrelay's kinds -> the CustomField metadata type created for them (text longer than 255: LongTextArea)
CREATE_AS = {"text": "Text", "textarea": "LongTextArea", "number": "Number", "picklist": "Picklist",
             "multipicklist": "MultiselectPicklist", "bool": "Checkbox", "date": "Date", "datetime": "DateTime",
             "reference": "Lookup"}
_UI_TYPE = {"Text": "Text", "LongTextArea": "Text Area (Long)", "Number": "Number", "Picklist": "Picklist",
            "MultiselectPicklist": "Picklist (Multi-Select)", "Checkbox": "Checkbox", "Date": "Date",
            "DateTime": "Date/Time", "Lookup": "Lookup Relationship"}


def kind_of(field: dict[str, Any]) -> Kind:
    kind = _KINDS.get(str(field.get("type")), "other")
    if kind == "reference" and _OWNER_TARGETS & set(field.get("referenceTo") or ()):
        return "owner"
    return kind


def field_info(sobject: str, f: dict[str, Any]) -> CrmFieldInfo:
    kind = kind_of(f)
    refs = tuple(str(r) for r in f.get("referenceTo") or ())
    vendor = f"{f.get('type')}({f.get('length')})" if kind in ("text", "textarea") else str(f.get("type"))
    return CrmFieldInfo(
        object=sobject, name=str(f.get("name")), kind=kind,
        vendor_type=f"{vendor} → {', '.join(refs)}" if refs else vendor,
        options=tuple(str(v.get("value")) for v in f.get("picklistValues") or () if v.get("active", True)),
        # upserting by a field needs it to be an External ID
        restricted=bool(f.get("restrictedPicklist")), unique=bool(f.get("externalId")),
        writable=bool(f.get("createable")) and bool(f.get("updateable")),
        length=int(f["length"]) if kind in ("text", "textarea") and f.get("length") else None,
        references=refs, custom=bool(f.get("custom")),
    )


def describe(client: SalesforceCrm, objects: list[str]) -> list[CrmFieldInfo]:
    """Every field of each sObject the integration user can see."""
    out: list[CrmFieldInfo] = []
    for sobject in objects:
        path = f"sobjects/{sobject}/describe"

        def call(sf: Any, p: str = path) -> Any:
            return sf.restful(p, timeout=client.timeout_s)

        data: dict[str, Any] = client._call(call, deadline=Deadline(client.deadline_s))
        out += [field_info(sobject, f) for f in (data or {}).get("fields", [])]
    return out


def metadata(spec: FieldSpec) -> dict[str, Any]:
    """The CustomField metadata (Tooling API ``Metadata``) for a field leadrelay owns."""
    custom = spec.custom
    if custom is None or not spec.name.endswith("__c"):
        raise FatalError(f"{spec.object}.{spec.name} is not a custom field leadrelay owns",
                         hint="custom fields are named ...__c and declared with `custom:` in the mapping")
    kind = "textarea" if custom.type == "text" and spec.text_length() > 255 else custom.type
    meta: dict[str, Any] = {"label": custom.label, "type": CREATE_AS[kind], "description": custom.description}
    if kind == "text":
        meta["length"] = spec.text_length()
    elif kind == "textarea":
        meta.update(length=max(spec.text_length(), 32768), visibleLines=5)
    elif kind == "number":
        meta.update(precision=18, scale=2)
    elif kind == "bool":
        meta["defaultValue"] = "false"
    elif kind in ("picklist", "multipicklist"):
        values = [{"fullName": o, "label": o, "default": False} for o in spec.options]
        meta["valueSet"] = {"restricted": True, "valueSetDefinition": {"sorted": False, "value": values}}
        if kind == "multipicklist":
            meta["visibleLines"] = 4
    elif kind == "reference":
        meta.update(referenceTo=custom.references, relationshipName=spec.name[:-3], deleteConstraint="SetNull",
                    relationshipLabel=f"{spec.object}s ({custom.label})")
    if custom.unique:
        meta.update(externalId=True, unique=True, caseSensitive=False)
    return meta


def _profile_permission_set(client: SalesforceCrm, deadline: Deadline) -> str | None:
    if not client.user_id:
        return None
    soql = f"SELECT ProfileId FROM User WHERE Id = {soql_quote(client.user_id)}"
    user = client._call(lambda sf: sf.query(soql), deadline=deadline)
    rows = user.get("records") or []
    if not rows or not rows[0].get("ProfileId"):
        return None
    owned = ("SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = true AND ProfileId = "
             + soql_quote(rows[0]["ProfileId"]))
    found = client._call(lambda sf: sf.query(owned), deadline=deadline).get("records") or []
    return str(found[0]["Id"]) if found else None


def _grant(client: SalesforceCrm, spec: FieldSpec, deadline: Deadline) -> bool:
    """Read and Edit on the field for the integration user's profile; False when its profile is not known."""
    parent = _profile_permission_set(client, deadline)
    if parent is None:
        return False
    body = {"ParentId": parent, "SobjectType": spec.object, "Field": f"{spec.object}.{spec.name}",
            "PermissionsRead": True, "PermissionsEdit": True}
    try:
        client._call(lambda sf: sf.restful("sobjects/FieldPermissions", method="POST", json=body,
                                           timeout=client.timeout_s), deadline=deadline)
    except SalesforceRefusal as exc:
        if exc.error_code != "DUPLICATE_VALUE":  # granted already
            raise
    return True


def create(client: SalesforceCrm, spec: FieldSpec) -> str:
    """Create the custom field (Tooling API), then grant it to the integration user's profile."""
    meta = metadata(spec)
    body = {"FullName": f"{spec.object}.{spec.name}", "Metadata": meta}
    deadline = Deadline(client.deadline_s)
    made = "created"
    try:
        client._call(lambda sf: sf.toolingexecute("sobjects/CustomField", method="POST", data=body,
                                                  timeout=client.timeout_s), deadline=deadline)
    except SalesforceRefusal as exc:
        if exc.error_code != "DUPLICATE_DEVELOPER_NAME":
            raise
        made = "found (hidden from the integration user)"  # it exists; only field-level security was missing
    if not _grant(client, spec, deadline):
        return (f"{made} {meta['type']} field {spec.object}.{spec.name}; grant Read and Edit on it to "
                "the integration user's profile (Setup → Object Manager → "
                f"{spec.object} → Fields & Relationships → {spec.name} → Set Field-Level Security)")
    return f"{made} {meta['type']} field {spec.object}.{spec.name}; Read/Edit granted to the " \
           "integration user's profile"


def _create_steps(spec: FieldSpec) -> list[str]:
    meta = metadata(spec)
    steps = [f"Setup → Object Manager → {spec.object} → Fields & Relationships → New",
             f"Data type: {_UI_TYPE[meta['type']]} → Next"]
    details = f"Field Label “{meta['label']}”, Field Name {spec.name.removesuffix('__c')} (API name {spec.name})"
    if "length" in meta:
        details += f", Length {meta['length']}"
    if meta["type"] == "Number":
        details += ", Length 16, Decimal Places 2"
    if meta["type"] == "Lookup":
        details += f", Related To {meta['referenceTo']}"
    if spec.options:
        details += ", values (one per line): " + ", ".join(spec.options) + ", restricted"
    if meta.get("unique"):
        details += ", tick Unique and External ID"
    return [*steps, details + " → Next",
            "Field-Level Security: Visible for the integration user's profile (not Read-Only) → Next → Save"]


def manual_steps(check: FieldCheck) -> list[str]:
    """The clicks in Salesforce Setup for a field that is not ok."""
    spec = check.spec
    where = f"Setup → Object Manager → {spec.object} → Fields & Relationships"
    if check.status == "missing" and spec.custom is not None and spec.name.endswith("__c"):
        return _create_steps(spec)
    if check.status in ("missing", "read-only"):
        return [f"{where} → {spec.name} → Set Field-Level Security: Visible, not Read-Only, for the integration "
                "user's profile (a field hidden from it is missing to leadrelay)"]
    if check.status == "picklist values missing":
        return [f"{where} → {spec.name} → Values → New: {check.detail.removeprefix('add: ')}"]
    if check.status == "wrong type":
        return [f"{where} → {spec.name}: {check.detail}. leadrelay never changes an existing field: Change Field "
                "Type there (Salesforce warns what data it keeps), or map the value to another field"]
    return [f"{where} → {spec.name}: {check.detail}"]
