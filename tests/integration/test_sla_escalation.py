"""Follow-through acceptance (issue 13): first-contact SLAs and after-hours holds, with a frozen clock.

Real Redis, the real HubSpot sandbox over HTTP, the worker's real job functions (process_delivery, write_back,
sweep, sla_step, hold_release) run at frozen times by ``follow.Rig`` (arq's own loop polls with the wall clock):
each job's id, function, arguments and the time it is due are read from Redis — the follow-through schedule, then
arq's queue once the sweep has handed it over — and asserted before it runs. Status and owner changes a person
makes in the sandbox arrive as signed webhooks at a local receiver and go through the plugin's ``receive`` (what
the API runs) into the queue, as the API would queue them.

The team: Ann and Bob in the pool ``inbound`` (New York, Mon-Fri 09:00-17:00), their manager Dana. Wednesday
2026-03-04 15:00 UTC is 10:00 in New York.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from adapters.crm import registry
from adapters.crm.plugin import WebhookRequest
from connector.settings import Settings
from tests.integration.follow import Receiver, Rig, form
from tests.integration.harness import config_dir, hubspot_contacts, samples, sandbox_for, settings_for

NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
SECRET = "follow-through-client-secret"
ANN, BOB, DANA = "7101", "7102", "7100"
HOT, HOT_TOO, WARM = 13, 1, 3  # rows of samples/leads.jsonl: hot, hot, warm under the shipped scoring
TEAM: dict[str, Any] = {
    "reps": [
        {"id": "dana", "name": "Dana Boss", "email": "dana@northwind.example", "role": "manager",
         "timezone": "America/New_York", "country": "US", "owner_ids": {"hubspot": DANA}},
        {"id": "ann", "name": "Ann Rep", "email": "ann@northwind.example", "role": "ae", "manager": "dana",
         "timezone": "America/New_York", "country": "US", "owner_ids": {"hubspot": ANN}},
        {"id": "bob", "name": "Bob Rep", "email": "bob@northwind.example", "role": "ae", "manager": "dana",
         "timezone": "America/New_York", "country": "US", "owner_ids": {"hubspot": BOB}},
    ],
    "pools": {"inbound": {"members": ["ann", "bob"]}},
    "queues": {"unassigned": {"owner_ids": {"hubspot": "7199"}}},
}
ROUTING = {"fallback_queue": "unassigned",
           "rules": [{"name": "inbound", "strategy": "round_robin", "pool": "inbound", "after_hours": "hold"}]}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _setup(tmp_path: Path) -> Path:
    return config_dir(tmp_path, team=TEAM, routing=ROUTING)


def _settings(sandbox: Any, redis_url: str, cfg: Path) -> Settings:
    return settings_for(sandbox, redis_url, cfg, hubspot_webhook_secret=SECRET)


def _sandbox(cfg: Path, receiver: Receiver) -> Any:
    return sandbox_for(cfg, webhook_url=receiver.url, client_secret=SECRET,
                       webhook_properties=["hs_lead_status", "hubspot_owner_id"])


async def _webhooks(rig: Rig, sandbox: Any, receiver: Receiver) -> int:
    """Whatever the sandbox has sent: verified and parsed as the API does, and queued."""
    assert sandbox.hubspot.webhooks.idle(10)
    plugin = registry.plugin("hubspot")
    queued = 0
    for headers, body in receiver.take():
        got = plugin.receive(WebhookRequest(method="POST", url=receiver.url, headers=headers, body=body),
                             settings=rig.settings, config=rig.svc.config, now=datetime.now(UTC))
        if got.deliveries:
            await rig.accept(*got.deliveries)
            queued += len(got.deliveries)
    return queued


async def _route_hot(rig: Rig, sandbox: Any, receiver: Receiver) -> tuple[str, str]:
    """A hot lead from the website form at T0: decided, written with its owner. Returns (lead id, contact id)."""
    await rig.accept(form(samples(HOT + 1)[HOT], 1))
    ran = await rig.run_due()
    assert [r.function for r in ran] == ["process_delivery", "write_back"]
    lead_id = ran[0].result.split()[1]
    stored = await rig.lead(lead_id)
    assert stored["decision"]["score"]["grade"] == "hot"
    contact = next(c for c in hubspot_contacts(sandbox) if c["properties"].get("leadrelay_id") == lead_id)
    assert contact["properties"]["hubspot_owner_id"] == ANN
    await _webhooks(rig, sandbox, receiver)  # our own write's echoes: dropped
    await rig.run_due()
    return lead_id, contact["id"]


def _contact_reads(sandbox: Any) -> int:
    return sum(c["count"] for c in sandbox.calls.snapshot()
               if c["endpoint"].startswith("GET /crm/v3/objects/contacts/{"))


def _trace(stored: dict[str, Any]) -> list[str]:
    return [line for line in stored["decision"]["route"]["trace"] if "first-contact" in line or "first contact" in line]


async def test_a_hot_lead_not_worked_is_reminded_at_5_escalated_at_10_and_reassigned_at_15(
        redis_url: str, tmp_path: Path, receiver: Receiver) -> None:
    cfg = _setup(tmp_path)
    with _sandbox(cfg, receiver) as sandbox, time_machine.travel(T0, tick=False) as clock:
        async with Rig(_settings(sandbox, redis_url, cfg)) as rig:
            lead_id, contact_id = await _route_hot(rig, sandbox, receiver)
            keys = rig.keys
            # the deadline's job, once, under its own id, at 10:05 New York
            assert await rig.scheduled() == [("sla_step", keys.sla_job(lead_id, 1, "remind"), (lead_id, 1, "remind"),
                                              T0 + timedelta(minutes=5))]
            clock.move_to(T0 + timedelta(minutes=4, seconds=59))
            assert await rig.run_due(within_s=0) == [] and rig.told.calls == []

            clock.move_to(T0 + timedelta(minutes=5))
            ran = await rig.run_due(within_s=0)
            assert [(r.job_id, r.at, r.result) for r in ran] == [
                (keys.sla_job(lead_id, 1, "remind"), T0 + timedelta(minutes=5), "remind")]
            assert rig.told.events() == [(lead_id, "sla_reminder", "owner")]
            assert [(j, at) for _, j, _, at in await rig.scheduled()] == [
                (keys.sla_job(lead_id, 1, "manager"), T0 + timedelta(minutes=10))]

            clock.move_to(T0 + timedelta(minutes=10))
            ran = await rig.run_due(within_s=0)
            assert [(r.job_id, r.result) for r in ran] == [(keys.sla_job(lead_id, 1, "manager"), "manager")]
            assert rig.told.events()[1:] == [(lead_id, "sla_escalation", "manager")]
            assert rig.told.calls[1][3].startswith("Not contacted in time: Ann Rep has this lead, no first contact")

            clock.move_to(T0 + timedelta(minutes=15))
            ran = await rig.run_due()
            assert [(r.job_id, r.function, r.result) for r in ran][:1] == [
                (keys.sla_job(lead_id, 1, "reassign"), "sla_step", "reassigned")]
            assert [r.function for r in ran][1:] == ["write_back"]  # the new owner, through the normal write path
            contact = next(c for c in hubspot_contacts(sandbox) if c["id"] == contact_id)
            assert contact["properties"]["hubspot_owner_id"] == BOB
            assert rig.told.events()[2:] == [(lead_id, "sla_reassigned", "new_owner")]
            # Bob's own clock: his deadline is 5 minutes from now
            assert [(j, at) for _, j, _, at in await rig.scheduled()] == [
                (keys.sla_job(lead_id, 2, "remind"), T0 + timedelta(minutes=20))]
            stored = await rig.lead(lead_id)
            text = await rig.metrics()
    assert stored["decision"]["route"]["assignment"]["owner"] == "bob"
    assert stored["owner_written"] == BOB and stored["sla_owner"] == "bob" and stored["sla_tried"] == "ann"
    trace = _trace(stored)
    assert len(trace) == 3
    assert "reminded ann" in trace[0] and "told dana" in trace[1] and "-> Bob Rep" in trace[2]
    for step in ("remind", "manager", "reassign"):
        assert f'leadrelay_sla_steps_total{{step="{step}"}} 1.0' in text


async def test_a_status_change_at_3_minutes_stops_the_clock_and_nobody_is_reminded(
        redis_url: str, tmp_path: Path, receiver: Receiver) -> None:
    cfg = _setup(tmp_path)
    with _sandbox(cfg, receiver) as sandbox, time_machine.travel(T0, tick=False) as clock:
        async with Rig(_settings(sandbox, redis_url, cfg)) as rig:
            lead_id, contact_id = await _route_hot(rig, sandbox, receiver)
            clock.move_to(T0 + timedelta(minutes=3))
            sandbox.hubspot.ui_update(contact_id, {"hs_lead_status": "CONNECTED"}, user_id=9)  # Ann called
            assert await _webhooks(rig, sandbox, receiver) == 1
            ran = await rig.run_due()
            assert [(r.function, r.result) for r in ran] == [("process_delivery", "first_contact")]
            stored = await rig.lead(lead_id)
            assert float(stored["first_contact_at"]) == (T0 + timedelta(minutes=3)).timestamp()

            clock.move_to(T0 + timedelta(minutes=5))
            ran = await rig.run_due()
            assert [(r.function, r.result) for r in ran] == [("sla_step", "worked")]
            clock.move_to(T0 + timedelta(minutes=30))
            assert await rig.run_due() == [] and await rig.scheduled() == []
            text = await rig.metrics()
            stored = await rig.lead(lead_id)
    assert rig.told.calls == []
    # by source, grade, the rep who made it and the UTC hour the lead was received (15:00)
    assert 'leadrelay_first_contact_seconds_sum{grade="hot",hour="15",rep="ann",source="form"} 180.0' in text
    assert "leadrelay_sla_steps_total{" not in text
    assert any("first contact 2026-03-04T15:03Z by ann: 0:03:00 after it was received" in line
               for line in _trace(stored))


async def test_a_call_logged_before_the_deadline_is_found_by_asking_the_crm(
        redis_url: str, tmp_path: Path, receiver: Receiver) -> None:
    """No event for it (the app is not subscribed to the activity dates): the deadline's job reads the contact."""
    cfg = _setup(tmp_path)
    with _sandbox(cfg, receiver) as sandbox, time_machine.travel(T0, tick=False) as clock:
        async with Rig(_settings(sandbox, redis_url, cfg)) as rig:
            lead_id, contact_id = await _route_hot(rig, sandbox, receiver)
            clock.move_to(T0 + timedelta(minutes=4))
            sandbox.hubspot.log_call(contact_id, user_id=9)
            assert await _webhooks(rig, sandbox, receiver) == 0
            clock.move_to(T0 + timedelta(minutes=5))
            reads = _contact_reads(sandbox)
            ran = await rig.run_due()
            assert [(r.function, r.result) for r in ran] == [("sla_step", "worked")]
            assert _contact_reads(sandbox) == reads + 1  # one read of the contact, with its status history
            stored = await rig.lead(lead_id)
    assert rig.told.calls == [] and float(stored["first_contact_at"]) == (T0 + timedelta(minutes=4)).timestamp()


