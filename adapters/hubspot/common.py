"""What the HubSpot adapter's modules share: limits, property lists, the error type and small helpers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from connector.errors import FatalError
from connector.ports import WriteOutcome

BATCH_LIMIT = 100  # inputs per batch call
SEARCH_PAGE = 200  # results per search page
IN_VALUES = 100  # values per IN filter
CONTACT_PROPERTIES = ["email", "firstname", "lastname", "phone", "company", "country", "hubspot_owner_id",
                      "lifecyclestage", "hs_lead_status", "leadrelay_id"]
COMPANY_PROPERTIES = ["name", "domain", "country", "hubspot_owner_id"]
RETRYABLE_ROW_CATEGORIES = {"RATE_LIMITS", "RATE_LIMIT", "INTERNAL_ERROR", "SERVICE_UNAVAILABLE", "LOCKED"}
Json = dict[str, Any]


class HubSpotError(FatalError):
    """A 4xx HubSpot answered for the whole request, with its category kept (VALIDATION_ERROR, CONFLICT...)."""

    def __init__(self, message: str, *, status: int, category: str | None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.category = category


def _body(raw: bytes | str | None) -> Json:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {"message": (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw))[:500]}
    return data if isinstance(data, dict) else {"results": data}


def _text(value: Any) -> str:
    """HubSpot property values are strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _chunks(rows: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def _fields(outcome: WriteOutcome) -> dict[str, Any]:
    return {f: getattr(outcome, f) for f in outcome.__struct_fields__}
