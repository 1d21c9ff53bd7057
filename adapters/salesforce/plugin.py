"""Salesforce as a leadrelay CRM plugin (``adapters.crm.CrmPlugin``): Leads, Outbound Messages, OAuth.

The client (``SalesforceCrm``, on simple-salesforce) is imported when first built, so the API and the registry
load this module cheaply.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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
from connector.config import Config
from connector.model import CrmRecord
from connector.ports import CrmClient
from connector.settings import Settings

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
                "salesforce_api_version", "salesforce_org_ids", "salesforce_user_id", "ca_bundle")
    endpoint = Endpoint(
        summary="Salesforce Outbound Message (SOAP)",
        description="Up to 100 notifications; the organization id must be on the allow-list; answered with the "
                    "SOAP Ack.",
        answer=str,
        handler_name="salesforce_outbound",
    )

    def configured(self, settings: Settings) -> bool:
        return bool(settings.salesforce_instance_url or settings.salesforce_client_id)

    def build_client(self, settings: Settings, redis: Any, *, deadline_s: float) -> CrmClient:
        from adapters.salesforce.client import SalesforceCrm

        return SalesforceCrm.from_settings(settings, redis=redis, deadline_s=deadline_s)

    def count_calls(self, client: CrmClient, observe: CallObserver) -> None:
        """A response hook on the adapter's requests session (OAuth and REST calls alike)."""

        def hook(resp: Any, *args: Any, **kwargs: Any) -> Any:
            safe_observe(observe, NAME, endpoint_of(resp.request.method, resp.request.url), int(resp.status_code))
            return resp

        client.auth.session.hooks["response"].append(hook)  # type: ignore[attr-defined]

    def receive(self, request: WebhookRequest, *, settings: Settings, config: Config, now: datetime) -> Received:
        message = outbound.parse_outbound(request.body)
        outbound.check_org(message, _allowed_orgs(settings, config))
        deliveries = outbound.outbound_deliveries(message, received_at=now)
        return Received(deliveries=deliveries, records=len(message.notifications))

    def answer(self, received: Received, *, accepted: int, duplicate: int) -> Answer:
        # without Ack true Salesforce sends the message again
        return Answer(body=outbound.ack(True), media_type="text/xml; charset=utf-8")

    def read_event(self, payload: Mapping[str, Any], settings: Settings) -> CrmEvent:
        """Our own write: LastModifiedById is the integration user. A person's owner change: an OwnerId other than
        the one we wrote (the message carries every field). A new lead: the message carries the record."""
        p = payload
        rid = str(p.get("Id") or "")
        by = p.get("LastModifiedById")
        ours = bool(by and settings.salesforce_user_id and str(by)[:15] == settings.salesforce_user_id[:15])
        change = None
        if p.get("OwnerId"):
            change = OwnerChange(owner=str(p["OwnerId"]), by=f"salesforce user {by}", unless_written=True)
        record = CrmRecord(crm=NAME, id=rid, kind="lead", email=p.get("Email"), owner_id=p.get("OwnerId"),
                           company=p.get("Company"), fields={k: v for k, v in p.items() if v is not None})
        return CrmEvent(record_id=rid, echo=ours, owner_change=change, record=record, mapping_input=dict(p))

    def mapping_input(self, record: CrmRecord) -> dict[str, Any]:
        return dict(record.fields)


PLUGIN = SalesforcePlugin()
