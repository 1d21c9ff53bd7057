"""The fields a condition can name: every path of the lead view, with the kind of value it holds."""

from __future__ import annotations

import difflib

# field path -> kind: "str", "num", "bool", "list"; answers.* and extra.* are "any"
FIELDS: dict[str, str] = {
    **dict.fromkeys(
        ("identity.email", "identity.email_domain", "identity.phone", "identity.first_name", "identity.last_name"),
        "str",
    ),
    **dict.fromkeys(
        ("company.name", "company.normalized_name", "company.domain", "company.website", "company.industry",
         "company.country", "company.region", "company.postal_code", "company.city"),
        "str",
    ),
    "company.size": "num",
    "company.size_max": "num",
    "company.revenue": "num",
    "role.title": "str",
    "role.seniority": "str",
    "role.department": "str",
    **dict.fromkeys(
        ("origin.source", "origin.channel", "origin.form", "origin.utm_source", "origin.utm_medium",
         "origin.utm_campaign", "origin.utm_term", "origin.utm_content", "origin.referrer"),
        "str",
    ),
    "consent.basis": "str",
    "consent.email_opt_in": "bool",
    "intent.requests": "list",
    "intent.message": "str",
    "events.kinds": "list",
    "events.count": "num",
    "flags": "list",
    "score.total": "num",
    "score.fit": "num",
    "score.behaviour": "num",
    "score.intent": "num",
    "score.grade": "str",
    "score.stage": "str",
    "tags": "list",
    "segments": "list",
    **dict.fromkeys(
        ("match.rule", "match.kind", "match.crm", "match.record_id", "match.owner_id", "match.account_id",
         "match.account_owner_id"),
        "str",
    ),
    "match.confidence": "num",
}
FREE_PREFIXES = ("answers.", "extra.")


def field_kind(path: str) -> str:
    """Kind of a field path ("str", "num", "bool", "list", "any"); ValueError naming the path if unknown."""
    kind = FIELDS.get(path)
    if kind is not None:
        return kind
    if path.startswith(FREE_PREFIXES) and len(path.split(".", 1)[1]) > 0:
        return "any"
    close = difflib.get_close_matches(path, FIELDS, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(sorted(FIELDS))}"
    raise ValueError(f"field: no such field {path!r}; {hint} (or answers.<key>, extra.<key>)")
