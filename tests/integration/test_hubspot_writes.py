"""1,000 decisions into the HubSpot sandbox: call counts, and exactly-once under 30% 429/5xx."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import redis

from adapters.hubspot.client import HubSpotCrm
from bench.crm_writes import OWNERS, TOKEN, calls_by_status, decision_items, write_all, write_calls
from sandbox.common import FaultPlan
from sandbox.server import SandboxServer


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(hubspot={"token": TOKEN, "owners": OWNERS, "tier": "professional",
                                "leadrelay_fields": True}) as s:
        yield s


@pytest.fixture
def crm(server: SandboxServer, redis_url: str) -> HubSpotCrm:
    return HubSpotCrm(token=TOKEN, base_url=server.url, ca_bundle=str(server.ca_path),
                      redis=redis.Redis.from_url(redis_url), rate_per_10s=190, deadline_s=60)


def test_1000_decisions_take_at_most_10_write_calls(server: SandboxServer, crm: HubSpotCrm) -> None:
    items = decision_items(1000)
    crm.find([i.fields["email"] for i in items])
    lookups = server.calls.count("hubspot")
    outcomes = crm.write(items)
    writes = write_calls(server)
    print(f"\n1,000 decisions: {writes} write calls, {lookups} lookup calls; calls {server.calls.snapshot()}")
    assert Counter(o.status for o in outcomes) == {"written": 1000}
    assert writes <= 10
    assert server.calls.count("hubspot", "POST /crm/v3/objects/contacts/batch/upsert", 200) == writes
    assert lookups <= 10
    assert len(server.hubspot.records()["contacts"]) == 1000


def test_1000_decisions_under_30_percent_faults_are_written_exactly_once(
    server: SandboxServer, crm: HubSpotCrm
) -> None:
    server.faults["hubspot"].set(FaultPlan(rate_limit_share=0.15, server_error_share=0.15, latency_ms=200, seed=3))
    items = decision_items(1000, seed=11)
    outcomes = write_all(crm, items)
    again = crm.write(items[:100])  # a replay of already-written decisions changes nothing
    contacts = server.hubspot.records()["contacts"]
    by_email = Counter(c["properties"]["email"] for c in contacts)
    statuses = calls_by_status(server)
    print(f"\nunder faults: calls by status {statuses}; write calls {write_calls(server)}")
    assert statuses.get(429, 0) + statuses.get(502, 0) + statuses.get(503, 0) > 0  # the faults did happen
    assert Counter(o.status for o in outcomes.values()) == {"written": 1000}
    assert len(contacts) == 1000 and max(by_email.values()) == 1
    assert {i.fields["email"] for i in items} == set(by_email)
    assert not any(o.created for o in again)
    keys = {c["properties"]["leadrelay_id"]: c["id"] for c in contacts}
    assert all(keys[o.key] == o.record_id for o in outcomes.values())
