"""HubSpot as a leadrelay CRM plugin (``adapters.crm.CrmPlugin``): contacts, webhooks v3, private-app token.

The client (``HubSpotCrm``, on hubspot-api-client) is imported when first built, so the API and the registry
load this module cheaply.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from adapters.crm.plugin import (
    Answer,
    CallObserver,
    CrmEvent,
    Endpoint,
    OwnerChange,
    Received,
    WebhookRequest,
)
from adapters.hubspot import webhook
from adapters.observe import endpoint_of, safe_observe
from connector.config import Config
from connector.errors import SignatureError
from connector.mapping.fields import CrmFieldInfo, FieldCheck, FieldSpec
from connector.model import CrmRecord
from connector.ports import CrmClient
from connector.settings import Settings
from connector.worked import WorkedWhen

NAME = "hubspot"
OWNER_FIELD = "hubspot_owner_id"
SOURCE_MAPPING = "hubspot_contact"
BATCH_MAX = 100  # inputs per batch call (https://developers.hubspot.com/docs/api/crm/contacts, batch endpoints)
# 100-190 requests per 10 s need batches of ~20 at 100 leads/s: a lead waits up to 200 ms for others
WRITE_WINDOW_MS = 200
# Properties HubSpot computes itself: writing one is refused (READ_ONLY_VALUE), so a mapping may not.
READ_ONLY = frozenset(
    {"hs_object_id", "createdate", "lastmodifieddate", "hs_createdate", "hs_lastmodifieddate", "hs_all_owner_ids",
     "hs_analytics_source", "hs_is_contact", "hs_lifecyclestage_lead_date", "num_associated_deals",
     "hs_analytics_num_page_views", "hs_email_click", "notes_last_contacted",
     "hs_last_sales_activity_timestamp"}
)
# the API objects of HubSpotCrm whose HTTP layer is counted (each wraps one RESTClientObject)
_API_OBJECTS = ("_contacts_basic", "_contacts_batch", "_companies_search", "_owners", "_assoc_batch",
                "_properties", "_property_groups")
_json = msgspec.json.Encoder()


def _secret(settings: Settings, config: Config) -> str:
    """The app's client secret: the setting, else the variable the contact mapping names."""
    if settings.hubspot_webhook_secret:
        return settings.hubspot_webhook_secret
    mapping = config.sources.get(SOURCE_MAPPING)
    env_name = mapping.inbound.secret_env if mapping is not None else None
    value = os.environ.get(env_name) if env_name else None
    if not value:
        raise SignatureError("HubSpot webhooks has no signing secret configured",
                             hint=f"set {env_name or 'its secret_env'} in the environment")
    return value


