"""Who can take a lead now: availability of each candidate, the pick in pool order, and the state changes.

Candidates are skipped — and every skip is recorded — when inactive, missing a required skill or language, out
of office, at their daily cap, or (with ``after_hours: hold``) outside their hours; with ``hold``, the one back
at work first is chosen when nobody is in hours now.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connector.decision import Assignment, MatchResult, SkippedCandidate, StateChange
from connector.model import Lead
from connector.routing.config import RuleBase
from connector.routing.state import RoutingState, load_of
from connector.team import Rep, Team, local_state, next_business_start, working_at


class Ctx:
    """One routing call's inputs and what it has recorded so far."""

    __slots__ = ("lead", "match", "now", "skipped", "state", "team", "trace", "view")

    def __init__(self, lead: Lead, view: Mapping[str, Any], match: MatchResult | None, team: Team,
                 state: RoutingState, now: datetime) -> None:
        self.lead, self.view, self.match, self.team, self.state, self.now = lead, view, match, team, state, now
        self.skipped: list[SkippedCandidate] = []
        self.trace: list[str] = []


class Need:
    """What a candidate must have for this rule: skills and a language (casefolded)."""

    __slots__ = ("language", "skills")

    def __init__(self, skills: frozenset[str] = frozenset(), language: frozenset[str] = frozenset()) -> None:
        self.skills, self.language = skills, language


NO_NEED = Need()


def view_values(view: Mapping[str, Any], field: str | None) -> frozenset[str]:
    """The view's value(s) of ``field``, casefolded (a skill or language the lead asks for)."""
    if field is None:
        return frozenset()
    raw = view.get(field)
    items = raw if isinstance(raw, tuple | list) else (raw,)
    return frozenset(str(x).casefold() for x in items if x not in (None, ""))


def _blocker(ctx: Ctx, rep: Rep, rule: RuleBase, need: Need, *, hours: bool) -> str | None:
    """Why ``rep`` cannot take the lead now (None: they can)."""
    if not rep.active:
        return "inactive"
    if not need.skills <= rep.skill_set or (need.language and not need.language & rep.language_set):
        return "missing_skill"
    _, day, away = local_state(rep, ctx.now)
    if away:
        return "out_of_office"
    cap = rep.daily_cap if rule.enforce_capacity else None
    if cap is not None and load_of(ctx.state, rep.id, day) >= cap:
        return "at_capacity"
    if hours and not working_at(rep, ctx.now):
        return "outside_hours"
    return None


def _held(ctx: Ctx, rep: Rep, rule: RuleBase) -> datetime | None:
    """For ``hold``: when an out-of-hours rep next starts, if they have room that day."""
    start = next_business_start(rep, ctx.now)
    if start is None:
        return None
    cap = rep.daily_cap if rule.enforce_capacity else None
    if cap is not None and load_of(ctx.state, rep.id, start.date().isoformat()) >= cap:
        return None
    return start


def _assign(ctx: Ctx, rep: Rep, rule: RuleBase, strategy: str, reason: str, changes: list[StateChange],
            hold_until: datetime | None = None) -> tuple[Assignment, list[StateChange]]:
    day = hold_until.date().isoformat() if hold_until else local_state(rep, ctx.now)[1]
    cap = rep.daily_cap if rule.enforce_capacity else None
    changes.append(StateChange(kind="load", key=rep.id, value=1, expected=cap, day=day))
    if hold_until is not None:
        reason += f"; after hours: held until {hold_until.isoformat(timespec='minutes')} ({rep.timezone})"
    assignment = Assignment(owner=rep.id, owner_ids=dict(rep.owner_ids), rule=rule.name, strategy=strategy,
                            reason=reason, hold_until=hold_until)
    return assignment, changes


def _pick(ctx: Ctx, rule: RuleBase, strategy: str, candidates: list[tuple[int, Rep]], need: Need,
          reason: str, pool: str | None = None) -> tuple[Assignment, list[StateChange]] | None:
    """First available candidate in order (offset, rep); with ``hold``, the earliest back when none is in hours.

    ``offset`` is the candidate's distance from the pool's turn: the pointer moves past the chosen one.
    """
    hold = rule.after_hours == "hold"
    pointer = ctx.state.pointers.get(pool, 0) if pool else 0
    after_hours: list[tuple[int, Rep]] = []
    seen: set[str] = set()
    skips: list[SkippedCandidate] = []
    chosen: tuple[int, Rep, datetime | None] | None = None
    for offset, rep in candidates:
        if rep.id in seen:
            continue
        seen.add(rep.id)
        why = _blocker(ctx, rep, rule, need, hours=hold)
        if why is None:
            chosen = (offset, rep, None)
            break
        skips.append(SkippedCandidate(rep=rep.id, reason=why, rule=rule.name))
        if why == "outside_hours":
            after_hours.append((offset, rep))
    # only when nobody is at work now: who starts first (computed lazily, it is the slow part)
    later = [] if chosen is not None else [
        (start, offset, rep) for offset, rep in after_hours if (start := _held(ctx, rep, rule)) is not None
    ]
    if later:
        start, offset, rep = min(later, key=lambda x: (x[0], x[1]))
        chosen = (offset, rep, start)
        skips = [s for s in skips if s.rep != rep.id]
    ctx.skipped.extend(skips)
    if chosen is None:
        return None
    offset, rep, hold_until = chosen
    changes: list[StateChange] = []
    if pool is not None:
        changes.append(StateChange(kind="pointer", key=pool, expected=pointer, value=pointer + offset + 1))
    return _assign(ctx, rep, rule, strategy, reason.replace("{rep}", rep.name), changes, hold_until)


def _pool_candidates(ctx: Ctx, pool: str, mode: str | None) -> list[tuple[int, Rep]]:
    team = ctx.team
    p = team.pools[pool]
    order = team.sequences[pool] if (mode or p.strategy) == "weighted" else tuple(p.members)
    pointer = ctx.state.pointers.get(pool, 0)
    n = len(order)
    return [(k, team.by_id[order[(pointer + k) % n]]) for k in range(n)]


def to_pool(ctx: Ctx, rule: RuleBase, pool: str, reason: str, *, mode: str | None = None,
             need: Need = NO_NEED, strategy: str | None = None) -> tuple[Assignment, list[StateChange]] | None:
    mode = mode or ctx.team.pools[pool].strategy
    return _pick(ctx, rule, strategy or mode, _pool_candidates(ctx, pool, mode), need,
                 f"{reason} -> pool {pool} ({mode.replace('_', ' ')}): {{rep}}", pool=pool)


def to_rep(ctx: Ctx, rule: RuleBase, rep_id: str, reason: str, strategy: str,
            need: Need = NO_NEED) -> tuple[Assignment, list[StateChange]] | None:
    return _pick(ctx, rule, strategy, [(0, ctx.team.by_id[rep_id])], need, f"{reason} -> {{rep}}")


def to_queue(ctx: Ctx, name: str, rule: str, strategy: str, reason: str) -> Assignment:
    q = ctx.team.queues.get(name)
    return Assignment(queue=name, owner_ids=dict(q.owner_ids) if q else {}, rule=rule, strategy=strategy,
                      reason=f"{reason} -> queue {name}")
