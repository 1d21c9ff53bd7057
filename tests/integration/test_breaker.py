"""Issue 11: the CRM's circuit breaker (state in Redis, shared by every worker) and parking — a lead met by a CRM
outage waits, and is sent on when the CRM answers; the dead-letter list is for what the CRM refuses for good."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from arq import Retry
from redis.asyncio import Redis

from connector.errors import CrmUnavailable, RetryableError
from connector.model import CrmRecord
from connector.settings import load_settings
from tests.integration.burst import run_burst
from tests.integration.harness import PREFIX, config_dir, form_delivery, samples
from tests.integration.test_nothing_lost import K, StubCrm, _settings, task, worker_ctx
from worker import jobs
from worker.breaker import Breaker
from worker.gauges import job_path_gauges
from worker.parking import expire_parked, park
from worker.queue import encode_delivery
from worker.store import Store


class DownCrm(StubCrm):
    """A CRM whose every call fails for now (HubSpot's 503) until ``up`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False
        self.finds = 0

    def find(self, emails: Sequence[str], domains: Sequence[str] = ()) -> list[CrmRecord]:
        self.finds += 1
        if not self.up:
            raise CrmUnavailable("HubSpot error 503: service unavailable", retry_after=0.5)
        return []

    def ping(self) -> bool:
        return self.up


async def test_the_breaker_opens_after_failures_in_a_row_and_lets_one_probe_through_after_the_cooldown(
    redis_url: str,
) -> None:
    r = Redis.from_url(redis_url)
    store = Store(r, PREFIX)
    settings = load_settings({}, crm="hubspot", breaker_failures=3, breaker_cooldown_s=0.3)
    a, b = Breaker(store, settings, cache_s=0), Breaker(store, settings, cache_s=0)  # two workers
    assert not await a.failed("503") and not await b.failed("503")
    assert not await a.is_open()
    assert await b.failed("503: third in a row")
    assert await a.is_open() and await a.reason() == "503: third in a row"
    assert not await a.probe_due(probe_s=5)  # cooling down
    await asyncio.sleep(0.35)
    assert await a.probe_due(probe_s=5)
    assert not await b.probe_due(probe_s=5)  # one probe at a time
    assert await a.failed("probe: still 503")  # the probe failed: open for another cool-down
    assert not await b.probe_due(probe_s=5)
    await asyncio.sleep(0.35)
    assert await b.probe_due(probe_s=5)
    await b.answered()
    assert not await a.is_open()
    # failures further apart than the cool-down are not "in a row"
    assert not await a.failed("503")
    await asyncio.sleep(0.35)
    assert not await a.failed("503") and not await a.failed("503")
    await r.aclose()


async def test_a_lookup_failing_for_now_on_the_last_try_parks_the_delivery(redis_url: str, tmp_path: Path) -> None:
    async with worker_ctx(redis_url, config_dir(tmp_path), DownCrm(), breaker_failures=100) as ctx:
        store: Store = ctx["svc"].store
        d = form_delivery(samples(1)[0], 0)
        out = await jobs.process_delivery({**ctx, "job_id": "j", "job_try": 3}, encode_delivery(d))
        assert out == "parked"
        assert await store.dead_letter_count() == 0
        assert await store.parked_count("hubspot") == 1
        assert await store.is_done("form", "d0") is None


@pytest.mark.timeout(60)
async def test_while_the_breaker_is_open_leads_wait_and_the_sweep_sends_them_on_when_the_crm_answers(
    redis_url: str, tmp_path: Path
) -> None:
    cfg = config_dir(tmp_path)
    crm = DownCrm()
    rows = samples(3)
    async with worker_ctx(redis_url, cfg, crm, breaker_failures=2, breaker_cooldown_s=0.2) as ctx:
        svc = ctx["svc"]
        def run(i: int, tries: int) -> Any:
            return jobs.process_delivery({**ctx, "job_id": f"j{i}", "job_try": tries},
                                         encode_delivery(form_delivery(rows[i], i)))

        assert await run(0, 3) == "parked"  # its last try: parked, the breaker counts one failure
        assert not await svc.breaker.is_open()
        assert await run(1, 1) == "parked"  # the second failure in a row opens the breaker: parked at once
        assert await svc.breaker.is_open()
        finds = crm.finds
        assert await run(2, 1) == "parked" and crm.finds == finds  # open: the CRM is not asked at all
        await svc.store.push_write(task(9))
        assert await jobs.write_back({**ctx, "job_id": K.write_back_job("hubspot", 1), "job_try": 1},
                                     "hubspot") == "parked"
        assert crm.writes == 0 and await svc.store.pending_writes("hubspot") == 1
        await asyncio.sleep(0.25)
        await jobs.sweep(ctx)  # the probe: still down
        assert await svc.breaker.is_open() and await svc.store.parked_count("hubspot") >= 2
        crm.up = True
        await asyncio.sleep(0.25)
        await jobs.sweep(ctx)  # the probe answers: closed, the parked deliveries queued again
        assert not await svc.breaker.is_open()
        assert await svc.store.parked_count("hubspot") == 0
    # a worker runs what the sweep queued: every lead decided and written
    await run_burst(_settings(redis_url, cfg, job_timeout_s=10), crm=crm)
    r = Redis.from_url(redis_url)
    store = Store(r, PREFIX)
    leads = [await store.is_done("form", f"d{i}") for i in range(3)]
    written = [(await store.lead(lead)).get("write") for lead in leads if lead]
    dead = await store.dead_letter_count()
    await r.aclose()
    assert all(leads) and len(written) == 3 and all(written), (leads, written)
    assert dead == 0


async def test_a_delivery_parked_longer_than_the_payload_retention_goes_to_the_dead_letter_list(
    redis_url: str,
) -> None:
    from worker.metrics import Recorder

    r = Redis.from_url(redis_url)
    store = Store(r, PREFIX)
    await park(store, "hubspot", form_delivery(samples(1)[0], 0), "RetryableError: HubSpot error 503", Recorder())
    assert await expire_parked(store, "hubspot", 30 * 86_400) == 0
    assert await expire_parked(store, "hubspot", 30 * 86_400, now=time.time() + 31 * 86_400) == 1
    letters = await store.dead_letters()
    await r.aclose()
    assert [dl.id for dl in letters] == ["delivery:form:d0"]
    assert "HubSpot error 503" in letters[0].reason and "parked 31 days" in letters[0].reason


@pytest.mark.parametrize("error", [
    RetryableError("routing state kept changing under us", retry_after=0.05),  # our own contention
    TimeoutError(),  # our own time budget ran out: a busy machine, a slow Redis, not the CRM saying so
], ids=["contention", "our-timeout"])
async def test_only_the_crms_failures_open_the_breaker(redis_url: str, tmp_path: Path, error: Exception) -> None:
    async with worker_ctx(redis_url, config_dir(tmp_path), DownCrm(), breaker_failures=2) as ctx:
        svc = ctx["svc"]

        async def failing(delivery: Any) -> Any:
            raise error

        svc.process = failing
        for i in range(4):  # twice the breaker's threshold, in a row: retried, never parked
            with pytest.raises(Retry):
                await jobs.process_delivery({**ctx, "job_id": f"j{i}", "job_try": 1},
                                            encode_delivery(form_delivery(samples(1)[0], i)))
        assert not await svc.breaker.is_open()
        await svc.store.push_write(task(9))
        svc.write_back.write = failing
        for _ in range(4):
            with pytest.raises(Retry):
                await jobs.write_back({**ctx, "job_id": K.write_back_job("hubspot", 1), "job_try": 1}, "hubspot")
        assert not await svc.breaker.is_open()
        assert await svc.store.parked_count("hubspot") == 0
        del svc.process  # the CRM's own 503s, two in a row: open
        run = [jobs.process_delivery({**ctx, "job_id": f"k{i}", "job_try": 1},
                                     encode_delivery(form_delivery(samples(2)[1], 10 + i))) for i in range(2)]
        with pytest.raises(Retry):
            await run[0]
        assert await run[1] == "parked"
        assert await svc.breaker.is_open()
        gauges = await job_path_gauges(svc.store, svc.settings)
        assert gauges["leadrelay_crm_breaker_open"] == 1
        assert gauges["leadrelay_leads_parked"] == {"delivery": 1, "write": 1}
