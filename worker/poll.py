"""arq's ``Worker`` with two changes to its poll.

- It rides out a Redis failover instead of ending (and being started again): arq starts a job in a WATCH/MULTI on
  the job's in-progress key; a connection lost there (the primary died, or became a replica) surfaces as a
  WatchError or ConnectionError that arq does not catch: its main loop ends, with the job's slot still taken. Here
  that job is simply not started this poll (it stays queued; the next poll, on the new primary, starts it), its
  slot is given back, and the outage is logged once (``worker.outage``).
- It does not try to start again the jobs it is running itself: arq reads the due job ids every poll delay and,
  for each, asks Redis whether it is running (WATCH, EXISTS, ZSCORE: three round trips) — the jobs this worker runs
  too, since a job stays in the queue until it finishes. A lead's job waits on the CRM lookup and the write window
  for several polls, so that was ten or more round trips per lead for nothing (profiled).
"""

from __future__ import annotations

import asyncio

from arq.worker import Worker as ArqWorker
from redis.exceptions import WatchError

from worker import outage
from worker.redis_server import redis_unavailable


class Worker(ArqWorker):
    async def start_jobs(self, job_ids: list[bytes]) -> None:
        running = self.tasks
        for job_id in job_ids:
            if (t := running.get(job_id.decode())) is not None and not t.done():
                continue  # running here: arq would find it in progress too, after three round trips
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
