"""The property schema the HubSpot sandbox enforces, and HubSpot's error shapes for bad values.

Sources:
- Default contact/company properties and their internal values:
  https://knowledge.hubspot.com/properties/hubspots-default-contact-properties
- Lifecycle stage internal values (subscriber ... evangelist, other):
  https://knowledge.hubspot.com/object-settings/create-and-customize-lifecycle-stages
- "Read-only and non-existent properties will result in an error. Properties values can be cleared by
  passing an empty string." — https://developers.hubspot.com/docs/api-reference/2026-03/crm/objects/contacts/batch/update-contacts.md
- Error body shape (status/message/correlationId/category, errors[] with message/code/context):
  https://developers.hubspot.com/docs/api-reference/latest/error-handling
- Read-only detection is by the property's modificationMetadata.readOnlyValue (Properties API).
- Required fields of the two error shapes, from HubSpot's published OpenAPI specifications
  (github.com/HubSpot/HubSpot-public-api-spec-collection, PublicApiSpecs/CRM/Contacts/Rollouts/424/v3/contacts.json
  and PublicApiSpecs/CRM/Associations/Rollouts/130902/v4/associations.json, ``components/schemas``):
  ``Error`` (a whole request refused) needs ``category``, ``correlationId``, ``message``; ``StandardError`` (one
  failed input inside a batch answer's ``errors[]``) needs ``category``, ``context``, ``errors``, ``links``,
  ``message``, ``status``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

LIFECYCLE_STAGES = (
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist",
    "other",
)
LEAD_STATUSES = (
    "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING",
)
NUMEMPLOYEES = ("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+")


@dataclass(frozen=True)
class Prop:
    name: str
    type: str = "string"  # string | number | enumeration | datetime | date | bool
    options: tuple[str, ...] = ()
    read_only: bool = False
    unique: bool = False  # hasUniqueValue: usable as idProperty
    field_type: str = ""  # how it shows (text, textarea, select, checkbox, ...); default by type
    label: str = ""
    group: str = ""  # its property group; default: the object's "...information" group
    description: str = ""
    hubspot_defined: bool = True  # one of HubSpot's own (false: a custom property someone created)
    owner: bool = False  # options are the portal's owners (hubspot_owner_id: referencedObjectType OWNER)


def _props(*items: Prop) -> dict[str, Prop]:
    return {p.name: p for p in items}


_READ_ONLY_COMMON = (
    Prop("hs_object_id", "number", read_only=True, unique=True),
    Prop("createdate", "datetime", read_only=True),
    Prop("lastmodifieddate", "datetime", read_only=True),
    Prop("hs_createdate", "datetime", read_only=True),
    Prop("hs_lastmodifieddate", "datetime", read_only=True),
    Prop("hs_all_owner_ids", read_only=True),
    Prop("hs_analytics_source", read_only=True),
    Prop("num_associated_deals", "number", read_only=True),
    # the ids a merge folded into this record, ";"-separated (set by HubSpot on the merged record)
    Prop("hs_merged_object_ids", read_only=True),
)

CONTACT_PROPERTIES = _props(
    *_READ_ONLY_COMMON,
    Prop("hs_is_contact", read_only=True),
    Prop("hs_lifecyclestage_lead_date", "datetime", read_only=True),
    # set by HubSpot when a call, email, meeting... is logged on the contact ("Last contacted", "Last engagement";
    # https://knowledge.hubspot.com/properties/hubspots-default-contact-properties): calculated, read-only
    Prop("notes_last_contacted", "datetime", read_only=True),
    Prop("hs_last_sales_activity_timestamp", "datetime", read_only=True),
    Prop("email", unique=True),
    # a contact's other addresses, ";"-separated; set by HubSpot (a merge keeps the merged contact's address here),
    # read-only through the v3 API (the v1 secondary-email endpoints write it). "The secondary email addresses for
    # a contact are included in the hs_additional_emails property":
    # https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/v1/get-contacts-v1-secondary-email-v-id
    Prop("hs_additional_emails", read_only=True),
    *(Prop(n) for n in ("firstname", "lastname", "phone", "mobilephone", "company", "website", "jobtitle",
                        "country", "state", "zip", "city", "address", "industry", "hs_language")),
    Prop("numemployees", "enumeration", NUMEMPLOYEES),
    Prop("annualrevenue", "number"),
    Prop("hubspot_owner_id", "enumeration", owner=True),  # options are the portal's owners
    Prop("lifecyclestage", "enumeration", LIFECYCLE_STAGES),
    Prop("hs_lead_status", "enumeration", LEAD_STATUSES),
    # web analytics and email information HubSpot itself counts (read-only through the API; they change as the
    # contact browses and clicks: ``HubSpotSandbox.track``)
    # https://knowledge.hubspot.com/properties/hubspots-default-contact-properties
    Prop("hs_analytics_num_page_views", "number", read_only=True),
    Prop("hs_email_click", "number", read_only=True),
)
# leadrelay's own custom properties, as `leadrelay crm setup` creates them: a fresh portal has none of them
# (``HubSpotSandbox(leadrelay_fields=True)``: a portal where setup has run). leadrelay_id has unique values.
LEADRELAY_CONTACT_PROPERTIES = _props(
    *(Prop(n, "number" if n == "leadrelay_score" else "string", unique=n == "leadrelay_id",
           field_type="textarea" if n in ("leadrelay_tags", "leadrelay_segments", "leadrelay_reason") else "",
           group="leadrelay", hubspot_defined=False, label=n.replace("_", " ").capitalize())
      for n in ("leadrelay_score", "leadrelay_grade", "leadrelay_tags", "leadrelay_segments", "leadrelay_reason",
                "leadrelay_id")),
    # why a rep lost the lead (the recycling reason the HubSpot mapping reads; an admin creates it)
    Prop("leadrelay_lost_reason", "enumeration", ("no_budget", "timing", "competitor", "no_response"),
         group="leadrelay", hubspot_defined=False, label="Leadrelay lost reason"),
)

COMPANY_PROPERTIES = _props(
    *_READ_ONLY_COMMON,
    *(Prop(n) for n in ("name", "domain", "website", "industry", "city", "state", "country", "zip", "phone",
                        "description")),
    Prop("numberofemployees", "number"),
    Prop("annualrevenue", "number"),
    Prop("hubspot_owner_id", "enumeration", owner=True),
    Prop("lifecyclestage", "enumeration", LIFECYCLE_STAGES),
)

# HubSpot's own properties of each object; each sandbox portal starts from these (``HubSpotSandbox.schemas``)
SCHEMAS: dict[str, dict[str, Prop]] = {"contacts": CONTACT_PROPERTIES, "companies": COMPANY_PROPERTIES}
# GET and search return these when no `properties` are asked for (search guide, "Default returned properties").
DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
}
OBJECT_LABEL = {"contacts": "Contact", "companies": "Company"}

Row = tuple[int, dict[str, Any]]  # (status, body): 2xx body is the result, else HubSpot's error body


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def norm(prop: str, value: Any) -> str:
    """A unique property's value as HubSpot compares it (emails case-insensitively)."""
    return str(value).strip().lower() if prop == "email" else str(value)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass
