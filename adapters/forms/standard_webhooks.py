"""Standard Webhooks signatures (https://www.standardwebhooks.com, github.com/standard-webhooks/standard-webhooks).

Headers ``webhook-id``, ``webhook-timestamp`` (unix seconds) and ``webhook-signature``: a space-separated list of
``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`` (several while a secret rotates). Secrets look like
``whsec_<base64 key>``; a secret without the prefix is taken as the raw utf-8 key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping

from connector.errors import InputError, SignatureError

PREFIX = "whsec_"
# the sender's id becomes our idempotency key, part of Redis keys and of a dead letter's replay command: a bounded,
# shell-inert alphabet (what the Standard Webhooks libraries generate: "msg_" + base62)
WEBHOOK_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


def _key(secret: str) -> bytes:
    if secret.startswith(PREFIX):
        try:
            return base64.b64decode(secret[len(PREFIX):], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SignatureError("the signing secret is not valid base64 after 'whsec_'",
                                 hint="use the secret exactly as generated") from exc
    return secret.encode()


def _signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers a sender attaches."""
    sig = base64.b64encode(_signature(_key(secret), msg_id, str(timestamp), body)).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{sig}"}


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float, tolerance_s: int = 300) -> str:
    """Check id, timestamp window and signature; return the webhook-id (the idempotency key)."""
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, ts, sigs = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    missing = [n for n, v in (("webhook-id", msg_id), ("webhook-timestamp", ts), ("webhook-signature", sigs)) if not v]
    if missing or msg_id is None or ts is None or sigs is None:
        raise SignatureError(f"missing header(s): {', '.join(missing)}",
                             hint="sign with Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)")
    if not WEBHOOK_ID.fullmatch(msg_id):
        raise InputError("webhook-id must be 1 to 128 characters of A-Z, a-z, 0-9 and _ . : -", field="webhook-id")
    try:
        stamp = int(ts.strip())
    except ValueError as exc:
        raise SignatureError("webhook-timestamp is not unix seconds") from exc
    if now - stamp > tolerance_s:
        raise SignatureError(f"stale delivery: timestamp is {int(now - stamp)} s old (tolerance {tolerance_s} s)",
                             hint="check the sender's clock; replays are refused")
    if stamp - now > tolerance_s:
        raise SignatureError(f"timestamp is {int(stamp - now)} s in the future (tolerance {tolerance_s} s)",
                             hint="check the sender's clock")
    expected = _signature(_key(secret), msg_id, ts.strip(), body)
    for item in sigs.split():
        version, _, value = item.partition(",")
        if version != "v1" or not value:
            continue  # other schemes (v1a: asymmetric) are not ours to check
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        # compare_digest: the time taken must not tell how many bytes matched
        if hmac.compare_digest(given, expected):
            return msg_id
    raise SignatureError("no webhook-signature matches the body", hint="check the form's signing secret")
