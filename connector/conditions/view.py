"""The lead view: the flat ``{field path: value}`` mapping conditions read, the lead plus the decision so far.

``lead_view`` builds it once per lead; ``with_context`` gives a copy with a step's result added (the score, then
the tags), so each step hands the next an explicit value and no step changes the view it was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.decision import MatchResult, ScoreResult, TagResult
from connector.model import Lead


def lead_view(
    lead: Lead,
    *,
    score: ScoreResult | None = None,
    tags: TagResult | None = None,
    match: MatchResult | None = None,
) -> dict[str, Any]:
    """The flat ``{field path: value}`` view conditions read: the lead plus the decision so far."""
    i, c, r, o = lead.identity, lead.company, lead.role, lead.origin
    email = i.email
    events = lead.events
    view: dict[str, Any] = {
        "identity.email": email,
        "identity.email_domain": email.rpartition("@")[2] if email else None,
        "identity.phone": i.phone,
        "identity.first_name": i.first_name,
        "identity.last_name": i.last_name,
        "company.name": c.name,
        "company.normalized_name": c.normalized_name,
        "company.domain": c.domain,
        "company.website": c.website,
        "company.size": c.size,
        "company.size_max": c.size_max,
        "company.industry": c.industry,
        "company.revenue": c.revenue,
        "company.country": c.country,
        "company.region": c.region,
        "company.postal_code": c.postal_code,
        "company.city": c.city,
        "role.title": r.title,
        "role.seniority": r.seniority,
        "role.department": r.department,
        "origin.source": o.source,
        "origin.channel": o.channel,
        "origin.form": o.form,
        "origin.utm_source": o.utm_source,
        "origin.utm_medium": o.utm_medium,
        "origin.utm_campaign": o.utm_campaign,
        "origin.utm_term": o.utm_term,
        "origin.utm_content": o.utm_content,
        "origin.referrer": o.referrer,
        "consent.basis": lead.consent.basis,
        "consent.email_opt_in": lead.consent.email_opt_in,
        "intent.requests": lead.intent.requests,
        "intent.message": lead.intent.message,
        "events.kinds": tuple({e.kind for e in events}) if events else (),
        "events.count": len(events),
        "flags": lead.flags,
    }
    for key, value in lead.answers.items():
        view["answers." + key] = value
    for key, value in lead.extra.items():
        view["extra." + key] = value
    if score or tags or match:
        _add(view, score=score, tags=tags, match=match)
    return view


def with_context(
    view: Mapping[str, Any],
    *,
    score: ScoreResult | None = None,
    tags: TagResult | None = None,
    match: MatchResult | None = None,
) -> dict[str, Any]:
    """A copy of ``view`` with the decision fields given (score.*, tags, segments, match.*) added."""
    out = dict(view)
    _add(out, score=score, tags=tags, match=match)
    return out


def _add(
    view: dict[str, Any],
    *,
    score: ScoreResult | None = None,
    tags: TagResult | None = None,
    match: MatchResult | None = None,
) -> None:
    """Fill the decision fields (score.*, tags, segments, match.*) into ``view``, a dict this module just built."""
    if score is not None:
        view["score.total"] = score.total
        view["score.fit"] = score.fit
        view["score.behaviour"] = score.behaviour
        view["score.intent"] = score.intent
        view["score.grade"] = score.grade
        view["score.stage"] = score.stage
    if tags is not None:
        view["tags"] = tags.tags
        view["segments"] = tags.segments
    if match is not None:
        view["match.rule"] = match.rule
        view["match.kind"] = match.kind
        view["match.crm"] = match.crm
        view["match.record_id"] = match.record_id
        view["match.owner_id"] = match.owner_id
        view["match.account_id"] = match.account_id
        view["match.account_owner_id"] = match.account_owner_id
        view["match.confidence"] = match.confidence
