"""arq's ``Worker``, riding out a Redis failover in its poll instead of ending (and being started again).

arq starts a job in a WATCH/MULTI on the job's in-progress key; a connection lost there (the primary died, or became
a replica) surfaces as a WatchError or ConnectionError that arq does not catch: its main loop ends, with the job's
slot still taken. Here that job is simply not started this poll (it stays queued; the next poll, on the new primary,
starts it), its slot is given back, and the outage is logged once (``worker.outage``).
"""

from __future__ import annotations

import asyncio

from arq.worker import Worker as ArqWorker
from redis.exceptions import WatchError

from worker import outage
from worker.redis_server import redis_unavailable


class Worker(ArqWorker):
    async def start_jobs(self, job_ids: list[bytes]) -> None:
        for job_id in job_ids:
            try:
                await super().start_jobs([job_id])
            except Exception as exc:
                if not (redis_unavailable(exc) or isinstance(exc, WatchError)):
                    raise
                # arq took the job's slot before the WATCH and raised before starting it: give the slot back
                self.job_counter -= 1
                self.sem.release()
                outage.REDIS.failed(exc, "poll")
                await asyncio.sleep(self.poll_delay_s)
                return
