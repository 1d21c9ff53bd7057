"""Typeform webhooks: ``Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, raw body)>``.

https://www.typeform.com/developers/webhooks/secure-your-webhooks/ (signature),
https://www.typeform.com/developers/webhooks/example-payload/ (payload). The payload is kept whole: the
source mapping (mappings/sources/typeform_demo.yaml) reads ``event_id``, ``form_response.answers[field.ref=...]``
and ``form_response.hidden.*`` from it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from adapters import inbound_json
from connector.errors import InputError, SignatureError
from connector.ports import Delivery

HEADER = "typeform-signature"


def sign(secret: str, body: bytes) -> str:
    """The Typeform-Signature header value for a body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise SignatureError unless the header matches the raw body. (Typeform sends no timestamp.)"""
    given = next((v for k, v in headers.items() if k.lower() == HEADER), None)
    if not given:
        raise SignatureError("missing Typeform-Signature header", hint="turn on the webhook's secret in Typeform")
    if not given.startswith("sha256="):
        raise SignatureError("Typeform-Signature must start with 'sha256='")
    # compare_digest: constant time, so the response time leaks nothing about the expected value
    if not hmac.compare_digest(given.encode(), sign(secret, body).encode()):
        raise SignatureError("Typeform-Signature does not match the body",
                             hint="check the webhook secret (LEADRELAY_TYPEFORM_SECRET)")


def _check_answers(answers: Any) -> None:
    if not isinstance(answers, list):
        raise InputError("form_response.answers must be a list", field="form_response.answers")
    for i, answer in enumerate(answers):
        where = f"form_response.answers[{i}]"
        if not isinstance(answer, dict):
            raise InputError("each answer must be an object", field=where)
        if not isinstance(answer.get("type"), str):
            raise InputError("answer has no type", field=f"{where}.type")
        field = answer.get("field")
        if not isinstance(field, dict):
            raise InputError("answer has no field object", field=f"{where}.field")
        if not isinstance(field.get("ref"), str) or not field["ref"]:
            raise InputError("answer's field has no ref", field=f"{where}.field.ref")


def parse_payload(body: bytes) -> dict[str, Any]:
    """The parsed, shape-checked webhook body."""
    data = inbound_json.loads(body)
    if not isinstance(data, dict):
        raise InputError("body must be a JSON object", field="body")
    event_id = data.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise InputError("missing event_id", field="event_id")
    if data.get("event_type") != "form_response":
        raise InputError(f"event_type {data.get('event_type')!r} is not 'form_response'", field="event_type")
    response = data.get("form_response")
    if not isinstance(response, dict):
        raise InputError("missing form_response object", field="form_response")
    _check_answers(response.get("answers"))
    return data


def typeform_delivery(form: str, body: bytes, *, received_at: datetime) -> Delivery:
    """One delivery; Typeform's event_id is stable across its retries, so it is the idempotency key."""
    data = parse_payload(body)
    return Delivery(source="typeform", delivery_id=data["event_id"], received_at=received_at, payload=data, form=form)
