"""Who decided each lead, the decisions index by time and the per-day rule hit counts: written by the commit itself,
for new assignments only, and read by ``Store.decisions_between`` / ``Store.rule_hits`` (the admin API's search)."""

from __future__ import annotations

import json
import os
import socket
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from connector.decision import StateChange, decision_from_json
from connector.ports import WriteItem
from tests.integration.burst import run_burst
from tests.integration.harness import PREFIX, config_dir, enqueue_forms, samples, sandbox_for, settings_for
from worker.store import CommitConflict, Retention, Store, WriteTask
from worker.store.decisions import day_of, hit_fields

P = "test-lr:"
DAY = 86_400


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    r = Redis.from_url(redis_url)
    yield Store(r, P, retention=Retention(lead_s=30 * DAY))
    await r.aclose()


def task(lead: str) -> WriteTask:
    return WriteTask(crm="hubspot", lead_id=lead, item=WriteItem(key=lead, fields={}), received_at=1.0)


async def assign(store: Store, lead: str, hits: list[str], *, changes: list[StateChange] | None = None,
                 new: bool = True) -> None:
    await store.commit(lead_id=lead, decision=b"{}", changes=changes or [], ident_keys=(), task=task(lead),
                       done=("form", f"d-{lead}-{new}"), owner_written="7001" if new else None, decided_by="h:1",
                       hits=hits)


async def test_a_new_assignment_is_indexed_counted_and_signed(store: Store) -> None:
    await assign(store, "a", ["routing:everyone", "scoring:size_enterprise", "tags:industry"])
    await assign(store, "b", ["routing:everyone"])
    lead = await store.lead("a")
    assert lead["decided_by"] == b"h:1"
    found = await store.decisions_between()
    assert [lid for lid, _ in found] == ["b", "a"]  # newest first
    assert found[1][1] == pytest.approx(float(lead["decided_at"]))
    assert await store.rule_hits(1) == {"routing:everyone": 2, "scoring:size_enterprise": 1, "tags:industry": 1}
    ttl = await store.r.ttl(store.keys.rule_hits(day_of(found[0][1])))
    assert 0 < ttl <= 30 * DAY


async def test_a_duplicate_update_and_a_conflict_neither_index_nor_count(store: Store) -> None:
    move = StateChange(kind="pointer", key="inbound", value=1, expected=0)
    await assign(store, "a", ["routing:everyone"], changes=[move])
    with pytest.raises(CommitConflict):
        await assign(store, "b", ["routing:everyone"], changes=[move])
    await assign(store, "a", ["routing:everyone"], new=False)  # a later form of the same person: fields only
    assert [lid for lid, _ in await store.decisions_between()] == ["a"]
    assert await store.rule_hits(7) == {"routing:everyone": 1}


async def test_search_by_time_limit_and_trim_to_the_lead_retention(store: Store) -> None:
    for lead, at in (("old", 1_000.0), ("mid", 2_000.0), ("new", 3_000.0)):
        await store.r.zadd(store.keys.decisions, {lead: at})
    assert [x for x, _ in await store.decisions_between(1_500, 3_000)] == ["new", "mid"]
    assert [x for x, _ in await store.decisions_between(until=2_000)] == ["mid", "old"]
    assert [x for x, _ in await store.decisions_between(limit=1)] == ["new"]
    assert await store.trim_decisions(now=2_500 + 30 * DAY) == 2  # decided over 30 days before: their leads expired
    assert [x for x, _ in await store.decisions_between()] == ["new"]


async def test_hits_of_the_last_days_are_summed(store: Store) -> None:
    now = 10 * DAY + 3_600.0
    for days_ago, n in ((0, 2), (1, 3), (2, 5)):
        await store.r.hset(store.keys.rule_hits(day_of(now - days_ago * DAY)), "routing:vip", n)
    assert await store.rule_hits(1, now=now) == {"routing:vip": 2}
    assert await store.rule_hits(2, now=now) == {"routing:vip": 5}
    assert await store.rule_hits(30, now=now) == {"routing:vip": 10}


async def test_worker_decisions_record_the_worker_the_version_and_count_their_rules(redis_url: str,
                                                                                    tmp_path: Path) -> None:
    cfg = config_dir(tmp_path)
    n = 30
    with sandbox_for(cfg) as sandbox:
        settings = settings_for(sandbox, redis_url, cfg)
        await enqueue_forms(redis_url, samples(n))
        await run_burst(settings)
    r = Redis.from_url(redis_url)
    store = Store(r, PREFIX)
    found = await store.decisions_between(limit=1000)
    leads = await store.leads([lid for lid, _ in found])
    hits = await store.rule_hits(1)
    version = json.loads((await r.get(store.keys.config_version(1))).decode())["hash"]
    await r.aclose()
    assert len(found) == n
    assert {lead["decided_by"].decode() for lead in leads} == {f"{socket.gethostname()}:{os.getpid()}"}
    decisions = [decision_from_json(lead["decision"]) for lead in leads]
    assert {d.config_version for d in decisions} == {version}
    expected = Counter(f for d in decisions for f in hit_fields(d))
    assert hits == dict(expected)
    assert sum(v for k, v in hits.items() if k.startswith("routing:")) == n
    assert any(k.startswith("scoring:") for k in hits) and any(k.startswith("tags:") for k in hits)
