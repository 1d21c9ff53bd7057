"""The arq jobs. Thin: decode, call the worker's parts (``worker.service``), turn errors into a retry, parking or a
dead letter.

Every way a job ends leaves its lead written, waiting, or in the dead-letter list with its reason:
- done: the lead is decided (its write waiting in Redis) or written;
- ``arq.Retry`` for a failure for now (a RetryableError, a try running out of time, for a write anything): the
  delivery stays in its arq job, a write batch in the job's own list; backoff 0.05 s doubling, at most 60 s, at
  least what the CRM asked for;
- parked while the CRM is down — its breaker (``worker.breaker``) open, or a failure for now on the last try: a
  delivery waits in the parked list, writes in the waiting list, and the sweep sends them on once it answers;
- dead letter: what no wait mends (refused for good, bad input, a bug) — for a write, a bug on its last try;
- arq's own ends never strand a lead: arq's limit is ``arq_max_tries`` (above ours), so the run after a killed last
  try still comes here (and is dead-lettered, not run: it may be what killed the worker); a write batch whose job
  arq ended anyway (a job timeout, an expired job) is put back by the sweep (``worker.upkeep``).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from arq import Retry
from redis.exceptions import WatchError

from connector.errors import RetryableError
from connector.ports import Delivery
from connector.settings import Settings
from worker import outage, parking, upkeep
from worker.breaker import counts
from worker.queue import decode_delivery
from worker.redis_server import redis_unavailable
from worker.service import Service

log = structlog.get_logger("leadrelay.worker")

FOR_NOW = (RetryableError, TimeoutError)  # failures a later try may not meet (the CRM's among them: breaker.counts)
ARQ_EXTRA_TRIES = 2
Job = Callable[..., Awaitable[str]]


def arq_max_tries(settings: Settings) -> int:
    """arq's own limit: above ours, so that our code sees the run after a killed last try."""
    return settings.max_tries + ARQ_EXTRA_TRIES


def _backoff(job_try: int, hint: float) -> float:
    # grows with the try, at least what the CRM asked for, at most a minute
    return min(60.0, max(hint, 0.05 * 2 ** (job_try - 1)))


def reason(exc: BaseException) -> str:
    """Never empty: the exception's words, else its name (a bare TimeoutError has no words)."""
    text = str(exc).strip()
    if isinstance(exc, TimeoutError) and not text:
        text = "the try ran out of time (LEADRELAY_JOB_TIMEOUT_S)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def redis_for_now(exc: BaseException) -> bool:
    """Redis cannot be used right now (down, failing over, read-only, a write no replica took) or a WATCHed key
    moved under a lost connection: nothing about the lead is wrong, so a later try will do."""
    return redis_unavailable(exc) or isinstance(exc, WatchError)


def retry_redis(job: str) -> Callable[[Job], Job]:
    """A Redis error anywhere in the job (its breaker check, the commit, its WAIT) becomes arq's Retry: arq would
    otherwise end the job as failed, and the delivery in it with it. Not the CRM's failure: the breaker does not
    count it, and the lead is neither parked nor dead-lettered."""

    def wrap(fn: Job) -> Job:
        @functools.wraps(fn)
        async def run(ctx: dict[str, Any], *args: Any) -> str:
            svc: Service | None = ctx.get("svc")
            # before arq's own timeout, which ends the job as failed and the delivery in it with it: the job's own
            # deadline (80-90 % of it) has passed and its clean-up waits on a Redis that is failing over
            deadline = asyncio.timeout(svc.settings.job_timeout_s * 0.95 if svc is not None else None)
            try:
                async with deadline:
                    return await fn(ctx, *args)
            except Exception as exc:
                if isinstance(exc, Retry) or not (redis_for_now(exc) or deadline.expired()):
                    raise
                outage.REDIS.failed(exc, job)
                if svc is not None:
                    await svc.metrics.inc("leadrelay_job_retries_total", {"job": job, "reason": type(exc).__name__})
                raise Retry(defer=_backoff(ctx["job_try"], 1.0)) from exc

        return run

    return wrap


@retry_redis("process_delivery")
async def process_delivery(ctx: dict[str, Any], data: bytes) -> str:
    """Decide about one accepted delivery (map -> ... -> route) and queue its CRM write."""
    svc: Service = ctx["svc"]
    delivery = decode_delivery(data)
    tries, max_tries = ctx["job_try"], svc.settings.max_tries
    if tries > max_tries:  # the last try never reported back: its worker was killed, or arq cut it off
        await svc.dead_letter_delivery(delivery, f"a worker stopped during try {tries - 1} of {max_tries} (killed, "
                                                 "or over LEADRELAY_JOB_TIMEOUT_S); not tried again by itself")
        return "dead_letter"
    if await svc.breaker.is_open():
        await _park(svc, delivery, f"the CRM is down: {await svc.breaker.reason()}")
        return "parked"
    t0 = time.perf_counter()
    try:
        # finish (or give up and retry) before arq's own timeout, which would fail the job for good
        async with asyncio.timeout(svc.settings.job_timeout_s * 0.8):
            outcome = await svc.process(delivery)
    except FOR_NOW as exc:
        why = reason(exc)
        if (counts(exc) and await svc.breaker.failed(why)) or tries >= max_tries:
            await _park(svc, delivery, why)
            return "parked"
        await svc.metrics.inc("leadrelay_job_retries_total",
                              {"job": "process_delivery", "reason": type(exc).__name__})
        raise Retry(defer=_backoff(tries, getattr(exc, "retry_after", 0.5))) from exc
    except Exception as exc:  # a bug or a fatal answer: keep the lead, say why, fail the job
        if redis_for_now(exc):  # Redis restarting or failing over: retried (retry_redis), not dead-lettered
            raise
        await svc.dead_letter_delivery(delivery, reason(exc))
        raise
    finally:
        await svc.metrics.observe("leadrelay_job_duration_seconds", time.perf_counter() - t0,
                                  {"job": "process_delivery"})
    return f"{outcome.status} {outcome.lead_id or ''}".strip()


