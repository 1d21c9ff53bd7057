"""The CRM plug-in boundary: everything leadrelay knows of one CRM, behind one small protocol.

A CRM is one folder in ``adapters/`` whose ``plugin.py`` holds ``PLUGIN`` (a ``CrmPlugin``), one line in
``adapters.crm.registry.PLUGINS``, and two mapping files: ``mappings/sources/<source_mapping>.yaml`` reads its
records, ``mappings/crm/<name>.yaml`` writes them. The worker and the API ask the plugin; they never name a CRM.

Everything crossing the boundary is plain data (msgspec Structs): the API hands ``receive`` the request's method,
URL, headers and body; the worker hands ``read_event`` a queued delivery's payload. ``leadrelay crm check`` /
``setup`` hand ``describe_fields`` / ``create_field`` the fields the CRM mappings write
(``connector.mapping.fields``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import msgspec

from connector.config import Config
from connector.mapping.fields import CrmFieldInfo, FieldCheck, FieldSpec
from connector.model import CrmRecord
from connector.ports import CrmClient, Delivery
from connector.settings import Settings
from connector.worked import WorkedWhen

CallObserver = Callable[[str, str, int], None]
"""Told of every CRM call: (crm, endpoint such as ``POST /crm/v3/objects/contacts/batch/upsert``, HTTP status)."""


class WebhookRequest(msgspec.Struct, kw_only=True, frozen=True):
    """One inbound webhook request, as plain data: the web framework stays in the API."""

    method: str
    url: str  # as the sender called it (LEADRELAY_PUBLIC_BASE_URL applied): signatures may cover it
    headers: dict[str, str]  # names in lower case
    body: bytes


class Received(msgspec.Struct, kw_only=True, frozen=True):
    """A verified and parsed webhook request: the deliveries to queue, and how many records it carried."""

    deliveries: list[Delivery]
    records: int  # events / notifications in the request (not every one need become a delivery)


class Answer(msgspec.Struct, kw_only=True, frozen=True):
    """The HTTP answer to the sender once the deliveries are queued."""

    body: bytes
    media_type: str
    status: int = 200


class Endpoint(msgspec.Struct, kw_only=True, frozen=True):
    """How ``POST /webhooks/{name}`` is documented in the OpenAPI schema."""

    summary: str
    description: str
    answer: Any  # the type of the 2xx body, for the schema: dict[str, Any], str, ...
    handler_name: str  # names the OpenAPI operation


class OwnerChange(msgspec.Struct, kw_only=True, frozen=True):
    """A person set the owner of a record we routed: their choice stands (kept on the lead)."""

    owner: str  # the owner the record has now
    by: str  # who set it, as the lead's owner_locked says
    unless_written: bool = False  # not a change when it is the owner we wrote (the message carries every field)


class CrmEvent(msgspec.Struct, kw_only=True, frozen=True):
    """What one of the CRM's own webhook deliveries says, read without I/O.

    The worker goes on: an echo is dropped; for a record we routed, ``owner_change`` (if any) is kept; else the
    record is new, carried here (``record`` with ``mapping_input``) or fetched with the client's ``get``.
    With ``reread`` the delivery is a trigger only (it cannot be authenticated well enough to believe its field
    values): the worker fetches the record by id and goes on with ``read_record`` of what the CRM answered."""

    record_id: str
    echo: bool = False  # our own write coming back
    owner_change: OwnerChange | None = None
    record: CrmRecord | None = None
    mapping_input: dict[str, Any] | None = None  # what the CRM's source mapping reads, with ``record``
    reread: bool = False  # believe nothing but the id: read the record from the CRM first
    # field -> its value now, for the fields the event says changed (all of a re-read record's): the worker
    # follows those the CRM mapping names (``behaviour``, ``recycle``) and tells first contact from them (a lead
    # status moved on, ``worked_when``); ``occurred_at``: when, if the CRM says
    changes: dict[str, Any] = {}
    occurred_at: datetime | None = None


class CrmPlugin(Protocol):
    """One CRM. ``name`` is its registry key, the ``LEADRELAY_CRM`` value and the source of its deliveries."""

    name: str
    batch_max: int  # records one write call may carry (the vendor's batch limit)
    write_window_ms: int  # how long a decided lead waits for others to share its write call, by default
    owner_field: str  # the field the owner is written to
    source_mapping: str  # the source mapping that reads its records (mappings/sources/<this>.yaml)
    read_only: frozenset[str]  # fields the CRM computes itself: a mapping may not write them
    settings: tuple[str, ...]  # the Settings fields it reads (LEADRELAY_<FIELD>)
    endpoint: Endpoint

    def configured(self, settings: Settings) -> bool:
        """True when the settings hold credentials for this CRM."""
        ...

    def build_client(self, settings: Settings, redis: Any, *, deadline_s: float) -> CrmClient:
        """The client on the vendor's library; ``redis`` (sync, or None) shares its rate limit between processes;
        its own retries stop at ``deadline_s``."""
        ...

    def count_calls(self, client: CrmClient, observe: CallObserver) -> None:
        """Have ``observe`` told of every call ``client`` makes (at the HTTP layer of the vendor's library)."""
        ...

    def receive(self, request: WebhookRequest, *, settings: Settings, config: Config, now: datetime) -> Received:
        """Verify (signature, replay window, sender) and parse one webhook request. SignatureError -> 401,
        InputError -> 400 naming the field, RetryableError -> 503. It may block on a call to the CRM (the API runs
        it in a worker thread)."""
        ...

    def answer(self, received: Received, *, accepted: int, duplicate: int) -> Answer:
        """The answer the CRM expects once the deliveries are queued (``duplicate``: redeliveries skipped)."""
        ...

    def read_event(self, payload: Mapping[str, Any], settings: Settings) -> CrmEvent:
        """What one queued delivery from ``receive`` says."""
        ...

    def read_record(self, record: CrmRecord, settings: Settings) -> CrmEvent:
        """What a record fetched with ``get`` says, for an event with ``reread``: our own write (echo), its owner
        (an ``OwnerChange`` with ``unless_written``), and the record with its ``mapping_input``."""
        ...

    def mapping_input(self, record: CrmRecord) -> dict[str, Any]:
        """A record fetched with ``get``, in the shape the CRM's source mapping reads."""
        ...

    def describe_fields(self, client: CrmClient, objects: Sequence[str]) -> list[CrmFieldInfo]:
        """Every field of these CRM objects as the integration user sees it, in leadrelay's kinds."""
        ...

    def create_field(self, client: CrmClient, spec: FieldSpec) -> str:
        """Create one missing field leadrelay owns (``spec.custom``), usable by the integration user; returns what
        was done, in a line. A LeadrelayError when the CRM refuses (``manual_steps`` then say what to do)."""
        ...

    def manual_steps(self, check: FieldCheck) -> list[str]:
        """What an admin does by hand in the CRM for a field that is not ok (steps in its UI, in order)."""
        ...

    def record_url(self, settings: Settings, record_id: str) -> str:
        """Where a person opens this record in the CRM's own app (a notification's link); "" when the settings do
        not say enough to build it."""
        ...

    def was_worked(self, client: CrmClient, record_id: str, spec: WorkedWhen, since: datetime) -> datetime | None:
        """When a rep first worked the record since ``since`` (its status moved on, an activity was logged: the
        fields ``spec`` names), read through ``client`` (blocking: the worker runs it in a thread); None if not."""
        ...
