"""Follow-through after the decision (issue 13, items 4 and 5), with real Redis and the HubSpot sandbox over HTTPS:

(a) a lead decided hot at T0 whose pricing visits decay is re-scored warm by the scheduled job at T0 + 15 days and
    the new score and grade are written to the CRM; its lifecycle stage stays where it was (never backwards);
(b) page views and email clicks HubSpot tracks arrive as signed contact.propertyChange webhooks and re-score the lead;
(c) a lead a rep closes as lost for bad timing enters re-engagement after 90 days, and its next page view routes it
    again by the re-engagement rule, with the new owner written.

The world's clock is moved with time-machine (the sandbox stamps and signs its webhooks with it too); the worker's
parts run in this process (``Service``) and the job function is called directly.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import time_machine
from redis.asyncio import Redis

from adapters.crm import registry
from adapters.crm.plugin import WebhookRequest
from connector.decision import Decision, decision_from_json
from sandbox.server import SandboxServer
from tests.integration.harness import PREFIX, config_dir, form_delivery, hubspot_contacts, sandbox_for, settings_for
from worker import lead_ids
from worker.decide import Outcome
from worker.metrics import Metrics, render_async
from worker.rescore import rescore_job
from worker.service import Service
from worker.store import Store

SECRET = "hubspot-client-secret-for-follow-through"
T0 = datetime(2027, 3, 1, 14, 0, tzinfo=UTC)  # a Monday, 9:00 in New York
FOLLOWED = ["hubspot_owner_id", "lifecyclestage", "hs_lead_status", "leadrelay_lost_reason",
            "hs_analytics_num_page_views", "hs_email_click", "leadrelay_score"]


def row(email: str, *, pricing_visits: int = 0, at: datetime = T0) -> dict[str, Any]:
    """A website form: fit 45 + asked for pricing 25 = 70 (warm, mql); each pricing visit just before adds ~10."""
    events = [{"kind": "pricing_visit", "at": (at - timedelta(minutes=30 * (i + 1))).isoformat(), "detail": f"/p{i}"}
              for i in range(pricing_visits)]
    return {"email": email, "first_name": "Dana", "last_name": "Reyes", "company": "Brightpath Software",
            "company_size": "200-500", "industry": "Software", "country": "US", "state": "NY", "interest": "pricing",
            "job_title": "Analytics Lead", "submitted_at": at.isoformat(), "events": events}


class Receiver:
    """Loopback HTTP endpoint the sandbox sends its webhooks to; keeps each request for the test to hand on."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []  # (headers in lower case, body)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/hubspot"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@dataclass
class World:
    svc: Service
    sandbox: SandboxServer
    receiver: Receiver
    redis: Redis
    jobs: int = 0

    async def submit(self, payload: dict[str, Any], i: int) -> Outcome:
        return await self.svc.process(form_delivery(payload, i))

    async def write(self) -> int:
        """What the write_back jobs would do: every waiting write goes to the CRM."""
        written = 0
        while await self.svc.store.pending_writes("hubspot"):
            self.jobs += 1
            n, keep = await self.svc.write_back.write("hubspot", f"t-write-{self.jobs}")
            assert not keep
            written += n
        return written

    async def webhooks(self) -> list[Outcome]:
        """The sandbox's webhooks so far, verified and read by the HubSpot plugin as the API does, then processed."""
        assert self.sandbox.hubspot.webhooks.idle(10)
        bodies, self.receiver.requests = self.receiver.requests, []
        plugin, out = registry.plugin("hubspot"), []
        for headers, body in bodies:
            got = plugin.receive(WebhookRequest(method="POST", url=self.receiver.url, headers=headers, body=body),
                                 settings=self.svc.settings, config=self.svc.config, now=datetime.now(UTC))
            for d in got.deliveries:
                out.append(await self.svc.process(d))
        return out

    def contact(self) -> dict[str, Any]:
        (c,) = hubspot_contacts(self.sandbox)
        return c

    async def decision(self, lead_id: str) -> Decision:
        return decision_from_json((await self.svc.store.lead(lead_id))["decision"])

    async def metric(self, prefix: str) -> list[str]:
        """The Prometheus lines starting with ``prefix``."""
        text = (await render_async(self.redis, PREFIX, {})).decode()
        return [line for line in text.splitlines() if line.startswith(prefix)]

    async def due(self, which: str, lead_id: str) -> float | None:
        key = self.svc.store.keys.rescore_due if which == "rescore" else self.svc.store.keys.recycle_due
        return await self.redis.zscore(key, lead_id)


