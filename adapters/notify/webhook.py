"""A generic outbound webhook: the notice as JSON, signed with Standard Webhooks (https://www.standardwebhooks.com).

The body is ``{"type": "lead.routed", "timestamp": ..., "data": <Notice>}``; the headers ``webhook-id`` (stable
per lead and event, so a retried delivery is recognised by the receiver as the same one), ``webhook-timestamp``
and ``webhook-signature`` come from ``adapters.forms.standard_webhooks.sign``.
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

_encoder = msgspec.json.Encoder()


def message_id(notice: Notice, event: str = EVENT) -> str:
    """A delivery id stable across retries of the same notice (the receiver's idempotency key)."""
    digest = hashlib.sha256(f"{event}\x00{notice.lead_id}\x00{notice.owner_id}".encode()).hexdigest()[:24]
    return f"msg_{digest}"


def body(notice: Notice, *, now: float, event: str = EVENT) -> bytes:
    envelope: dict[str, Any] = {
        "type": event,
        "timestamp": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
        "data": notice,
    }
    return _encoder.encode(envelope)


async def send_webhook(client: httpx.AsyncClient, url: str, secret: str, notice: Notice, *,
                       now: float | None = None, event: str = EVENT) -> str:
    """POST the signed notice to ``url``; return the ``webhook-id`` sent. Errors are classified (see http.py)."""
    stamp = time.time() if now is None else now
    content = body(notice, now=stamp, event=event)
    msg_id = message_id(notice, event)
    headers = {"content-type": "application/json", **sign(secret, msg_id, int(stamp), content)}
    await post(client, url, content=content, headers=headers, what="outbound webhook")
    return msg_id
