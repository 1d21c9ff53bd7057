"""The Slack notification: the exact Block Kit payload posted, escaping, and how Slack's answers are classified."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from adapters.notify.notice import Notice, Reason, notice_from_decision
from adapters.notify.slack import payload, send_slack
from connector.decision import Assignment, Decision, RouteResult, RuleHit, ScoreResult, TagResult
from connector.errors import AuthError, FatalError, RetryableError
from connector.model import Company, Identity, Lead, Role

URL = "https://hooks.slack.example/services/T000/B000/XXXX"
CRM = "https://crm.example/records/L-1"


def _decision() -> Decision:
    lead = Lead(id="L-1", identity=Identity(email="ada@acme.io", first_name="Ada", last_name="Lovelace"),
                company=Company(name="Acme <Labs>"), role=Role(title="VP Engineering"),
                answers={"team_size": "50-200", "use_case": "pipeline <!channel>", "newsletter": None})
    hits = (RuleHit(rule="seniority_vp", category="fit", points=20, reason="VP or above"),
            RuleHit(rule="free_email", category="fit", points=-10, reason="free email"),
            RuleHit(rule="pricing_visit", category="behaviour", points=15, reason="visited pricing"),
            RuleHit(rule="demo_request", category="intent", points=30, reason="asked for a demo"),
            RuleHit(rule="size_fit", category="fit", points=10, reason="50-200 employees"))
    score = ScoreResult(total=75, hits=hits, grade="hot", action="call within 5 minutes")
    assignment = Assignment(owner="sarah_chen", rule="northeast", strategy="round_robin",
                            reason="northeast territory, round robin")
    return Decision(lead=lead, score=score, tags=TagResult(), route=RouteResult(assignment=assignment))


NOTICE = Notice(
    lead_id="L-1", name="Ada Lovelace", email="ada@acme.io", company="Acme <Labs>", title="VP Engineering",
    score=75, grade="hot", action="call within 5 minutes", owner_id="sarah_chen", owner_name="Sarah Chen",
    rule="northeast",
    reasons=(Reason(rule="demo_request", points=30, text="asked for a demo"),
             Reason(rule="seniority_vp", points=20, text="VP or above"),
             Reason(rule="pricing_visit", points=15, text="visited pricing")),
    route_reason="northeast territory, round robin",
    answers={"team_size": "50-200", "use_case": "pipeline <!channel>"}, crm_url=CRM)

EXPECTED = {
    "text": "New lead: Ada Lovelace — Acme &lt;Labs&gt;, score 75 (hot) → Sarah Chen",
    "unfurl_links": False,  # a URL in the fallback text is not fetched for a preview
    "unfurl_media": False,
    "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Ada Lovelace — Acme <Labs>"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": "*Score*\n75 (hot)"},
            {"type": "mrkdwn", "text": "*Owner*\nSarah Chen"},
            {"type": "plain_text", "text": "Title\nVP Engineering"},
            {"type": "plain_text", "text": "Email\nada@acme.io"},
            {"type": "mrkdwn", "text": "*Routed by*\nnortheast"},
            {"type": "mrkdwn", "text": "*Next step*\ncall within 5 minutes"},
        ]},
        {"type": "section", "text": {"type": "mrkdwn", "text":
            "*Why it scored*\n• asked for a demo (+30)\n• VP or above (+20)\n• visited pricing (+15)"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Why you*\nnortheast territory, round robin"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Form answers*"}, "fields": [
            {"type": "plain_text", "text": "team_size: 50-200"},
            {"type": "plain_text", "text": "use_case: pipeline <!channel>"}]},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open in CRM"},
                                          "url": CRM, "action_id": "open_crm"}]},
    ],
}


def test_notice_from_decision_takes_the_top_positive_reasons_and_the_answers_given() -> None:
    assert notice_from_decision(_decision(), CRM, owner_name="Sarah Chen") == NOTICE


def test_notice_from_a_bare_decision_does_not_fail() -> None:
    bare = Decision(lead=Lead(), score=ScoreResult(total=0), tags=TagResult(),
                    route=RouteResult(assignment=Assignment(queue="unassigned")))
    notice = notice_from_decision(bare)
    assert (notice.name, notice.owner_name, notice.queue, notice.reasons, notice.answers) == ("", "", "unassigned",
                                                                                                (), {})
    assert payload(notice)["blocks"][0]["text"]["text"] == "New lead"


@respx.mock
async def test_the_exact_block_kit_payload_is_posted() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200, text="ok"))
    async with httpx.AsyncClient() as client:
        await send_slack(client, URL, NOTICE)
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == EXPECTED


def test_lead_text_goes_as_plain_text_so_a_url_or_mention_in_it_is_not_made_a_link() -> None:
    """Slack turns a bare URL in mrkdwn into a link (and <url|text> into a disguised one): whatever the lead typed
    goes as plain_text, which Slack shows as typed. Our own labels and texts stay mrkdwn."""
    bait = "https://evil.example/login <https://evil.example|Open in CRM> *urgent* <!here>"
    notice = Notice(name=bait, company=bait, title=bait, email=f"{bait}@x.io", answers={bait: bait},
                    score=75, grade="hot", owner_name="Sarah Chen", route_reason="northeast territory")
    found: list[tuple[str, str]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("plain_text", "mrkdwn") and isinstance(node.get("text"), str):
                found.append((node["type"], node["text"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload(notice)["blocks"])
    with_bait = [(kind, text) for kind, text in found if "evil.example" in text]
    assert len(with_bait) == 4  # the header (name — company), title, email, the answer
    assert {kind for kind, _ in with_bait} == {"plain_text"}
    assert all(bait in text for _, text in with_bait)  # shown as typed: no escaping needed, none added
    assert ("mrkdwn", "*Score*\n75 (hot)") in found and ("mrkdwn", "*Form answers*") in found


def test_long_texts_are_cut_to_slack_limits() -> None:
    notice = Notice(name="x" * 500, route_reason="y" * 5000, crm_url="javascript:alert(1)")
    blocks = payload(notice)["blocks"]
    assert len(blocks[0]["text"]["text"]) == 150
    assert len(blocks[-1]["text"]["text"]) == 3000  # no button: the CRM link is not http(s)


@pytest.mark.parametrize(("status", "headers", "error", "retry_after"), [
    (429, {"Retry-After": "7"}, RetryableError, 7.0),
    (503, {}, RetryableError, 1.0),
    (400, {}, FatalError, None),
    (404, {}, FatalError, None),
    (403, {}, AuthError, None),
])
@respx.mock
async def test_slack_answers_are_classified(status: int, headers: dict[str, str], error: type[Exception],
                                            retry_after: float | None) -> None:
    respx.post(URL).mock(return_value=httpx.Response(status, headers=headers, text="invalid_payload"))
    async with httpx.AsyncClient() as client:
        with pytest.raises(error) as info:
            await send_slack(client, URL, NOTICE)
    if retry_after is not None:
        assert isinstance(info.value, RetryableError) and info.value.retry_after == retry_after


@respx.mock
async def test_a_timeout_is_retryable() -> None:
    respx.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    async with httpx.AsyncClient() as client:
        with pytest.raises(RetryableError):
            await send_slack(client, URL, NOTICE)