class HubSpotPlugin:
    name = NAME
    batch_max = BATCH_MAX
    write_window_ms = WRITE_WINDOW_MS
    owner_field = OWNER_FIELD
    source_mapping = SOURCE_MAPPING
    read_only = READ_ONLY
    settings = ("hubspot_token", "hubspot_base_url", "hubspot_webhook_secret", "hubspot_rate_per_10s",
                "hubspot_app_id", "hubspot_portal_id", "hubspot_app_url", "ca_bundle")
    endpoint = Endpoint(
        summary="HubSpot webhook events (signature v3)",
        description="Up to 100 contact.creation / contact.propertyChange events; the worker fetches each contact.",
        answer=dict[str, Any],
        handler_name="hubspot_webhooks",
    )

    def configured(self, settings: Settings) -> bool:
        return bool(settings.hubspot_token)

    def build_client(self, settings: Settings, redis: Any, *, deadline_s: float) -> CrmClient:
        from adapters.hubspot.client import HubSpotCrm

        return HubSpotCrm.from_settings(settings, redis, deadline_s=deadline_s)

    def count_calls(self, client: CrmClient, observe: CallObserver) -> None:
        """Wrap the REST client of each HubSpot API object the adapter holds (per instance: nothing global)."""
        seen: set[int] = set()
        for attr in _API_OBJECTS:
            rest = getattr(client, attr).api_client.rest_client
            if id(rest) in seen:
                continue
            seen.add(id(rest))
            original = rest.request

            def request(method: str, url: str, *args: Any, _orig: Any = original, **kwargs: Any) -> Any:
                try:
                    resp = _orig(method, url, *args, **kwargs)
                except Exception as exc:
                    safe_observe(observe, NAME, endpoint_of(method, url), int(getattr(exc, "status", 0) or 0))
                    raise
                safe_observe(observe, NAME, endpoint_of(method, url), int(resp.status))
                return resp

            rest.request = request

    def receive(self, request: WebhookRequest, *, settings: Settings, config: Config, now: datetime) -> Received:
        webhook.verify(_secret(settings, config), request.method, request.url, request.headers, request.body,
                       now=now.timestamp(), tolerance_s=settings.replay_window_s)
        events = webhook.parse_events(request.body)
        return Received(deliveries=webhook.event_deliveries(events, received_at=now), records=len(events))

    def answer(self, received: Received, *, accepted: int, duplicate: int) -> Answer:
        body = {"events": received.records, "accepted": accepted, "duplicate": duplicate}
        return Answer(body=_json.encode(body), media_type="application/json")

    def read_event(self, payload: Mapping[str, Any], settings: Settings) -> CrmEvent:
        """Our own write: ``changeSource`` INTEGRATION with our app id. A person's owner change: a change of the
        owner property. Anything else about a contact we have not routed: fetch it (the event carries the id)."""
        ev = payload
        object_id = str(ev.get("object_id") or ev.get("objectId") or "")
        source, source_id = ev.get("change_source") or ev.get("changeSource"), ev.get("source_id") or ev.get("sourceId")
        ours = source == "INTEGRATION" and settings.hubspot_app_id is not None and \
            str(source_id) == str(settings.hubspot_app_id)
        prop = ev.get("property_name") or ev.get("propertyName")
        value = ev.get("property_value") if "property_value" in ev else ev.get("propertyValue")
        change = None
        if prop == OWNER_FIELD:
            change = OwnerChange(owner=str(value), by=f"hubspot user {source_id}")
        millis = ev.get("occurred_at") or ev.get("occurredAt")
        occurred = datetime.fromtimestamp(int(millis) / 1000, UTC) if isinstance(millis, int) else None
        # any other property change (a page-view count, the lead status) is the worker's to follow or not
        changes = {str(prop): value} if prop and prop != OWNER_FIELD else {}
        return CrmEvent(record_id=object_id, echo=ours, owner_change=change, changes=changes, occurred_at=occurred)

    def read_record(self, record: CrmRecord, settings: Settings) -> CrmEvent:
        """HubSpot's webhooks are signed, so ``read_event`` never asks for a re-read; a fetched contact is new."""
        return CrmEvent(record_id=record.id, record=record, mapping_input=self.mapping_input(record))

    def mapping_input(self, record: CrmRecord) -> dict[str, Any]:
        return {"id": record.id, "properties": record.fields}

    def describe_fields(self, client: CrmClient, objects: Sequence[str]) -> list[CrmFieldInfo]:
        from adapters.hubspot import fields

        return fields.describe(client, list(objects))  # type: ignore[arg-type]  # our own HubSpotCrm

    def create_field(self, client: CrmClient, spec: FieldSpec) -> str:
        from adapters.hubspot import fields

        return fields.create(client, spec)  # type: ignore[arg-type]

    def manual_steps(self, check: FieldCheck) -> list[str]:
        from adapters.hubspot import fields

        return fields.manual_steps(check)

    def record_url(self, settings: Settings, record_id: str) -> str:
        """The contact's page: {app}/contacts/{Hub ID}/record/0-1/{id} (0-1 is the contact object's type id,
        https://developers.hubspot.com/docs/api/crm/understanding-the-crm); needs LEADRELAY_HUBSPOT_PORTAL_ID."""
        if not settings.hubspot_portal_id or not record_id:
            return ""
        return f"{settings.hubspot_app_url.rstrip('/')}/contacts/{settings.hubspot_portal_id}/record/0-1/{record_id}"

    def was_worked(self, client: CrmClient, record_id: str, spec: WorkedWhen, since: datetime) -> datetime | None:
        from adapters.hubspot.client import HubSpotCrm
        from adapters.hubspot.worked import was_worked

        assert isinstance(client, HubSpotCrm)
        return was_worked(client, record_id, spec, since)


PLUGIN = HubSpotPlugin()
