"""HubSpot sandbox: the CRM Properties API v3 (read the portal's properties, create custom ones and groups).

Shapes from HubSpot's published OpenAPI specification (github.com/HubSpot/HubSpot-public-api-spec-collection,
PublicApiSpecs/CRM/Properties/Rollouts/145899/v3/properties.json) and the guide
(https://developers.hubspot.com/docs/api/crm/properties):

- ``GET /crm/v3/properties/{objectType}``: 200 ``CollectionResponsePropertyNoPaging`` (``results``: every
  property); a ``Property`` carries the required ``name``, ``label``, ``type``, ``fieldType``, ``groupName``,
  ``description``, ``options`` (``Option``: label, value, hidden, displayOrder), and ``hasUniqueValue``,
  ``hubspotDefined``, ``modificationMetadata`` (readOnlyValue ...), ``calculated``, ``externalOptions``, ``hidden``,
  ``formField``, ``displayOrder``, ``createdAt`` / ``updatedAt``, ``archived``. The owner property names the
  object its options come from (``referencedObjectType`` OWNER, ``externalOptions``).
- ``POST /crm/v3/properties/{objectType}``: ``PropertyCreate`` needs ``name``, ``label``, ``type`` (string, number,
  date, datetime, enumeration, bool), ``fieldType`` (textarea, text, date, file, number, select, radio, checkbox,
  booleancheckbox, calculation_equation) and ``groupName``; options for an enumeration. 201 with the ``Property``.
  The guide's "Property type and fieldType values" table says which fieldTypes go with which type. A name taken:
  409 (category OBJECT_ALREADY_EXISTS, from the error-handling page's categories:
  https://developers.hubspot.com/docs/api-reference/latest/error-handling). Unique-value properties: at most 10
  per object (the guide, "Create unique identifier properties").
- ``GET /crm/v3/properties/{objectType}/{propertyName}``: one ``Property``; 404 OBJECT_NOT_FOUND for none.
- ``GET`` / ``POST /crm/v3/properties/{objectType}/groups`` and ``GET .../groups/{groupName}``:
  ``PropertyGroup`` (name, label, displayOrder, archived); ``PropertyGroupCreate`` needs name and label.
Messages in our own words where HubSpot documents only the status and category.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from sandbox.hubspot_schema import Prop, Row, error_body, now_iso

if TYPE_CHECKING:
    from sandbox.hubspot import HubSpotSandbox

FIELD_TYPES = {  # type -> the fieldTypes it may show as
    "string": ("text", "textarea", "file", "calculation_equation"),
    "number": ("number", "calculation_equation"),
    "enumeration": ("select", "radio", "checkbox", "booleancheckbox"),
    "bool": ("booleancheckbox",),
    "date": ("date",),
    "datetime": ("date",),
}
DEFAULT_FIELD_TYPE = {"string": "text", "number": "number", "enumeration": "select", "bool": "booleancheckbox",
                      "date": "date", "datetime": "date"}
DEFAULT_GROUPS = {"contacts": ("contactinformation", "Contact information"),
                  "companies": ("companyinformation", "Company information")}
MAX_UNIQUE = 10
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def property_json(object_type: str, prop: Prop, stamp: str) -> dict[str, Any]:
    """A ``Property`` as the API returns it."""
    out: dict[str, Any] = {
        "name": prop.name, "label": prop.label or prop.name.replace("_", " ").capitalize(), "type": prop.type,
        "fieldType": prop.field_type or DEFAULT_FIELD_TYPE.get(prop.type, "text"),
        "groupName": prop.group or DEFAULT_GROUPS[object_type][0], "description": prop.description,
        "options": [{"label": o, "value": o, "hidden": False, "displayOrder": i} for i, o in enumerate(prop.options)],
        "displayOrder": -1, "hasUniqueValue": prop.unique, "hidden": False, "formField": not prop.read_only,
        "hubspotDefined": prop.hubspot_defined, "calculated": prop.read_only, "externalOptions": prop.owner,
        "modificationMetadata": {"archivable": not prop.hubspot_defined, "readOnlyDefinition": prop.hubspot_defined,
                                 "readOnlyValue": prop.read_only},
        "createdAt": stamp, "updatedAt": stamp, "archived": False,
    }
    if prop.owner:
        out["referencedObjectType"] = "OWNER"
    return out


def _refusal(body: dict[str, Any], groups: dict[str, dict[str, Any]]) -> str | None:
    """Why a ``PropertyCreate`` is invalid (None: it is not)."""
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
    if missing:
        return f"Missing required field(s): {', '.join(missing)}"
    ptype, field_type = body["type"], body["fieldType"]
    if ptype not in FIELD_TYPES:
        return f"type {ptype!r} is not one of {', '.join(FIELD_TYPES)}"
    if field_type not in FIELD_TYPES[ptype]:
        return f"fieldType {field_type!r} is not valid for type {ptype!r}: use {', '.join(FIELD_TYPES[ptype])}"
    if not _NAME.match(str(body["name"])):
        return "name must start with a lower-case letter and hold only lower-case letters, digits and underscores"
    if body["groupName"] not in groups:
        return f"property group {body['groupName']!r} does not exist"
    options = body.get("options")
    if ptype in ("enumeration", "bool") and not (isinstance(options, list) and options):
        return "options are required for an enumeration or bool property"
    return None


class HubSpotProperties:
    """The portal's properties and property groups, per object type (part of ``HubSpotSandbox``)."""

    schemas: dict[str, dict[str, Prop]]
    groups: dict[str, dict[str, dict[str, Any]]]
    _prop_stamp: dict[tuple[str, str], str]

    def reset_schemas(self, base: dict[str, dict[str, Prop]], extra: dict[str, dict[str, Prop]]) -> None:
        """The portal's properties: ``base`` (HubSpot's own) plus ``extra``, with their groups."""
        self.schemas = {t: {**props, **extra.get(t, {})} for t, props in base.items()}
        self.groups = {}
        for t, props in self.schemas.items():
            name, label = DEFAULT_GROUPS[t]
            self.groups[t] = {name: {"name": name, "label": label, "displayOrder": -1, "archived": False}}
            for p in props.values():
                if p.group and p.group not in self.groups[t]:
                    self.groups[t][p.group] = {"name": p.group, "label": p.group.capitalize(), "displayOrder": -1,
                                               "archived": False}
        stamp = now_iso()
        self._prop_stamp = {(t, n): stamp for t, props in self.schemas.items() for n in props}

    def _properties(self, object_type: str) -> Row:
        props = self.schemas[object_type]
        return 200, {"results": [property_json(object_type, p, self._prop_stamp[(object_type, n)])
                                 for n, p in props.items()]}

    def _property(self, object_type: str, name: str) -> Row:
        prop = self.schemas[object_type].get(name)
        if prop is None:
            return 404, error_body("OBJECT_NOT_FOUND", f"No property named '{name}' for {object_type}")
        return 200, property_json(object_type, prop, self._prop_stamp[(object_type, name)])

    def _create_property(self, object_type: str, body: Any) -> Row:
        if not isinstance(body, dict):
            return 400, error_body("VALIDATION_ERROR", "Invalid input JSON: a PropertyCreate object is required")
        why = _refusal(body, self.groups[object_type])
        if why:
            return 400, error_body("VALIDATION_ERROR", why)
        name = str(body["name"])
        if name in self.schemas[object_type]:
            return 409, error_body("OBJECT_ALREADY_EXISTS", f"A property named '{name}' already exists.")
        if body.get("hasUniqueValue") and sum(p.unique for p in self.schemas[object_type].values()) >= MAX_UNIQUE:
            return 400, error_body("VALIDATION_ERROR", f"At most {MAX_UNIQUE} unique value properties per object")
        options = tuple(str(o.get("value")) for o in body.get("options") or () if isinstance(o, dict))
        prop = Prop(name, str(body["type"]), options if body["type"] == "enumeration" else (),
                    unique=bool(body.get("hasUniqueValue")), field_type=str(body["fieldType"]),
                    label=str(body["label"]), group=str(body["groupName"]),
                    description=str(body.get("description") or ""), hubspot_defined=False)
        self.schemas[object_type][name] = prop
        self._prop_stamp[(object_type, name)] = now_iso()
        return 201, property_json(object_type, prop, self._prop_stamp[(object_type, name)])

    def _create_group(self, object_type: str, body: Any) -> Row:
        if not isinstance(body, dict) or not body.get("name") or not body.get("label"):
            return 400, error_body("VALIDATION_ERROR", "Missing required field(s): name, label")
        name = str(body["name"])
        if name in self.groups[object_type]:
            return 409, error_body("OBJECT_ALREADY_EXISTS", f"A property group named '{name}' already exists.")
        group = {"name": name, "label": str(body["label"]), "displayOrder": int(body.get("displayOrder", -1)),
                 "archived": False}
        self.groups[object_type][name] = group
        return 201, dict(group)

    def _group(self, object_type: str, name: str) -> Row:
        group = self.groups[object_type].get(name)
        if group is None:
            return 404, error_body("OBJECT_NOT_FOUND", f"No property group named '{name}' for {object_type}")
        return 200, dict(group)