@pytest.fixture
async def world(redis_url: str, tmp_path: Path) -> AsyncIterator[World]:
    receiver = Receiver()
    cfg = config_dir(tmp_path)
    with sandbox_for(cfg, webhook_url=receiver.url, client_secret=SECRET, webhook_properties=FOLLOWED) as sandbox:
        settings = settings_for(sandbox, redis_url, cfg, hubspot_webhook_secret=SECRET)
        redis = Redis.from_url(redis_url)
        crm = registry.build_client(settings, None)
        before = lead_ids.loaded()
        lead_ids.use_secret((await lead_ids.load_secret(redis, PREFIX, settings.lead_id_secret))[0])  # as startup

        async def later(crm: str, job_id: str, at: float | None) -> None:
            """The write_back jobs are run by ``World.write``."""

        svc = Service(settings, registry.load_config(cfg), Store(redis, PREFIX), crm, enqueue_write_back=later,
                      metrics=Metrics(redis, PREFIX))
        yield World(svc, sandbox, receiver, redis)
        lead_ids.use_secret(before)
        await redis.aclose()
        crm.close()
    receiver.server.shutdown()


@pytest.fixture
def clock() -> Iterator[Any]:
    """Move the world's clock: ``clock(at)`` travels there (time goes on from it unless ``tick=False``)."""
    travellers: list[Any] = []

    def travel(at: datetime, *, tick: bool = True) -> None:
        if travellers:
            travellers.pop().stop()
        t = time_machine.travel(at, tick=tick)
        t.start()
        travellers.append(t)

    yield travel
    for t in travellers:
        t.stop()


async def test_a_decayed_hot_lead_is_rescored_warm_by_the_job_and_its_stage_stays(world: World, clock: Any) -> None:
    clock(T0)
    assert (await world.submit(row("dana.reyes@brightpath-software.com", pricing_visits=2), 0)).status == "decided"
    assert await world.write() == 1
    first = world.contact()["properties"]
    assert (first["leadrelay_grade"], first["lifecyclestage"]) == ("hot", "salesqualifiedlead")
    lead_id = first["leadrelay_id"]
    due = await world.due("rescore", lead_id)
    # 70 + two pricing visits (~20, halving weekly): below the SQL threshold 80 in about a week
    assert due is not None and T0 + timedelta(days=6) < datetime.fromtimestamp(due, UTC) < T0 + timedelta(days=8)
    upserts = world.sandbox.calls.count("hubspot", "POST /crm/v3/objects/contacts/batch/upsert")

    clock(T0 + timedelta(days=3), tick=False)  # not due yet: the job reads nothing
    assert await rescore_job({"svc": world.svc}) == "0 re-scored, 0 entered re-engagement"
    assert await world.svc.store.pending_writes("hubspot") == 0

    clock(T0 + timedelta(days=15), tick=False)  # behaviour ~4.5: total ~74.5, below hot (75) and SQL (80)
    assert await rescore_job({"svc": world.svc}) == "1 re-scored, 0 entered re-engagement"
    clock(T0 + timedelta(days=15, minutes=1))
    assert await world.write() == 1
    now = world.contact()["properties"]
    assert world.sandbox.calls.count("hubspot", "POST /crm/v3/objects/contacts/batch/upsert") == upserts + 1
    assert now["leadrelay_grade"] == "warm" and 70 < float(now["leadrelay_score"]) < 75
    assert now["lifecyclestage"] == "salesqualifiedlead"  # never backwards
    assert (now["hubspot_owner_id"], now["hs_lead_status"]) == (first["hubspot_owner_id"], first["hs_lead_status"])
    d = await world.decision(lead_id)
    assert (d.score.grade, d.score.stage) == ("warm", "sql")
    (line,) = d.history
    assert "hot -> warm" in line and "stage sql kept" in line and "behaviour points decayed" in line
    assert await world.due("rescore", lead_id) is None  # nothing left between 74.5 and its floor (70)
    assert await world.metric('leadrelay_rescored_total{grade="warm",why="decay"}') != []
    # received -> assigned: once, for the decision (the re-score writes no owner, and is no lead arriving)
    assert await world.metric("leadrelay_speed_to_lead_seconds_count") == [
        'leadrelay_speed_to_lead_seconds_count{crm="hubspot"} 1.0']
    (assigned,) = await world.metric("leadrelay_assigned_seconds_count")
    assert 'source="form"' in assigned and f'rep="{d.route.assignment.owner}"' in assigned and 'hour="14"' in assigned
    stored = await world.svc.store.lead(lead_id)
    assert stored["assigned_to"].decode() == d.route.assignment.owner and float(stored["assigned_at"]) < due


