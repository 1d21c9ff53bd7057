"""Whether a rep worked a HubSpot contact (first contact): one read of the contact with its lead status' history.

``GET /crm/v3/objects/contacts/{id}?properties=...&propertiesWithHistory=hs_lead_status``: the status now, the
activity dates HubSpot keeps itself (``notes_last_contacted``: the last call, email, meeting... logged;
``hs_last_sales_activity_timestamp``), and each change of the status with its ``timestamp`` (``ValueWithTimestamp``:
value, timestamp, sourceType, sourceId, ...), so we know when the status moved, not only that it did.
https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts/get-contact
https://knowledge.hubspot.com/properties/hubspots-default-contact-properties
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from adapters.retry import Deadline
from connector.worked import WorkedWhen, status_moved, when, worked_at

if TYPE_CHECKING:
    from adapters.hubspot.client import HubSpotCrm


def status_moved_at(spec: WorkedWhen, history: list[dict[str, Any]], since: datetime) -> datetime | None:
    """The first time since ``since`` the status took a worked value (history entries in any order)."""
    moved = [at for h in history
             if status_moved(spec, h.get("value")) and (at := when(h.get("timestamp"))) is not None and at >= since]
    return min(moved) if moved else None


def was_worked(client: HubSpotCrm, record_id: str, spec: WorkedWhen, since: datetime) -> datetime | None:
    """When the contact was first worked since ``since``; None if not (or no such contact)."""
    history_of = [spec.status_field] if spec.status_field else []
    status, c = client._request(
        lambda **kw: client._contacts_basic.get_by_id(record_id, properties=spec.fields,
                                                      properties_with_history=history_of, archived=False, **kw),
        Deadline(client.deadline_s), ok=(404,))
    if status == 404:
        return None
    props = c.get("properties") or {}
    moved_at = None
    if spec.status_field and status_moved(spec, props.get(spec.status_field)):
        history = (c.get("propertiesWithHistory") or {}).get(spec.status_field) or []
        # no entry since the clock started: it moved before (a rep worked it already), or the history is cut
        moved_at = status_moved_at(spec, history, since) or since
    return worked_at(spec, props, since, status_changed_at=moved_at)
