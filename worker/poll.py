"""arq's Worker, minus a waste of its poll: it does not try to start again the jobs it is running itself.

arq reads the due job ids every poll delay and, for each, asks Redis whether it is running (WATCH, EXISTS, ZSCORE:
three round trips) — the jobs this worker runs too, since a job stays in the queue until it finishes. A lead's job
waits on the CRM lookup and the write window for several polls, so that was ten or more round trips per lead for
nothing (profiled). A job this process runs is known here without asking; any other job id is checked as before.
"""

from __future__ import annotations

from arq.worker import Worker as ArqWorker


class Worker(ArqWorker):
    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Start the due jobs, skipping those this worker is running (arq would find them in progress and skip them
        too, after three round trips each). A finished task whose job is due again (a retry) is started as usual."""
        running = self.tasks
        await super().start_jobs([j for j in job_ids
                                  if (t := running.get(j.decode())) is None or t.done()])
