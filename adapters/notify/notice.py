"""What a notification says about one routed lead: a small, flat ``Notice`` built from the decision.

``notice_from_decision`` is pure and tolerant: a decision missing a name, a company or a score still makes a
notice (the missing parts read as empty), so a notification never fails on what the lead did not say.
"""

from __future__ import annotations

from typing import Any

import msgspec

from connector.decision import Assignment, Decision
from connector.routing.strategies import FALLBACK_OWNER

TOP_REASONS = 3


class Reason(msgspec.Struct, kw_only=True, frozen=True):
    rule: str
    points: float
    text: str = ""  # the rule's human reason ("VP or above"), when it gave one


class Notice(msgspec.Struct, kw_only=True, frozen=True):
    lead_id: str = ""
    name: str = ""
    email: str = ""
    company: str = ""
    title: str = ""
    score: float = 0.0
    grade: str = ""
    action: str = ""  # what the grade implies ("call within 5 minutes")
    owner_id: str = ""  # rep id from the roster; "" when the lead went to a queue
    owner_name: str = ""
    queue: str = ""
    rule: str = ""  # the routing rule that decided
    reasons: tuple[Reason, ...] = ()  # top score reasons, most points first
    route_reason: str = ""
    answers: dict[str, str] = {}
    crm_url: str = ""
    alert: str = ""  # said first and loudly: nobody was available ("No rep available — assigned to ...")
    tag: str = ""  # a follow-through notice's kind ("Reminder", "Escalation", "Reassigned"): "" for a new lead


def _name(decision: Decision) -> str:
    who = decision.lead.identity
    if who.full_name:
        return who.full_name
    return " ".join(p for p in (who.first_name, who.last_name) if p)


def _answer(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def alert_of(assignment: Assignment, owner_name: str) -> str:
    """The alert a notice opens with, when routing found nobody: the fallback owner took it, or it sits in a
    queue because nobody was available ("" for a lead routed as usual, or sent to a queue on purpose)."""
    if assignment.strategy == FALLBACK_OWNER:
        return f"No rep available — assigned to the fallback owner {owner_name}"
    if assignment.queue and assignment.strategy == "fallback":
        return f"No rep available — left in queue {assignment.queue}, nobody assigned"
    return ""


def notice_from_decision(decision: Decision, crm_url: str = "", *, owner_name: str | None = None,
                         answers: tuple[str, ...] | None = None, top: int = TOP_REASONS) -> Notice:
    """The notice for ``decision``. ``answers`` picks the form answers that matter (all of them when None);
    ``owner_name`` is the rep's display name (the caller has the roster; the rep id otherwise)."""
    lead, score, assignment = decision.lead, decision.score, decision.route.assignment
    hits = sorted((h for h in score.hits if h.points > 0), key=lambda h: -h.points)[:top]
    chosen = {k: v for k, v in lead.answers.items() if answers is None or k in answers}
    owner_name = owner_name or assignment.owner or ""
    return Notice(
        lead_id=lead.id or "",
        name=_name(decision),
        email=lead.identity.email or "",
        company=lead.company.name or "",
        title=lead.role.title or "",
        score=score.total,
        grade=score.grade,
        action=score.action,
        owner_id=assignment.owner or "",
        owner_name=owner_name,
        queue=assignment.queue or "",
        rule=assignment.rule,
        reasons=tuple(Reason(rule=h.rule, points=h.points, text=h.reason) for h in hits),
        route_reason=assignment.reason,
        answers={str(k): _answer(v) for k, v in chosen.items() if _answer(v)},
        crm_url=crm_url,
        alert=alert_of(assignment, owner_name),
    )
