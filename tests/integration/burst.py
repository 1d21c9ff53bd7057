"""Workers a test runs in its own process, each with a deadline: a worker that does not finish fails the test with
what it was waiting for — arq's queue (each job's id, function, try and when it is due), the jobs in progress and
the worker's log — instead of hanging until pytest-timeout kills the run with nothing to read."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import redis.asyncio
import structlog
from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.jobs import deserialize_job
from arq.worker import Worker

from connector.settings import Settings
from worker.queue import job_deserializer, queue_name
from worker.settings import worker_settings

DEADLINE_S = 120.0


async def queue_dump(redis_url: str, prefix: str) -> str:
    """arq's queue as it is now: queued jobs (due or deferred) and in-progress keys, for a failure message."""
    r = redis.asyncio.Redis.from_url(redis_url)
    try:
        now_ms = time.time() * 1000
        queued = await r.zrange(queue_name(prefix), 0, -1, withscores=True)
        lines = [f"arq queue {queue_name(prefix)}: {len(queued)} jobs"]
        for raw_id, score in queued[:50]:
            job_id = raw_id.decode()
            raw = await r.get(job_key_prefix + job_id)
            what = "job data gone"
            if raw is not None:
                job = deserialize_job(raw, deserializer=job_deserializer)
                what = f"{job.function}, tried {job.job_try or 0} times"
            due = (score - now_ms) / 1000
            flags = [f for f, key in (("in progress", in_progress_key_prefix), ("retried", retry_key_prefix))
                     if await r.exists(key + job_id)]
            lines.append(f"  {job_id}: {what}, due {'in' if due > 0 else 'since'} {abs(due):.1f}s "
                         f"{' '.join(flags)}".rstrip())
        in_progress = [k.decode() async for k in r.scan_iter(match=f"{in_progress_key_prefix}*")]
        lines.append(f"in progress: {sorted(in_progress)[:50]}")
        return "\n".join(lines)
    finally:
        await r.aclose()


@contextlib.contextmanager
def worker_log() -> Iterator[list[str]]:
    """The lines an in-process worker logs (structlog events and arq's own logging) while the block runs, kept as
    they come (the worker's log is still printed as before)."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(f"{record.name} {record.levelname}: {record.getMessage()}")

    def keep(logger: Any, method: str, event: Any) -> Any:
        lines.append(f"{method}: {event}")
        return event

    handler = Keep(logging.INFO)
    arq_log = logging.getLogger("arq")
    arq_log.addHandler(handler)
    level = arq_log.level
    arq_log.setLevel(logging.INFO)
    processors = structlog.get_config()["processors"]
    structlog.configure(processors=[keep, *processors])
    try:
        yield lines
    finally:
        structlog.configure(processors=processors)
        arq_log.removeHandler(handler)
        arq_log.setLevel(level)


async def failure(settings: Settings, what: str, log: list[str]) -> AssertionError:
    dump = await queue_dump(str(settings.redis_url), settings.key_prefix)
    tail = "\n".join(log[-150:])
    return AssertionError(f"{what}\n{dump}\nworker log (last {min(150, len(log))} of {len(log)} lines):\n{tail}")


async def run_burst(settings: Settings, *, deadline_s: float = DEADLINE_S, **ctx: Any) -> None:
    """An arq burst worker (runs until the queue is empty), at most ``deadline_s``."""
    worker = Worker(**{**worker_settings(settings, **ctx), "handle_signals": False, "burst": True})
    with worker_log() as log:
        try:
            async with asyncio.timeout(deadline_s):
                await worker.async_run()
        except TimeoutError:
            raise await failure(settings, f"burst worker not done after {deadline_s:g}s", log) from None
        finally:
            await worker.close()


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, **ctx: Any) -> AsyncIterator[Callable[[Callable[[], bool], float, str],
                                                                                   Any]]:
    """A worker running in this process; yields ``until(done, timeout, what)`` which waits for ``done()`` (called in
    a thread) and on timeout fails with the queue and the worker's log."""
    worker = Worker(**{**worker_settings(settings, **ctx), "handle_signals": False})
    with worker_log() as log:
        task = asyncio.create_task(worker.async_run())

        async def until(done: Callable[[], bool], timeout: float, what: str) -> None:
            deadline = time.monotonic() + timeout
            while not await asyncio.to_thread(done):
                if task.done():
                    task.result()  # the worker stopped: its error is the failure
                if time.monotonic() > deadline:
                    raise await failure(settings, f"not done after {timeout:g}s: {what}", log)
                await asyncio.sleep(0.2)

        try:
            yield until
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await worker.close()