def property_handlers(sb: HubSpotSandbox, t: str) -> list[Any]:
    """Properties API endpoints for one object type (static paths, so calls are counted per type)."""

    @get(f"/crm/v3/properties/{t}")
    async def list_properties(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await sb._call(request, lambda body: sb._properties(t))

    @post(f"/crm/v3/properties/{t}", status_code=201)
    async def create_property(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await sb._call(request, lambda body: sb._create_property(t, body))

    @get(f"/crm/v3/properties/{t}/{{property_name:str}}")
    async def get_property(request: Request[Any, Any, Any], property_name: FromPath[str]) -> Response[bytes]:
        return await sb._call(request, lambda body: sb._property(t, property_name))

    @get(f"/crm/v3/properties/{t}/groups")
    async def list_groups(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await sb._call(request, lambda body: (200, {"results": [dict(g) for g in sb.groups[t].values()]}))

    @post(f"/crm/v3/properties/{t}/groups", status_code=201)
    async def create_group(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await sb._call(request, lambda body: sb._create_group(t, body))

    @get(f"/crm/v3/properties/{t}/groups/{{group_name:str}}")
    async def get_group(request: Request[Any, Any, Any], group_name: FromPath[str]) -> Response[bytes]:
        return await sb._call(request, lambda body: sb._group(t, group_name))

    return [list_properties, create_property, get_property, list_groups, create_group, get_group]


__all__ = ["HubSpotProperties", "property_handlers", "property_json"]
