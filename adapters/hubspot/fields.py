"""HubSpot properties for `leadrelay crm check` / `setup`: read them, create leadrelay's own, say what to do by hand.

The CRM Properties API v3 through hubspot-api-client (``crm.properties.core_api`` / ``groups_api``):
- ``GET /crm/v3/properties/{objectType}``: every property of the object (``CollectionResponsePropertyNoPaging``);
- ``POST /crm/v3/properties/{objectType}``: create one (``PropertyCreate``: name, label, type, fieldType and
  groupName required; options for an enumeration); ``GET`` / ``POST /crm/v3/properties/{objectType}/groups``.
  https://developers.hubspot.com/docs/api/crm/properties and HubSpot's published OpenAPI specification
  (github.com/HubSpot/HubSpot-public-api-spec-collection, PublicApiSpecs/CRM/Properties/Rollouts/145899/v3/
  properties.json). A property's ``type`` is string, number, date, datetime, enumeration or bool; ``fieldType`` says
  how it shows (text, textarea, select, radio, checkbox, booleancheckbox, number, date, ...).
- Integrations that create properties should keep them in a group of their own (the guide, "Property groups"):
  leadrelay's go to the group ``leadrelay``, created when missing.
- ``email`` is a contact's unique identifier (usable as ``idProperty``) though it does not carry ``hasUniqueValue``:
  https://developers.hubspot.com/docs/api/crm/contacts ("Create or update a batch of contacts by unique property").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.retry import Deadline
from connector.errors import FatalError
from connector.mapping.fields import CrmFieldInfo, FieldCheck, FieldSpec, Kind

if TYPE_CHECKING:
    from adapters.hubspot.client import HubSpotCrm

GROUP = "leadrelay"
GROUP_LABEL = "Leadrelay"
# leadrelay's kinds -> (type, fieldType) of a property created for them
CREATE_AS: dict[str, tuple[str, str]] = {
    "text": ("string", "text"),
    "textarea": ("string", "textarea"),
    "number": ("number", "number"),
    "picklist": ("enumeration", "select"),
    "multipicklist": ("enumeration", "checkbox"),
    "bool": ("bool", "booleancheckbox"),
    "date": ("date", "date"),
    "datetime": ("datetime", "date"),
}
_SIMPLE: dict[str, Kind] = {"number": "number", "bool": "bool", "date": "date", "datetime": "datetime"}
_ENUM: dict[str, Kind] = {"checkbox": "multipicklist", "booleancheckbox": "bool"}
_UNIQUE_BY_HUBSPOT = {("contacts", "email")}
_OBJECT_LABEL = {"contacts": "Contact", "companies": "Company", "deals": "Deal", "tickets": "Ticket"}


def kind_of(prop: dict[str, Any]) -> Kind:
    """A property's kind: the owner property (owners are its options), else by type and fieldType."""
    ptype, field_type = str(prop.get("type")), str(prop.get("fieldType"))
    if str(prop.get("referencedObjectType") or "").upper() == "OWNER" or prop.get("name") == "hubspot_owner_id":
        return "owner"
    if ptype == "string":
        return "textarea" if field_type == "textarea" else "text"
    if ptype == "enumeration":
        return _ENUM.get(field_type, "picklist")
    return _SIMPLE.get(ptype, "other")


def field_info(object_type: str, prop: dict[str, Any]) -> CrmFieldInfo:
    meta = prop.get("modificationMetadata") or {}
    name = str(prop.get("name"))
    return CrmFieldInfo(
        object=object_type, name=name, kind=kind_of(prop), vendor_type=f"{prop.get('type')}/{prop.get('fieldType')}",
        options=tuple(str(o.get("value")) for o in prop.get("options") or () if not o.get("hidden")),
        unique=bool(prop.get("hasUniqueValue")) or (object_type, name) in _UNIQUE_BY_HUBSPOT,
        writable=not meta.get("readOnlyValue") and not prop.get("calculated"),
        custom=not prop.get("hubspotDefined"),
    )