async def _park(svc: Service, delivery: Delivery, why: str) -> None:
    await parking.park(svc.store, svc.settings.crm, delivery, why, svc.metrics)


@retry_redis("write_back")
async def write_back(ctx: dict[str, Any], crm: str) -> str:
    """Write one batch of decided leads to the CRM; rows refused for now are retried, then wait for the CRM."""
    svc: Service = ctx["svc"]
    job_id: str = ctx["job_id"]
    tries = ctx["job_try"]
    last = tries >= svc.settings.max_tries
    if await svc.breaker.is_open():  # the CRM is down: a batch this job holds waits with the others
        await svc.store.release_batch(crm, job_id)
        return "parked"
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(svc.settings.job_timeout_s * 0.9):
            written, keep = await svc.write_back.write(crm, job_id)
    except TimeoutError as exc:  # the batch stays in this job's list: the retry writes it (upserts: no doubles)
        return await _for_now(svc, crm, job_id, tries, reason(exc), 1.0, crm_failed=False)
    except Exception as exc:  # a bug or an answer nobody classified: retried; on the last try, dead-lettered
        if redis_for_now(exc):  # the batch stays in this job's list (in Redis): the retry writes it (retry_redis)
            raise
        if not last:
            await svc.metrics.inc("leadrelay_job_retries_total", {"job": "write_back", "reason": type(exc).__name__})
            raise Retry(defer=_backoff(tries, 1.0)) from exc
        n = await svc.write_back.give_up(crm, job_id, reason(exc), tries)
        log.error("write_batch_dead_lettered", crm=crm, job=job_id, rows=n, reason=reason(exc))
        return f"dead_letter {n}"
    finally:
        await svc.metrics.observe("leadrelay_job_duration_seconds", time.perf_counter() - t0, {"job": "write_back"})
    if written:
        await svc.breaker.answered()
    if keep:
        if not written:
            return await _for_now(svc, crm, job_id, tries, keep[0].last_error, 0.2, crm_failed=True)
        if not last:  # the CRM answers, a few rows wait (row locks): retry them soon
            await svc.metrics.inc("leadrelay_job_retries_total", {"job": "write_back", "reason": "retryable_rows"})
            raise Retry(defer=_backoff(tries, 0.2))
        await svc.store.release_batch(crm, job_id)  # the next batch takes them
    if await svc.store.pending_writes(crm):
        await svc.write_back.request_flush(crm)
    return f"written {written}"


async def _for_now(svc: Service, crm: str, job_id: str, tries: int, why: str, hint: float, *, crm_failed: bool) -> str:
    """Nothing of the batch went out, for now: retry, or (the CRM down, or the last try) park the batch. Only the
    CRM's own refusals (``crm_failed``) count towards its breaker: a try out of time may be our machine's."""
    if (crm_failed and await svc.breaker.failed(why)) or tries >= svc.settings.max_tries:
        n = await svc.store.release_batch(crm, job_id)
        await svc.metrics.inc("leadrelay_parked_total", {"kind": "write"}, amount=n)
        log.info("write_batch_parked", crm=crm, rows=n, reason=why)
        return "parked"
    await svc.metrics.inc("leadrelay_job_retries_total", {"job": "write_back", "reason": "retryable_rows"})
    raise Retry(defer=_backoff(tries, hint))


async def notify(ctx: dict[str, Any], data: bytes) -> str:
    """Send one notification of a routed lead; a failure for now is retried on its own (``worker.notify``)."""
    svc: Service = ctx["svc"]
    t0 = time.perf_counter()
    try:
        return await svc.notifier.run(data, ctx["job_try"])
    finally:
        await svc.metrics.observe("leadrelay_job_duration_seconds", time.perf_counter() - t0, {"job": "notify"})


async def sweep(ctx: dict[str, Any]) -> None:
    """Every few seconds: probe a down CRM, put orphaned batches back, send parked and waiting leads on once the
    CRM answers, keep the dead-letter list to its bounds (``worker.upkeep``)."""
    await upkeep.sweep(ctx["svc"])


async def sync_accounts(ctx: dict[str, Any]) -> str:
    """Refresh the account index from the CRM (cron; one worker per tick)."""
    svc: Service = ctx["svc"]
    return f"{await svc.accounts.sync()} accounts"
