"""Issue 11, "nothing lost": every way a job can end leaves its lead written, waiting, or in the dead-letter list
with its reason — an accepted delivery's job outlives its idempotency key, a write_back job that raises or times
out hands its batch on, the sweep adopts a batch whose job is gone, and a job arq would end as "max retries
exceeded" is dead-lettered."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from arq import Retry
from arq.constants import in_progress_key_prefix, retry_key_prefix
from redis.asyncio import Redis

from connector.model import CrmRecord
from connector.ports import Delivery, Owner, WriteItem, WriteOutcome
from connector.settings import Settings, load_settings
from tests.integration.burst import run_burst
from tests.integration.harness import PREFIX, config_dir, form_delivery, samples
from worker import jobs
from worker.queue import accept_deliveries, connect, enqueue_delivery
from worker.settings import shutdown, startup
from worker.store import Store, WriteTask
from worker.store.keys import Keys, arq_job

K = Keys(PREFIX)


class StubCrm:
    """A CRM that answers lookups with nothing and writes as told: "ok", "raise" (a bug) or "hang"."""

    name = "stub"

    def __init__(self, write: str = "ok") -> None:
        self.mode = write
        self.writes = 0

    def find(self, emails: Sequence[str], domains: Sequence[str] = ()) -> list[CrmRecord]:
        return []

    def write(self, items: Sequence[WriteItem]) -> list[WriteOutcome]:
        self.writes += 1
        if self.mode == "raise":
            raise ValueError("the write path has a bug [sic]")
        if self.mode == "hang":
            time.sleep(1.5)
        return [WriteOutcome(key=i.key, status="written", record_id=f"r-{i.key}") for i in items]

    def owners(self) -> list[Owner]:
        return []

    def accounts(self) -> list[CrmRecord]:
        return []

    def get(self, record_id: str) -> CrmRecord | None:
        return None

    def ping(self) -> bool:
        return True


def _settings(redis_url: str, cfg: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {"max_tries": 3, "job_timeout_s": 1, **extra}
    return load_settings({}, redis_url=redis_url, key_prefix=PREFIX, crm="hubspot", config_dir=str(cfg),
                         log_json=True, **values)


@contextlib.asynccontextmanager
async def worker_ctx(redis_url: str, cfg: Path, crm: StubCrm, **extra: Any) -> AsyncIterator[dict[str, Any]]:
    """What a worker's jobs get as ``ctx`` (started and stopped as arq would)."""
    pool = await connect(redis_url, PREFIX)
    ctx: dict[str, Any] = {"settings": _settings(redis_url, cfg, **extra), "crm": crm, "redis": pool}
    await startup(ctx)
    try:
        yield ctx
    finally:
        await shutdown(ctx)
        await pool.aclose()


def task(i: int) -> WriteTask:
    return WriteTask(crm="hubspot", lead_id=f"ld_{i}", item=WriteItem(key=f"ld_{i}", fields={"email": f"p{i}@x.io"}),
                     received_at=time.time(), delivery=f"form:d{i}")


async def test_an_accepted_delivery_job_lives_as_long_as_its_delivery_id(redis_url: str) -> None:
    r = Redis.from_url(redis_url)
    d = Delivery(source="form", delivery_id="m1", received_at=datetime.now(UTC), payload={"email": "a@b.io"},
                 form="website")
    assert await accept_deliveries(r, [d], PREFIX) == [True]
    inbound_ttl_ms = await r.pttl(K.inbound("form", "m1"))
    job_ttl_ms = await r.pttl(arq_job(K.delivery_job("form", "m1")))
    await r.aclose()
    # a redelivery is answered "duplicate" for as long as the inbound key lives: the job must be there as long
    assert inbound_ttl_ms > 86_400_000
    assert job_ttl_ms >= inbound_ttl_ms - 5_000, (job_ttl_ms, inbound_ttl_ms)


async def test_write_back_raising_before_its_last_try_retries_with_its_batch(redis_url: str, tmp_path: Path) -> None:
    async with worker_ctx(redis_url, config_dir(tmp_path), StubCrm("raise")) as ctx:
        store: Store = ctx["svc"].store
        for i in range(2):
            await store.push_write(task(i))
        job = K.write_back_job("hubspot", 1)
        with pytest.raises(Retry):
            await jobs.write_back({**ctx, "job_id": job, "job_try": 1}, "hubspot")
        assert await store.r.llen(K.write_batch("hubspot", job)) == 2  # the retry writes it
        assert await store.dead_letter_count() == 0


