"""Issue 11, "nothing kept forever": leads, the identity index, raw payloads and dead letters expire after their
retention periods; the dead-letter list is bounded, counts what it drops and warns when it grows."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from connector.ports import Delivery, WriteItem, WriteOutcome
from connector.settings import load_settings
from worker.dead_letters import dead_letter_delivery, dead_letter_write
from worker.metrics import Metrics, Recorder, render_async
from worker.store import DeadLetter, Retention, Store, WriteTask
from worker.store.keys import Keys
from worker.upkeep import trim_dead_letters

P = "test-lr:"
K = Keys(P)
DAY = 86_400
RETENTION = Retention(lead_s=90 * DAY, identity_s=365 * DAY, payload_s=30 * DAY, dead_letter_s=20 * DAY,
                      dead_letter_max=5)


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    r = Redis.from_url(redis_url)
    yield Store(r, P, retention=RETENTION)
    await r.aclose()


def task(lead: str) -> WriteTask:
    return WriteTask(crm="hubspot", lead_id=lead, item=WriteItem(key=lead, fields={"email": f"{lead}@x.io"}),
                     received_at=1.0, delivery=f"form:{lead}")


def _near(ttl: int, want: int) -> bool:
    return want - 60 <= ttl <= want


async def test_a_lead_and_its_identity_expire_and_every_change_renews_them(store: Store) -> None:
    ident = "email:jane@acme.example"
    await store.commit(lead_id="ld_a", decision=b"{}", changes=(), ident_keys=(ident,), task=task("ld_a"),
                       done=("form", "d1"))
    r = store.r
    assert _near(await r.ttl(K.lead("ld_a")), 90 * DAY)
    assert _near(await r.ttl(K.identity(ident)), 365 * DAY)
    assert await store.lead_for([ident]) == "ld_a"
    await r.expire(K.lead("ld_a"), 10)
    await store.set_lead_fields("ld_a", owner_locked="rep")
    assert _near(await r.ttl(K.lead("ld_a")), 90 * DAY)
    # the person seen again: their identity entry lives another retention period
    await r.expire(K.identity(ident), 10)
    token, known, _ = await store.lock_and_find(ident, [ident])
    await store.unlock(ident, token)
    assert known == "ld_a" and _near(await r.ttl(K.identity(ident)), 365 * DAY)
    # the CRM write's result renews the lead and gives the record link the lead's lifetime
    await r.expire(K.lead("ld_a"), 10)
    taken = await store.take_batch("hubspot", "job-1", 10)
    await store.finish_batch("hubspot", "job-1", results=[(taken[0], b"{}", "101")])
    assert _near(await r.ttl(K.lead("ld_a")), 90 * DAY)
    assert _near(await r.ttl(K.record("hubspot", "101")), 90 * DAY)


async def test_the_first_identity_claim_still_wins(store: Store) -> None:
    ident = "email:jane@acme.example"
    for lead in ("ld_a", "ld_b"):
        await store.commit(lead_id=lead, decision=b"{}", changes=(), ident_keys=(ident, f"phone:{lead}"),
                           task=None, done=("form", lead))
    assert await store.lead_for([ident]) == "ld_a"
    assert await store.lead_for(["phone:ld_b"]) == "ld_b"


async def test_identities_in_the_old_single_hash_are_found_then_moved(store: Store) -> None:
    await store.r.hset(K.ident, mapping={"email:old@x.io": "ld_old", "phone:+1555": "ld_old"})
    assert await store.lead_for(["email:old@x.io"]) == "ld_old"  # found before the sweep moved it
    _, known, _ = await store.lock_and_find("email:old@x.io", ["email:old@x.io"], ttl_s=1)
    assert known == "ld_old"
    assert await store.migrate_identities() == 2
    assert not await store.r.exists(K.ident)
    assert _near(await store.r.ttl(K.identity("email:old@x.io")), 365 * DAY)
    assert await store.lead_for(["phone:+1555"]) == "ld_old"


async def test_dead_letters_expire_a_payload_no_later_than_its_retention(store: Store) -> None:
    d = Delivery(source="form", delivery_id="m1", received_at=datetime.now(UTC), payload={"email": "a@b.io"},
                 form="website")
    await dead_letter_delivery(store, d, "bad input: email: not an address")
    await dead_letter_write(store, task("ld_w"), WriteOutcome(key="ld_w", status="permanent", message="no"))
    ids = {dl.kind: dl.id for dl in await store.dead_letters()}
    # the delivery's entry holds the sender's raw payload: min(dead letters 20 d, payloads 30 d)
    assert _near(await store.r.ttl(K.dlq_entry(ids["delivery"])), 20 * DAY)
    assert _near(await store.r.ttl(K.dlq_entry(ids["write"])), 20 * DAY)
    short = Store(store.r, P, retention=Retention(payload_s=3 * DAY, dead_letter_s=20 * DAY))
    await dead_letter_delivery(short, Delivery(source="form", delivery_id="m2", received_at=datetime.now(UTC),
                                               payload={}, form="website"), "bad input")
    assert _near(await store.r.ttl(K.dlq_entry("delivery:form:m2")), 3 * DAY)


async def test_the_dead_letter_list_is_bounded_counted_and_warned_about(store: Store, redis_url: str) -> None:
    now = time.time()
    await store.r.zadd(K.dlq, {"write:ancient:1": now - 21 * DAY})  # older than the retention
    for i in range(8):
        await store.dead_letter(DeadLetter(id=f"write:l{i}:1", kind="write", reason=f"permanent: r{i}", at=now + i))
    metrics = Metrics(store.r, P, flush_s=0)
    settings = load_settings({}, dead_letter_max=5, dead_letter_warn_at=4)
    with capture_logs() as logs:
        dropped = await trim_dead_letters(store, settings, Recorder(metrics), now=now + 10)
    await metrics.flush()
    assert dropped == 4  # the ancient one, and the three oldest over the cap of five
    assert await store.dead_letter_count() == 5
    assert [dl.id for dl in await store.dead_letters()] == [f"write:l{i}:1" for i in range(3, 8)]
    assert not await store.r.exists(K.dlq_entry("write:l0:1"))
    text = (await render_async(store.r, P, {})).decode()
    assert any(line.startswith("leadrelay_dead_letters_dropped_total") and line.endswith(" 4.0")
               for line in text.splitlines()), text
    assert any(e["event"] == "dead_letters_growing" and e["log_level"] == "warning" for e in logs), logs


async def test_a_dead_delivery_whose_payload_expired_leaves_the_list(store: Store) -> None:
    short = Store(store.r, P, retention=Retention(payload_s=3 * DAY, dead_letter_s=20 * DAY))
    now = time.time()
    await short.dead_letter(DeadLetter(id="delivery:form:m1", kind="delivery", reason="bad input", at=now - 4 * DAY))
    await short.dead_letter(DeadLetter(id="write:l1:1", kind="write", reason="permanent: x", at=now - 4 * DAY))
    await store.r.delete(K.dlq_entry("delivery:form:m1"))  # as Redis expires it after the 3 days
    assert await short.trim_dead_letters(now) == 1
    assert [dl.id for dl in await short.dead_letters()] == ["write:l1:1"]
    assert await short.dead_letter_count() == 1
