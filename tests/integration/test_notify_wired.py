"""Notifications through the real worker path: a form delivery is decided, written to the HubSpot sandbox, and only
then its notifications are queued (one arq job per channel and person) and sent — to a real local HTTP receiver
standing in for Slack, and a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.integration.burst import run_burst
from tests.integration.harness import (
    PREFIX,
    ROOT,
    WorkerProcs,
    config_dir,
    enqueue_forms,
    hubspot_contacts,
    pool_team,
    sandbox_for,
    settings_for,
    wait_for,
)
from tests.integration.receivers import HttpReceiver, Inbox, text_of
from worker.dead_letters import replay
from worker.metrics import render_async
from worker.queue import connect
from worker.store import Store

HOT = "paul.smith@jimenezvasquez.com"  # a CEO asking for a demo from the pricing page: score 100, hot


def _row(email: str) -> dict[str, Any]:
    rows = [json.loads(x) for x in (ROOT / "samples" / "leads.jsonl").read_text().splitlines() if x.strip()]
    return next(r for r in rows if r["email"] == email)


def _team_with_a_manager() -> tuple[dict[str, Any], dict[str, Any]]:
    """Two reps around the clock in one pool, and their manager (told of hot leads by email)."""
    team, routing = pool_team({"ann": 1, "bob": 1})
    for rep in team["reps"]:
        rep["manager"] = "boss"
    boss = {**team["reps"][0], "id": "boss", "name": "Bo Boss", "email": "boss@northwind.example", "role": "manager",
            "owner_ids": {"hubspot": "7100", "salesforce": "0058d000009BossAAA"}}
    boss.pop("manager")
    team["reps"].append(boss)
    return team, routing


async def _burst(settings: Any) -> None:
    await run_burst(settings)


async def _metric_lines(redis_url: str, name: str) -> list[str]:
    r = Redis.from_url(redis_url)
    try:
        text = (await render_async(r, PREFIX, {})).decode()
    finally:
        await r.aclose()
    return [line for line in text.splitlines() if line.startswith(name + "{")]


async def test_a_hot_lead_is_told_once_on_slack_and_by_email_after_its_crm_write(redis_url: str,
                                                                                 tmp_path: Path) -> None:
    team, routing = _team_with_a_manager()
    cfg = config_dir(tmp_path, team=team, routing=routing)
    with sandbox_for(cfg) as sandbox, HttpReceiver() as slack, Inbox() as inbox:
        settings = settings_for(sandbox, redis_url, cfg, slack_webhook_url=f"{slack.url}/services/T1/B1/x",
                                smtp_host="127.0.0.1", smtp_port=inbox.port, smtp_starttls=False,
                                smtp_sender="leadrelay@northwind.example", hubspot_portal_id=sandbox.hubspot.portal_id)
        await enqueue_forms(redis_url, [_row(HOT)])
        await _burst(settings)
        [contact] = hubspot_contacts(sandbox)
        r = Redis.from_url(redis_url)
        store = Store(r, PREFIX)
        lead_id = (await r.get(f"{PREFIX}done:form:d0")).decode()
        [post] = slack.delivered()
        first = await store.lead(lead_id)
        # the same person sends the form again, and a write_back run finds the lead in its landed list again (as
        # after a worker killed between recording the write and queueing): nobody is told twice
        await enqueue_forms(redis_url, [{**_row(HOT), "message": "call me"}, _row(HOT)])  # d0 again is a no-op
        await r.rpush(store.keys.write_landed("hubspot", f"{PREFIX}write_back:hubspot:again"), lead_id)
        pool = await connect(redis_url, PREFIX)
        await pool.enqueue_job("write_back", "hubspot", _job_id=f"{PREFIX}write_back:hubspot:again")
        await pool.aclose()
        await _burst(settings)
        stored = await store.lead(lead_id)
        await r.aclose()
    assert post.path == "/services/T1/B1/x" and post.headers["content-type"] == "application/json"
    body = post.json
    assert body["text"].startswith("New lead: Paul Smith — Jimenez-Vasquez, score 100 (hot) → Rep ")
    owner = json.loads(stored["decision"])["route"]["assignment"]["owner"]
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in body["blocks"][1]["fields"]}
    assert fields["Email"] == HOT and fields["*Score*"] == "100 (hot)" and fields["*Owner*"] == f"Rep {owner.title()}"
    link = body["blocks"][-1]["elements"][0]["url"]
    assert link == f"https://app.hubspot.com/contacts/{sandbox.hubspot.portal_id}/record/0-1/{contact['id']}"
    assert len(slack.delivered()) == 1, [p.json["text"] for p in slack.delivered()]
    [(sender, to, msg)] = inbox.messages
    assert (sender, to) == ("leadrelay@northwind.example", ["boss@northwind.example"])
    assert msg["Subject"] == "New hot lead: Paul Smith (Jimenez-Vasquez), score 100"
    assert f"Email: {HOT}" in text_of(msg) and link in text_of(msg)
    assert float(first["written_at"]) <= float(first["notified_at"]) == float(stored["notified_at"])
    assert stored[f"notice:routed:sales_slack:owner:{owner}"].startswith(b"sent ")
    assert stored["notice:routed:manager_email:manager:boss"].startswith(b"sent ")
    sent = await _metric_lines(redis_url, "leadrelay_notifications_total")
    assert 'leadrelay_notifications_total{channel="sales_slack",outcome="sent"} 1.0' in sent, sent
    assert 'leadrelay_notifications_total{channel="manager_email",outcome="sent"} 1.0' in sent, sent


async def test_a_channel_refusing_for_good_is_dead_lettered_and_replayed(redis_url: str, tmp_path: Path) -> None:
    team, routing = pool_team({"ann": 1})
    cfg = config_dir(tmp_path, team=team, routing=routing)
    with sandbox_for(cfg) as sandbox, HttpReceiver() as slack:
        slack.status = 404  # Slack's answer for a removed hook: no wait mends it
        settings = settings_for(sandbox, redis_url, cfg, slack_webhook_url=f"{slack.url}/hook")
        await enqueue_forms(redis_url, [_row(HOT)])
        await _burst(settings)
        assert len(hubspot_contacts(sandbox)) == 1
        r = Redis.from_url(redis_url)
        store = Store(r, PREFIX)
        [dead] = await store.dead_letters()
        lead_id = (await r.get(f"{PREFIX}done:form:d0")).decode()
        failed = (await store.lead(lead_id))["notice:routed:sales_slack:owner:ann"].decode()
        slack.status = 200  # the hook is set up again
        pool = await connect(redis_url, PREFIX)
        assert await replay(store, pool, dead.id)
        await pool.aclose()
        await _burst(settings)
        stored = await store.lead(lead_id)
        await r.aclose()
    assert (dead.kind, dead.lead_id, dead.source, dead.attempts) == ("notification", lead_id, "sales_slack", 1)
    assert dead.reason.startswith("FatalError: Slack webhook: HTTP 404") and failed.startswith("failed: FatalError")
    assert [p.status for p in slack.posts] == [404, 200]
    assert stored["notice:routed:sales_slack:owner:ann"].startswith(b"sent ") and "notified_at" in stored
    counted = await _metric_lines(redis_url, "leadrelay_notifications_total")
    assert 'leadrelay_notifications_total{channel="sales_slack",outcome="failed"} 1.0' in counted, counted


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_slack_down_for_a_minute_holds_up_neither_the_crm_write_nor_the_email(redis_url: str,
                                                                              tmp_path: Path) -> None:
    """Slack answers 500 for 60 s of wall time: the lead is in the CRM within seconds, the manager's email arrives
    at once, and the Slack message arrives after Slack recovers — once."""
    import asyncio

    team, routing = _team_with_a_manager()
    cfg = config_dir(tmp_path, team=team, routing=routing)
    down_until = time.time() + 60.0
    with sandbox_for(cfg) as sandbox, HttpReceiver() as slack, Inbox() as inbox:
        slack.status = lambda path: 500 if time.time() < down_until else 200
        settings = settings_for(sandbox, redis_url, cfg, slack_webhook_url=f"{slack.url}/hook", smtp_host="127.0.0.1",
                                smtp_port=inbox.port, smtp_starttls=False)
        with WorkerProcs(settings, n=1) as procs:
            posted = time.time()
            asyncio.run(enqueue_forms(redis_url, [_row(HOT)]))
            wait_for(lambda: len(hubspot_contacts(sandbox)) == 1, 5.0, "the lead in the CRM (Slack failing)")
            in_crm = time.time() - posted
            wait_for(lambda: len(inbox.messages) == 1, 5.0, "the manager's email (Slack failing)")
            # the two channels are separate jobs: Slack's first try may come just after the email
            wait_for(lambda: bool(slack.posts), 5.0, "a first Slack try (while down)")
            assert not slack.delivered(), "Slack answered 200 while it was meant to be down"
            wait_for(lambda: len(slack.delivered()) == 1, 150.0, "the Slack message after recovery")
            time.sleep(3.0)  # long enough for a second delivery to show up, if there were one
            logs = procs.stop()
    [post] = slack.delivered()
    assert in_crm < 5.0
    assert post.at >= down_until and HOT in post.body.decode()
    failed = [p for p in slack.posts if p.status == 500]
    assert len(failed) >= 5, f"{len(failed)} tries in a minute: not retried on its own"
    assert len(slack.posts) == len(failed) + 1
    assert "notification_retry" in logs[0]
