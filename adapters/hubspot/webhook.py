"""HubSpot Webhooks v3 deliveries: verify the v3 signature, parse the event batch, one Delivery per contact event.

Signature: base64(HMAC-SHA256(client secret, method + URI + body + timestamp)) in ``X-HubSpot-Signature-v3``,
milliseconds in ``X-HubSpot-Request-Timestamp``; reject timestamps older than 5 minutes; URL-encoded characters
in the URI are decoded before signing, except the ``?`` that starts the query string.
https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation
Payload: a JSON array of up to 100 events. https://developers.hubspot.com/docs/api/webhooks
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime

import msgspec

from connector.errors import InputError, SignatureError
from connector.ports import Delivery

SIGNATURE_HEADER = "x-hubspot-signature-v3"
TIMESTAMP_HEADER = "x-hubspot-request-timestamp"
CONTACT_EVENTS = frozenset({"contact.creation", "contact.propertyChange"})
MAX_EVENTS_PER_REQUEST = 100  # "up to 100 events" per request (webhooks page above)

# The characters HubSpot's request-validation page lists as decoded before signing.
_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
           "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}
_ESCAPE = re.compile("|".join(_DECODE), re.IGNORECASE)


class HubSpotEvent(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    """One webhook event (camelCase in JSON: eventId, subscriptionType, objectId, ...)."""

    event_id: int
    subscription_type: str
    object_id: int
    occurred_at: int  # epoch milliseconds
    portal_id: int | None = None
    app_id: int | None = None
    property_name: str | None = None
    property_value: str | None = None
    change_source: str | None = None  # "INTEGRATION" for API writes, "CRM_UI", ...
    source_id: str | None = None  # the acting app's id for INTEGRATION: how we recognise our own writes
    attempt_number: int = 0


_decoder = msgspec.json.Decoder(list[HubSpotEvent])


def sign_v3(secret: str, method: str, uri: str, body: bytes | str, timestamp: str) -> str:
    """HubSpot's v3 request signature (what ``X-HubSpot-Signature-v3`` must equal)."""
    raw = body.decode() if isinstance(body, bytes) else body
    message = f"{method}{uri}{raw}{timestamp}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def canonical_uri(uri: str) -> str:
    """The URI as HubSpot signs it: the listed %-escapes decoded."""
    return _ESCAPE.sub(lambda m: _DECODE[m.group(0).upper()], uri)


def verify(
    secret: str, method: str, uri: str, headers: Mapping[str, str], body: bytes, *, now: float, tolerance_s: int = 300
) -> None:
    """Raise SignatureError unless the v3 signature matches and the timestamp is within ``tolerance_s``."""
    h = {k.lower(): v for k, v in headers.items()}
    signature, stamp = h.get(SIGNATURE_HEADER), h.get(TIMESTAMP_HEADER)
    if not signature or not stamp:
        raise SignatureError("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header",
                             hint="only v3 signatures are accepted")
    try:
        millis = int(stamp.strip())
    except ValueError as exc:
        raise SignatureError("X-HubSpot-Request-Timestamp is not epoch milliseconds") from exc
    age = now - millis / 1000
    if age > tolerance_s:
        raise SignatureError(f"stale delivery: timestamp is {int(age)} s old (tolerance {tolerance_s} s)")
    if -age > tolerance_s:
        raise SignatureError(f"timestamp is {int(-age)} s in the future (tolerance {tolerance_s} s)")
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SignatureError("body is not utf-8, so it cannot match a v3 signature") from exc
    expected = sign_v3(secret, method.upper(), canonical_uri(uri), raw, stamp.strip())
    # compare_digest: constant time
    if not hmac.compare_digest(signature.strip().encode(), expected.encode()):
        raise SignatureError("X-HubSpot-Signature-v3 does not match",
                             hint="check the app's client secret and that the URI is the public one HubSpot calls")


def _field_from(message: str) -> str:
    # msgspec: "Expected `int`, got `str` - at `$[3].objectId`"
    m = re.search(r"at `\$(.*?)`", message)
    where = m.group(1) if m else ""
    missing = re.search(r"missing required field `(\w+)`", message)
    if missing:
        where = f"{where}.{missing.group(1)}"
    return where or "body"


def parse_events(body: bytes) -> list[HubSpotEvent]:
    """The batch: a JSON array of 1..100 events."""
    try:
        events = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InputError(f"bad HubSpot event: {exc}", field=_field_from(str(exc))) from exc
    except msgspec.DecodeError as exc:
        raise InputError(f"body is not valid JSON: {exc}", field="body") from exc
    if not events:
        raise InputError("empty event batch", field="body")
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise InputError(f"{len(events)} events; HubSpot sends at most {MAX_EVENTS_PER_REQUEST}", field="body")
    return events


def event_deliveries(events: list[HubSpotEvent], *, received_at: datetime) -> list[Delivery]:
    """One delivery per contact creation / property change; other subscription types are dropped.

    The id is eventId + occurredAt: stable across HubSpot's retries (attemptNumber changes, these do not).
    """
    return [
        Delivery(source="hubspot", delivery_id=f"{e.event_id}:{e.occurred_at}", received_at=received_at,
                 payload=msgspec.to_builtins(e), form=None)
        for e in events
        if e.subscription_type in CONTACT_EVENTS
    ]
