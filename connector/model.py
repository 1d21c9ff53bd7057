"""The canonical lead: one shape for every source, every CRM and every rule.

Every field has a default so that jobs already queued (encoded with an older
version of this model) still decode after a field is added.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class Identity(msgspec.Struct, kw_only=True, frozen=True):
    email: str | None = None
    phone: str | None = None  # E.164 once normalized
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None


class Company(msgspec.Struct, kw_only=True, frozen=True):
    name: str | None = None
    normalized_name: str | None = None  # the company key: "I.B.M.", "IBM Corp." -> "ibm"
    domain: str | None = None  # registrable domain, e.g. "acme.co.uk"
    website: str | None = None
    size: int | None = None  # employees (lower bound of a range such as "50-200")
    size_max: int | None = None
    industry: str | None = None
    revenue: float | None = None  # annual, in USD
    country: str | None = None  # ISO 3166-1 alpha-2
    region: str | None = None  # ISO 3166-2 subdivision code, e.g. "US-NY"
    postal_code: str | None = None
    city: str | None = None


class Role(msgspec.Struct, kw_only=True, frozen=True):
    title: str | None = None
    seniority: str | None = None  # c_level, vp, director, manager, individual
    department: str | None = None


class Origin(msgspec.Struct, kw_only=True, frozen=True):
    source: str = "unknown"  # source system: form, typeform, hubspot, salesforce, csv
    channel: str | None = None  # web, paid, event, list, crm
    form: str | None = None
    external_ids: dict[str, str] = {}  # CRM name -> record id
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    referrer: str | None = None
    submitted_at: datetime | None = None
    delivery_id: str | None = None


class Consent(msgspec.Struct, kw_only=True, frozen=True):
    basis: str | None = None  # consent, legitimate_interest, contract
    email_opt_in: bool | None = None
    timestamp: datetime | None = None


class Intent(msgspec.Struct, kw_only=True, frozen=True):
    requests: tuple[str, ...] = ()  # demo, pricing, contact_sales, trial
    message: str | None = None


class Event(msgspec.Struct, kw_only=True, frozen=True):
    kind: str  # page_view, download, webinar, pricing_visit, email_click
    at: datetime
    detail: str | None = None


class Lead(msgspec.Struct, kw_only=True, frozen=True):
    """One canonical lead. Nothing the sender gave is dropped: unmapped input is in `extra`; a text longer than its
    field's cap (``connector.limits``) keeps its first characters and the flag ``truncated:<field>`` says so."""

    id: str | None = None
    identity: Identity = Identity()
    company: Company = Company()
    role: Role = Role()
    origin: Origin = Origin()
    consent: Consent = Consent()
    intent: Intent = Intent()
    events: tuple[Event, ...] = ()
    answers: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    flags: tuple[str, ...] = ()  # e.g. "email_invalid", "email_free", "phone_invalid", "truncated:company.name"


_lead_decoder = msgspec.json.Decoder(Lead)
_encoder = msgspec.json.Encoder()


def lead_to_json(lead: Lead) -> bytes:
    """Encode a lead for a queue payload or the decision log."""
    return _encoder.encode(lead)


def lead_from_json(data: bytes | str) -> Lead:
    """Decode a lead; a bad value raises msgspec.ValidationError naming the field path."""
    return _lead_decoder.decode(data)


def lead_from_dict(data: dict[str, Any]) -> Lead:
    """Build a lead from plain data, validating types (errors name the field path)."""
    return msgspec.convert(data, Lead, strict=False)


class CrmRecord(msgspec.Struct, kw_only=True, frozen=True):
    """A record already known (in the CRM or the identity index), as a match candidate."""

    crm: str  # "hubspot" | "salesforce" | "index"
    id: str
    kind: str  # "lead" | "contact" | "account"
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    domain: str | None = None
    country: str | None = None
    owner_id: str | None = None  # CRM owner id of the record (account owner for accounts)
    account_id: str | None = None  # for leads/contacts: the account/company they belong to
    fields: dict[str, Any] = {}
