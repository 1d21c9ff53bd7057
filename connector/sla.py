"""First-contact SLAs (``rules/sla.yaml``): per grade, how soon the owner must work a lead, and what happens if not.

Every time here is counted in the owner's business time: their time zone, working days and hours, their country's
public holidays and their time off (``connector.team``). A hot lead assigned at 17:58 with a 5-minute deadline is
due at 09:03 the next working morning, not at 18:03.

The escalation ladder of a grade: at ``first_contact_minutes`` (+ ``remind_after_minutes``) the owner is reminded,
``manager_after_minutes`` after the deadline their manager is told, ``reassign_after_minutes`` after it the lead
goes to the next rep in its pool who is at work (and the clock starts again for them). A step left out is
skipped; a grade not listed has no SLA. Pure: the worker schedules the steps and asks the CRM (``worker.sla``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import msgspec

from connector.decision import Assignment, Decision, StateChange
from connector.routing.config import RoutingConfig, Skill
from connector.routing.state import RoutingState, load_of
from connector.team import Rep, Team, local_state, next_business_start, working_at
from connector.yamlconf import Where, from_text, load_yaml

Step = Literal["remind", "manager", "reassign"]
STEPS: tuple[Step, ...] = ("remind", "manager", "reassign")


class GradeSla(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One grade's deadline and ladder; each ``*_after_minutes`` counts from the deadline (None: no such step)."""

    first_contact_minutes: float
    remind_after_minutes: float | None = 0
    manager_after_minutes: float | None = None
    reassign_after_minutes: float | None = None
    business_hours: bool = True  # false: count wall-clock time (e.g. a 24/7 inbound desk)

    def __post_init__(self) -> None:
        if self.first_contact_minutes <= 0:
            raise ValueError("first_contact_minutes must be more than 0")
        for name in ("remind_after_minutes", "manager_after_minutes", "reassign_after_minutes"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")

    def ladder(self) -> list[tuple[Step, float]]:
        """The steps in the order they come: (step, seconds of business time from the clock's start)."""
        offsets = (self.remind_after_minutes, self.manager_after_minutes, self.reassign_after_minutes)
        steps = [(step, (self.first_contact_minutes + after) * 60) for step, after in zip(STEPS, offsets, strict=True)
                 if after is not None]
        return sorted(steps, key=lambda s: (s[1], STEPS.index(s[0])))


class SlaConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """``rules/sla.yaml``."""

    grades: dict[str, GradeSla] = {}
    max_reassignments: int = 1  # then the lead stays with its last owner (their manager has been told)
    hold_queue: str | None = None  # a team queue whose CRM owner a held lead carries until released (else none)

    def __post_init__(self) -> None:
        if self.max_reassignments < 0:
            raise ValueError("max_reassignments must not be negative")

    def for_grade(self, grade: str) -> GradeSla | None:
        return self.grades.get(grade)


def _check(config: SlaConfig, team: Team | None, where: Where) -> None:
    if team is not None and config.hold_queue is not None and config.hold_queue not in team.queues:
        where.fail("hold_queue", f"no queue {config.hold_queue!r} in the team roster (have: {', '.join(team.queues)})")


def sla_from_text(text: str, *, file: str, team: Team | None = None) -> SlaConfig:
    return from_text(text, SlaConfig, file=file, check=lambda c, w: _check(c, team, w))


def load_sla(path: str | Path, team: Team | None = None) -> SlaConfig:
    """Load ``rules/sla.yaml``; with ``team``, the hold queue must be on the roster."""
    return load_yaml(path, SlaConfig, check=lambda c, w: _check(c, team, w))


# ---- business time --------------------------------------------------------------------------------------------


def business_add(rep: Rep, start: datetime, seconds: float, *, horizon_days: int = 60) -> datetime | None:
    """``start`` plus ``seconds`` of the rep's working time (holidays and time off skipped), in UTC.

    None when the rep has no working time within ``horizon_days`` (inactive for good, or away for months)."""
    left = timedelta(seconds=seconds)
    at = start
    for _ in range(horizon_days):
        begin = next_business_start(rep, at, horizon_days=horizon_days)
        if begin is None:
            return None
        local = begin.astimezone(rep.tz)
        end = datetime.combine(local.date(), rep.end, tzinfo=rep.tz).astimezone(UTC)
        begin = begin.astimezone(UTC)  # arithmetic in UTC: an aware local time adds wall-clock time
        if begin + left <= end:
            return begin + left
        left -= end - begin
        at = end
    return None


def due_at(rep: Rep | None, start: datetime, seconds: float, *, business_hours: bool = True) -> datetime | None:
    """When a step ``seconds`` after ``start`` falls: in the rep's business time, or wall-clock time."""
    if rep is None or not business_hours:
        return start.astimezone(UTC) + timedelta(seconds=seconds)
    return business_add(rep, start, seconds)


def pool_next_start(team: Team, pool: str, now: datetime) -> datetime | None:
    """The pool's next business moment: the earliest any active member starts work at or after ``now`` (in UTC)."""
    starts = [s for m in team.pools[pool].members
              if (rep := team.by_id.get(m)) is not None and rep.active
              and (s := next_business_start(rep, now)) is not None]
    return min(starts).astimezone(UTC) if starts else None


# ---- holds ----------------------------------------------------------------------------------------------------


def held_owner_id(sla: SlaConfig | None, team: Team, crm: str) -> str | None:
    """The CRM owner a held lead carries until it is released: the hold queue's, else none (no owner written)."""
    if sla is None or sla.hold_queue is None:
        return None
    queue = team.queues.get(sla.hold_queue)
    return queue.owner_ids.get(crm) if queue is not None else None


def release_order(leads: Sequence[tuple[str, str, float]], grades: Sequence[str] = ("hot", "warm")) -> list[str]:
    """Held leads (id, grade, received at) in the order they are released: hot first, then by arrival."""
    rank = {g: i for i, g in enumerate(grades)}
    return [lead for lead, _, _ in sorted(leads, key=lambda x: (rank.get(x[1], len(rank)), x[2], x[0]))]


# ---- reassignment ---------------------------------------------------------------------------------------------


def pool_of(decision: Decision, routing: RoutingConfig, team: Team) -> str | None:
    """The pool a lead is reassigned within: its rule's pool when the owner is in it, else the first pool (in
    roster order) the owner is a member of."""
    owner = decision.route.assignment.owner
    rule = next((r for r in routing.rules if r.name == decision.route.assignment.rule), None)
    named = getattr(rule, "pool", None)
    if isinstance(named, str) and named in team.pools and owner in team.pools[named].members:
        return named
    return next((name for name, p in team.pools.items() if owner in p.members), None)


def _free(rep: Rep, state: RoutingState, now: datetime, skills: frozenset[str]) -> StateChange | None:
    """The load change of giving ``rep`` one more lead now, or None when they cannot take it."""
    if not rep.active or not skills <= rep.skill_set or not working_at(rep, now):
        return None
    _, day, away = local_state(rep, now)
    if away or (rep.daily_cap is not None and load_of(state, rep.id, day) >= rep.daily_cap):
        return None
    return StateChange(kind="load", key=rep.id, value=1, expected=rep.daily_cap, day=day)


def next_owner(decision: Decision, routing: RoutingConfig, team: Team, state: RoutingState, now: datetime,
               tried: Sequence[str]) -> tuple[Assignment, list[StateChange]] | None:
    """The next rep after the owner in the lead's pool who is at work now and has room (none of ``tried``), and the
    load change to commit; None when nobody is."""
    a = decision.route.assignment
    pool = pool_of(decision, routing, team)
    if pool is None or a.owner is None:
        return None
    rule = next((r for r in routing.rules if r.name == a.rule), None)
    skills = frozenset(s.casefold() for s in rule.skills) if isinstance(rule, Skill) else frozenset()
    members = team.pools[pool].members
    start = members.index(a.owner) + 1 if a.owner in members else 0
    for k in range(len(members)):
        rep = team.by_id[members[(start + k) % len(members)]]
        if rep.id == a.owner or rep.id in tried:
            continue
        change = _free(rep, state, now, skills)
        if change is not None:
            reason = f"reassigned within pool {pool}: {a.owner} made no first contact in time -> {rep.name}"
            return Assignment(owner=rep.id, owner_ids=dict(rep.owner_ids), rule=a.rule, strategy="sla_reassign",
                              reason=reason), [change]
    return None
