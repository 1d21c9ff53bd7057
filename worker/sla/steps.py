"""The rungs of the escalation ladder for a lead nobody has worked by its deadline: remind the owner, tell their
manager, give the lead to the next rep in its pool (written to the CRM, told, with a clock of their own)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from connector.decision import Decision, decision_to_json
from connector.sla import GradeSla, Step, next_owner
from worker.sla.record import Tracked, when
from worker.sla.writes import commit_owner, owner_item

if TYPE_CHECKING:
    from worker.sla.clock import SlaClock


def _late(t: Tracked, grade: GradeSla) -> str:
    deadline = t.deadline
    due = f" (due {when(deadline)})" if deadline is not None else ""
    return f"no first contact {grade.first_contact_minutes:g} business minutes after assignment{due}"


async def take(clock: SlaClock, t: Tracked, step: Step, grade: GradeSla) -> str:
    """Take one rung for a lead not worked; returns what happened (the job's result)."""
    late = _late(t, grade)
    if step == "remind":
        return await _tell(clock, t, "remind", "sla_reminder", "owner", f"reminded {t.owner}: {late}",
                           f"Reminder: {late}")
    if step == "manager":
        rep = clock.config.team.by_id.get(t.owner or "")
        if rep is None or rep.manager is None:
            await _trace(clock, t, f"no manager of {t.owner} on the roster to tell: {late}")
            return "no_manager"
        return await _tell(clock, t, "manager", "sla_escalation", "manager",
                           f"told {rep.manager}, manager of {t.owner}: {late}",
                           f"Not contacted in time: {rep.name} has this lead, {late}")
    return await reassign(clock, t, grade)


async def _trace(clock: SlaClock, t: Tracked, line: str) -> None:
    stamped = f"first-contact SLA {when(clock.now())}: {line}"
    await clock.store.set_lead_fields(t.lead_id, decision=decision_to_json(t.with_trace(stamped)).decode())


async def _tell(clock: SlaClock, t: Tracked, step: str, event: str, who: str, line: str, say: str) -> str:
    """Tell ``who`` (``say``: what the person reads, opening the lead's card) and trace ``line``."""
    await clock.notifier.tell(t.lead_id, event, who, say)
    await _trace(clock, t, line)
    await clock.metrics.inc("leadrelay_sla_steps_total", {"step": step})
    return step


async def reassign(clock: SlaClock, t: Tracked, grade: GradeSla) -> str:
    """The next rep in the pool who is at work with room gets the lead: the routing state counts it, the new owner
    is written to the CRM and told, and their own clock starts. Else the lead stays where it is (said why)."""
    sla, owner = clock.config.sla, t.owner
    assert sla is not None and owner is not None
    crm = clock.settings.crm
    if len(t.tried) >= sla.max_reassignments:
        await _trace(clock, t, f"{_late(t, grade)}; stays with {owner}: reassigned {len(t.tried)} times already")
        await clock.metrics.inc("leadrelay_sla_steps_total", {"step": "reassign_nobody"})
        return "kept"
    now = clock.now()
    current = t.decision
    if current.route.assignment.owner != owner:  # a person changed the owner in the CRM since: reassign theirs
        current = _with_owner(current, owner)
    found = next_owner(current, clock.config.routing, clock.config.team, await clock.store.snapshot(), now,
                       tried=t.tried)
    if found is None:
        await _trace(clock, t, f"{_late(t, grade)}; nobody else in the pool is at work with room: stays with "
                               f"{owner}")
        await clock.metrics.inc("leadrelay_sla_steps_total", {"step": "reassign_nobody"})
        return "kept"
    assignment, changes = found
    new = assignment.owner or ""
    line = f"first-contact SLA {when(now)}: {assignment.reason} ({_late(t, grade)})"
    decision = t.with_trace(line, owner=new, owner_ids=assignment.owner_ids, strategy=assignment.strategy,
                            reason=assignment.reason, hold_until=None)
    owner_id = assignment.owner_ids.get(crm)
    item = owner_item(t, decision, clock.config, crm, owner_id) if owner_id else None
    await clock.store.set_lead_fields(t.lead_id, sla_tried=",".join([*t.tried, owner]))
    await commit_owner(clock.store, clock.flush, t, decision, item, crm=crm, done=f"{t.lead_id}:{t.clock}",
                       changes=changes)
    names = clock.config.team.by_id
    was, now_owner = names.get(owner), names.get(new)
    await clock.notifier.tell(t.lead_id, "sla_reassigned", "new_owner",
                              f"Reassigned to {now_owner.name if now_owner else new}: "
                              f"{was.name if was else owner} made no first contact in time ({_late(t, grade)})")
    await clock.metrics.inc("leadrelay_sla_steps_total", {"step": "reassign"})
    fresh = await clock.tracked(t.lead_id)
    if fresh is not None:
        number = int(await clock.store.r.hincrby(clock.store.keys.lead(t.lead_id), "sla_clock", 1))
        await clock.start(fresh, new, number, now)
    return "reassigned"


def _with_owner(decision: Decision, owner: str) -> Decision:
    a = msgspec.structs.replace(decision.route.assignment, owner=owner)
    return msgspec.structs.replace(decision, route=msgspec.structs.replace(decision.route, assignment=a))
