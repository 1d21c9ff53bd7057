"""The worker's Redis steps on a real Redis server: the atomic commit, identity claims, batches, dead letters."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from connector.decision import StateChange
from connector.ports import WriteItem
from worker.store import CommitConflict, Committed, DeadLetter, Store, WriteTask

P = "test-lr:"


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    r = Redis.from_url(redis_url)
    yield Store(r, P)
    await r.aclose()


def task(lead: str, crm: str = "hubspot") -> WriteTask:
    return WriteTask(crm=crm, lead_id=lead, item=WriteItem(key=lead, fields={"email": f"{lead}@x.example"}),
                     received_at=1.0)


async def commit(store: Store, lead: str, changes: list[StateChange], ident: tuple[str, ...] = ()) -> Committed:
    return await store.commit(lead_id=lead, decision=b"{}", changes=changes, ident_keys=ident, task=task(lead),
                       done=("form", f"d-{lead}"))


async def test_pointer_compare_and_set_applies_once_then_conflicts(store: Store) -> None:
    move = StateChange(kind="pointer", key="sdr", value=1, expected=0)
    await commit(store, "a", [move])
    with pytest.raises(CommitConflict, match="pointer is 1, expected 0"):
        await commit(store, "b", [move, StateChange(kind="load", key="ana", value=1, day="2026-11-24")])
    state = await store.snapshot()
    assert state.pointers == {"sdr": 1}
    assert state.load == {}  # nothing of the failed commit applied
    assert await store.pending_writes("hubspot") == 1
    assert await store.is_done("form", "d-b") is None


async def test_load_cap_and_day_rollover(store: Store) -> None:
    day1 = [StateChange(kind="load", key="ana", value=1, expected=2, day="2026-11-24")]
    await commit(store, "a", day1)
    await commit(store, "b", day1)
    with pytest.raises(CommitConflict, match="exceeds the cap 2"):
        await commit(store, "c", day1)
    await commit(store, "d", [StateChange(kind="load", key="ana", value=1, expected=2, day="2026-11-25")])
    state = await store.snapshot()
    assert state.load == {"ana": 1} and state.days == {"ana": "2026-11-25"}


async def test_first_identity_claim_wins(store: Store) -> None:
    await commit(store, "a", [], ("email:jane@acme.example",))
    await commit(store, "b", [], ("email:jane@acme.example", "phone:+14155550123"))
    assert await store.lead_for(["email:jane@acme.example"]) == "a"
    assert await store.lead_for(["phone:+14155550123"]) == "b"
    assert await store.lead_for(["email:nobody@x.example"]) is None


async def test_batch_survives_in_the_jobs_list_until_finished(store: Store) -> None:
    for i in range(5):
        await store.push_write(task(f"l{i}"))
    first = await store.take_batch("hubspot", "job1", 3)
    assert [t.lead_id for t in first] == ["l0", "l1", "l2"]
    again = await store.take_batch("hubspot", "job1", 3)  # a retried job sees its own batch, takes no more
    assert [t.lead_id for t in again] == ["l0", "l1", "l2"]
    await store.finish_batch("hubspot", "job1", [first[1]])
    topped = await store.take_batch("hubspot", "job1", 3)
    assert [t.lead_id for t in topped] == ["l1", "l3", "l4"]
    await store.finish_batch("hubspot", "job1")
    assert await store.take_batch("hubspot", "job1", 3) == []


async def test_dead_letters_listed_and_dropped(store: Store) -> None:
    await store.dead_letter(DeadLetter(id="write:a:1", kind="write", reason="permanent: INVALID_EMAIL", at=2.0))
    await store.dead_letter(DeadLetter(id="delivery:form:x", kind="delivery", reason="bad input", at=1.0))
    assert [e.id for e in await store.dead_letters()] == ["delivery:form:x", "write:a:1"]
    await store.drop_dead_letter("delivery:form:x")
    assert await store.dead_letter_count() == 1


async def test_every_key_is_under_the_prefix(store: Store) -> None:
    await commit(store, "a", [StateChange(kind="pointer", key="sdr", value=1, expected=0)], ("email:a@x.example",))
    token = await store.lock("email:a@x.example")
    keys = [k.decode() async for k in store.r.scan_iter(match="*")]
    assert keys and all(k.startswith(P) for k in keys), keys
    await store.unlock("email:a@x.example", token)


async def test_the_lock_reads_the_identity_and_the_commit_releases_it(store: Store) -> None:
    await commit(store, "a", [], ("email:a@x.example",))
    token, known, version = await store.lock_and_find("email:a@x.example", ["phone:+1", "email:a@x.example"])
    assert known == "a" and version == 0  # no routing state change committed yet
    with pytest.raises(TimeoutError):  # held: a second job waits, then gives up
        await store.lock_and_find("email:a@x.example", [], wait_s=0.05)
    waiting, _ = await store.commit(lead_id="a", decision=b"{}", changes=[], ident_keys=(), task=task("a"),
                                    done=("form", "d-a2"), lock=("email:a@x.example", token))
    assert waiting == 2  # both commits' writes wait for a batch
    moved = await commit(store, "c", [StateChange(kind="pointer", key="sdr", value=1, expected=0)])
    assert moved.version == 1  # a commit that moves the routing state bumps its version
    token2, known2, version2 = await store.lock_and_find("email:a@x.example", ["email:nobody@x.example"], wait_s=0.05)
    assert known2 is None and version2 == 1
    # a commit with a token we do not hold (our lock expired and another job took it) leaves that lock alone
    await store.commit(lead_id="b", decision=b"{}", changes=[], ident_keys=(), task=task("b"),
                       done=("form", "d-b"), lock=("email:a@x.example", "not-ours"))
    assert await store.r.get(f"{P}lock:email:a@x.example") == token2.encode()