async def test_a_reps_manual_reassignment_in_the_crm_restarts_the_clock_for_the_new_owner(
        redis_url: str, tmp_path: Path, receiver: Receiver) -> None:
    cfg = _setup(tmp_path)
    with _sandbox(cfg, receiver) as sandbox, time_machine.travel(T0, tick=False) as clock:
        async with Rig(_settings(sandbox, redis_url, cfg)) as rig:
            lead_id, contact_id = await _route_hot(rig, sandbox, receiver)
            clock.move_to(T0 + timedelta(minutes=2))
            sandbox.hubspot.ui_update(contact_id, {"hubspot_owner_id": BOB}, user_id=9)
            assert await _webhooks(rig, sandbox, receiver) == 1
            ran = await rig.run_due()
            assert [(r.function, r.result) for r in ran] == [("process_delivery", "owner_change")]
            keys = rig.keys
            assert [(j, at) for _, j, _, at in await rig.scheduled()] == [
                (keys.sla_job(lead_id, 1, "remind"), T0 + timedelta(minutes=5)),
                (keys.sla_job(lead_id, 2, "remind"), T0 + timedelta(minutes=7))]
            clock.move_to(T0 + timedelta(minutes=5))
            assert [r.result for r in await rig.run_due()] == ["stale"]  # Ann's clock is gone
            clock.move_to(T0 + timedelta(minutes=7))
            assert [r.result for r in await rig.run_due()] == ["remind"]
            stored = await rig.lead(lead_id)
    assert rig.told.events() == [(lead_id, "sla_reminder", "owner")] and rig.told.calls[0][3].startswith("Reminder: ")
    assert stored["sla_owner"] == "bob" and any("reminded bob" in line for line in _trace(stored))


