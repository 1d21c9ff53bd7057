"""The first-contact clock of each lead: started when its owner is written to the CRM, stopped by first contact.

- ``start_clock``: the write path calls it when a batch lands: a lead with an owner gets its clock (the steps of
  its grade's ladder, ``rules/sla.yaml``, each an arq job deferred to its moment in the owner's business time);
  a lead held after hours is put on hold instead (``worker.sla.hold``), and its clock starts when the release's
  write lands.
- ``step``: the job at each rung asks the CRM whether the lead was worked; if not it reminds, escalates or
  reassigns (``worker.sla.steps``) and schedules the next rung.
- ``crm_event`` / ``owner_changed``: the CRM's own events (intake) can say first contact before the CRM is asked,
  and a rep's manual reassignment restarts the clock for the new owner.
Every step is a line in the decision's trace and counted (``leadrelay_sla_steps_total``); first contact is
observed as ``leadrelay_first_contact_seconds`` (received -> first contact) by source, grade, the rep who made it
and the UTC hour the lead was received.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from arq.constants import expires_extra_ms

from adapters.crm import registry
from adapters.crm.plugin import CrmEvent
from connector.config import Config
from connector.decision import decision_to_json
from connector.ports import CrmClient
from connector.settings import Settings
from connector.sla import GradeSla, Step, due_at
from connector.worked import WorkedWhen, worked_at
from worker.metrics import Gauge, Recorder
from worker.sla import hold, steps
from worker.sla.notifier import LogNotifier, Notifier
from worker.sla.queue import HAND_OVER_S, SLA_STEP, FollowQueue
from worker.sla.record import Tracked, stamp, tracked, when
from worker.sla.writes import Flush
from worker.store import Store, WriteTask, scripts
from worker.store.keys import arq_job, arq_result
from worker.unassigned import Unassigned

log = structlog.get_logger("leadrelay.sla")


class SlaClock:
    """Follow-through of one worker process: first-contact clocks, their escalation, after-hours holds."""

    def __init__(self, settings: Settings, config: Config, store: Store, crm: CrmClient, *, metrics: Recorder,
                 flush: Flush, notifier: Notifier | None = None, now: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.config = config
        self.store = store
        self.crm = crm
        self.metrics = metrics
        self.flush = flush
        self.notifier: Notifier = notifier or LogNotifier()
        self.queue = FollowQueue(store, settings.key_prefix)
        self.defer = self.queue.defer
        self._start_script = store.r.register_script(scripts.SLA_START)
        self._now = now or (lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self._now()

    def use_config(self, config: Config) -> None:
        """Deadlines, ladders and the roster of a newly published config version."""
        self.config = config

    async def tracked(self, lead_id: str) -> Tracked | None:
        return tracked(lead_id, await self.store.lead(lead_id))

    def grade(self, t: Tracked) -> GradeSla | None:
        sla = self.config.sla
        return sla.for_grade(t.decision.score.grade) if sla is not None else None

    # ---- the write landed ----------------------------------------------------------------------------------------
    async def start_clock(self, crm: str, results: Sequence[tuple[WriteTask, bytes, str | None]]) -> None:
        """The CRM write of these leads landed: start each one's clock (or hold it). Never fails the write.

        Two round trips for the whole batch (its leads read, then ``scripts.SLA_START``), not five a lead."""
        ids = list(dict.fromkeys(task.lead_id for task, _, _ in results))
        if not ids:
            return
        try:
            found = [tracked(i, f) for i, f in zip(ids, await self.store.leads(ids), strict=True)]
            starts: list[tuple[Tracked, str]] = []
            for t in found:
                owner = t.decision.route.assignment.owner if t is not None else None
                if t is None or owner is None:
                    continue  # a queue's lead: nobody's clock
                held = t.decision.route.assignment.hold_until
                if held is not None and "released_at" not in t.fields:
                    await self._guarded(hold.hold(self, t, held), t.lead_id, crm)
                elif "sla_clock" not in t.fields:  # once: not on a later write (the script checks it again)
                    starts.append((t, owner))
            if starts:
                await self._start_many(starts, self.now())
        except Exception:  # follow-through is not worth a lead's write: log it, the write stands
            log.exception("sla_start_failed", leads=len(ids), crm=crm)

    async def _guarded(self, step: Awaitable[None], lead_id: str, crm: str) -> None:
        try:
            await step
        except Exception:
            log.exception("sla_start_failed", lead=lead_id, crm=crm)

    async def _start_many(self, starts: Sequence[tuple[Tracked, str]], start: datetime) -> None:
        """Start clock 1 of each (lead, owner) at ``start`` in one script: what ``start`` does for one, each only if
        its clock never started."""
        k = self.store.keys
        keys = [k.sla_due, k.sla_schedule, k.queue]
        argv: list[Any] = [self.store.retention.lead_s, time.time() - self.store.retention.lead_s,
                           expires_extra_ms + int(HAND_OVER_S * 1000)]  # arq's: a day past its time
        for t, owner in starts:
            fields, deadline, grade = self._clock(t, owner, 1, start)
            rung = self._rung(t.lead_id, 1, owner, start, grade, after=None) if deadline and grade else None
            job_id = rung[1] if rung else ""
            keys += [k.lead(t.lead_id), arq_job(job_id), arq_result(job_id)]
            argv += [t.lead_id, len(fields), *[x for kv in fields.items() for x in kv],
                     repr(deadline.timestamp()) if deadline is not None else "",
                     *(self.queue.planned(SLA_STEP, (t.lead_id, 1, rung[0]), job_id, rung[2]) if rung
                       else ("", "", "", ""))]
        await self._start_script(keys=keys, args=argv)

    # ---- one clock -------------------------------------------------------------------------------------------
    async def start(self, t: Tracked, owner: str, clock: int, start: datetime, trace: str = "") -> None:
        """Start clock number ``clock`` for ``owner`` at ``start``: its deadline, and the first step's job."""
        fields, deadline, grade = self._clock(t, owner, clock, start)
        if trace:
            fields["decision"] = decision_to_json(t.with_trace(trace)).decode()
        await self.store.set_lead_fields(t.lead_id, **fields)
        if deadline is None or grade is None:
            return
        await self._due(t.lead_id, deadline)
        await self.schedule(t.lead_id, clock, owner, start, grade, after=None)

    def _clock(self, t: Tracked, owner: str, clock: int,
               start: datetime) -> tuple[dict[str, str], datetime | None, GradeSla | None]:
        """A clock's fields on the lead, its deadline (None: the grade has none, or the owner is no rep) and grade."""
        grade, rep = self.grade(t), self.config.team.by_id.get(owner)
        fields = {"sla_clock": str(clock), "sla_owner": owner, "sla_start": stamp(start)}
        deadline = None
        if grade is not None and rep is not None:
            deadline = due_at(rep, start, grade.first_contact_minutes * 60, business_hours=grade.business_hours)
        if deadline is not None:
            fields["sla_deadline"] = stamp(deadline)
        return fields, deadline, grade

    def _rung(self, lead_id: str, clock: int, owner: str, start: datetime, grade: GradeSla,
              after: Step | None) -> tuple[Step, str, datetime] | None:
        """(step, job id, when) of the rung after ``after`` (the first when None), in the owner's time; None: none."""
        ladder = grade.ladder()
        names = [s for s, _ in ladder]
        nxt = ladder[names.index(after) + 1:] if after in names else ([] if after else ladder)
        rep = self.config.team.by_id.get(owner)
        if not nxt or rep is None:
            return None
        step, offset = nxt[0]
        at = due_at(rep, start, offset, business_hours=grade.business_hours)
        return (step, self.store.keys.sla_job(lead_id, clock, step), at) if at is not None else None

    async def schedule(self, lead_id: str, clock: int, owner: str, start: datetime, grade: GradeSla,
                       after: Step | None) -> None:
        """Queue the job of the rung after ``after`` (the first when None), at its moment in the owner's time."""
        rung = self._rung(lead_id, clock, owner, start, grade, after)
        if rung is not None:
            step, job_id, at = rung
            await self.defer(SLA_STEP, (lead_id, clock, step), job_id, at)

    async def _due(self, lead_id: str, deadline: datetime) -> None:
        """Note the deadline for the overdue gauge; entries older than a lead's retention are let go."""
        keys, pipe = self.store.keys, self.store.r.pipeline(transaction=False)
        pipe.zadd(keys.sla_due, {lead_id: deadline.timestamp()})
        pipe.zremrangebyscore(keys.sla_due, "-inf", time.time() - self.store.retention.lead_s)
        await pipe.execute()

    async def step(self, lead_id: str, clock: int, step: Step) -> str:
        """The job at one rung: worked since the clock started? Else take the step and schedule the next."""
        t = await self.tracked(lead_id)
        if t is None or t.clock != clock:
            return "stale"  # the clock was restarted (reassigned, owner changed in the CRM) or the lead expired
        if t.first_contact is not None:
            return "worked"
        grade, owner, start = self.grade(t), t.owner, t.start
        if grade is None or owner is None or start is None:
            return "no_sla"
        if t.text("sla_step_done") == f"{clock}:{step}":  # a retried job: the step was taken
            await self.schedule(lead_id, clock, owner, start, grade, after=step)
            return "done_before"
        worked = await self._ask_crm(t, start)
        if worked is not None:
            await self.mark_worked(t, worked)
            return "worked"
        outcome = await steps.take(self, t, step, grade)
        if outcome != "reassigned":  # a reassignment started the new owner's clock
            await self.store.set_lead_fields(lead_id, sla_step_done=f"{clock}:{step}")
            await self.schedule(lead_id, clock, owner, start, grade, after=step)
        return outcome

    async def _ask_crm(self, t: Tracked, since: datetime) -> datetime | None:
        spec = self._spec(t.record[0] if t.record else "")
        if t.record is None or spec is None or t.record[0] != self.crm.name:
            return None
        plugin = registry.plugin(t.record[0])
        return await asyncio.to_thread(plugin.was_worked, self.crm, t.record[1], spec, since)

    def _spec(self, crm: str) -> WorkedWhen | None:
        mapping = self.config.crm.get(crm)
        return mapping.worked_when if mapping is not None else None

    # ---- first contact ---------------------------------------------------------------------------------------
    async def mark_worked(self, t: Tracked, at: datetime) -> bool:
        """Record first contact (once): the chain stops, the time from received is observed."""
        key = self.store.keys.lead(t.lead_id)
        if not await self.store.r.hsetnx(key, "first_contact_at", stamp(at)):
            return False
        await self.store.r.zrem(self.store.keys.sla_due, t.lead_id)
        received = datetime.fromtimestamp(t.received_at, UTC) if t.received_at else at
        seconds = max(0.0, (at - received).total_seconds())
        hour = datetime.fromtimestamp(t.received_at, UTC).hour if t.received_at else at.astimezone(UTC).hour
        await self.metrics.observe("leadrelay_first_contact_seconds", seconds, {
            "source": t.decision.lead.origin.source, "grade": t.decision.score.grade,
            "rep": t.owner or f"queue:{t.decision.route.assignment.queue}", "hour": f"{hour:02d}"})
        line = f"first contact {when(at)} by {t.owner}: {timedelta(seconds=round(seconds))} after it was received"
        await self.store.set_lead_fields(t.lead_id, decision=decision_to_json(t.with_trace(line)).decode())
        return True

    async def crm_event(self, crm: str, lead_id: str, ev: CrmEvent) -> bool:
        """A CRM event about a lead we routed: True when it says first contact (a status moved on, an activity)."""
        spec = self._spec(crm)
        if spec is None or not any(f in ev.changes for f in spec.fields):
            return False
        t = await self.tracked(lead_id)
        if t is None or t.first_contact is not None:
            return False
        at = ev.occurred_at or self.now()
        since = t.start or (datetime.fromtimestamp(t.received_at, UTC) if t.received_at else at)
        worked = worked_at(spec, ev.changes, min(since, at), status_changed_at=at)
        return worked is not None and await self.mark_worked(t, worked)

    async def owner_changed(self, crm: str, lead_id: str, owner_id: str) -> None:
        """A person gave the lead to another owner in the CRM: the clock starts again, for them."""
        rep = self.config.team.rep_for_owner(owner_id, crm)
        t = await self.tracked(lead_id)
        if rep is None or t is None or t.first_contact is not None or t.owner == rep.id:
            return
        clock = int(await self.store.r.hincrby(self.store.keys.lead(lead_id), "sla_clock", 1))
        now = self.now()
        await self.start(t, rep.id, clock, now, trace=f"owner set to {rep.id} in the CRM {when(now)}: first-contact "
                                                       "clock restarted for them")


async def follow_gauges(store: Store) -> dict[str, Gauge]:
    """Overdue leads (past their first-contact deadline, not worked), held leads and the leads in each queue (not
    a rep's), read now (metrics page)."""
    now = time.time()
    pipe = store.r.pipeline(transaction=False)
    pipe.zcount(store.keys.sla_due, now - store.retention.lead_s, now)
    pipe.zcard(store.keys.held)
    overdue, held = await pipe.execute()
    return {"leadrelay_sla_overdue": float(overdue), "leadrelay_leads_held": float(held),
            "leadrelay_leads_unassigned": await Unassigned(store).counts()}