async def test_page_views_and_email_clicks_from_hubspot_rescore_the_lead(world: World, clock: Any) -> None:
    clock(T0)
    await world.submit(row("sam.ortiz@brightpath-software.com"), 0)  # 70: warm, mql
    await world.write()
    echoes = await world.webhooks()  # our own write comes back: recognised, nothing done
    assert echoes and {o.status for o in echoes} == {"echo"}
    contact = world.contact()
    lead_id = contact["properties"]["leadrelay_id"]
    assert contact["properties"]["leadrelay_grade"] == "warm"

    clock(T0 + timedelta(hours=2))
    for views in (1, 2, 3):  # three visits (engaged_browsing needs 3) ...
        world.sandbox.hubspot.track(contact["id"], {"hs_analytics_num_page_views": str(views)})
    world.sandbox.hubspot.track(contact["id"], {"hs_email_click": "1"})  # ... and an email click: 70 + 3 + 2
    outcomes = await world.webhooks()
    assert [o.status for o in outcomes] == ["rescored"] * 4
    upserts = world.sandbox.calls.count("hubspot", "POST /crm/v3/objects/contacts/batch/upsert")
    # the first two views gave no points yet: no write; the third and the click did, sent in one call
    assert await world.write() == 2
    assert world.sandbox.calls.count("hubspot", "POST /crm/v3/objects/contacts/batch/upsert") == upserts + 1
    now = world.contact()["properties"]
    assert (float(now["leadrelay_score"]), now["leadrelay_grade"]) == (75, "hot")
    assert now["lifecyclestage"] == "marketingqualifiedlead"  # 75 is not SQL (80): the stage stays
    d = await world.decision(lead_id)
    assert sorted(e.kind for e in d.lead.events) == ["email_click", "page_view", "page_view", "page_view"]
    assert len(d.history) == 4 and "warm -> hot" in d.history[-1]
    assert await world.due("rescore", lead_id) is not None  # the new points decay: it is due again later
    assert {o.status for o in await world.webhooks()} <= {"echo"}  # the score we wrote: not behaviour


