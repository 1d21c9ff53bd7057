"""Issue 11: a CRM outage longer than the whole retry span ends with every lead written once the CRM answers
again — none in the dead-letter list. Real worker processes against the sandbox; the outage starts before the leads
arrive, so their CRM lookups (the decide step) fail too, not only the writes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from sandbox.common import FaultPlan
from tests.integration.harness import (
    PREFIX,
    WorkerProcs,
    config_dir,
    form_delivery,
    hubspot_contacts,
    samples,
    sandbox_for,
    settings_for,
    wait_for,
)
from worker.queue import connect, enqueue_delivery
from worker.store.keys import Keys

K = Keys(PREFIX)
OUTAGE_S = 24.0


def _retry_span_s(max_tries: int, job_timeout_s: float) -> float:
    """The longest a job keeps trying: every try may spend 80 % of the job timeout in the adapter's own retries,
    plus arq's defers between tries (0.05 s doubling)."""
    return max_tries * 0.8 * job_timeout_s + sum(0.05 * 2 ** (t - 1) for t in range(1, max_tries))


async def _enqueue(redis_url: str, rows: list[dict[str, Any]], which: range) -> None:
    """Queue rows as form deliveries d<i>, as the API does once it has accepted them."""
    pool = await connect(redis_url, PREFIX)
    for i in which:
        await enqueue_delivery(pool, form_delivery(rows[i], i), PREFIX)
    await pool.aclose()


@pytest.mark.timeout(180)
def test_leads_received_during_an_outage_longer_than_the_retry_span_are_written_after_it(
    redis_url: str, tmp_path: Path
) -> None:
    n = 12
    cfg = config_dir(tmp_path)
    rows = samples(n)
    with sandbox_for(cfg) as sandbox:
        settings = settings_for(sandbox, redis_url, cfg, max_tries=3, job_timeout_s=3, breaker_failures=3,
                                breaker_cooldown_s=2.0)
        assert _retry_span_s(settings.max_tries, settings.job_timeout_s) < OUTAGE_S / 2
        r = redis.Redis.from_url(redis_url)
        with WorkerProcs(settings, 2) as workers:
            workers.ready()  # both workers up (their account sync done) before the CRM goes away
            sandbox.faults["hubspot"].set(FaultPlan(outage_seconds=OUTAGE_S))
            ends = time.monotonic() + OUTAGE_S
            asyncio.run(_enqueue(redis_url, rows, range(n // 2)))
            time.sleep(OUTAGE_S / 2)
            asyncio.run(_enqueue(redis_url, rows, range(n // 2, n)))
            time.sleep(max(0.0, ends - time.monotonic()))
            assert hubspot_contacts(sandbox) == []
            during = r.zcard(K.dlq)
            assert during == 0, f"{during} leads received during the outage were dead-lettered"
            wait_for(lambda: len(hubspot_contacts(sandbox)) >= n, 60, f"{n} contacts after the outage",
                     explain=workers.tail)
            time.sleep(1.0)
            workers.stop()
        dead = r.zcard(K.dlq)
        parked = sum(float(v) for v in r.hgetall(K.metric("leadrelay_parked_total")).values())
        r.close()
        emails = sorted(c["properties"]["email"] for c in hubspot_contacts(sandbox))
    assert dead == 0, "a lead was dead-lettered"
    assert parked > 0  # they waited parked (not in arq's retries, which the outage outlasts)
    assert emails == sorted(row["email"].lower() for row in rows)
