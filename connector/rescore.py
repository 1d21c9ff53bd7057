"""Re-scoring over time: a decided lead's behaviour points decay, so its score and grade fall with no new submission;
behaviour the CRM reports (page views, email clicks) raises them again. Pure: (stored decision, config, now).

- ``next_crossing``: when the score next falls below a grade or stage threshold. The worker keeps an index of
  leads by this time, so its scheduled job reads only the leads that are due.
- ``rescore``: the score now (new behaviour events added), or None when there is nothing to write. A lifecycle
  stage never moves backwards: a lead that decays below the SQL threshold stays an SQL (the stage says how far
  sales got with it; the score and grade say how warm it is now).
- ``rescored_decision`` / ``score_write``: the stored decision after a re-score (with a line in its history), and
  the CRM write it makes (the score, grade and stage only: the owner and a rep's own fields are left alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import get_args

import msgspec

from connector.config import Config
from connector.decision import Decision, ScoreResult, WritePlan
from connector.limits import EVENTS
from connector.model import Event, Lead
from connector.pipeline import explain, plan_write
from connector.ports import WriteItem
from connector.score import ScoringConfig, Stage, _BehaviourPlan, score

STAGES: tuple[str, ...] = get_args(Stage)  # earliest first
MAX_EVENTS = EVENTS  # events kept on a lead (the newest), as at ingest: connector.limits
_DAY = 86400.0
_STEP_S = 60.0  # next_crossing's precision: the job runs every minute
# the mapping sources a score write sends (with the record's keys and its stage field)
SCORE_SOURCES = frozenset({"decision.score", "decision.score_fit", "decision.score_behaviour",
                           "decision.score_intent", "decision.grade", "id"})


class Rescored(msgspec.Struct, kw_only=True, frozen=True):
    """A lead's new score (its stage held where a move would go backwards) and the history line saying why."""

    lead: Lead  # with the new events, if any
    score: ScoreResult
    line: str
    crossed: bool  # the total passed a grade or stage threshold


def stage_rank(stage: str) -> int:
    """Position of a stage along the lifecycle (an unknown one ranks first)."""
    return STAGES.index(stage) if stage in STAGES else 0


def forward(before: str, after: str) -> str:
    """The stage to keep: ``after`` unless it is earlier than ``before`` (stages never move backwards)."""
    return after if stage_rank(after) >= stage_rank(before) else before


def thresholds(config: ScoringConfig) -> list[float]:
    """Every grade and stage ``min_score``, highest first."""
    values = {t.min_score for t in config.stages} | {g.min_score for g in config.grades}
    return sorted((v for v in values if v is not None), reverse=True)


def _crossed(config: ScoringConfig, old: float, new: float) -> bool:
    low, high = min(old, new), max(old, new)
    return any(low < t <= high for t in thresholds(config))


def merge_events(old: Sequence[Event], new: Sequence[Event]) -> tuple[Event, ...]:
    """``old`` then ``new`` (the same event twice counts once), oldest first, the newest ``MAX_EVENTS`` kept."""
    seen: set[tuple[str, datetime, str | None]] = set()
    out: list[Event] = []
    for e in [*old, *new]:
        key = (e.kind, e.at, e.detail)
        if key not in seen:
            seen.add(key)
            out.append(e)
    out.sort(key=lambda e: e.at)
    return tuple(out[-MAX_EVENTS:])


def rescore(decision: Decision, config: ScoringConfig, *, now: datetime,
            events: Sequence[Event] = ()) -> Rescored | None:
    """The lead's score at ``now`` with ``events`` added. None when there is nothing to write or keep: no new
    events, and the total has not passed a grade or stage threshold since the decision."""
    lead = decision.lead
    if events:
        lead = msgspec.structs.replace(lead, events=merge_events(lead.events, events))
    fresh = score(lead, config, now=now, match=decision.match)
    before = decision.score
    crossed = _crossed(config, before.total, fresh.total)
    if not events and not crossed:
        return None
    stage = forward(before.stage, fresh.stage)
    held = f"; stage {stage} kept (stages never move back)" if stage != fresh.stage else ""
    fresh = msgspec.structs.replace(fresh, stage=stage)
    why = (f"{len(events)} new event(s): " + ", ".join(sorted({e.kind for e in events})) if events
           else "behaviour points decayed")
    moved = f"{before.grade} -> {fresh.grade}" if fresh.grade != before.grade else fresh.grade
    if fresh.stage != before.stage:
        moved += f", {before.stage} -> {fresh.stage}"
    line = f"{now.isoformat(timespec='seconds')} re-scored {before.total:g} -> {fresh.total:g} ({moved}): {why}{held}"
    return Rescored(lead=lead, score=fresh, line=line, crossed=crossed)


