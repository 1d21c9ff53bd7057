"""The ports: what the core expects of the outside world, as data and protocols.

Adapters implement these; the worker wires them. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import msgspec

from connector.model import CrmRecord


class Delivery(msgspec.Struct, kw_only=True, frozen=True):
    """One accepted inbound delivery, as queued for the worker (msgspec-encoded, not pickled).

    ``source`` is the adapter ("form", "typeform", "hubspot", "salesforce", "csv");
    ``payload`` is one record's parsed body (one form submission, one Typeform
    form_response, one HubSpot event, one Salesforce notification's sObject).
    """

    source: str
    delivery_id: str  # the idempotency key of this delivery (per record)
    received_at: datetime
    payload: dict[str, Any]
    form: str | None = None  # mapping name for forms / typeform
    lane: str = "live"  # "live" (a person just submitted) or "bulk" (imports, backfill)


class Owner(msgspec.Struct, kw_only=True, frozen=True):
    """A CRM user who can own records (HubSpot owner, Salesforce User)."""

    crm: str
    id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    active: bool = True


class WriteItem(msgspec.Struct, kw_only=True, frozen=True):
    """One record to create-or-update. ``key`` is stable per lead so a replay writes nothing twice:
    HubSpot upserts on ``email`` (idProperty), Salesforce on the external id field."""

    key: str  # lead id; also the idempotency key
    fields: dict[str, Any]  # CRM field/property names -> values (already mapped)
    record_id: str | None = None  # existing CRM record to update, when known
    object_type: str = "lead"  # salesforce: "Lead" | "Contact"; hubspot: "contacts"
    account_id: str | None = None  # HubSpot company to associate / Salesforce account field
    lane: str = "live"


class WriteOutcome(msgspec.Struct, kw_only=True, frozen=True):
    key: str
    status: str  # "written" | "retryable" | "permanent"
    record_id: str | None = None
    created: bool = False
    message: str | None = None  # the CRM's own message, kept for the dead-letter list
    error_code: str | None = None
    retry_after: float | None = None


class CrmClient(Protocol):
    """What the worker needs of a CRM. Adapters implement it with the vendor's real library (sync)."""

    name: str  # "hubspot" | "salesforce"

    def find(self, emails: Sequence[str], domains: Sequence[str] = ()) -> list[CrmRecord]:
        """Existing people (by email) and accounts (by domain), in as few calls as the vendor allows."""
        ...

    def write(self, items: Sequence[WriteItem]) -> list[WriteOutcome]:
        """Upsert in vendor-sized batches; one outcome per item, failed rows never fail the batch."""
        ...

    def owners(self) -> list[Owner]:
        """Active users who can own records."""
        ...

    def accounts(self) -> list[CrmRecord]:
        """Every company/account with a domain (for the account index; a background job, paged)."""
        ...

    def get(self, record_id: str) -> CrmRecord | None:
        """One record by id (for a CRM webhook that carries only the id)."""
        ...

    def ping(self) -> bool:
        """True when the CRM answers with our credentials (for /ready)."""
        ...
