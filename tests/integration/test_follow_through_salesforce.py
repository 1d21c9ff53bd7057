"""Follow-through with Salesforce (the sandbox org over HTTPS, simple-salesforce, real Redis, frozen clock): a
Status a rep moves on arrives as an Outbound Message, is re-read from the org and stops the clock; a call logged
on the Lead (its LastActivityDate) is found when the deadline's job reads the Lead; a Lead nobody works is
reassigned with its new OwnerId written to the org."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from adapters.crm import registry
from adapters.crm.plugin import WebhookRequest
from adapters.salesforce.outbound import ack
from connector.settings import Settings
from tests.integration.follow import Receiver, Rig, form
from tests.integration.harness import config_dir, samples, sandbox_for, settings_for
from tests.integration.test_sla_escalation import HOT, ROUTING, T0

ANN, BOB, DANA = "0058d000000Ann1AAA", "0058d000000Bob1AAA", "0058d000000Dan1AAA"
TEAM: dict[str, Any] = {
    "reps": [
        {"id": "dana", "name": "Dana Boss", "email": "dana@northwind.example", "role": "manager",
         "timezone": "America/New_York", "country": "US", "owner_ids": {"salesforce": DANA}},
        {"id": "ann", "name": "Ann Rep", "email": "ann@northwind.example", "role": "ae", "manager": "dana",
         "timezone": "America/New_York", "country": "US", "owner_ids": {"salesforce": ANN}},
        {"id": "bob", "name": "Bob Rep", "email": "bob@northwind.example", "role": "ae", "manager": "dana",
         "timezone": "America/New_York", "country": "US", "owner_ids": {"salesforce": BOB}},
    ],
    "pools": {"inbound": {"members": ["ann", "bob"]}},
    "queues": {"unassigned": {}},
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(answer=ack(True), path="/webhooks/salesforce")
    yield r
    r.close()


def _settings(sandbox: Any, redis_url: str, cfg: Path) -> Settings:
    sf = sandbox.salesforce
    return settings_for(sandbox, redis_url, cfg, crm="salesforce", salesforce_instance_url=sandbox.url,
                        salesforce_domain=sandbox.url, salesforce_client_id="leadrelay-sandbox-client",
                        salesforce_client_secret="leadrelay-sandbox-secret", salesforce_org_ids=(sf.org_id,),
                        salesforce_user_id=sf.integration_user["Id"])


def _sandbox(cfg: Path, receiver: Receiver) -> Any:
    sandbox = sandbox_for(cfg)
    sandbox.salesforce.options.update(outbound_url=receiver.url, outbound_batch_window_s=0.01)
    return sandbox


async def _outbound(rig: Rig, sandbox: Any, receiver: Receiver, wait_for: int) -> int:
    """The Outbound Messages the org sent: checked and parsed as the API does, and queued."""
    import time

    deadline = time.monotonic() + 10
    while len(receiver.requests) < wait_for and time.monotonic() < deadline:
        time.sleep(0.02)
    queued = 0
    for headers, body in receiver.take():
        got = registry.plugin("salesforce").receive(
            WebhookRequest(method="POST", url=receiver.url, headers=headers, body=body), settings=rig.settings,
            config=rig.svc.config, now=datetime.now(UTC))
        await rig.accept(*got.deliveries)
        queued += len(got.deliveries)
    return queued


def _lead(sandbox: Any, record_id: str) -> dict[str, Any]:
    return dict(sandbox.salesforce.org.tables["Lead"][record_id])


async def _route_hot(rig: Rig, sandbox: Any, receiver: Receiver) -> tuple[str, str]:
    await rig.accept(form(samples(HOT + 1)[HOT], 1))
    ran = await rig.run_due()
    assert [r.function for r in ran] == ["process_delivery", "write_back"]
    lead_id = ran[0].result.split()[1]
    stored = await rig.lead(lead_id)
    record_id = stored["record"].split(":", 1)[1]
    assert _lead(sandbox, record_id)["OwnerId"] == ANN and _lead(sandbox, record_id)["Status"] == "Open - Not Contacted"
    await _outbound(rig, sandbox, receiver, 1)  # our own write: dropped unread
    await rig.run_due()
    return lead_id, record_id


async def test_a_status_moved_in_salesforce_stops_the_clock(redis_url: str, tmp_path: Path,
                                                           receiver: Receiver) -> None:
    cfg = config_dir(tmp_path, team=TEAM, routing=ROUTING)
    with _sandbox(cfg, receiver) as sandbox, time_machine.travel(T0, tick=False) as clock:
        async with Rig(_settings(sandbox, redis_url, cfg)) as rig:
            lead_id, record_id = await _route_hot(rig, sandbox, receiver)
            clock.move_to(T0 + timedelta(minutes=3))
            ann = next(u for u in sandbox.salesforce.users if u["Id"] == ANN)
            sandbox.salesforce.edit_as(ann["Username"], "Lead", record_id, {"Status": "Working - Contacted"})
            assert await _outbound(rig, sandbox, receiver, 1) == 1
            ran = await rig.run_due()
            assert [(r.function, r.result) for r in ran] == [("process_delivery", "first_contact")]
            clock.move_to(T0 + timedelta(minutes=5))
            assert [r.result for r in await rig.run_due()] == ["worked"]
            stored = await rig.lead(lead_id)
    assert rig.told.calls == [] and float(stored["first_contact_at"]) == (T0 + timedelta(minutes=3)).timestamp()


async def test_a_logged_call_is_found_and_a_lead_nobody_works_gets_its_new_owner_in_salesforce(
        redis_url: str, tmp_path: Path, receiver: Receiver) -> None:
    cfg = config_dir(tmp_path, team=TEAM, routing=ROUTING)
    with _sandbox(cfg, receiver) as sandbox, time_machine.travel(T0, tick=False) as clock:
        async with Rig(_settings(sandbox, redis_url, cfg)) as rig:
            lead_id, record_id = await _route_hot(rig, sandbox, receiver)
            for minutes, step in ((5, "remind"), (10, "manager"), (15, "reassigned")):
                clock.move_to(T0 + timedelta(minutes=minutes))
                assert [r.result for r in await rig.run_due()][:1] == [step]
            assert _lead(sandbox, record_id)["OwnerId"] == BOB
            assert await _outbound(rig, sandbox, receiver, 1) == 1  # our write of the new owner: an echo
            assert [r.result for r in await rig.run_due()] == ["echo"]
            clock.move_to(T0 + timedelta(minutes=18))
            sandbox.salesforce.log_activity(record_id)  # Bob logs his call: LastActivityDate is today
            clock.move_to(T0 + timedelta(minutes=20))
            assert [r.result for r in await rig.run_due()] == ["worked"]
            stored = await rig.lead(lead_id)
    assert [e for _, e, _ in rig.told.events()] == ["sla_reminder", "sla_escalation", "sla_reassigned"]
    # the day is all LastActivityDate says: first contact counts from Bob's clock, not before
    assert float(stored["first_contact_at"]) == (T0 + timedelta(minutes=15)).timestamp()
