"""Re-scoring over time, and what the CRM reports about a lead we routed (issue 13, follow-through).

- Decay: when a lead is decided, ``index`` files it under the time its score next falls below a grade or stage
  threshold (``connector.rescore.next_crossing``; a sorted set, ``Keys.rescore_due``). The scheduled job
  (``rescore_job``, every minute) reads only the leads due by now, re-scores each under its lock and queues the
  CRM write of the new score, grade and stage (the stage never moves backwards), then files it again.
- Behaviour: a change of a field the CRM mapping lists under ``behaviour:`` (a page-view count, email clicks) is an
  event of the lead: it is re-scored and written the same way — or, for a lead in re-engagement, routed again.
- Status: a change of the mapping's ``recycle:`` fields starts or stops recycling (``worker.recycle``).
Every re-score adds a line to the decision's history; its write goes through the usual write-back queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from connector.config import Config
from connector.decision import Decision, decision_from_json, decision_to_json
from connector.model import Event
from connector.ports import Delivery
from connector.rescore import changed, next_crossing, rescore, rescored_decision, score_write
from connector.score import score
from connector.settings import Settings
from worker.decide import Flush, Outcome
from worker.metrics import Recorder
from worker.recycle import Recycler, locked
from worker.store import Store, WriteTask
from worker.store.followup import FollowUps

log = structlog.get_logger("leadrelay.worker")

DUE_PER_RUN = 500  # leads one run of the job takes; the rest wait for the next minute


def behaviour_events(config: Config, crm: str, changes: Mapping[str, Any], at: datetime) -> tuple[Event, ...]:
    """The events a CRM change reports: one per changed field the CRM mapping lists under ``behaviour``."""
    mapping = config.crm.get(crm)
    if mapping is None:
        return ()
    return tuple(Event(kind=b.event, at=at, detail=f"{b.field}={changes[b.field]}")
                 for b in mapping.behaviour if b.field in changes)


class Rescorer:
    def __init__(self, settings: Settings, config: Config, store: Store, *, flush: Flush, metrics: Recorder,
                 now: Any = None) -> None:
        self.settings = settings
        self.config = config
        self.store = store
        self.follow = FollowUps(store)
        self.flush = flush
        self.metrics = metrics
        self.now = now or (lambda: datetime.now(UTC))
        self.recycler = Recycler(settings, config, store, flush=flush, metrics=metrics, now=self.now,
                                 index=self.index)

    def use_config(self, config: Config) -> None:
        """Scoring, mappings and the recycling rules of a newly published config version."""
        self.config = self.recycler.config = config

    def _next(self, decision: Decision, now: datetime, *, rescored: bool = True) -> float | None:
        """When the lead's score next crosses a threshold (unix time); ``rescored=False``: its score is older
        than ``now``, so it is worked out again first."""
        current = decision.score if rescored else score(decision.lead, self.config.scoring, now=now,
                                                        match=decision.match)
        at = next_crossing(decision.lead, self.config.scoring, now=now, current=current)
        return at.timestamp() if at is not None else None

    async def index(self, lead_id: str, decision: Decision) -> None:
        """File a just-decided lead under its next threshold crossing. Most leads have no behaviour points and
        never cross one: they cost no Redis call (an entry left from before is dropped when it comes due)."""
        at = self._next(decision, decision.decided_at or self.now())
        if at is not None:
            await self.follow.schedule_rescore(lead_id, at)

    async def run(self, now: datetime | None = None, limit: int = DUE_PER_RUN) -> int:
        """Re-score the leads due by ``now`` (the scheduled job). Returns how many got a new score written."""
        now = now or self.now()
        written = waiting = 0
        for lead_id in await self.follow.due_rescores(now.timestamp(), limit):
            async with locked(self.store, lead_id) as stored:
                if stored is None:
                    if "decision" not in await self.store.lead(lead_id):
                        await self.follow.forget(lead_id)
                    continue  # else locked by a delivery being decided: the next run takes it
                n = await self._apply(lead_id, decision_from_json(stored["decision"]), now, ())
            if n is not None:
                written, waiting = written + 1, n
        if written:
            await self.flush(self.settings.crm, waiting)
        return written

    async def _apply(self, lead_id: str, prior: Decision, now: datetime, events: tuple[Event, ...],
                     done: tuple[str, str] | None = None) -> int | None:
        """Re-score one lead (its lock held) and queue the write; the writes waiting, or None when none was queued."""
        rescored = rescore(prior, self.config.scoring, now=now, events=events)
        if rescored is None:  # nothing crossed (a run early, or the config changed): file it again
            await self.follow.schedule_rescore(lead_id, self._next(prior, now, rescored=False))
            return None
        decision = rescored_decision(prior, rescored)
        task = None
        if changed(prior.score, rescored.score):
            crm = self.settings.crm
            item, _plan = score_write(decision, self.config, crm)
            task = WriteTask(crm=crm, lead_id=lead_id, item=item, received_at=now.timestamp(),
                             delivery=f"rescore:{lead_id}", kind="rescore")
        waiting = await self.follow.update(lead_id, decision=decision_to_json(decision), task=task,
                                           rescore_at=self._next(decision, now), done=done)
        await self.metrics.inc("leadrelay_rescored_total", {"why": "behaviour" if events else "decay",
                                                            "grade": rescored.score.grade})
        log.info("lead_rescored", lead=lead_id, score=rescored.score.total, grade=rescored.score.grade,
                 stage=rescored.score.stage, events=len(events))
        return waiting if task is not None else None

    async def crm_change(self, delivery: Delivery, lead_id: str, changes: Mapping[str, Any]) -> Outcome:
        """A lead we routed changed in the CRM (not by us, not its owner): behaviour re-scores it (or, in
        re-engagement, routes it again); its lost status and reason start or stop its recycling."""
        crm, at = delivery.source, delivery.received_at
        events = behaviour_events(self.config, crm, changes, at)
        status = self.recycler.watches(crm, changes)
        if not events and not status:
            await self.store.mark_done(delivery.source, delivery.delivery_id, lead_id)
            return Outcome(status="ignored", lead_id=lead_id, detail="a change leadrelay does not follow")
        async with locked(self.store, lead_id, wait_s=max(30.0, self.settings.job_timeout_s)) as stored:
            if stored is None:
                if "decision" in await self.store.lead(lead_id):
                    raise TimeoutError(f"lead {lead_id} stayed locked")  # retried by the job
                await self.store.mark_done(delivery.source, delivery.delivery_id, lead_id)
                return Outcome(status="ignored", lead_id=lead_id, detail="the lead is no longer kept")
            detail = ""
            if status:
                detail = await self.recycler.status_changed(crm, lead_id, stored, changes, at)
                stored = await self.store.lead(lead_id)
            prior = decision_from_json(stored["decision"])
            if events and self.recycler.ready(stored):
                return await self.recycler.reroute(delivery, prior.lead, prior, events=events,
                                                   why=f"{', '.join(e.kind for e in events)} reported by the CRM")
            if events:
                waiting = await self._apply(lead_id, prior, self.now(), events,
                                            done=(delivery.source, delivery.delivery_id))
                if waiting is not None:
                    await self.flush(self.settings.crm, waiting)
                return Outcome(status="rescored", lead_id=lead_id, detail=detail)
        await self.store.mark_done(delivery.source, delivery.delivery_id, lead_id)
        return Outcome(status=detail or "ignored", lead_id=lead_id)


async def rescore_job(ctx: dict[str, Any]) -> str:
    """Every minute (cron; one worker per tick): re-score the leads whose score has decayed across a threshold,
    and move the lost leads whose delay is over into re-engagement."""
    rescorer: Rescorer = ctx["svc"].rescorer
    now = rescorer.now()
    written = await rescorer.run(now)
    entered = await rescorer.recycler.enter_due(now)
    return f"{written} re-scored, {entered} entered re-engagement"

