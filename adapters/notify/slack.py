"""Slack incoming-webhook notifications with Block Kit (https://api.slack.com/messaging/webhooks).

The message: a header (name — company), the alert when nobody was available to take the lead, the score and
grade with what the grade implies, the owner and the routing rule, the top reasons it scored, why it was routed to
this rep, the form answers that matter, and a button to the CRM record. ``text`` is the fallback shown in
notifications and by clients without blocks.

Whatever the lead typed (name, company, title, email, form answers) goes as ``plain_text``, which Slack shows as
typed: in mrkdwn a bare URL becomes a link, ``<url|Open in CRM>`` a disguised one and ``<!channel>`` a ping. Our own
labels and texts (score, owner, rules' reasons) stay mrkdwn, escaped (``&``, ``<``, ``>``) all the same; the
fallback ``text`` is escaped too. Texts are cut to Slack's limits (header 150, section text 3000, field 2000, at
most 10 fields).
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from adapters.notify.http import post
from adapters.notify.notice import Notice

HEADER_MAX = 150
TEXT_MAX = 3000
FIELD_MAX = 2000
FIELDS_MAX = 10
ANSWERS_MAX = 8

_encoder = msgspec.json.Encoder()


def escape(text: str) -> str:
    """Slack mrkdwn control characters as entities (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _points(value: float) -> str:
    return f"{value:+g}"


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _cut(f"*{label}*\n{escape(value)}", FIELD_MAX)}


def _lead_field(text: str) -> dict[str, str]:
    """A field holding the lead's own words: plain_text, neither formatted nor linked."""
    return {"type": "plain_text", "text": _cut(text, FIELD_MAX)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, TEXT_MAX)}}


def _headline(notice: Notice) -> str:
    who = notice.name or notice.email or notice.lead_id or "New lead"
    return f"{who} — {notice.company}" if notice.company else who


def _fields(notice: Notice) -> list[dict[str, str]]:
    grade = f"{notice.score:g} ({notice.grade})" if notice.grade else f"{notice.score:g}"
    owner = notice.owner_name or (f"queue {notice.queue}" if notice.queue else "unassigned")
    fields = [_field("Score", grade), _field("Owner", owner)]
    fields += [_lead_field(f"{label}\n{value}") for label, value in (("Title", notice.title), ("Email", notice.email))
               if value]
    fields += [_field(label, value) for label, value in (("Routed by", notice.rule), ("Next step", notice.action))
               if value]
    return fields[:FIELDS_MAX]


def blocks(notice: Notice) -> list[dict[str, Any]]:
    """The Block Kit blocks for ``notice``."""
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(_headline(notice), HEADER_MAX)}},
    ]
    if notice.alert:
        out.append(_section(f":rotating_light: *{escape(notice.alert)}*"))
    out.append({"type": "section", "fields": _fields(notice)})
    if notice.reasons:
        lines = [f"• {escape(r.text or r.rule)} ({_points(r.points)})" for r in notice.reasons]
        out.append(_section("*Why it scored*\n" + "\n".join(lines)))
    if notice.route_reason:
        out.append(_section("*Why you*\n" + escape(notice.route_reason)))
    if notice.answers:
        items = list(notice.answers.items())[:ANSWERS_MAX]
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Form answers*"},
                    "fields": [_lead_field(f"{k}: {v}") for k, v in items]})
    if notice.crm_url.startswith(("https://", "http://")):
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open in CRM"},
                  "url": notice.crm_url, "action_id": "open_crm"}
        out.append({"type": "actions", "elements": [button]})
    return out


def fallback_text(notice: Notice) -> str:
    grade = f" ({notice.grade})" if notice.grade else ""
    owner = f" → {notice.owner_name}" if notice.owner_name else ""
    alert = f"{notice.alert}. " if notice.alert else ""
    what = "Lead" if notice.tag else "New lead"  # a reminder is about a lead the rep already has
    return escape(_cut(f"{alert}{what}: {_headline(notice)}, score {notice.score:g}{grade}{owner}", TEXT_MAX))


def payload(notice: Notice) -> dict[str, Any]:
    """The JSON body posted to the incoming webhook. No link in it is unfurled: the fallback text holds the lead's
    name and company, and Slack would fetch a URL typed there for its preview."""
    return {"text": fallback_text(notice), "unfurl_links": False, "unfurl_media": False, "blocks": blocks(notice)}


async def send_slack(client: httpx.AsyncClient, webhook_url: str, notice: Notice) -> None:
    """Post ``notice`` to a Slack incoming webhook. Slack answers 200 ``ok``; 400 ``invalid_payload``,
    403/404/410 (revoked hook, archived channel) are fatal, 429 and 5xx retryable (``Retry-After``)."""
    await post(client, webhook_url, content=_encoder.encode(payload(notice)),
               headers={"content-type": "application/json"}, what="Slack webhook")
