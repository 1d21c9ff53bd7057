"""A lead's follow-through state, as its hash in Redis keeps it (``Keys.lead``), read into one object.

Fields leadrelay sets on the lead hash for follow-through (all text):
  sla_clock       which clock runs: 1 at the first owner, +1 at each restart (reassignment, owner changed in the CRM)
  sla_owner       the rep whose clock it is;  sla_start / sla_deadline: unix times
  sla_step_done   "<clock>:<step>" of the last step taken;  sla_tried: reps who had it and did not work it
  held_until      unix time a held lead is released;  released_at: when it was
  first_contact_at  unix time the CRM says the lead was first worked
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from connector.decision import Decision, decision_from_json


def _time(raw: bytes | None) -> datetime | None:
    return datetime.fromtimestamp(float(raw), UTC) if raw else None


@dataclass(frozen=True)
class Tracked:
    """One lead's decision and follow-through fields."""

    lead_id: str
    decision: Decision
    fields: dict[str, bytes]

    def text(self, name: str) -> str:
        return self.fields.get(name, b"").decode()

    @property
    def clock(self) -> int:
        return int(self.text("sla_clock") or 0)

    @property
    def owner(self) -> str | None:
        """Whose clock runs: the rep it was last given to (or set to in the CRM), else the decision's owner."""
        return self.text("sla_owner") or self.decision.route.assignment.owner

    @property
    def start(self) -> datetime | None:
        return _time(self.fields.get("sla_start"))

    @property
    def deadline(self) -> datetime | None:
        return _time(self.fields.get("sla_deadline"))

    @property
    def first_contact(self) -> datetime | None:
        return _time(self.fields.get("first_contact_at"))

    @property
    def received_at(self) -> float:
        return float(self.text("received_at") or 0)

    @property
    def tried(self) -> list[str]:
        return [r for r in self.text("sla_tried").split(",") if r]

    @property
    def record(self) -> tuple[str, str] | None:
        """(crm, record id) of the record written, once written."""
        crm, _, rid = self.text("record").partition(":")
        return (crm, rid) if rid else None

    def with_trace(self, line: str, **assignment: object) -> Decision:
        """The decision with ``line`` added to its trace (and, given, its assignment's fields replaced)."""
        route = self.decision.route
        a = msgspec.structs.replace(route.assignment, **assignment) if assignment else route.assignment
        route = msgspec.structs.replace(route, assignment=a, trace=(*route.trace, line))
        return msgspec.structs.replace(self.decision, route=route)


def tracked(lead_id: str, fields: dict[str, bytes]) -> Tracked | None:
    """The lead's state, or None when it has no decision (expired, or never decided)."""
    if "decision" not in fields:
        return None
    return Tracked(lead_id, decision_from_json(fields["decision"]), fields)


def stamp(at: datetime) -> str:
    """A time as the lead hash keeps it (unix seconds)."""
    return repr(at.timestamp())


def when(at: datetime) -> str:
    """A time as a trace line shows it."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
