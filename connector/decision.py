"""The decision record: what was decided about one lead, and why.

Each step's result is its own Struct so it can be stored, shown in the console
("why did this lead go to Sarah?") and compared by ``simulate``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from connector.model import Lead


class MatchResult(msgspec.Struct, kw_only=True, frozen=True):
    """An existing record this lead is (probably) the same person or company as."""

    record_id: str
    crm: str
    kind: str  # "lead" | "contact" | "account"
    rule: str  # "email_exact", "phone_exact", "person_fuzzy", "account_domain", "account_name_fuzzy"
    confidence: float  # 0..1
    owner_id: str | None = None
    account_id: str | None = None  # matched account (lead-to-account), if any
    account_owner_id: str | None = None


class RuleHit(msgspec.Struct, kw_only=True, frozen=True):
    rule: str
    category: str  # "fit" | "behaviour" | "intent"
    points: float
    reason: str


class ScoreResult(msgspec.Struct, kw_only=True, frozen=True):
    total: float
    fit: float = 0.0
    behaviour: float = 0.0
    intent: float = 0.0
    hits: tuple[RuleHit, ...] = ()
    stage: str = "lead"  # subscriber, lead, mql, sql, opportunity, customer
    grade: str = "cold"  # hot, warm, cold
    action: str = ""  # what the grade implies, e.g. "call within 5 minutes"


class TagResult(msgspec.Struct, kw_only=True, frozen=True):
    tags: tuple[str, ...] = ()  # "category:tag", e.g. "industry:healthcare"
    segments: tuple[str, ...] = ()
    reasons: dict[str, str] = {}  # tag or segment -> the rule that applied it


class SkippedCandidate(msgspec.Struct, kw_only=True, frozen=True):
    rep: str
    reason: str  # "out_of_office", "at_capacity", "outside_hours", "missing_skill", "inactive"
    rule: str


class StateChange(msgspec.Struct, kw_only=True, frozen=True):
    """A routing state change the service applies atomically (compare-and-set).

    kind "pointer": round-robin pointer of pool ``key`` moves from ``expected`` to ``value``.
    kind "load": rep ``key``'s count for ``day`` goes up by ``value`` (cap ``expected``: must stay <= it).
    """

    kind: str
    key: str
    value: int
    expected: int | None = None
    day: str | None = None


class Assignment(msgspec.Struct, kw_only=True, frozen=True):
    owner: str | None = None  # rep id from the team roster; None -> queue
    owner_ids: dict[str, str] = {}  # CRM name -> owner id in that CRM
    queue: str | None = None  # fallback queue name when no rep
    rule: str = ""  # routing rule that decided
    strategy: str = ""
    reason: str = ""
    hold_until: datetime | None = None  # after-hours hold: release at this time


class RouteResult(msgspec.Struct, kw_only=True, frozen=True):
    assignment: Assignment
    skipped: tuple[SkippedCandidate, ...] = ()
    changes: tuple[StateChange, ...] = ()
    trace: tuple[str, ...] = ()  # rules tried in order, with why they did not match


class WritePlan(msgspec.Struct, kw_only=True, frozen=True):
    """What the CRM write of a decision does: which object and record, the fields sent, and those left as the CRM
    has them (with why) — e.g. a matched Contact gets the score and tags, keeps its owner, and no Lead is made."""

    crm: str
    object: str  # the CRM object written ("Lead", "Contact", "contacts")
    record_id: str | None = None  # the existing record updated; None: created or updated by leadrelay's own key
    matched: str | None = None  # the match kind whose `matched` mapping section was written ("contact")
    fields: tuple[str, ...] = ()  # the fields sent
    kept: dict[str, str] = {}  # field -> why it is not sent (the record's own value stands)
    summary: str = ""  # one line a human reads


class Decision(msgspec.Struct, kw_only=True, frozen=True):
    lead: Lead
    score: ScoreResult
    tags: TagResult
    route: RouteResult
    match: MatchResult | None = None
    config_version: str = ""
    decided_at: datetime | None = None
    timings_ms: dict[str, float] = {}
    explanation: str = ""  # one line a human reads
    write: WritePlan | None = None  # what the CRM write does (set when the write is queued)
    crm_result: dict[str, Any] = {}  # filled after write-back
    # what happened to the lead after it was decided, oldest first: re-scored, recycled, routed again (one line each)
    history: tuple[str, ...] = ()


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Decision)


def decision_to_json(decision: Decision) -> bytes:
    return _encoder.encode(decision)


def decision_from_json(data: bytes | str) -> Decision:
    return _decoder.decode(data)
