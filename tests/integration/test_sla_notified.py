"""Follow-through told through the real notification path (issue 13), with a frozen clock: the SLA steps and the
hold release queue real ``notify`` jobs (``worker.notify.Notifier``), which ``follow.Rig`` runs like every other job,
and what they send arrives at a real local HTTP server standing in for Slack and a real local SMTP server
(aiosmtpd). Real Redis, the real HubSpot sandbox over HTTP; status and owner changes a person makes in the sandbox
come back as signed webhooks, as in test_sla_escalation.py (same team: Ann and Bob in the New York pool ``inbound``,
their manager Dana; Wednesday 2026-03-04 15:00 UTC is 10:00 in New York).

Who is told where is written out here (not the shipped rules/notify.yaml, which may change): hot and warm leads to
their owner on the sales Slack channel; hot leads to the owner's manager by email. So a hot lead's routing tells Ann
on Slack and Dana by email; the reminder goes to Ann on Slack, the escalation to Dana by email, the reassignment to
Bob on Slack.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
import yaml
from arq import Retry
from litestar.testing import AsyncTestClient

from adapters.forms.standard_webhooks import verify
from connector.settings import Settings
from leadrelay.api.app import create_app
from tests.integration.follow import Receiver, Rig, form
from tests.integration.harness import config_dir, hubspot_contacts, samples, settings_for
from tests.integration.receivers import HttpReceiver, Inbox, Post, text_of
from tests.integration.test_sla_escalation import (
    ANN,
    BOB,
    HOT,
    NY,
    ROUTING,
    SECRET,
    T0,
    TEAM,
    _sandbox,
    _webhooks,
)
from tests.tokens import API_TOKENS, bearer
from worker.unassigned import Unassigned

NOTIFY: dict[str, Any] = {
    "channels": [{"name": "sales_slack", "kind": "slack", "url_env": "LEADRELAY_SLACK_WEBHOOK_URL"},
                 {"name": "manager_email", "kind": "email"}],
    "routes": [{"name": "hot_and_warm_to_owner", "grades": ["hot", "warm"], "channels": ["sales_slack"],
                "tell": ["owner"]},
               {"name": "hot_to_manager", "grades": ["hot"], "channels": ["manager_email"], "tell": ["manager"]}],
}
DANA_EMAIL = "dana@northwind.example"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def slack() -> Iterator[HttpReceiver]:
    with HttpReceiver() as s:
        yield s


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with Inbox() as i:
        yield i


def _config(tmp_path: Path, routing: dict[str, Any] = ROUTING, sla: dict[str, Any] | None = None) -> Path:
    cfg = config_dir(tmp_path, team=TEAM, routing=routing)
    (cfg / "rules" / "notify.yaml").write_text(yaml.safe_dump(NOTIFY), encoding="utf-8")
    if sla is not None:
        sla_file = cfg / "rules" / "sla.yaml"
        sla_file.write_text(yaml.safe_dump({**yaml.safe_load(sla_file.read_text()), **sla}), encoding="utf-8")
    return cfg


def _told(sandbox: Any, redis_url: str, cfg: Path, slack: HttpReceiver, inbox: Inbox) -> Settings:
    """The worker's settings with the sales Slack channel and the SMTP server set up (and the API's tokens)."""
    return settings_for(sandbox, redis_url, cfg, hubspot_webhook_secret=SECRET, slack_webhook_url=f"{slack.url}/sales",
                        smtp_host="127.0.0.1", smtp_port=inbox.port, smtp_starttls=False,
                        smtp_sender="leadrelay@northwind.example", hubspot_portal_id=sandbox.hubspot.portal_id,
                        api_tokens=API_TOKENS)


def _fields(post: Post) -> dict[str, str]:
    fields = next(b["fields"] for b in post.json["blocks"] if "fields" in b)  # the card's (the answers' come later)
    return {f["text"].split("\n")[0].strip("*"): f["text"].split("\n", 1)[1] for f in fields}


def _mail(inbox: Inbox) -> list[tuple[list[str], str, str]]:
    return [(to, str(msg["Subject"]), text_of(msg)) for _, to, msg in inbox.messages]


async def _route_hot(rig: Rig, sandbox: Any, receiver: Receiver) -> tuple[str, str, dict[str, Any]]:
    """The hot lead from the website form at T0: decided, written with Ann as its owner, and told. Returns (lead id,
    contact id, the form row)."""
    row = samples(HOT + 1)[HOT]
    await rig.accept(form(row, 1))
    ran = await rig.run_due()
    assert sorted(r.function for r in ran) == ["notify", "notify", "process_delivery", "write_back"]
    lead_id = ran[0].result.split()[1]
    contact = next(c for c in hubspot_contacts(sandbox) if c["properties"].get("leadrelay_id") == lead_id)
    assert contact["properties"]["hubspot_owner_id"] == ANN
    await _webhooks(rig, sandbox, receiver)  # our own write's echoes: dropped
    await rig.run_due()
    return lead_id, contact["id"], row


async def test_a_hot_lead_nobody_works_reminds_on_slack_escalates_by_email_and_tells_the_new_owner(
        redis_url: str, tmp_path: Path, receiver: Receiver, slack: HttpReceiver, inbox: Inbox) -> None:
    cfg = _config(tmp_path)
    with _sandbox(cfg, receiver) as sandbox, time_machine.travel(T0, tick=False) as clock:
        async with Rig(_told(sandbox, redis_url, cfg, slack, inbox), notify=True) as rig:
            lead_id, contact_id, row = await _route_hot(rig, sandbox, receiver)
            [routed] = slack.delivered("/sales")
            assert routed.json["text"].startswith("New lead: ") and _fields(routed)["Owner"] == "Ann Rep"
            [(to, subject, _)] = _mail(inbox)
            assert to == [DANA_EMAIL] and subject.startswith("New hot lead: ")

            clock.move_to(T0 + timedelta(minutes=4, seconds=59))
            assert await rig.run_due(within_s=0) == []
            clock.move_to(T0 + timedelta(minutes=5))
            assert [(r.function, r.result) for r in await rig.run_due(within_s=0)] == [
                ("sla_step", "remind"), ("notify", "sent sales_slack owner ann")]
            reminder = slack.delivered("/sales")[1]
            assert reminder.json["text"].startswith(
                "Reminder: no first contact 5 business minutes after assignment (due 2026-03-04T15:05Z). Lead: ")
            assert _fields(reminder)["Owner"] == "Ann Rep" and _fields(reminder)["Email"] == row["email"]
            assert len(inbox.messages) == 1

            clock.move_to(T0 + timedelta(minutes=10))
            assert [(r.function, r.result) for r in await rig.run_due(within_s=0)] == [
                ("sla_step", "manager"), ("notify", "sent manager_email manager dana")]
            (to, subject, text) = _mail(inbox)[1]
            assert to == [DANA_EMAIL] and subject.startswith("[Escalation] hot lead: ")
            assert text.startswith("Not contacted in time: Ann Rep has this lead, no first contact 5 business minutes")
            assert len(slack.delivered("/sales")) == 2  # the manager is told by email, as the route says

            clock.move_to(T0 + timedelta(minutes=15))
            ran = await rig.run_due()
            assert sorted((r.function, r.result) for r in ran) == [
                ("notify", "sent sales_slack owner bob"), ("sla_step", "reassigned"), ("write_back", "written 1")]
            contact = next(c for c in hubspot_contacts(sandbox) if c["id"] == contact_id)
            assert contact["properties"]["hubspot_owner_id"] == BOB
            await _webhooks(rig, sandbox, receiver)  # the new owner's write comes back: an echo
            clock.move_to(T0 + timedelta(minutes=16))
            await rig.run_due()
            stored = await rig.lead(lead_id)
            text_page = await rig.metrics()
    posts = slack.delivered("/sales")
    assert len(posts) == 3 and len(inbox.messages) == 2  # once each: the new owner's write told Bob nothing more
    told = posts[2]
    assert told.json["text"].startswith("Reassigned to Bob Rep: Ann Rep made no first contact in time (")
    assert told.json["text"].endswith(" → Bob Rep") and _fields(told)["Owner"] == "Bob Rep"
    assert stored["notice:routed:sales_slack:owner:bob"].startswith("sent ")
    assert stored["notice:sla_reminder:sales_slack:owner:ann"].startswith("sent ")
    assert stored["notice:sla_escalation:manager_email:manager:dana"].startswith("sent ")
    assert float(stored["notified_at"]) == T0.timestamp()  # the first notice of its routing, not a reminder
    assert 'leadrelay_notifications_total{channel="sales_slack",outcome="sent"} 3.0' in text_page
    assert 'leadrelay_notifications_total{channel="manager_email",outcome="sent"} 2.0' in text_page
    assert 'leadrelay_notified_seconds_count{hour="15",rep="ann",source="form"} 1.0' in text_page


async def test_a_lead_worked_at_3_minutes_is_told_only_of_its_routing(
        redis_url: str, tmp_path: Path, receiver: Receiver, slack: HttpReceiver, inbox: Inbox) -> None:
    cfg = _config(tmp_path)
    with _sandbox(cfg, receiver) as sandbox, time_machine.travel(T0, tick=False) as clock:
        settings = _told(sandbox, redis_url, cfg, slack, inbox)
        async with Rig(settings, notify=True) as rig:
            lead_id, contact_id, _ = await _route_hot(rig, sandbox, receiver)
            clock.move_to(T0 + timedelta(minutes=3))
            sandbox.hubspot.ui_update(contact_id, {"hs_lead_status": "CONNECTED"}, user_id=9)  # Ann called
            assert await _webhooks(rig, sandbox, receiver) == 1
            assert [(r.function, r.result) for r in await rig.run_due()] == [("process_delivery", "first_contact")]
            for minute in (5, 10, 15, 30):
                clock.move_to(T0 + timedelta(minutes=minute))
                await rig.run_due()
            text_page = await rig.metrics()
            async with AsyncTestClient(create_app(settings, crm=False)) as api:
                detail = (await api.get(f"/api/leads/{lead_id}", headers=bearer())).json()
    [routed] = slack.delivered("/sales")
    assert routed.json["text"].startswith("New lead: ") and _fields(routed)["Owner"] == "Ann Rep"
    assert [subject.split(":")[0] for _, subject, _ in _mail(inbox)] == ["New hot lead"]
    assert "leadrelay_sla_steps_total{" not in text_page
    assert 'leadrelay_first_contact_seconds_sum{grade="hot",hour="15",rep="ann",source="form"} 180.0' in text_page
    # the decision record: received -> assigned -> notified -> first contact, and each step's line
    timeline = detail["timeline"]
    assert {k: timeline[k] for k in ("received_at", "assigned_at", "notified_at", "first_contact_at")} == {
        "received_at": T0.isoformat(), "assigned_at": T0.isoformat(), "notified_at": T0.isoformat(),
        "first_contact_at": (T0 + timedelta(minutes=3)).isoformat()}
    assert timeline["seconds"] == {"assigned": 0.0, "notified": 0.0, "first_contact": 180.0}
    assert timeline["assigned_to"] == "ann" and timeline["notices"]["notice:routed:sales_slack:owner:ann"]
    assert any("first contact 2026-03-04T15:03Z by ann: 0:03:00 after it was received" in line
               for line in detail["trace"])


async def test_a_reminder_after_a_manual_owner_change_in_the_crm_goes_to_the_new_owner(
        redis_url: str, tmp_path: Path, receiver: Receiver, slack: HttpReceiver, inbox: Inbox) -> None:
    cfg = _config(tmp_path)
    with _sandbox(cfg, receiver) as sandbox, time_machine.travel(T0, tick=False) as clock:
        async with Rig(_told(sandbox, redis_url, cfg, slack, inbox), notify=True) as rig:
            _, contact_id, _ = await _route_hot(rig, sandbox, receiver)
            clock.move_to(T0 + timedelta(minutes=2))
            sandbox.hubspot.ui_update(contact_id, {"hubspot_owner_id": BOB}, user_id=9)  # a person gives it to Bob
            assert await _webhooks(rig, sandbox, receiver) == 1
            await rig.run_due()
            clock.move_to(T0 + timedelta(minutes=7))  # Bob's deadline: 5 minutes from the change (Ann's is gone)
            assert [(r.function, r.result) for r in await rig.run_due()] == [
                ("sla_step", "stale"), ("sla_step", "remind"), ("notify", "sent sales_slack owner bob")]
    reminder = slack.delivered("/sales")[-1]
    assert reminder.json["text"].startswith("Reminder: ") and _fields(reminder)["Owner"] == "Bob Rep"


@pytest.mark.parametrize("hold_queue", [None, "unassigned"], ids=["ownerless", "hold-queue-owner"])
async def test_a_held_lead_is_told_once_when_released_and_not_when_first_written(
        redis_url: str, tmp_path: Path, receiver: Receiver, slack: HttpReceiver, inbox: Inbox,
        hold_queue: str | None) -> None:
    held_at, released_at = datetime(2026, 3, 6, 22, 0, tzinfo=NY), datetime(2026, 3, 9, 9, 0, tzinfo=NY)
    cfg = _config(tmp_path, sla={"hold_queue": hold_queue} if hold_queue else None)
    with _sandbox(cfg, receiver) as sandbox, time_machine.travel(held_at, tick=False) as clock:
        async with Rig(_told(sandbox, redis_url, cfg, slack, inbox), notify=True) as rig:
            await rig.accept(form(samples(HOT + 1)[HOT], 1))
            ran = await rig.run_due()
            assert [r.function for r in ran] == ["process_delivery", "write_back"]  # no notify job
            lead_id = ran[0].result.split()[1]
            [contact] = hubspot_contacts(sandbox)
            assert contact["properties"].get("hubspot_owner_id") == ("7199" if hold_queue else None)
            await _webhooks(rig, sandbox, receiver)
            clock.move_to(released_at - timedelta(minutes=1))
            await rig.run_due()
            assert slack.posts == [] and inbox.messages == []  # all weekend: nobody told

            clock.move_to(released_at)
            ran = await rig.run_due()
            assert sorted((r.function, r.result) for r in ran) == [
                ("hold_release", "released 1"), ("notify", "sent manager_email manager dana"),
                ("notify", "sent sales_slack owner ann"), ("write_back", "written 1")]
            await _webhooks(rig, sandbox, receiver)
            clock.move_to(released_at + timedelta(minutes=1))
            await rig.run_due()
            stored = await rig.lead(lead_id)
            text_page = await rig.metrics()
            queues = await Unassigned(rig.store).counts()
    [post] = slack.delivered("/sales")
    assert post.json["text"].startswith("New lead: ") and _fields(post)["Owner"] == "Ann Rep"
    assert [to for to, _, _ in _mail(inbox)] == [[DANA_EMAIL]]
    release = released_at.astimezone(UTC).timestamp()
    assert float(stored["assigned_at"]) == float(stored["notified_at"]) == release
    assert stored["assigned_to"] == "ann" and float(stored["received_at"]) == held_at.timestamp()
    # received -> assigned is the weekend; the lead arrived (written to the CRM) once
    assert 'leadrelay_assigned_seconds_count{hour="03",rep="ann",source="form"} 1.0' in text_page
    assert 'leadrelay_speed_to_lead_seconds_count{crm="hubspot"} 1.0' in text_page
    assert 'leadrelay_notifications_total{channel="sales_slack",outcome="sent"} 1.0' in text_page
    assert queues == {}  # held (with the hold queue's owner or none), then a rep's: never counted unassigned


async def test_leads_in_a_queue_are_counted_unassigned_until_a_rep_gets_one(
        redis_url: str, tmp_path: Path, receiver: Receiver, slack: HttpReceiver, inbox: Inbox) -> None:
    routing = {"fallback_queue": "unassigned",
               "rules": [{"name": "triage", "strategy": "queue", "queue": "unassigned"}]}
    cfg = _config(tmp_path, routing=routing)
    with _sandbox(cfg, receiver) as sandbox, time_machine.travel(T0, tick=False):
        settings = _told(sandbox, redis_url, cfg, slack, inbox)
        async with Rig(settings, notify=True) as rig, AsyncTestClient(create_app(settings, crm=False)) as api:
            for n, row in enumerate(samples(3)):
                await rig.accept(form(row, n))
            await rig.run_due()
            await _webhooks(rig, sandbox, receiver)
            await rig.run_due()
            before = (await api.get("/metrics", headers=bearer())).text
            contact = hubspot_contacts(sandbox)[0]
            assert contact["properties"]["hubspot_owner_id"] == "7199"
            sandbox.hubspot.ui_update(contact["id"], {"hubspot_owner_id": BOB}, user_id=9)  # triaged to Bob
            assert await _webhooks(rig, sandbox, receiver) == 1
            assert [r.result for r in await rig.run_due()] == ["owner_change"]
            after = (await api.get("/metrics", headers=bearer())).text
    assert 'leadrelay_leads_unassigned{queue="unassigned"} 3.0' in before, before
    assert 'leadrelay_leads_unassigned{queue="unassigned"} 2.0' in after
    assert "leadrelay_leads_held 0.0" in after and "leadrelay_sla_overdue 0.0" in after


HOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HOOKED: dict[str, Any] = {
    "channels": [{"name": "crm_hook", "kind": "webhook", "url_env": "LEADRELAY_TEST_HOOK_URL",
                  "secret_env": "LEADRELAY_TEST_HOOK_SECRET"}],
    "routes": [{"name": "hot_to_hook", "grades": ["hot"], "channels": ["crm_hook"], "tell": ["owner", "manager"]}],
}


async def test_each_follow_through_notice_is_its_own_signed_event_with_its_own_webhook_id(
        redis_url: str, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """A receiver dedupes on webhook-id (Standard Webhooks): a reminder, an escalation and a reassignment that
    reused the routing's id and type would be dropped as its retries. Each is its own event type with its own id;
    a retried delivery of one keeps that id."""
    cfg = config_dir(tmp_path, team=TEAM, routing=ROUTING)
    (cfg / "rules" / "notify.yaml").write_text(yaml.safe_dump(HOOKED), encoding="utf-8")
    with HttpReceiver() as hook, _sandbox(cfg, receiver) as sandbox, time_machine.travel(T0, tick=False) as clock:
        monkeypatch.setenv("LEADRELAY_TEST_HOOK_URL", f"{hook.url}/leads")
        monkeypatch.setenv("LEADRELAY_TEST_HOOK_SECRET", HOOK_SECRET)
        settings = settings_for(sandbox, redis_url, cfg, hubspot_webhook_secret=SECRET)
        async with Rig(settings, notify=True) as rig:
            await _route_hot(rig, sandbox, receiver)  # Ann (owner) and Dana (manager) told of the routing
            clock.move_to(T0 + timedelta(minutes=5))
            hook.status = 503  # the reminder's first try fails; arq retries the same job
            with pytest.raises(Retry):
                await rig.run_due(within_s=0)
            hook.status = 200
            assert [(r.function, r.result) for r in await rig.run_due(within_s=0)] == [
                ("notify", "sent crm_hook owner ann")]
            clock.move_to(T0 + timedelta(minutes=10))
            assert [(r.function, r.result) for r in await rig.run_due(within_s=0)] == [
                ("sla_step", "manager"), ("notify", "sent crm_hook manager dana")]
            clock.move_to(T0 + timedelta(minutes=15))
            assert ("notify", "sent crm_hook owner bob") in [(r.function, r.result) for r in await rig.run_due()]
            await _webhooks(rig, sandbox, receiver)  # the new owner's write comes back: an echo
            clock.move_to(T0 + timedelta(minutes=16))
            await rig.run_due()
    sent = []
    for post in hook.posts:
        msg_id = verify(HOOK_SECRET, post.headers, post.body, now=float(post.headers["webhook-timestamp"]))
        sent.append((post.status, post.json["type"], msg_id))
    kinds = [(status, kind) for status, kind, _ in sent]
    assert kinds == [(200, "lead.routed"), (200, "lead.routed"), (503, "lead.sla_reminder"),
                     (200, "lead.sla_reminder"), (200, "lead.sla_escalated"), (200, "lead.reassigned")]
    ids = [msg_id for _, _, msg_id in sent]
    assert ids[2] == ids[3]  # the retry is the same delivery
    assert len(set(ids)) == 5  # every other notice is one of its own
