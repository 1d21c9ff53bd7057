"""Count every CRM call by endpoint and status, at the HTTP layer of the vendors' own clients.

HubSpot's generated clients all go through ``RESTClientObject.request``; simple-salesforce through a
``requests.Session``. Both are wrapped per client instance (nothing global), and the observer is any
callable ``(crm, endpoint, status)`` — the worker passes one that feeds ``leadrelay_crm_calls_total``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any
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


def _safe(observer: Observer, crm: str, endpoint: str, status: int) -> None:
    with contextlib.suppress(Exception):  # counting must never fail a CRM call
        observer(crm, endpoint, status)


def instrument_hubspot(crm: Any, observer: Observer) -> None:
    """Wrap the REST client of each HubSpot API object the adapter holds."""
    seen: set[int] = set()
    for name in ("_contacts_basic", "_contacts_batch", "_companies_search", "_owners", "_assoc_batch"):
        rest = getattr(crm, name).api_client.rest_client
        if id(rest) in seen:
            continue
        seen.add(id(rest))
        original = rest.request

        def request(method: str, url: str, *args: Any, _orig: Any = original, **kwargs: Any) -> Any:
            try:
                resp = _orig(method, url, *args, **kwargs)
            except Exception as exc:
                _safe(observer, "hubspot", endpoint_of(method, url), int(getattr(exc, "status", 0) or 0))
                raise
            _safe(observer, "hubspot", endpoint_of(method, url), int(resp.status))
            return resp

        rest.request = request


def instrument_salesforce(crm: Any, observer: Observer) -> None:
    """A response hook on the adapter's requests session (OAuth and REST calls alike)."""

    def hook(resp: Any, *args: Any, **kwargs: Any) -> Any:
        _safe(observer, "salesforce", endpoint_of(resp.request.method, resp.request.url), int(resp.status_code))
        return resp

    crm.auth.session.hooks["response"].append(hook)