@pytest.mark.parametrize(("held_at", "released_at"), [
    (datetime(2026, 3, 6, 22, 0, tzinfo=NY), datetime(2026, 3, 9, 9, 0, tzinfo=NY)),  # Friday night -> Monday
    (datetime(2026, 9, 4, 22, 0, tzinfo=NY), datetime(2026, 9, 8, 9, 0, tzinfo=NY)),  # Labor Day -> Tuesday
], ids=["monday", "tuesday-after-labor-day"])
async def test_leads_held_friday_night_are_released_at_the_pools_next_business_hour_hot_first(
        redis_url: str, tmp_path: Path, receiver: Receiver, held_at: datetime, released_at: datetime) -> None:
    cfg = _setup(tmp_path)
    rows = samples(20)
    with _sandbox(cfg, receiver) as sandbox, time_machine.travel(held_at, tick=False) as clock:
        async with Rig(_settings(sandbox, redis_url, cfg)) as rig:
            leads = []
            for n, row in enumerate((rows[WARM], rows[HOT], rows[HOT_TOO])):  # the warm one arrives first
                clock.move_to(held_at + timedelta(minutes=n))
                await rig.accept(form(row, n))
                ran = await rig.run_due()
                leads.append(ran[0].result.split()[1])
            warm, hot, hot_too = leads
            contacts = hubspot_contacts(sandbox)
            assert len(contacts) == 3 and all("hubspot_owner_id" not in c["properties"] for c in contacts)
            release = released_at.astimezone(UTC)
            assert await rig.scheduled() == [("hold_release", rig.keys.hold_release_job(release.timestamp()),
                                              (release.timestamp(),), release)]
            clock.move_to(released_at - timedelta(seconds=1))
            assert await rig.run_due(within_s=0) == []

            clock.move_to(released_at)
            ran = await rig.run_due()
            assert [(r.function, r.result) for r in ran] == [("hold_release", "released 3"),
                                                             ("write_back", "written 3")]
            owners = {c["properties"]["leadrelay_id"]: c["properties"].get("hubspot_owner_id")
                      for c in hubspot_contacts(sandbox)}
            # the clocks start with the owners: hot 5 business minutes, warm 2 hours
            clocks = {a[0]: at for f, _, a, at in await rig.scheduled() if f == "sla_step"}
            stored = await rig.lead(hot)
    assert [lead for lead, event, _ in rig.told.events() if event == "hold_released"] == [hot, hot_too, warm]
    assert owners == {warm: ANN, hot: BOB, hot_too: ANN}  # round robin in arrival order at decision time
    assert clocks == {hot: released_at + timedelta(minutes=5), hot_too: released_at + timedelta(minutes=5),
                      warm: released_at + timedelta(hours=2)}
    assert any(f"after-hours hold released {release:%Y-%m-%dT%H:%M}Z: owner bob written" in line
               for line in stored["decision"]["route"]["trace"])


async def test_a_step_due_within_seconds_goes_to_arq_at_once_and_only_once(redis_url: str, tmp_path: Path,
                                                                        receiver: Receiver) -> None:
    cfg = _setup(tmp_path)
    with _sandbox(cfg, receiver) as sandbox, time_machine.travel(T0, tick=False):
        async with Rig(_settings(sandbox, redis_url, cfg)) as rig:
            queue, job_id = rig.svc.sla.queue, rig.keys.sla_job("ld_x", 1, "remind")
            soon, later = T0 + timedelta(seconds=10), T0 + timedelta(minutes=10)
            assert await queue.defer("sla_step", ("ld_x", 1, "remind"), job_id, soon)
            assert not await queue.defer("sla_step", ("ld_x", 1, "remind"), job_id, soon)  # arq holds it
            assert await queue.defer("hold_release", (later.timestamp(),), "later", later)
            assert await rig.queued() == [(job_id, "sla_step", ("ld_x", 1, "remind"), soon)]
            assert [(f, at) for f, _, _, at in await rig.scheduled()] == [("hold_release", later)]