def changed(before: ScoreResult, after: ScoreResult) -> bool:
    """Whether the CRM's copy of the score needs a write."""
    return (before.total, before.grade, before.stage) != (after.total, after.grade, after.stage)


def _points(plan: _BehaviourPlan, events: Sequence[tuple[str, float]]) -> float:
    """A behaviour rule's points for ``(kind, age in days)`` events: ``score``'s arithmetic, in the same order (so
    the same float), without the reason text it writes."""
    rule = plan.rule
    ages = [age for kind, age in events if kind in plan.kinds and age <= rule.within_days]
    if len(ages) < rule.min_count:
        return 0.0
    half_life, points = plan.half_life, rule.points
    total = (sum(float(points * 0.5 ** (max(a, 0.0) / half_life)) for a in ages) if half_life is not None
             else sum(points for _ in ages))
    if rule.max_points is not None and total > rule.max_points:
        total = rule.max_points
    return round(total, 2)


def _total_after(events: Sequence[tuple[str, float]], plans: Sequence[_BehaviourPlan], base: ScoreResult,
                 days: float) -> float:
    """The total ``days`` after ``events`` were ``(kind, age in days)`` old: fit and intent as in ``base``, behaviour
    as ``score`` adds it up (``plans``: the behaviour rules of the events' kinds, in file order)."""
    aged = [(kind, age + days) for kind, age in events]
    behaviour = 0.0
    for plan in plans:
        behaviour += _points(plan, aged)
    return round(base.fit + round(behaviour, 2) + base.intent, 2)


def next_crossing(lead: Lead, config: ScoringConfig, *, now: datetime, current: ScoreResult) -> datetime | None:
    """When the score (``current`` at ``now``) first falls below the next grade or stage threshold under it, to the
    minute; None when it never will (no behaviour points, or none above the threshold).

    Behaviour only decays (and drops out of each rule's window), so the total never rises with time: the first
    moment it is below the threshold is found by halving the interval up to the last event's last window."""
    if current.behaviour <= 0 or not lead.events:
        return None
    floor = round(current.fit + current.intent, 2)
    below = [t for t in thresholds(config) if floor < t <= current.total]
    if not below:
        return None
    target = below[0]
    events = [(e.kind, (now - e.at).total_seconds() / _DAY) for e in lead.events]
    kinds = {kind for kind, _ in events}
    plans = [p for p in config.behaviour_plan if not p.kinds.isdisjoint(kinds)]
    windows = {kind: max((p.rule.within_days for p in plans if kind in p.kinds), default=0.0) for kind in kinds}
    step = _STEP_S / _DAY
    lo, hi = 0.0, max(windows[kind] - age for kind, age in events) + step  # days from now: all out of window
    if hi <= step or _total_after(events, plans, current, hi) >= target:
        return None  # nothing left to decay, or a rule that never decays keeps it up
    while hi - lo > step:  # total(lo) >= target > total(hi)
        mid = (lo + hi) / 2
        if _total_after(events, plans, current, mid) < target:
            hi = mid
        else:
            lo = mid
    return now + timedelta(days=hi)


def rescored_decision(decision: Decision, rescored: Rescored) -> Decision:
    """The stored decision after a re-score: the new lead, score and explanation, and the line in its history."""
    return msgspec.structs.replace(
        decision, lead=rescored.lead, score=rescored.score, history=(*decision.history, rescored.line),
        explanation=explain(decision.match, rescored.score, decision.route))


def score_write(decision: Decision, config: Config, crm: str, *,
                record_id: str | None = None) -> tuple[WriteItem, WritePlan]:
    """The CRM write of a re-score: the record's keys, the score fields, the grade and the stage — the stage only
    where the CRM mapping lets it move forward. Nothing a rep or a person owns (the owner, the lead status) is sent."""
    mapping = config.crm[crm]
    item, plan = plan_write(decision, config, crm, record_id=record_id, update=True)
    specs = [*mapping.fields, *(f for section in mapping.matched.values() for f in section.fields)]
    keep = {f.to for f in specs if f.from_ in SCORE_SOURCES or f.to == mapping.upsert_key}
    if mapping.stage_field is not None:
        keep.add(mapping.stage_field)
    fields = {k: v for k, v in item.fields.items() if k in keep}
    item = msgspec.structs.replace(item, key=decision.lead.id or item.key, fields=fields, account_id=None)
    left = {k: "a re-score writes the score, grade and stage only" for k in plan.fields if k not in keep}
    plan = msgspec.structs.replace(plan, fields=tuple(fields), kept={**plan.kept, **left},
                                   summary=f"re-score: {plan.summary}")
    return item, plan
