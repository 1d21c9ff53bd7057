"""What each routing strategy does, and ``route``: rules in order, the first that finds someone wins.

A rule matches when its ``when`` holds and its strategy applies (the lead is in a territory, is a target account,
has an owner on the roster...). When nobody is left, ``on_unavailable`` says what next: ``next_rule``, or a
fallback pool, rep or queue. After the last rule, the file's ``fallback_queue`` takes the lead — unless a
``fallback_owner`` is named for the lead's grade: then a lead nobody could take goes to that manager or on-call
pool, not silently to a queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connector.conditions import lead_view, with_context
from connector.decision import Assignment, MatchResult, RouteResult, ScoreResult, StateChange, TagResult
from connector.model import Lead
from connector.routing.candidates import Ctx, Need, to_pool, to_queue, to_rep, view_values
from connector.routing.config import (
    Account,
    Fallback,
    FallbackOwner,
    Named,
    RoundRobin,
    RoutingConfig,
    Rule,
    Skill,
    TerritoryRule,
    ToQueue,
    Vip,
    Weighted,
)
from connector.routing.state import RoutingState
from connector.team import Team

FALLBACK_OWNER = "fallback_owner"  # the rule and strategy of an assignment to the fallback owner


def _strategy(rule: Rule) -> str:
    return str(rule.__struct_config__.tag)


def _try(
    ctx: Ctx, rule: Rule, config: RoutingConfig
) -> tuple[Assignment, list[StateChange]] | Assignment | str | None:
    """What one rule decides.

    (assignment, changes): it found a rep. Assignment alone: it sent the lead to a queue. None: it applied but
    nobody was available. str: why it did not apply.
    """
    s = _strategy(rule)
    if isinstance(rule, ToQueue):
        return to_queue(ctx, rule.queue, rule.name, s, rule.description or rule.name)
    if isinstance(rule, Named):
        return to_rep(ctx, rule, rule.rep, "named rep", s)
    if isinstance(rule, RoundRobin | Weighted):
        return to_pool(ctx, rule, rule.pool, "rotation", mode=s)
    if isinstance(rule, Skill):
        need = Need(frozenset(x.casefold() for x in rule.skills) | view_values(ctx.view, rule.skill_field),
                    view_values(ctx.view, rule.language_field))
        wanted = sorted(need.skills | need.language)
        return to_pool(ctx, rule, rule.pool, f"needs {', '.join(wanted) or 'no skill'}", need=need, strategy=s)
    if isinstance(rule, TerritoryRule):
        c = ctx.lead.company
        for name in rule.territories or list(config.territories):
            t = config.territories[name]
            if t.contains(c.country, c.region, c.postal_code):
                where = f"territory {name} ({' '.join(x for x in (c.country, c.region, c.postal_code) if x)})"
                if t.rep is not None:
                    return to_rep(ctx, rule, t.rep, where, s)
                assert t.pool is not None
                return to_pool(ctx, rule, t.pool, where, strategy=s)
        return (f"in no territory (country {c.country or 'unknown'}, region {c.region or '-'}, "
                f"postal code {c.postal_code or '-'})")
    if isinstance(rule, Account):
        m = ctx.match
        if m is None:
            return "no existing record matched"
        if m.confidence < rule.min_confidence:
            return f"match confidence {m.confidence:.2f} below {rule.min_confidence:.2f}"
        for which in rule.prefer:
            owner = m.account_owner_id if which == "account_owner" else m.owner_id
            rep = ctx.team.rep_for_owner(owner, m.crm)
            if rep is not None:
                what = "account" if which == "account_owner" else m.kind
                return to_rep(ctx, rule, rep.id, f"owner of the existing {what} ({m.rule})", s)
        return "the matched record's owner is not on the roster"
    if isinstance(rule, Vip):
        c = ctx.lead.company
        keys = rule.keys
        hit = next((k for k in (c.domain, c.normalized_name) if k and k in keys), None)
        if hit is None:
            return "not a target account"
        if rule.rep is not None:
            return to_rep(ctx, rule, rule.rep, f"target account {hit}", s)
        assert rule.pool is not None
        return to_pool(ctx, rule, rule.pool, f"target account {hit}", strategy=s)
    return f"unknown strategy {s}"  # unreachable: the union is closed


def _fallback_owner(ctx: Ctx, fo: FallbackOwner | None, grade: str,
                    why: str) -> tuple[Assignment, list[StateChange]] | None:
    """The fallback owner's assignment of a lead nobody could take, if one is named for ``grade`` and available."""
    if fo is None or grade not in fo.grades:
        return None
    reason = f"no rep available ({why}) — assigned to the fallback owner"
    if fo.rep is not None:
        got = to_rep(ctx, Named(name=FALLBACK_OWNER, rep=fo.rep, enforce_capacity=False), fo.rep, reason,
                     FALLBACK_OWNER)
    else:
        assert fo.pool is not None
        got = to_pool(ctx, RoundRobin(name=FALLBACK_OWNER, pool=fo.pool, enforce_capacity=False), fo.pool, reason,
                      strategy=FALLBACK_OWNER)
    ctx.trace.append(f"{FALLBACK_OWNER}: {got[0].reason}" if got else f"{FALLBACK_OWNER}: unavailable as well")
    return got


