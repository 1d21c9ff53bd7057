"""Whether a rep has worked a lead (first contact), as the CRM tells it: the ``worked_when`` of a CRM mapping.

A lead is worked once its status moved off the initial values (a rep set "attempted to contact", "working", ...)
or once the CRM logged an activity on it (a call, email, meeting or task: the date fields the CRM keeps for that,
e.g. "last contacted", "last activity date"). Only activity on or after the clock's start counts: a person we
routed months ago has an old one. Pure: the CRM plugins read the record and ask these functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import msgspec

from connector import transforms as tf


class WorkedWhen(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """``worked_when:`` of ``mappings/crm/<crm>.yaml``: the fields that say a rep worked the lead."""

    status_field: str | None = None  # the lead status a rep moves on when they start working it
    initial: list[str] = []  # status values meaning "not worked yet" (an empty status counts as one too)
    activity_fields: list[str] = []  # dates/datetimes the CRM sets when a call, email, meeting or task is logged

    def __post_init__(self) -> None:
        if self.status_field is None and not self.activity_fields:
            raise ValueError("worked_when needs a status_field, activity_fields, or both")

    @property
    def fields(self) -> list[str]:
        """Every field to read from the record."""
        return ([self.status_field] if self.status_field else []) + list(self.activity_fields)


def status_moved(spec: WorkedWhen, value: Any) -> bool:
    """True when ``value`` of the status field is a worked one (set, and not one of ``initial``)."""
    if spec.status_field is None or value is None or str(value).strip() == "":
        return False
    return str(value) not in spec.initial


def when(value: Any) -> datetime | None:
    """A CRM date or datetime value (ISO text, a date, epoch milliseconds) as an aware UTC datetime; None if none."""
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    try:
        return tf.parse_date(value).astimezone(UTC)
    except (tf.TransformError, ValueError, TypeError):
        return None


def _date_only(value: Any) -> bool:
    if isinstance(value, str):
        return len(value.strip()) == 10
    return isinstance(value, date) and not isinstance(value, datetime)


def activity_since(spec: WorkedWhen, fields: Mapping[str, Any], since: datetime) -> datetime | None:
    """The earliest activity field on or after ``since`` (a date-only field: on or after its day), else None."""
    found: list[datetime] = []
    for name in spec.activity_fields:
        raw = fields.get(name)
        at = when(raw)
        if at is None:
            continue
        if _date_only(raw):
            if at.date() >= since.astimezone(UTC).date():
                found.append(max(at, since))  # the day is all we know: not before the clock started
        elif at >= since:
            found.append(at)
    return min(found) if found else None


def worked_at(spec: WorkedWhen, fields: Mapping[str, Any], since: datetime, *,
              status_changed_at: datetime | None = None) -> datetime | None:
    """When the record says the lead was first worked since ``since``, or None.

    ``status_changed_at`` is when the status moved, as far as the CRM tells it (a property history, the record's
    last modification); without it a moved status counts from ``since``."""
    candidates: list[datetime] = []
    activity = activity_since(spec, fields, since)
    if activity is not None:
        candidates.append(activity)
    if spec.status_field is not None and status_moved(spec, fields.get(spec.status_field)):
        candidates.append(max(status_changed_at or since, since))
    return min(candidates) if candidates else None
