"""A test's burst worker that cannot finish fails within its deadline, saying what it waited for (it once hung CI
for 300 s with nothing to read)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.burst import run_burst
from tests.integration.harness import PREFIX, config_dir
from tests.integration.test_nothing_lost import StubCrm, _settings
from worker.queue import connect


@pytest.mark.timeout(60)
async def test_a_burst_worker_past_its_deadline_fails_with_arqs_queue_and_its_log(redis_url: str,
                                                                                  tmp_path: Path) -> None:
    pool = await connect(redis_url, PREFIX)
    # a job deferred an hour (a retry's backoff, a follow-through step): arq's burst mode waits for it
    await pool.enqueue_job("sweep-later", _job_id="deferred-an-hour", _defer_by=3600)
    await pool.aclose()
    t0 = time.monotonic()
    with pytest.raises(AssertionError) as failed:
        await run_burst(_settings(redis_url, config_dir(tmp_path)), deadline_s=3, crm=StubCrm())
    assert time.monotonic() - t0 < 30
    message = str(failed.value)
    assert "burst worker not done after 3s" in message
    assert "deferred-an-hour: sweep-later, tried 0 times, due in 35" in message, message
    assert "worker_ready" in message  # the worker's own log
