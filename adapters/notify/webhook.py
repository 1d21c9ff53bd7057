"""A generic outbound webhook: the notice as JSON, signed with Standard Webhooks (https://www.standardwebhooks.com).

The body is ``{"type": <event type>, "timestamp": ..., "data": <Notice>}``; the headers ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` come from ``adapters.forms.standard_webhooks.sign``. The types:

- ``lead.routed``: a lead was given to its owner (or a queue), or a held lead was released to them;
- ``lead.sla_reminder``: the owner has not worked it by its first-contact deadline;
- ``lead.sla_escalated``: the owner's manager is told so;
- ``lead.reassigned``: it was taken from its owner and given to the rep told (``data.owner_id``).

``webhook-id`` is the receiver's idempotency key: stable per lead, type and person told, so a retried delivery is
recognised as the same one, while each follow-through notice is a delivery of its own (receivers that dedupe on
the id would drop a reminder that reused the routing's).
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec

from adapters.forms.standard_webhooks import sign
from adapters.notify.http import post
from adapters.notify.notice import Notice

EVENT = "lead.routed"
SLA_REMINDER = "lead.sla_reminder"
SLA_ESCALATED = "lead.sla_escalated"
REASSIGNED = "lead.reassigned"

_encoder = msgspec.json.Encoder()


def message_id(lead_id: str, event: str, target: str) -> str:
    """A delivery id stable across retries of one notice: of ``event`` about ``lead_id`` to ``target`` (the rep,
    manager or queue told)."""
    digest = hashlib.sha256(f"{event}\x00{lead_id}\x00{target}".encode()).hexdigest()[:24]
    return f"msg_{digest}"


def body(notice: Notice, *, now: float, event: str = EVENT) -> bytes:
    envelope: dict[str, Any] = {
        "type": event,
        "timestamp": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
        "data": notice,
    }
    return _encoder.encode(envelope)


async def send_webhook(client: httpx.AsyncClient, url: str, secret: str, notice: Notice, *,
                       now: float | None = None, event: str = EVENT, target: str | None = None) -> str:
    """POST the signed notice of ``event`` to ``url``, told to ``target`` (the notice's owner when None); return the
    ``webhook-id`` sent. Errors are classified (see http.py)."""
    stamp = time.time() if now is None else now
    content = body(notice, now=stamp, event=event)
    msg_id = message_id(notice.lead_id, event, notice.owner_id if target is None else target)
    headers = {"content-type": "application/json", **sign(secret, msg_id, int(stamp), content)}
    await post(client, url, content=content, headers=headers, what="outbound webhook")
    return msg_id
