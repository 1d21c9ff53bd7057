"""Redis errors inside a job (issue 17, Build 6): retried with backoff, never dead-lettered nor counted by the CRM's
breaker; one log line per Redis outage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from arq import Retry
from structlog.testing import capture_logs

from connector.ports import Delivery
from connector.settings import Settings
from worker import jobs, outage
from worker.queue import encode_delivery
from worker.redis_clients import NotReplicated

REDIS_ERRORS = [redis.ConnectionError("Connection refused"), redis.TimeoutError("Timeout reading from socket"),
                redis.ReadOnlyError("You can't write against a read only replica."),
                redis.WatchError("A ConnectionError occurred on while watching one or more keys"),
                NotReplicated("NOREPLICAS the write reached 0 of 1 replicas within 500 ms"),
                redis.ResponseError("LOADING Redis is loading the dataset in memory")]


class _Metrics:
    async def inc(self, *a: Any, **k: Any) -> None:
        pass

    async def observe(self, *a: Any, **k: Any) -> None:
        pass


class _Breaker:
    def __init__(self, fail_open: Exception | None) -> None:
        self.fail_open = fail_open
        self.failures: list[str] = []

    async def is_open(self) -> bool:
        if self.fail_open is not None:
            raise self.fail_open
        return False

    async def failed(self, why: str) -> bool:
        self.failures.append(why)
        return False


class _Svc:
    """The parts of worker.service.Service a process_delivery job touches."""

    def __init__(self, error: Exception, *, in_breaker: bool = False) -> None:
        self.settings = Settings()
        self.metrics = _Metrics()
        self.breaker = _Breaker(error if in_breaker else None)
        self.error = error
        self.dead: list[str] = []

    async def process(self, delivery: Delivery) -> Any:
        raise self.error

    async def dead_letter_delivery(self, delivery: Delivery, why: str) -> None:
        self.dead.append(why)


DATA = encode_delivery(Delivery(source="form", delivery_id="d1", received_at=datetime.now(UTC), payload={},
                                form="website"))


@pytest.fixture(autouse=True)
def _no_outage() -> None:
    outage.REDIS.answered()


@pytest.mark.parametrize("error", REDIS_ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("in_breaker", [False, True], ids=["deciding", "breaker-check"])
async def test_a_redis_error_in_a_job_retries_and_never_dead_letters(error: Exception, in_breaker: bool) -> None:
    svc = _Svc(error, in_breaker=in_breaker)
    with pytest.raises(Retry) as retry:
        await jobs.process_delivery({"svc": svc, "job_try": 3}, DATA)
    assert svc.dead == [] and svc.breaker.failures == []
    assert retry.value.defer_score is not None and retry.value.defer_score >= 1000  # not at once: Redis needs a moment


async def test_a_bug_is_still_dead_lettered() -> None:
    svc = _Svc(KeyError("a bug"))
    with pytest.raises(KeyError):
        await jobs.process_delivery({"svc": svc, "job_try": 1}, DATA)
    assert svc.dead and "KeyError" in svc.dead[0]


async def test_one_log_line_per_outage() -> None:
    with capture_logs() as logs:
        for _ in range(20):  # a metrics flush, a config poll, a request... several times a second
            with pytest.raises(Retry):
                await jobs.process_delivery({"svc": _Svc(redis.ConnectionError("refused")), "job_try": 1}, DATA)
        outage.REDIS.answered()
        outage.REDIS.answered()
        with pytest.raises(Retry):
            await jobs.process_delivery({"svc": _Svc(redis.ConnectionError("refused")), "job_try": 1}, DATA)
    events = [e["event"] for e in logs if e["event"].startswith("redis_")]
    assert events == ["redis_down", "redis_back", "redis_down"], events


class _StuckCleanUp(_Svc):
    """A job whose own deadline passed while its clean-up (releasing the person's lock) waits on Redis."""

    async def process(self, delivery: Delivery) -> Any:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(60)


async def test_a_job_stuck_past_its_deadline_retries_before_arq_ends_it() -> None:
    import msgspec

    svc = _StuckCleanUp(RuntimeError("unused"))
    svc.settings = msgspec.structs.replace(svc.settings, job_timeout_s=1)
    # arq runs a job under asyncio.wait_for(job, job_timeout): its TimeoutError ends the job as failed, lead and all
    with pytest.raises(Retry):
        await asyncio.wait_for(jobs.process_delivery({"svc": svc, "job_try": 1}, DATA), 1.0)
    assert svc.dead == []
