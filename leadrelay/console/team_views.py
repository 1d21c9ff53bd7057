"""What the team editor (``templates/team.html``) shows: reps (hours, skills, caps, out of office, one click for
"out today"), pools, territories."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REP_ROLES = ("ae", "sdr", "manager")
REP_KEYS = ("id", "name", "email", "role", "timezone", "country", "weight", "daily_cap", "skills", "languages",
            "active", "hours", "out_of_office")
NEW_REP = {"id": "new_rep", "name": "New Rep", "email": "", "role": "ae", "timezone": "UTC", "country": "US",
           "owner_ids": {}}


def on_day(absence: Any, day: str) -> bool:
    """Whether an out-of-office entry covers ``day`` (ISO dates compare as text)."""
    return isinstance(absence, dict) and str(absence.get("start")) <= day <= str(absence.get("end"))


def is_away(rep: dict[str, Any], today: str) -> bool:
    return any(on_day(o, today) for o in rep.get("out_of_office") or [])


def local_today(rep: dict[str, Any], fallback: str) -> str:
    """The rep's own date ("out today" is the rep's today, wherever the admin is)."""
    try:
        return datetime.now(ZoneInfo(str(rep.get("timezone")))).date().isoformat()
    except (ZoneInfoNotFoundError, ValueError):
        return fallback


def away_count(reps: Any, today: str) -> int:
    """Reps out today, each by their own date."""
    return sum(1 for r in reps if isinstance(r, dict) and is_away(r, local_today(r, today)))


GLOBALS = {"REP_ROLES": REP_ROLES, "REP_KEYS": REP_KEYS, "NEW_REP": NEW_REP, "on_day": on_day, "is_away": is_away,
           "local_today": local_today, "away_count": away_count}
