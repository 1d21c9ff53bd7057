"""The wiring of notifications (worker/notify.py) without Redis: who is queued for a decision (held and unconfigured
channels left out), where URLs and secrets come from, the retry schedule, the notice with its CRM link and the
fallback alert, and the exact Slack payload of that alert (respx)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import cast

import httpx
import msgspec
import pytest
import respx

from adapters.crm import registry
from adapters.notify.email import render
from adapters.notify.slack import send_slack
from connector.config import Config, load_config
from connector.decision import Assignment, Decision, RouteResult, RuleHit, ScoreResult, TagResult
from connector.model import Company, Identity, Lead, Role
from connector.notify import NotifyConfig
from connector.settings import load_settings
from worker.dead_letters import data_of
from worker.metrics import Recorder
from worker.notify import Notifier, NotifyJob, backoff, decode_job, encode_job, env_value
from worker.store import DeadLetter, Store

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
SLACK = "https://hooks.slack.example/services/T/B/X"


def _decision(*, owner: str | None = "sarah_chen", strategy: str = "territory", queue: str | None = None,
              grade: str = "hot", hold_until: datetime | None = None) -> Decision:
    lead = Lead(id="ld_1", identity=Identity(email="paul@jv.example", first_name="Paul", last_name="Smith"),
                company=Company(name="Jimenez-Vasquez"), role=Role(title="CEO"), answers={"interest": "demo"})
    score = ScoreResult(total=100, grade=grade, stage="sql", action="call within 5 minutes",
                        hits=(RuleHit(rule="demo", category="intent", points=30, reason="asked for a demo"),))
    assignment = Assignment(owner=owner, queue=queue, rule="fallback_owner" if strategy == "fallback_owner" else "x",
                            strategy=strategy, reason="no rep available (no rule assigned the lead)",
                            hold_until=hold_until)
    return Decision(lead=lead, score=score, tags=TagResult(), route=RouteResult(assignment=assignment))


@cache
def _config() -> Config:
    return load_config(ROOT)


def _notifier(**settings: object) -> Notifier:
    return Notifier(load_settings({}, **settings), _config(), cast(Store, None), Recorder())


def test_the_shipped_notify_yaml_is_part_of_the_config_and_optional(tmp_path: Path) -> None:
    assert [r.name for r in _config().notify.routes] == ["hot_and_warm_to_owner", "hot_to_manager",
                                                                 "no_rep_available"]
    import shutil

    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    (tmp_path / "rules" / "notify.yaml").unlink()
    assert load_config(tmp_path).notify == NotifyConfig()


def test_notifications_are_on_once_a_channel_is_set_up() -> None:
    assert not _notifier().enabled  # the write path does nothing for them
    assert _notifier(slack_webhook_url=SLACK).enabled and _notifier(smtp_host="127.0.0.1").enabled


def test_a_hot_lead_is_queued_for_each_configured_channel_and_skipped_where_nothing_is_set() -> None:
    jobs, unconfigured, held = _notifier(slack_webhook_url=SLACK).notices("ld_1", _decision(), NOW)
    assert jobs == [NotifyJob(lead_id="ld_1", event="routed", channel="sales_slack", kind="slack", audience="owner",
                              route="hot_and_warm_to_owner", rep="sarah_chen")]
    assert [(r.channel, r.rep) for r in unconfigured] == [("manager_email", "dana_whitfield")]  # no SMTP server
    assert held == []
    assert jobs[0].field == "notice:routed:sales_slack:owner:sarah_chen"
    assert decode_job(encode_job(jobs[0])) == jobs[0]


def test_email_needs_an_smtp_server_and_an_address() -> None:
    jobs, unconfigured, _ = _notifier(smtp_host="127.0.0.1").notices("ld_1", _decision(), NOW)
    assert [(j.channel, j.rep) for j in jobs] == [("manager_email", "dana_whitfield")]
    assert [r.channel for r in unconfigured] == ["sales_slack"]


def test_a_lead_held_for_after_hours_is_told_when_released_not_now() -> None:
    notifier = _notifier(slack_webhook_url=SLACK, smtp_host="127.0.0.1")
    held_until = NOW + timedelta(hours=9)
    jobs, _, held = notifier.notices("ld_1", _decision(hold_until=held_until), NOW)
    assert jobs == [] and [r.channel for r in held] == ["sales_slack", "manager_email"]
    released, _, held = notifier.notices("ld_1", _decision(hold_until=held_until), held_until + timedelta(seconds=1))
    assert len(released) == 2 and held == []


def test_the_fallback_owner_and_the_managers_channel_are_told() -> None:
    notifier = _notifier(slack_webhook_url=SLACK, slack_managers_webhook_url=SLACK + "/managers")
    jobs, _, _ = notifier.notices("ld_1", _decision(owner="dana_whitfield", strategy="fallback_owner"), NOW)
    assert [(j.channel, j.audience, j.target) for j in jobs] == [("sales_slack", "owner", "dana_whitfield"),
                                                                 ("managers_slack", "pool", "-")]


def test_urls_and_secrets_come_from_settings_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings({}, slack_webhook_url=SLACK)
    assert env_value(settings, "LEADRELAY_SLACK_WEBHOOK_URL") == SLACK
    assert env_value(settings, "LEADRELAY_SLACK_MANAGERS_WEBHOOK_URL") is None
    monkeypatch.setenv("PARTNER_HOOK_URL", "https://partner.example/hook")
    assert env_value(settings, "PARTNER_HOOK_URL") == "https://partner.example/hook"
    assert env_value(settings, "UNSET_HOOK_URL") is None
    assert load_settings({"LEADRELAY_SLACK_WEBHOOK_URL": SLACK, "LEADRELAY_SMTP_PORT": "2525"}).smtp_port == 2525


def test_retries_double_from_a_second_to_the_cap_and_honour_retry_after() -> None:
    assert [backoff(t, 1.0, 60.0) for t in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff(1, 30.0, 60.0) == 30.0 and backoff(1, 3600.0, 60.0) == 60.0
    # the default 12 tries span more than a minute of failures: about 6 minutes
    assert sum(backoff(t, 1.0, 60.0) for t in range(1, 12)) > 300


def test_the_notice_links_to_the_crm_record_and_names_the_owner() -> None:
    notifier = _notifier(hubspot_portal_id=12345678)
    notice = notifier.notice(_decision(), "hubspot:1015")
    assert notice.crm_url == "https://app.hubspot.com/contacts/12345678/record/0-1/1015"
    assert (notice.owner_name, notice.alert) == ("Sarah Chen", "")
    assert _notifier().notice(_decision(), "hubspot:1015").crm_url == ""  # no Hub ID, no link
    assert _notifier().notice(_decision(), "").crm_url == ""  # not written yet
    sf = load_settings({}, salesforce_instance_url="https://northwind.my.salesforce.com/")
    assert registry.plugin("salesforce").record_url(sf, "00Q5g00000AbCdE") == \
        "https://northwind.my.salesforce.com/00Q5g00000AbCdE"


def test_the_alert_of_a_lead_nobody_could_take() -> None:
    notifier = _notifier()
    fallback = notifier.notice(_decision(owner="dana_whitfield", strategy="fallback_owner"), "")
    assert fallback.alert == "No rep available — assigned to the fallback owner Dana Whitfield"
    queued = notifier.notice(_decision(owner=None, queue="unassigned", strategy="fallback"), "")
    assert queued.alert == "No rep available — left in queue unassigned, nobody assigned"
    assert notifier.notice(_decision(owner=None, queue="nurture", strategy="queue"), "").alert == ""
    subject, text = render(fallback)
    assert subject == "[No rep available] New hot lead: Paul Smith (Jimenez-Vasquez), score 100"
    assert text.startswith("No rep available — assigned to the fallback owner Dana Whitfield\n\nPaul Smith")


@respx.mock
async def test_the_fallback_alert_payload_posted_to_slack() -> None:
    notice = _notifier(hubspot_portal_id=1).notice(_decision(owner="dana_whitfield", strategy="fallback_owner"),
                                                   "hubspot:7")
    route = respx.post(SLACK).mock(return_value=httpx.Response(200, text="ok"))
    async with httpx.AsyncClient() as client:
        await send_slack(client, SLACK, notice)
    sent = json.loads(route.calls.last.request.content)
    assert sent["text"] == ("No rep available — assigned to the fallback owner Dana Whitfield. New lead: Paul Smith "
                            "— Jimenez-Vasquez, score 100 (hot) → Dana Whitfield")
    assert sent["blocks"][:3] == [
        {"type": "header", "text": {"type": "plain_text", "text": "Paul Smith — Jimenez-Vasquez"}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": ":rotating_light: *No rep available — assigned to the fallback owner "
                                             "Dana Whitfield*"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": "*Score*\n100 (hot)"},
            {"type": "mrkdwn", "text": "*Owner*\nDana Whitfield"},
            {"type": "plain_text", "text": "Title\nCEO"},
            {"type": "plain_text", "text": "Email\npaul@jv.example"},
            {"type": "mrkdwn", "text": "*Routed by*\nfallback_owner"},
            {"type": "mrkdwn", "text": "*Next step*\ncall within 5 minutes"},
        ]},
    ]
    assert sent["blocks"][-1]["elements"][0]["url"] == "https://app.hubspot.com/contacts/1/record/0-1/7"


def test_a_dead_lettered_notification_shows_its_job() -> None:
    job = NotifyJob(lead_id="ld_1", event="routed", channel="sales_slack", kind="slack", audience="owner",
                    rep="sarah_chen")
    entry = DeadLetter(id="notification:ld_1:sales_slack:1", kind="notification", reason="x", at=0.0,
                       data=encode_job(job))
    assert data_of(entry) == msgspec.to_builtins(job)


@respx.mock
async def test_a_follow_through_notice_says_what_it_is_first_on_slack_and_in_the_subject() -> None:
    """An SLA step's notice: the step's words open it (the alert), its kind tags the email subject, and the Slack
    text does not call a lead the rep already has new; the card names the owner whose lead it is now."""
    notifier = _notifier()
    notice = msgspec.structs.replace(notifier.notice(_decision(), "", "dana_whitfield"),
                                     alert="Reminder: no first contact 5 business minutes after assignment",
                                     tag="Reminder")
    route = respx.post(SLACK).mock(return_value=httpx.Response(200, text="ok"))
    async with httpx.AsyncClient() as client:
        await send_slack(client, SLACK, notice)
    sent = json.loads(route.calls.last.request.content)
    assert sent["text"] == ("Reminder: no first contact 5 business minutes after assignment. Lead: Paul Smith "
                            "— Jimenez-Vasquez, score 100 (hot) → Dana Whitfield")
    assert sent["blocks"][1]["text"]["text"] == (
        ":rotating_light: *Reminder: no first contact 5 business minutes after assignment*")
    subject, text = render(msgspec.structs.replace(notice, tag="Escalation"))
    assert subject == "[Escalation] hot lead: Paul Smith (Jimenez-Vasquez), score 100"
    assert text.startswith("Reminder: no first contact 5 business minutes after assignment\n\nPaul Smith")


def test_a_follow_through_job_keeps_its_tag_and_a_queued_one_from_before_still_reads() -> None:
    job = NotifyJob(lead_id="ld_1", event="sla_reminder", channel="sales_slack", kind="slack", audience="owner",
                    rep="ann", detail="Reminder: ...", tag="Reminder")
    assert decode_job(encode_job(job)) == job and job.field == "notice:sla_reminder:sales_slack:owner:ann"
    older = msgspec.msgpack.encode({"lead_id": "ld_1", "event": "routed", "channel": "c", "kind": "slack",
                                    "audience": "owner"})
    assert decode_job(older).tag == ""
