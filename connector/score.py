"""Lead scoring (``rules/scoring.yaml``): fit, behaviour and explicit intent -> total, stage and grade.

- fit / intent / negative rules: a condition and the points it gives (negative rules take points away and
  count as fit: who the lead is).
- behaviour rules: events of some kinds within N days; each event is worth ``points`` halved every
  ``half_life_days`` of age (per rule, else the file's default), capped at ``max_points``.
- stage_rules (first match wins) set the lifecycle stage outright — an existing customer stays a customer;
  otherwise the first of ``stages`` whose ``min_score`` the total reaches (and whose ``when`` holds).
- grades: the first whose ``min_score`` the total reaches; each carries the action it implies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

import msgspec

from connector.conditions import Condition, describe, lead_view
from connector.decision import MatchResult, RuleHit, ScoreResult
from connector.model import Lead
from connector.yamlconf import Where, from_text, load_yaml

Stage = Literal["subscriber", "lead", "mql", "sql", "opportunity", "customer"]
Grade = Literal["hot", "warm", "cold"]
_DAY = 86400.0


class PointsRule(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: str
    when: Condition
    points: float
    reason: str = ""  # shown in the decision; default: the condition in words


class BehaviourRule(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: str
    events: list[str]  # event kinds: page_view, download, webinar, pricing_visit, email_click, ...
    points: float  # per event, at age 0
    within_days: float = 90.0
    min_count: int = 1  # fewer matching events than this in the window -> no points
    max_points: float | None = None
    half_life_days: float | None = None  # None: the file's half_life_days
    decay: bool = True
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.events:
            raise ValueError("events: list at least one event kind")
        if self.within_days <= 0 or self.min_count < 1:
            raise ValueError("within_days must be > 0 and min_count >= 1")
        if self.half_life_days is not None and self.half_life_days <= 0:
            raise ValueError("half_life_days must be > 0 (set decay: false for no decay)")


class StageRule(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    stage: Stage
    when: Condition
    reason: str = ""


class StageThreshold(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    stage: Stage
    min_score: float | None = None  # None: always (the last entry)
    when: Condition | None = None  # extra requirement, e.g. score.intent > 0 for sql


class GradeThreshold(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    grade: Grade
    action: str
    min_score: float | None = None


class ScoringConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, dict=True, omit_defaults=True):
    """The scoring file. Not frozen: the per-rule hits are built once, at load, and cached on it."""

    half_life_days: float | None = 14.0  # None: behaviour never decays unless a rule says so
    fit: list[PointsRule] = []
    behaviour: list[BehaviourRule] = []
    intent: list[PointsRule] = []
    negative: list[PointsRule] = []
    stage_rules: list[StageRule] = []
    stages: list[StageThreshold]
    grades: list[GradeThreshold]

    def __post_init__(self) -> None:
        # condition rules always give the same hit: build each RuleHit once
        self.plan: tuple[tuple[Callable[[Mapping[str, Any]], bool], RuleHit], ...] = tuple(
            (rule.when.test, RuleHit(rule=rule.name, category=category, points=rule.points,
                                     reason=rule.reason or describe(rule.when)))
            for category, rules in (("fit", self.fit), ("intent", self.intent), ("fit", self.negative))
            for rule in rules
        )
        self.behaviour_plan = tuple(_plan_behaviour(b, self.half_life_days) for b in self.behaviour)


class _BehaviourPlan(NamedTuple):
    """A behaviour rule with what does not depend on the lead worked out at load."""

    kinds: frozenset[str]
    rule: BehaviourRule
    half_life: float | None  # the rule's, else the file's; None: no decay
    reason: str | None  # the fixed reason, or None when it names the count of events
    reason_tail: str  # after the count: " × pricing_visit in 30 days"
    detail_tail: str  # ", half-life 7 d" (or nothing)


def _plan_behaviour(rule: BehaviourRule, default_half_life: float | None) -> _BehaviourPlan:
    half_life = (rule.half_life_days or default_half_life) if rule.decay else None
    return _BehaviourPlan(
        kinds=frozenset(rule.events),
        rule=rule,
        half_life=half_life,
        reason=rule.reason or None,
        reason_tail=f" × {'/'.join(rule.events)} in {rule.within_days:g} days",
        detail_tail=f", half-life {half_life:g} d" if half_life is not None else "",
    )


def _check(config: ScoringConfig, where: Where) -> None:
    fail = where.fail
    if config.half_life_days is not None and config.half_life_days <= 0:
        fail("half_life_days", "must be > 0, or null for no decay")
    names: set[str] = set()
    for section in ("fit", "behaviour", "intent", "negative"):
        for i, rule in enumerate(getattr(config, section)):
            if rule.name in names:
                fail(f"{section}[{i}].name", f"rule name {rule.name!r} is used twice")
            names.add(rule.name)
            if section == "negative" and rule.points >= 0:
                fail(f"{section}[{i}].points", "negative rules take points away: use a number below 0")
    thresholds = (
        ("stages", [(t.min_score, t.when is not None) for t in config.stages]),
        ("grades", [(g.min_score, False) for g in config.grades]),
    )
    for section, items in thresholds:
        if not items:
            fail(section, "needs at least one entry")
        last = len(items) - 1
        if items[last] != (None, False):
            fail(f"{section}[{last}]", "the last entry is the catch-all: give it no min_score and no when")
        prev = math.inf
        for i, (min_score, _) in enumerate(items[:last]):
            if min_score is None or min_score > prev:
                fail(f"{section}[{i}].min_score", "list entries from the highest min_score down")
            prev = min_score if min_score is not None else prev


def scoring_from_text(text: str, *, file: str) -> ScoringConfig:
    return from_text(text, ScoringConfig, file=file, check=_check)


def load_scoring(path: str | Path) -> ScoringConfig:
    """Load ``rules/scoring.yaml``; ConfigError with file:line and field on any problem."""
    return load_yaml(path, ScoringConfig, check=_check)


def decayed(points: float, age_days: float, half_life_days: float | None) -> float:
    """``points`` after ``age_days`` with a half-life (None: no decay); future events count as new."""
    if half_life_days is None:
        return points
    return float(points * 0.5 ** (max(age_days, 0.0) / half_life_days))


def _behaviour(rule: BehaviourRule, events: list[tuple[str, float]], default_half_life: float | None) -> RuleHit | None:
    return _behaviour_hit(_plan_behaviour(rule, default_half_life), events)


def _behaviour_hit(plan: _BehaviourPlan, events: list[tuple[str, float]]) -> RuleHit | None:
    rule, kinds = plan.rule, plan.kinds
    within = rule.within_days
    ages = [age for kind, age in events if kind in kinds and age <= within]
    if len(ages) < rule.min_count:
        return None
    half_life = plan.half_life
    # decayed(), inlined: the same arithmetic in the same order, so the same float
    points = rule.points
    total = (sum(float(points * 0.5 ** (max(a, 0.0) / half_life)) for a in ages) if half_life is not None
             else sum(points for _ in ages))
    capped = rule.max_points is not None and total > rule.max_points
    if rule.max_points is not None and capped:
        total = rule.max_points
    total = round(total, 2)
    if total == 0:
        return None
    newest = max(min(ages), 0.0)
    reason = plan.reason if plan.reason is not None else f"{len(ages)}{plan.reason_tail}"
    detail = f"newest {newest:.1f} d ago{plan.detail_tail}, capped" if capped else (
        f"newest {newest:.1f} d ago{plan.detail_tail}")
    return RuleHit(rule=rule.name, category="behaviour", points=total, reason=f"{reason} ({detail})")


def score(
    lead: Lead,
    config: ScoringConfig,
    *,
    now: datetime,
    match: MatchResult | None = None,
    view: Mapping[str, Any] | None = None,
) -> ScoreResult:
    """Score a lead: every rule that gave points is a RuleHit; then stage and grade from the total.

    ``view`` (from ``lead_view(lead, match=match)``) may be passed to save building it again; it is read,
    never changed: the stage rules read a copy with ``score.*`` added.
    """
    if view is None:
        view = lead_view(lead, match=match)
    hits = [hit for test, hit in config.plan if test(view)]
    if lead.events:
        events = [(e.kind, (now - e.at).total_seconds() / _DAY) for e in lead.events]
        present = {kind for kind, _ in events}
        for plan in config.behaviour_plan:
            if plan.kinds.isdisjoint(present):
                continue
            hit = _behaviour_hit(plan, events)
            if hit is not None:
                hits.append(hit)
    fit = behaviour = intent = 0.0
    for h in hits:
        if h.category == "fit":
            fit += h.points
        elif h.category == "intent":
            intent += h.points
        else:
            behaviour += h.points
    fit, behaviour, intent = round(fit, 2), round(behaviour, 2), round(intent, 2)
    total = round(fit + behaviour + intent, 2)
    scored = dict(view)
    scored["score.total"], scored["score.fit"] = total, fit
    scored["score.behaviour"], scored["score.intent"] = behaviour, intent

    stage: str | None = None
    for sr in config.stage_rules:
        if sr.when.test(scored):
            stage = sr.stage
            break
    if stage is None:
        for t in config.stages:
            if (t.min_score is None or total >= t.min_score) and (t.when is None or t.when.test(scored)):
                stage = t.stage
                break
    grade = config.grades[-1]
    for g in config.grades:
        if g.min_score is None or total >= g.min_score:
            grade = g
            break
    return ScoreResult(total=total, fit=fit, behaviour=behaviour, intent=intent, hits=tuple(hits),
                       stage=stage or "lead", grade=grade.grade, action=grade.action)