def _result(ctx: Ctx, got: tuple[Assignment, list[StateChange]]) -> RouteResult:
    return RouteResult(assignment=got[0], skipped=tuple(ctx.skipped), changes=tuple(got[1]), trace=tuple(ctx.trace))


def route(
    lead: Lead,
    *,
    score: ScoreResult,
    tags: TagResult,
    match: MatchResult | None,
    config: RoutingConfig,
    team: Team,
    state: RoutingState,
    now: datetime,
    view: Mapping[str, Any] | None = None,
) -> RouteResult:
    """Decide the owner. Pure: returns the assignment, every skipped candidate, the trace and the state changes.

    ``now`` must be timezone-aware. ``view`` (``lead_view`` with this score, tags and match: ``with_context``)
    may be passed to save building it again; it is only read.
    """
    if view is None:
        view = lead_view(lead, score=score, tags=tags, match=match)
    elif "tags" not in view or "score.total" not in view:
        view = with_context(view, score=score, tags=tags, match=match)
    ctx = Ctx(lead, view, match, team, state, now)
    for rule in config.rules:
        if rule.when is not None and not rule.when.test(view):
            ctx.trace.append(rule.not_met)
            continue
        got = _try(ctx, rule, config)
        if isinstance(got, str):
            ctx.trace.append(f"{rule.name}: {got}")
            continue
        if isinstance(got, Assignment):
            ctx.trace.append(f"{rule.name}: {got.reason}")
            return RouteResult(assignment=got, skipped=tuple(ctx.skipped), trace=tuple(ctx.trace))
        if got is None:
            fb = rule.on_unavailable
            if isinstance(fb, Fallback):
                if fb.queue is not None:
                    owner = _fallback_owner(ctx, config.fallback_owner, score.grade, f"{rule.name}: nobody available")
                    if owner is not None:
                        return _result(ctx, owner)
                    ctx.trace.append(f"{rule.name}: nobody available -> queue {fb.queue}")
                    a = to_queue(ctx, fb.queue, rule.name, "fallback", f"{rule.name}: nobody available")
                    return RouteResult(assignment=a, skipped=tuple(ctx.skipped), trace=tuple(ctx.trace))
                why = f"{rule.name}: nobody available, override"
                got = (to_pool(ctx, rule, fb.pool, why, strategy="fallback") if fb.pool is not None
                       else to_rep(ctx, rule, fb.rep or "", why, "fallback"))
            if got is None:
                ctx.trace.append(f"{rule.name}: nobody available, next rule")
                continue
        ctx.trace.append(f"{rule.name}: {got[0].reason}")
        return _result(ctx, got)
    owner = _fallback_owner(ctx, config.fallback_owner, score.grade, "no rule assigned the lead")
    if owner is not None:
        return _result(ctx, owner)
    ctx.trace.append(f"fallback: no rule assigned the lead -> queue {config.fallback_queue}")
    a = to_queue(ctx, config.fallback_queue, "fallback", "fallback", "no rule assigned the lead")
    return RouteResult(assignment=a, skipped=tuple(ctx.skipped), trace=tuple(ctx.trace))
