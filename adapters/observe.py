"""Counting CRM calls by endpoint and status: the shared part. Each CRM plugin wraps the HTTP layer of its
vendor's client (``CrmPlugin.count_calls``) and reports through these, per client instance (nothing global)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from urllib.parse import urlsplit

Observer = Callable[[str, str, int], None]

_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_VERSION = re.compile(r"^v\d+\.\d+$")


def endpoint_of(method: str, url: str) -> str:
    """``POST /crm/v3/objects/contacts/batch/upsert``; ids and versions become placeholders (low cardinality)."""
    parts = []
    for seg in urlsplit(url).path.split("/"):
        if seg.isdigit():
            seg = "{id}"
        elif _VERSION.match(seg):
            seg = "{version}"
        elif _SF_ID.match(seg) and any(c.isdigit() for c in seg):
            seg = "{id}"
        parts.append(seg)
    return f"{method.upper()} {'/'.join(parts) or '/'}"


def safe_observe(observer: Observer, crm: str, endpoint: str, status: int) -> None:
    """Tell the observer; counting must never fail a CRM call."""
    with contextlib.suppress(Exception):
        observer(crm, endpoint, status)