def describe(client: HubSpotCrm, objects: list[str]) -> list[CrmFieldInfo]:
    """Every (not archived) property of each object."""
    out: list[CrmFieldInfo] = []
    for object_type in objects:
        deadline = Deadline(client.deadline_s)
        _, data = client._request(
            lambda o=object_type, **kw: client._properties.get_all(o, archived=False, **kw), deadline)
        out += [field_info(object_type, p) for p in data.get("results", [])]
    return out


def property_create(spec: FieldSpec) -> dict[str, Any]:
    """The ``PropertyCreate`` body for a field leadrelay owns."""
    custom = spec.custom
    if custom is None or custom.type not in CREATE_AS:
        kind = custom.type if custom else spec.kind
        raise FatalError(f"a HubSpot property of kind {kind!r} cannot be created",
                         hint="HubSpot properties hold text, numbers, dates, booleans or picklists; "
                              "point the mapping at one of those")
    ptype, field_type = CREATE_AS[custom.type]
    body: dict[str, Any] = {"name": spec.name, "label": custom.label, "type": ptype, "fieldType": field_type,
                            "groupName": GROUP, "description": custom.description, "formField": False,
                            "hasUniqueValue": custom.unique}
    if ptype == "enumeration":
        body["options"] = [{"label": o, "value": o, "displayOrder": i, "hidden": False}
                           for i, o in enumerate(spec.options)]
    elif ptype == "bool":  # a booleancheckbox carries its two options
        body["options"] = [{"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                           {"label": "No", "value": "false", "displayOrder": 1, "hidden": False}]
    return body


def _ensure_group(client: HubSpotCrm, object_type: str, deadline: Deadline) -> None:
    status, _ = client._request(
        lambda **kw: client._property_groups.get_by_name(object_type, GROUP, **kw), deadline, ok=(404,))
    if status == 404:
        body = {"name": GROUP, "label": GROUP_LABEL, "displayOrder": -1}
        client._request(lambda **kw: client._property_groups.create(object_type, body, **kw), deadline, ok=(409,))


def create(client: HubSpotCrm, spec: FieldSpec) -> str:
    """Create the property (in leadrelay's group, made first if missing); 409: someone made it meanwhile."""
    body = property_create(spec)
    deadline = Deadline(client.deadline_s)
    _ensure_group(client, spec.object, deadline)
    status, _ = client._request(
        lambda **kw: client._properties.create(spec.object, body, **kw), deadline, ok=(409,))
    if status == 409:
        return f"{spec.name} already exists (made meanwhile): run `leadrelay crm check`"
    return f"created {body['type']}/{body['fieldType']} property {spec.name} in group {GROUP}"


def manual_steps(check: FieldCheck) -> list[str]:
    """The clicks in HubSpot's settings for a property that is not ok."""
    spec = check.spec
    where = f"Settings → Data Management → Properties → {_OBJECT_LABEL.get(spec.object, spec.object)} properties"
    if check.status == "missing" and spec.custom is not None and spec.custom.type in CREATE_AS:
        ptype, field_type = CREATE_AS[spec.custom.type]
        steps = [f"{where} → Create property", f"Label “{spec.custom.label}”, internal name {spec.name}, "
                 f"group {GROUP_LABEL}", f"Field type: {field_type} ({ptype})"]
        if spec.options:
            steps.append("Options (label = internal value): " + ", ".join(spec.options))
        if spec.custom.unique:
            steps.append("Rules: require unique values for this property")
        return [*steps, "Create"]
    if check.status == "missing":
        return [f"{where}: {spec.name} is not there; check the mapping (mappings/crm/*.yaml) names a property "
                "this portal has"]
    if check.status == "picklist values missing":
        return [f"{where} → {spec.name} → Edit → Field type → add the options: {check.detail.removeprefix('add: ')}"]
    if check.status == "wrong type":
        return [f"{where} → {spec.name}: {check.detail}. leadrelay never changes an existing property: change "
                "its field type there, or map the value to another property"]
    return [f"{where} → {spec.name}: {check.detail}"]
