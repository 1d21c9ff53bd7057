"""Salesforce as a leadrelay CRM plugin (``adapters.crm.CrmPlugin``): Leads, Outbound Messages, OAuth.

An Outbound Message is a trigger, not a source of truth (Salesforce cannot sign one): the org id is checked before
any notification is read, a SessionId is verified with the org (``adapters.salesforce.session``), and the worker
re-reads each record by id through the API; no field value of the message is ever written or believed.

The client (``SalesforceCrm``, on simple-salesforce) is imported when first built, so the API and the registry
load this module cheaply.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from adapters.crm.plugin import (
    Answer,
    CallObserver,
    CrmEvent,
    Endpoint,
    OwnerChange,
    Received,
    WebhookRequest,
)
from adapters.observe import endpoint_of, safe_observe
from adapters.salesforce import outbound
from adapters.salesforce.session import SessionCheck
from connector.config import Config
from connector.mapping.fields import CrmFieldInfo, FieldCheck, FieldSpec
from connector.model import CrmRecord
from connector.ports import CrmClient
from connector.settings import Settings
from connector.worked import WorkedWhen, status_moved, when, worked_at

NAME = "salesforce"
OWNER_FIELD = "OwnerId"
SOURCE_MAPPING = "salesforce_lead"
BATCH_MAX = 200  # records per sObject Collections call (Salesforce REST API, "sObject Collections")
# calls count per day, not per second: a short window buys speed to lead
WRITE_WINDOW_MS = 50
# Fields Salesforce computes itself: sending one is refused (INVALID_FIELD_FOR_INSERT_UPDATE), so a mapping may not.
READ_ONLY = frozenset(
    {"Id", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp", "IsDeleted",
     "IsConverted", "ConvertedDate", "ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId",
     "MasterRecordId", "LastActivityDate", "LastViewedDate", "LastReferencedDate", "Name", "PhotoUrl"}
)


SESSIONS = SessionCheck()  # verified SessionIds, shared by this process's requests


def _is_integration_user(user_id: Any, settings: Settings) -> bool:
    """15- and 18-character ids of one user match on their (case-sensitive) first 15 characters."""
    return bool(user_id and settings.salesforce_user_id and str(user_id)[:15] == settings.salesforce_user_id[:15])


def _allowed_orgs(settings: Settings, config: Config) -> set[str]:
    """The organization ids whose Outbound Messages we take: the setting plus the variable the mapping names."""
    allowed = set(settings.salesforce_org_ids)
    mapping = config.sources.get(SOURCE_MAPPING)
    env_name = mapping.inbound.allowed_org_ids_env if mapping is not None else None
    if env_name and os.environ.get(env_name):
        allowed |= {x.strip() for x in os.environ[env_name].split(",") if x.strip()}
    return allowed


class SalesforcePlugin:
    name = NAME
    batch_max = BATCH_MAX
    write_window_ms = WRITE_WINDOW_MS
    owner_field = OWNER_FIELD
    source_mapping = SOURCE_MAPPING
    read_only = READ_ONLY
    settings = ("salesforce_instance_url", "salesforce_domain", "salesforce_client_id", "salesforce_client_secret",
                "salesforce_username", "salesforce_private_key_file", "salesforce_session_id",
                "salesforce_api_version", "salesforce_org_ids", "salesforce_require_session_id", "salesforce_user_id",
        "ca_bundle")
    endpoint = Endpoint(
        summary="Salesforce Outbound Message (SOAP)",
        description="Up to 100 notifications; the organization id must be on the allow-list and a SessionId is "
                    "verified with the org; each notification only triggers a re-read of its record. Answered "
                    "with the SOAP Ack.",
        answer=str,
        handler_name="salesforce_outbound",
    )

    def configured(self, settings: Settings) -> bool:
        return bool(settings.salesforce_instance_url or settings.salesforce_client_id)

    def build_client(self, settings: Settings, redis: Any, *, deadline_s: float) -> CrmClient:
        from adapters.salesforce.client import SalesforceCrm

        client = SalesforceCrm.from_settings(settings, redis=redis, deadline_s=deadline_s)
        client.user_id = settings.salesforce_user_id  # until a login names the session's user
        return client

    def count_calls(self, client: CrmClient, observe: CallObserver) -> None:
        """A response hook on the adapter's requests session (OAuth and REST calls alike)."""

        def hook(resp: Any, *args: Any, **kwargs: Any) -> Any:
            safe_observe(observe, NAME, endpoint_of(resp.request.method, resp.request.url), int(resp.status_code))
            return resp

        client.auth.session.hooks["response"].append(hook)  # type: ignore[attr-defined]

    def receive(self, request: WebhookRequest, *, settings: Settings, config: Config, now: datetime) -> Received:
        """The org is checked before a notification is read; a SessionId is verified with the org (a call back to
        the configured instance, cached): blocking I/O, so the API runs this off its event loop."""
        message = outbound.parse_outbound(request.body, _allowed_orgs(settings, config))
        SESSIONS.verify(message, settings)
        deliveries = outbound.outbound_deliveries(message, received_at=now)
        return Received(deliveries=deliveries, records=len(message.notifications))

    def answer(self, received: Received, *, accepted: int, duplicate: int) -> Answer:
        # without Ack true Salesforce sends the message again
        return Answer(body=outbound.ack(True), media_type="text/xml; charset=utf-8")

    def read_event(self, payload: Mapping[str, Any], settings: Settings) -> CrmEvent:
        """Our own write: LastModifiedById is the integration user — dropped unread (a forged one can only make us
        skip a message). Anything else is a trigger: the worker re-reads the record by id (``read_record``)."""
        rid = str(payload.get("Id") or "")
        return CrmEvent(record_id=rid, echo=_is_integration_user(payload.get("LastModifiedById"), settings),
                        reread=True)

    def read_record(self, record: CrmRecord, settings: Settings) -> CrmEvent:
        """The record as the API answered it: our own write (LastModifiedById is the integration user), its owner
        (a person's change unless it is the owner we wrote), and what the source mapping reads."""
        by = record.fields.get("LastModifiedById")
        change = None
        if record.owner_id:
            change = OwnerChange(owner=str(record.owner_id), by=f"salesforce user {by}", unless_written=True)
        return CrmEvent(record_id=record.id, echo=_is_integration_user(by, settings), owner_change=change,
                        record=record, mapping_input=self.mapping_input(record), changes=dict(record.fields),
                        occurred_at=when(record.fields.get("LastModifiedDate")))

    def mapping_input(self, record: CrmRecord) -> dict[str, Any]:
        return {k: v for k, v in record.fields.items() if v is not None}

    def describe_fields(self, client: CrmClient, objects: Sequence[str]) -> list[CrmFieldInfo]:
        from adapters.salesforce import fields

        return fields.describe(client, list(objects))  # type: ignore[arg-type]  # our own SalesforceCrm

    def create_field(self, client: CrmClient, spec: FieldSpec) -> str:
        from adapters.salesforce import fields

        return fields.create(client, spec)  # type: ignore[arg-type]

    def manual_steps(self, check: FieldCheck) -> list[str]:
        from adapters.salesforce import fields

        return fields.manual_steps(check)

    def record_url(self, settings: Settings, record_id: str) -> str:
        """{instance}/{record id}: Salesforce opens any record from its id, in Lightning or Classic, whichever the
        person uses (a Lead or the matched Contact alike)."""
        if not settings.salesforce_instance_url or not record_id:
            return ""
        return f"{settings.salesforce_instance_url.rstrip('/')}/{record_id}"

    def was_worked(self, client: CrmClient, record_id: str, spec: WorkedWhen, since: datetime) -> datetime | None:
        """One read of the record (``GET sobjects/Lead/{id}`` answers every field): its Status, LastActivityDate
        (the latest event or closed task: a logged call or email) and LastModifiedDate. Without field history the
        time a Status moved is not known: the last modification is the latest it can have been."""
        record = client.get(record_id)
        if record is None:
            return None
        fields = record.fields
        moved_at = None
        if spec.status_field and status_moved(spec, fields.get(spec.status_field)):
            moved_at = when(fields.get("LastModifiedDate")) or since
        return worked_at(spec, fields, since, status_changed_at=moved_at)


PLUGIN = SalesforcePlugin()
