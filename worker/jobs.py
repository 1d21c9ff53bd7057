"""The arq jobs. Thin: decode, call the worker's parts (``worker.service``), turn errors into retry or dead letter.

Retry policy (arq): a RetryableError becomes ``arq.Retry(defer=retry_after)``; the adapters' own tenacity
retries run inside a deadline shorter than the job timeout, so one try never outlives its job. After the last
try the delivery or the write goes to the dead-letter list with its reason. Anything else fails for good,
into the dead-letter list too: an accepted lead is never dropped.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from arq import Retry

from connector.errors import RetryableError
from worker.queue import decode_delivery
from worker.service import Service

log = structlog.get_logger("leadrelay.worker")


def _backoff(job_try: int, hint: float) -> float:
    # grows with the try, at least what the CRM asked for, at most a minute
    return min(60.0, max(hint, 0.05 * 2 ** (job_try - 1)))


async def process_delivery(ctx: dict[str, Any], data: bytes) -> str:
    """Decide about one accepted delivery (map -> ... -> route) and queue its CRM write."""
    svc: Service = ctx["svc"]
    delivery = decode_delivery(data)
    t0 = time.perf_counter()
    try:
        # finish (or give up and retry) before arq's own timeout, which would fail the job for good
        async with asyncio.timeout(svc.settings.job_timeout_s * 0.8):
            outcome = await svc.process(delivery)
    except (RetryableError, TimeoutError) as exc:
        retry_after = getattr(exc, "retry_after", 0.5)
        if ctx["job_try"] >= svc.settings.max_tries:
            await svc.dead_letter_delivery(delivery, f"gave up after {ctx['job_try']} tries: {exc}")
            return "dead_letter"
        await svc.metrics.inc("leadrelay_job_retries_total",
                              {"job": "process_delivery", "reason": type(exc).__name__})
        raise Retry(defer=_backoff(ctx["job_try"], retry_after)) from exc
    except Exception as exc:  # a bug or a fatal answer: keep the lead, say why, fail the job
        await svc.dead_letter_delivery(delivery, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        await svc.metrics.observe("leadrelay_job_duration_seconds", time.perf_counter() - t0,
                                  {"job": "process_delivery"})
    return f"{outcome.status} {outcome.lead_id or ''}".strip()


async def write_back(ctx: dict[str, Any], crm: str) -> str:
    """Write one batch of decided leads to the CRM; failed rows only are retried, then dead-lettered."""
    svc: Service = ctx["svc"]
    job_id: str = ctx["job_id"]
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(svc.settings.job_timeout_s * 0.9):
            written, keep = await svc.write_back.write(crm, job_id)
    except TimeoutError as exc:  # the batch stays in this job's list; the retry writes it (upserts: no doubles)
        raise Retry(defer=_backoff(ctx["job_try"], 1.0)) from exc
    finally:
        await svc.metrics.observe("leadrelay_job_duration_seconds", time.perf_counter() - t0, {"job": "write_back"})
    if keep:
        if ctx["job_try"] >= svc.settings.max_tries:
            await svc.write_back.give_up(crm, job_id, keep, ctx["job_try"])
        else:
            await svc.metrics.inc("leadrelay_job_retries_total", {"job": "write_back", "reason": "retryable_rows"})
            raise Retry(defer=_backoff(ctx["job_try"], 0.2))
    if await svc.store.pending_writes(crm):
        await svc.write_back.request_flush(crm)
    return f"written {written}"


async def sweep(ctx: dict[str, Any]) -> None:
    """Every few seconds: writes waiting without a job (a worker died between commit and enqueue) get one."""
    svc: Service = ctx["svc"]
    if await svc.store.pending_writes(svc.settings.crm):
        await svc.write_back.request_flush(svc.settings.crm)


async def sync_accounts(ctx: dict[str, Any]) -> str:
    """Refresh the account index from the CRM (cron; one worker per tick)."""
    svc: Service = ctx["svc"]
    return f"{await svc.accounts.sync()} accounts"

