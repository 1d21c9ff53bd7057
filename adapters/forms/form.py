"""Website form submissions: JSON objects or application/x-www-form-urlencoded bodies."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from adapters import inbound_json
from connector.errors import InputError
from connector.ports import Delivery

MAX_FIELDS = 1000  # a form has dozens; thousands of keys is abuse, not a lead


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def parse_form(body: bytes, content_type: str) -> dict[str, Any]:
    """The submission as a dict: JSON as sent; urlencoded keys -> str, repeated keys -> list of str."""
    media = _media_type(content_type)
    if media == "application/json" or media.endswith("+json"):
        data = inbound_json.loads(body)
        if not isinstance(data, dict):
            raise InputError(f"body must be a JSON object, got {type(data).__name__}", field="body")
        return data
    if media == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"body is not utf-8 ({exc.reason} at byte {exc.start})", field="body") from exc
        try:
            pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
        except UnicodeDecodeError as exc:
            raise InputError("a %-escaped value is not utf-8", field="body") from exc
        except ValueError as exc:
            raise InputError(f"cannot parse form body: {exc}", field="body") from exc
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key not in out:
                out[key] = value
            elif isinstance(out[key], list):
                out[key].append(value)
            else:
                out[key] = [out[key], value]
        return out
    raise InputError(f"unsupported content type {content_type!r}: send application/json or "
                     "application/x-www-form-urlencoded", field="content-type")


def form_delivery(
    form: str, body: bytes, content_type: str, *, delivery_id: str | None, received_at: datetime
) -> Delivery:
    """One delivery for the named form. Unsigned: the id is a hash of form and body, so a resubmission dedupes."""
    payload = parse_form(body, content_type)
    if delivery_id is None:
        delivery_id = hashlib.sha256(form.encode() + b"\0" + body).hexdigest()
    return Delivery(source="form", delivery_id=delivery_id, received_at=received_at, payload=payload, form=form)