class PropertyError:
    name: str
    error: str  # PROPERTY_DOESNT_EXIST | READ_ONLY_VALUE | INVALID_OPTION | INVALID_DOUBLE | INVALID_EMAIL
    message: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"isValid": False, "message": self.message, "error": self.error, "name": self.name,
                "localizedErrorMessage": self.message, **self.extra}


def _options_text(options: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'label: "{o}"\nvalue: "{o}"\n' for o in options) + "]"


def validate(
    schema: dict[str, Prop], properties: dict[str, Any], *, owner_ids: tuple[str, ...] = ()
) -> list[PropertyError]:
    """Every problem HubSpot reports for these property values (empty string always clears); ``schema`` is the
    portal's properties of the object."""
    problems: list[PropertyError] = []
    for name, raw in properties.items():
        prop = schema.get(name)
        if prop is None:
            problems.append(PropertyError(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            continue
        if prop.read_only:
            problems.append(PropertyError(
                name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.'))
            continue
        value = "" if raw is None else str(raw)
        if value == "":
            continue
        options = owner_ids if prop.owner else prop.options
        if prop.type == "enumeration" and options and value not in options:
            problems.append(PropertyError(
                name, "INVALID_OPTION", f"{value} was not one of the allowed options: {_options_text(options)}",
                {"allowedOptions": list(options)}))
        elif prop.type == "number" and not _NUMBER.match(value):
            problems.append(PropertyError(name, "INVALID_DOUBLE", f"{value} is not a valid number"))
        elif name == "email" and not _EMAIL.match(value):
            problems.append(PropertyError(name, "INVALID_EMAIL", f"Email address {value} is invalid"))
    return problems


def correlation_id() -> str:
    return str(uuid.uuid4())


def validation_body(problems: list[PropertyError]) -> dict[str, Any]:
    """The 400 VALIDATION_ERROR body for invalid property values."""
    message = "Property values were not valid: " + json.dumps([p.as_dict() for p in problems], separators=(",", ":"))
    return {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": "VALIDATION_ERROR",
        "errors": [{"message": p.message, "code": p.error, "context": {"propertyName": [p.name]}} for p in problems],
    }


def error_body(category: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"status": "error", "message": message, "correlationId": correlation_id(), "category": category, **extra}


def standard_error(body: dict[str, Any], **context: list[str]) -> dict[str, Any]:
    """One entry of a batch answer's ``errors[]`` as the spec's ``StandardError``: every required field present
    (``errors`` and ``links`` empty when there is nothing to say), ``context`` merged."""
    return {"errors": [], "links": {}, **body, "status": "error",
            "context": {**(body.get("context") or {}), **context}}
