"""Config versions in a real Redis (``worker.configs``): seeded once, published atomically against a base, refused
whole when invalid, rolled back as a new version, listed newest first, and followed by every process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis

from connector.config import read_files, version_of_texts
from connector.errors import ConfigError
from tests.integration.harness import ROOT
from worker.configs import ConfigFollower, ConfigStore, ConfigVersion, PublishConflict

P = "test-cfg:"
FILES = read_files(ROOT)


def edited(files: dict[str, str], old: str, new: str, key: str = "rules/routing.yaml") -> dict[str, str]:
    assert old in files[key]
    return {**files, key: files[key].replace(old, new, 1)}


V2 = edited(FILES, "fallback_queue: unassigned", "fallback_queue: unassigned  # v2")
V3 = edited(FILES, "fallback_queue: unassigned", "fallback_queue: unassigned  # v3")


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    r = Redis.from_url(redis_url)
    yield r
    await r.aclose()


@pytest.fixture
def store(redis: Redis) -> ConfigStore:
    return ConfigStore(redis, P)


async def written(redis: Redis) -> list[bytes]:
    """Every key the store has written, to show that a refused publish wrote nothing."""
    return sorted([k async for k in redis.scan_iter(match=P + "*")])


async def test_two_processes_seeding_at_once_make_one_version(redis_url: str) -> None:
    clients = [Redis.from_url(redis_url) for _ in range(4)]
    try:
        seeded = await asyncio.gather(*(ConfigStore(r, P).seed(FILES) for r in clients))
        store = ConfigStore(clients[0], P)
        assert {v.number for v in seeded} == {1} and {v.hash for v in seeded} == {version_of_texts(FILES)}
        assert [v.number for v in await store.history()] == [1]
        assert (await store.seed(V2)).files == FILES  # seeded already: the files on disk are not published
        assert (await store.publish(V2, author="ana", base=1)).number == 2  # no number lost to the lost races
    finally:
        for r in clients:
            await r.aclose()


async def test_a_stale_base_is_refused_and_writes_nothing(store: ConfigStore, redis: Redis) -> None:
    await store.seed(FILES)
    await store.publish(V2, author="ana", base=1)
    before = await written(redis)
    with pytest.raises(PublishConflict, match="version 2 was published after the draft's base version 1"):
        await store.publish(V3, author="ben", base=1)
    assert await written(redis) == before
    assert (await store.current()).files == V2  # type: ignore[union-attr]


async def test_concurrent_publishes_on_one_base_let_exactly_one_through(redis_url: str) -> None:
    clients = [Redis.from_url(redis_url) for _ in range(2)]
    try:
        await ConfigStore(clients[0], P).seed(FILES)
        outcomes = await asyncio.gather(*(ConfigStore(r, P).publish(f, author=a, base=1) for r, f, a in
                                          zip(clients, (V2, V3), ("ana", "ben"), strict=True)),
                                        return_exceptions=True)
        won = [o for o in outcomes if isinstance(o, ConfigVersion)]
        assert len(won) == 1 and sum(isinstance(o, PublishConflict) for o in outcomes) == 1, outcomes
        current = await ConfigStore(clients[0], P).current()
        assert current is not None and (current.number, current.files) == (2, won[0].files)
    finally:
        for r in clients:
            await r.aclose()


async def test_an_invalid_bundle_names_file_line_field_and_writes_nothing(store: ConfigStore, redis: Redis) -> None:
    await store.seed(FILES)
    before = await written(redis)
    bad = edited(FILES, "daily_cap: 25", "daily_cap: lots", "rules/team.yaml")
    line = next(i for i, s in enumerate(bad["rules/team.yaml"].splitlines(), 1) if "daily_cap: lots" in s)
    with pytest.raises(ConfigError) as caught:
        await store.publish(bad, author="ana", base=1)
    assert (caught.value.file, caught.value.line) == ("rules/team.yaml", line)
    assert caught.value.field is not None and caught.value.field.endswith("daily_cap")
    with pytest.raises(ConfigError, match=r"missing routing\.yaml"):
        await store.publish({k: v for k, v in FILES.items() if k != "rules/routing.yaml"}, author="ana")
    assert await written(redis) == before
    assert await store.current_number() == 1


async def test_rollback_is_a_new_version_restoring_the_old_files(store: ConfigStore) -> None:
    v1 = await store.seed(FILES)
    await store.publish(V2, author="ana", message="note", base=1)
    v3 = await store.rollback(1, author="ben")
    assert (v3.number, v3.restored_from, v3.files, v3.hash, v3.author) == (3, 1, FILES, v1.hash, "ben")
    assert v3.message == "roll back to version 1"
    assert "-fallback_queue: unassigned  # v2\n+fallback_queue: unassigned\n" in v3.diff
    assert (await store.current()) == v3
    with pytest.raises(LookupError):
        await store.rollback(9, author="ben")


async def test_history_is_newest_first_without_files(store: ConfigStore) -> None:
    await store.seed(FILES)
    await store.publish(V2, author="ana", message="two", base=1)
    await store.publish(V3, author="ben", message="three", base=2)
    history = await store.history()
    assert [(v.number, v.author, v.message) for v in history] == [
        (3, "ben", "three"), (2, "ana", "two"), (1, "seeded from files", "first start: rules/ and mappings/")]
    assert all(v.files == {} for v in history)
    assert "+fallback_queue: unassigned  # v3" in history[0].diff
    assert [v.number for v in await store.history(limit=2)] == [3, 2]
    assert (await store.get(2)).files == V2  # type: ignore[union-attr]


async def test_drafts_are_kept_per_name_unchecked(store: ConfigStore) -> None:
    half_done = {"rules/team.yaml": "reps: ["}
    await store.save_draft("ana", half_done, author="ana", base=1)
    draft = await store.draft("ana")
    assert draft is not None and (draft.files, draft.base) == (half_done, 1)
    assert await store.draft("ben") is None
    await store.drop_draft("ana")
    assert await store.draft("ana") is None


async def test_the_follower_takes_a_published_version_within_its_poll(redis_url: str, store: ConfigStore) -> None:
    other = Redis.from_url(redis_url)  # another process's connection
    changes: list[str] = []
    follower = await ConfigFollower.start(ConfigStore(other, P), FILES, poll_s=0.25,
                                          on_change=lambda c: changes.append(c.version))
    try:
        assert (follower.number, follower.config.version) == (1, version_of_texts(FILES))
        assert await store.current_number() == 1  # the follower seeded the empty store
        v2 = await store.publish(V2, author="ana", base=1)
        await wait_until(lambda: follower.number == 2, 1.0)
        assert follower.config.version == v2.hash and changes == [v2.hash]
        assert follower.config.routing.fallback_queue == "unassigned"
        assert not await follower.refresh()  # nothing newer: no swap, no call
        await store.rollback(1, author="ben")  # the same files as version 1: a new number, the old config back
        await wait_until(lambda: follower.number == 3, 1.0)
        assert follower.config.version == version_of_texts(FILES) and changes == [v2.hash, version_of_texts(FILES)]
    finally:
        await follower.stop()
        await other.aclose()


async def test_the_follower_keeps_its_config_when_a_version_does_not_build(store: ConfigStore, redis: Redis) -> None:
    follower = await ConfigFollower.start(store, FILES, poll_s=0.05)
    try:
        broken = ConfigVersion(number=2, hash="broken", author="x", at=0.0, files={"rules/team.yaml": "reps: ["})
        await redis.set(store.keys.config_version(2), msgspec.json.encode(broken))  # bypassing publish's check
        await redis.set(store.keys.config_current, 2)
        with pytest.raises(ConfigError):
            await follower.refresh()
        await asyncio.sleep(0.3)  # the background loop meets it too, and keeps going
        assert (follower.number, follower.config.version) == (1, version_of_texts(FILES))
        v3 = await store.publish(V2, author="ana")
        await wait_until(lambda: follower.number == v3.number, 1.0)
        assert follower.config.version == v3.hash
    finally:
        await follower.stop()


async def wait_until(predicate: Any, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout}s")
        await asyncio.sleep(0.01)