async def test_write_back_raising_on_its_last_try_dead_letters_its_batch_with_the_reason(
    redis_url: str, tmp_path: Path
) -> None:
    async with worker_ctx(redis_url, config_dir(tmp_path), StubCrm("raise")) as ctx:
        store: Store = ctx["svc"].store
        for i in range(2):
            await store.push_write(task(i))
        job = K.write_back_job("hubspot", 2)
        with contextlib.suppress(Exception):
            await jobs.write_back({**ctx, "job_id": job, "job_try": 3}, "hubspot")
        assert not await store.r.exists(K.write_batch("hubspot", job)), "the batch was orphaned"
        letters = await store.dead_letters()
        assert sorted(d.lead_id or "" for d in letters) == ["ld_0", "ld_1"]
        assert all("ValueError" in d.reason and "bug [sic]" in d.reason for d in letters), letters


async def test_write_back_timing_out_on_its_last_try_puts_its_batch_back(redis_url: str, tmp_path: Path) -> None:
    async with worker_ctx(redis_url, config_dir(tmp_path), StubCrm("hang")) as ctx:
        store: Store = ctx["svc"].store
        for i in range(2):
            await store.push_write(task(i))
        job = K.write_back_job("hubspot", 3)
        with contextlib.suppress(Exception):
            await jobs.write_back({**ctx, "job_id": job, "job_try": 3}, "hubspot")
        assert not await store.r.exists(K.write_batch("hubspot", job)), "the batch was orphaned"
        assert await store.pending_writes("hubspot") == 2  # waiting again, written when the CRM answers
        assert await store.dead_letter_count() == 0


async def test_the_sweep_adopts_a_batch_whose_job_is_gone(redis_url: str, tmp_path: Path) -> None:
    async with worker_ctx(redis_url, config_dir(tmp_path), StubCrm()) as ctx:
        store: Store = ctx["svc"].store
        for i in range(3):
            await store.push_write(task(i))
        gone, running = K.write_back_job("hubspot", 4), K.write_back_job("hubspot", 5)
        await store.take_batch("hubspot", gone, 2)  # its worker died and arq has forgotten the job
        await store.take_batch("hubspot", running, 2)  # still in progress elsewhere: left alone
        await store.r.set(in_progress_key_prefix + running, b"1", px=60_000)
        await jobs.sweep(ctx)
        assert not await store.r.exists(K.write_batch("hubspot", gone))
        assert await store.r.llen(K.write_batch("hubspot", running)) == 1
        assert await store.pending_writes("hubspot") == 2


async def test_a_delivery_job_past_its_last_try_is_dead_lettered(redis_url: str, tmp_path: Path) -> None:
    settings = _settings(redis_url, config_dir(tmp_path), job_timeout_s=10)
    pool = await connect(redis_url, PREFIX)
    d = form_delivery(samples(1)[0], 0)
    assert await enqueue_delivery(pool, d, PREFIX)
    # the worker running its last try was killed: arq counts that try, so the next run is try max_tries + 1
    await pool.set(retry_key_prefix + K.delivery_job("form", "d0"), settings.max_tries)
    await pool.aclose()
    await run_burst(settings, crm=StubCrm())
    r = Redis.from_url(redis_url)
    store = Store(r, PREFIX)
    letters = await store.dead_letters()
    lead = await store.is_done("form", "d0")
    await r.aclose()
    # either the lead was decided after all, or it waits in the dead-letter list saying why
    assert lead or [dl.id for dl in letters] == ["delivery:form:d0"], (lead, letters)
    assert all(dl.reason.strip() for dl in letters)


@pytest.mark.timeout(60)
async def test_no_batch_list_is_left_once_the_jobs_are_done(redis_url: str, tmp_path: Path) -> None:
    """A plain run: every batch list a job took is gone when the queue is empty (the index of batches too)."""
    settings = _settings(redis_url, config_dir(tmp_path), job_timeout_s=10)
    pool = await connect(redis_url, PREFIX)
    for i, row in enumerate(samples(5)):
        await enqueue_delivery(pool, form_delivery(row, i), PREFIX)
    await pool.aclose()
    await run_burst(settings, crm=StubCrm())
    await asyncio.sleep(0)
    r = Redis.from_url(redis_url)
    left = [k async for k in r.scan_iter(match=f"{PREFIX}writes:*")]
    await r.aclose()
    assert left == []