async def test_a_lead_lost_for_timing_comes_back_after_90_days_and_is_routed_again(world: World, clock: Any) -> None:
    clock(T0)
    await world.submit(row("lee.park@brightpath-software.com"), 0)  # warm: the SDR rotation
    await world.write()
    await world.webhooks()
    contact = world.contact()
    lead_id, first_owner = contact["properties"]["leadrelay_id"], contact["properties"]["hubspot_owner_id"]
    first = await world.decision(lead_id)
    assert first.route.assignment.rule == "warm_to_sdr"

    lost_at = T0 + timedelta(days=1)
    clock(lost_at)  # the rep disqualifies the lead: bad timing
    world.sandbox.hubspot.ui_update(contact["id"], {"hs_lead_status": "UNQUALIFIED", "leadrelay_lost_reason": "timing"})
    # disqualifying is working the lead too: an event that only says so (SLA) answers first_contact
    assert {o.status for o in await world.webhooks()} <= {"recycle_scheduled", "status_kept", "first_contact"}
    due = await world.due("recycle", lead_id)
    assert due is not None and abs(due - (lost_at + timedelta(days=90)).timestamp()) < 60

    clock(lost_at + timedelta(days=30))  # interest before the delay is over: re-scored, not routed again
    world.sandbox.hubspot.track(contact["id"], {"hs_analytics_num_page_views": "1"})
    assert [o.status for o in await world.webhooks()] == ["rescored"]
    clock(lost_at + timedelta(days=60), tick=False)
    assert (await rescore_job({"svc": world.svc})).endswith("0 entered re-engagement")

    clock(lost_at + timedelta(days=90, minutes=5), tick=False)
    assert (await rescore_job({"svc": world.svc})).endswith("1 entered re-engagement")
    assert (await world.svc.store.lead(lead_id))["recycle_ready"] == b"1"
    assert await world.due("recycle", lead_id) is None

    clock(lost_at + timedelta(days=95))  # renewed behaviour: a page view routes it again
    world.sandbox.hubspot.track(contact["id"], {"hs_analytics_num_page_views": "2"})
    (outcome,) = [o for o in await world.webhooks() if o.status != "echo"]
    assert outcome.status == "rerouted"
    assert await world.write() == 1
    d = await world.decision(lead_id)
    a = d.route.assignment
    assert a.rule == "re_engagement" and a.owner in world.svc.config.team.pools["sdr"].members
    now = world.contact()["properties"]
    assert now["hubspot_owner_id"] == world.svc.config.team.by_id[a.owner].owner_ids["hubspot"]
    assert now["hubspot_owner_id"] != first_owner  # the rotation moved on: a fresh rep
    assert now["hs_lead_status"] == "NEW"  # open again
    assert [h.split(" ", 1)[1].split(" (")[0] for h in d.history if "re-scored" not in h] == [
        "lost in the CRM", "entered re-engagement", "routed again after re-engagement"]
    stored = await world.svc.store.lead(lead_id)
    assert "recycle_ready" not in stored and "recycle_reason" not in stored
    assert stored["assigned_to"].decode() == a.owner  # received -> assigned, for the new routing
    steps = {line.split("step=")[1].split('"')[1] for line in await world.metric("leadrelay_recycle_total{")}
    assert steps == {"recycle_scheduled", "entered", "rerouted"}
    assert len(hubspot_contacts(world.sandbox)) == 1


async def test_a_new_form_after_the_delay_routes_a_recycled_lead_again(world: World, clock: Any) -> None:
    clock(T0)
    email = "kai.moreno@brightpath-software.com"
    await world.submit(row(email), 0)
    await world.write()
    await world.webhooks()
    contact = world.contact()
    lead_id = contact["properties"]["leadrelay_id"]
    clock(T0 + timedelta(hours=3))
    world.sandbox.hubspot.ui_update(contact["id"], {"hs_lead_status": "BAD_TIMING"})  # the status alone says why
    await world.webhooks()
    clock(T0 + timedelta(days=91), tick=False)
    assert (await rescore_job({"svc": world.svc})).endswith("1 entered re-engagement")
    clock(T0 + timedelta(days=92))
    outcome = await world.submit(row(email, at=T0 + timedelta(days=92)), 1)
    assert outcome.status == "rerouted" and outcome.lead_id == lead_id
    await world.write()
    d = await world.decision(lead_id)
    assert d.route.assignment.rule == "re_engagement" and "a new form delivery" in d.history[-1]
    # a second form after that is an ordinary update again: the owner stays
    clock(T0 + timedelta(days=93))
    assert (await world.submit(row(email, at=T0 + timedelta(days=93)), 2)).status == "duplicate"

