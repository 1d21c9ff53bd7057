"""Routing (``rules/routing.yaml``): who owns a lead. A pure function of (lead, config, state snapshot, now).

Rules are tried in order and the first that matches *and finds someone* wins. A rule matches when its
``when`` holds and its strategy applies (the lead is in a territory, is a target account, has an owner on
the roster...). Candidates are skipped — and every skip is recorded — when inactive, missing a required
skill or language, out of office, at their daily cap, or (with ``after_hours: hold``) outside their hours.
When nobody is left, ``on_unavailable`` says what next: ``next_rule``, or a fallback pool, rep or queue.
After the last rule, the file's ``fallback_queue`` takes the lead.

State. ``RoutingState`` is a snapshot the caller reads before routing: ``pointers`` (pool -> a counter that
only grows; the pool's turn is ``pointer % cycle``) and ``load`` (rep -> leads assigned on the rep's current
local day). ``days`` (rep -> the local date, ISO, that ``load`` counts) is optional: a count whose day is not
the rep's current local day reads as 0, so a snapshot never needs resetting at midnight. Routing never
mutates it; it returns ``StateChange``s (pointer compare-and-set, load increment with the cap and the rep's
local day) for the service to apply atomically, or for ``apply_changes`` in simulate/bench/tests.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import msgspec
import pycountry
import yaml

from connector.conditions import Condition, add_context, field_kind, lead_view
from connector.decision import (
    Assignment,
    MatchResult,
    RouteResult,
    ScoreResult,
    SkippedCandidate,
    StateChange,
    TagResult,
)
from connector.errors import ConfigError
from connector.keys import company_key, registrable_domain
from connector.model import Lead
from connector.team import Rep, Team, local_state, next_business_start, working_at
from connector.yamlconf import convert, line_at, parse_yaml

# ---- config -----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _iso() -> tuple[frozenset[str], frozenset[str]]:
    """ISO 3166-1 alpha-2 and ISO 3166-2 codes."""
    countries = frozenset(str(c.alpha_2) for c in pycountry.countries)
    return countries, frozenset(str(s.code) for s in pycountry.subdivisions)


class PostalRange(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Postal codes from ``from`` to ``to`` inclusive, compared on their first len(from) characters."""

    from_: str = msgspec.field(name="from")
    to: str

    def __post_init__(self) -> None:
        if len(self.from_) != len(self.to) or self.from_ > self.to:
            raise ValueError(f"postal range {self.from_}..{self.to}: same length and from <= to, e.g. 07000..07999")


class Territory(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Where a lead's company is: countries, optionally narrowed to regions and/or postal-code ranges.

    A lead is in the territory when its country is listed and — if regions or postal ranges are given — its
    region is listed or its postal code is in a range (ranges only apply within these countries).
    """

    countries: list[str]
    regions: list[str] = []  # ISO 3166-2, e.g. US-NY
    postal_codes: list[PostalRange] = []
    pool: str | None = None
    rep: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if (self.pool is None) == (self.rep is None):
            raise ValueError("a territory goes to exactly one of `pool` or `rep`")
        for c in self.countries:
            if c not in _iso()[0]:
                raise ValueError(f"countries: {c!r} is not an ISO 3166-1 alpha-2 code")
        for r in self.regions:
            if r not in _iso()[1]:
                raise ValueError(f"regions: {r!r} is not an ISO 3166-2 code (e.g. US-NY)")

    def contains(self, country: str | None, region: str | None, postal: str | None) -> bool:
        if country not in self.countries:
            return False
        if not self.regions and not self.postal_codes:
            return True
        if region is not None and region in self.regions:
            return True
        if postal:
            code = postal.replace(" ", "").upper()
            return any(r.from_ <= code[: len(r.from_)] <= r.to for r in self.postal_codes)
        return False


class Fallback(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Where a rule sends the lead when nobody it names can take it: one of pool, rep or queue."""

    pool: str | None = None
    rep: str | None = None
    queue: str | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.pool, self.rep, self.queue)) != 1:
            raise ValueError("on_unavailable: give exactly one of pool, rep or queue (or the word next_rule)")


class _Rule(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="strategy", dict=True,
            omit_defaults=True):
    """Fields every routing rule has. Not frozen: a rule may cache lookups it builds at load."""

    name: str
    when: Condition | None = None
    description: str = ""
    after_hours: Literal["route_anyway", "hold"] = "route_anyway"
    on_unavailable: Literal["next_rule"] | Fallback = "next_rule"
    enforce_capacity: bool = True

    def __post_init__(self) -> None:
        self.not_met = f"{self.name}: conditions not met"  # the trace line, built once


class Named(_Rule, tag="named"):
    rep: str


class RoundRobin(_Rule, tag="round_robin"):
    pool: str


class Weighted(_Rule, tag="weighted"):
    pool: str


class Skill(_Rule, tag="skill"):
    """Pool members having every skill in ``skills`` and the lead's value of ``skill_field``/``language_field``."""

    pool: str
    skills: list[str] = []
    skill_field: str | None = None
    language_field: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for f in (self.skill_field, self.language_field):
            if f is not None:
                field_kind(f)
        if not (self.skills or self.skill_field or self.language_field):
            raise ValueError("a skill rule needs skills, skill_field or language_field")


class TerritoryRule(_Rule, tag="territory"):
    territories: list[str] = []  # tried in this order; empty: every territory, in file order


class Account(_Rule, tag="account"):
    """The matched record's owner wins: the account owner, else the lead/contact owner (in ``prefer`` order)."""

    prefer: list[Literal["account_owner", "record_owner"]] = msgspec.field(
        default_factory=lambda: ["account_owner", "record_owner"]
    )
    min_confidence: float = 0.0


class Vip(_Rule, tag="vip"):
    """Target accounts (domains like ``acme.com`` or company names) go to a named rep or a pool."""

    accounts: list[str]
    rep: str | None = None
    pool: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.pool is None) == (self.rep is None):
            raise ValueError("a vip rule goes to exactly one of `pool` or `rep`")
        keys: set[str] = set()
        for a in self.accounts:
            domain = registrable_domain(a) if "." in a and " " not in a.strip() else None
            key = domain or company_key(a)
            if not key:
                raise ValueError(f"accounts: {a!r} is neither a domain nor a company name")
            keys.add(key)
        self.keys = frozenset(keys)


class ToQueue(_Rule, tag="queue"):
    """Straight to a queue (nurture, disqualified): no rep, no capacity."""

    queue: str


Rule = Named | RoundRobin | Weighted | Skill | TerritoryRule | Account | Vip | ToQueue


class RoutingConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    territories: dict[str, Territory] = {}
    rules: list[Rule]
    fallback_queue: str


# ---- state ------------------------------------------------------------------------------------------------------


class RoutingState(msgspec.Struct, kw_only=True, frozen=True):
    """Snapshot of routing counters (see the module docstring)."""

    pointers: dict[str, int] = {}
    load: dict[str, int] = {}
    days: dict[str, str] = {}


class StateConflict(Exception):
    """A change's compare-and-set failed: route the lead again on a fresh snapshot."""


def load_of(state: RoutingState, rep: str, day: str) -> int:
    """Leads rep has on local ``day`` (0 when the snapshot's count is for another day)."""
    counted = state.days.get(rep)
    return state.load.get(rep, 0) if counted is None or counted == day else 0


def apply_changes(state: RoutingState, changes: tuple[StateChange, ...] | list[StateChange]) -> RoutingState:
    """Apply changes as the service would (compare-and-set); StateConflict if one does not hold."""
    pointers, load, days = dict(state.pointers), dict(state.load), dict(state.days)
    for ch in changes:
        if ch.kind == "pointer":
            if pointers.get(ch.key, 0) != (ch.expected or 0):
                raise StateConflict(f"pool {ch.key}: pointer is {pointers.get(ch.key, 0)}, expected {ch.expected}")
            pointers[ch.key] = ch.value
        elif ch.kind == "load":
            day = ch.day or ""
            counted = days.get(ch.key)  # load_of(), on the dicts being built
            now = (load.get(ch.key, 0) if counted is None or counted == day else 0) + ch.value
            if ch.expected is not None and now > ch.expected:
                raise StateConflict(f"rep {ch.key}: {now} leads on {day} would exceed the cap {ch.expected}")
            load[ch.key] = now
            days[ch.key] = day
        else:
            raise ValueError(f"unknown state change kind {ch.kind!r}")
    return RoutingState(pointers=pointers, load=load, days=days)


# ---- loading ------------------------------------------------------------------------------------------------------


def _check(config: RoutingConfig, team: Team | None, file: str, root: yaml.Node | None) -> None:
    def fail(path: str, message: str) -> None:
        raise ConfigError(message, file=file, line=line_at(root, path), field=path)

    names: set[str] = set()
    for i, rule in enumerate(config.rules):
        if rule.name in names:
            fail(f"rules[{i}].name", f"rule name {rule.name!r} is used twice")
        names.add(rule.name)
        if isinstance(rule, TerritoryRule):
            for j, tname in enumerate(rule.territories):
                if tname not in config.territories:
                    have = ", ".join(config.territories)
                    fail(f"rules[{i}].territories[{j}]", f"no territory {tname!r} (have: {have})")
    if team is None:
        return

    def rep(path: str, rep_id: str | None) -> None:
        if rep_id is not None and rep_id not in team.by_id:
            fail(path, f"{rep_id!r} is not a rep id in the team roster")

    def pool(path: str, name: str | None) -> None:
        if name is not None and name not in team.pools:
            fail(path, f"no pool {name!r} in the team roster (have: {', '.join(team.pools)})")

    def queue(path: str, name: str | None) -> None:
        if name is not None and name not in team.queues:
            fail(path, f"no queue {name!r} in the team roster (have: {', '.join(team.queues)})")

    for name, t in config.territories.items():
        pool(f"territories.{name}.pool", t.pool)
        rep(f"territories.{name}.rep", t.rep)
    for i, rule in enumerate(config.rules):
        at = f"rules[{i}]"
        if isinstance(rule, Named | Vip):
            rep(f"{at}.rep", rule.rep)
        if isinstance(rule, RoundRobin | Weighted | Skill | Vip):
            pool(f"{at}.pool", rule.pool)
        if isinstance(rule.on_unavailable, Fallback):
            fb = rule.on_unavailable
            pool(f"{at}.on_unavailable.pool", fb.pool)
            rep(f"{at}.on_unavailable.rep", fb.rep)
            queue(f"{at}.on_unavailable.queue", fb.queue)
        if isinstance(rule, ToQueue):
            queue(f"{at}.queue", rule.queue)
    queue("fallback_queue", config.fallback_queue)


def routing_from_text(text: str, *, file: str, team: Team | None = None) -> RoutingConfig:
    data, root = parse_yaml(text, file)
    config = convert(data if data is not None else {}, RoutingConfig, file=file, root=root)
    _check(config, team, file, root)
    return config


def load_routing(path: str | Path, team: Team | None = None) -> RoutingConfig:
    """Load ``rules/routing.yaml``; with ``team``, every pool, rep and queue it names must be on the roster."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(p)) from exc
    return routing_from_text(text, file=str(p), team=team)


# ---- routing ------------------------------------------------------------------------------------------------------


class _Ctx:
    """One routing call's inputs and what it has recorded so far."""

    __slots__ = ("lead", "match", "now", "skipped", "state", "team", "trace", "view")

    def __init__(self, lead: Lead, view: dict[str, Any], match: MatchResult | None, team: Team,
                 state: RoutingState, now: datetime) -> None:
        self.lead, self.view, self.match, self.team, self.state, self.now = lead, view, match, team, state, now
        self.skipped: list[SkippedCandidate] = []
        self.trace: list[str] = []


class _Need:
    """What a candidate must have for this rule: skills and a language (casefolded)."""

    __slots__ = ("language", "skills")

    def __init__(self, skills: frozenset[str] = frozenset(), language: frozenset[str] = frozenset()) -> None:
        self.skills, self.language = skills, language


_NO_NEED = _Need()


def _values(view: dict[str, Any], field: str | None) -> frozenset[str]:
    if field is None:
        return frozenset()
    raw = view.get(field)
    items = raw if isinstance(raw, tuple | list) else (raw,)
    return frozenset(str(x).casefold() for x in items if x not in (None, ""))


def _blocker(ctx: _Ctx, rep: Rep, rule: _Rule, need: _Need, *, hours: bool) -> str | None:
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


def _held(ctx: _Ctx, rep: Rep, rule: _Rule) -> datetime | None:
    """For ``hold``: when an out-of-hours rep next starts, if they have room that day."""
    start = next_business_start(rep, ctx.now)
    if start is None:
        return None
    cap = rep.daily_cap if rule.enforce_capacity else None
    if cap is not None and load_of(ctx.state, rep.id, start.date().isoformat()) >= cap:
        return None
    return start


def _assign(ctx: _Ctx, rep: Rep, rule: _Rule, strategy: str, reason: str, changes: list[StateChange],
            hold_until: datetime | None = None) -> tuple[Assignment, list[StateChange]]:
    day = hold_until.date().isoformat() if hold_until else local_state(rep, ctx.now)[1]
    cap = rep.daily_cap if rule.enforce_capacity else None
    changes.append(StateChange(kind="load", key=rep.id, value=1, expected=cap, day=day))
    if hold_until is not None:
        reason += f"; after hours: held until {hold_until.isoformat(timespec='minutes')} ({rep.timezone})"
    assignment = Assignment(owner=rep.id, owner_ids=dict(rep.owner_ids), rule=rule.name, strategy=strategy,
                            reason=reason, hold_until=hold_until)
    return assignment, changes


def _pick(ctx: _Ctx, rule: _Rule, strategy: str, candidates: list[tuple[int, Rep]], need: _Need,
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


def _pool_candidates(ctx: _Ctx, pool: str, mode: str | None) -> list[tuple[int, Rep]]:
    team = ctx.team
    p = team.pools[pool]
    order = team.sequences[pool] if (mode or p.strategy) == "weighted" else tuple(p.members)
    pointer = ctx.state.pointers.get(pool, 0)
    n = len(order)
    return [(k, team.by_id[order[(pointer + k) % n]]) for k in range(n)]


def _to_pool(ctx: _Ctx, rule: _Rule, pool: str, reason: str, *, mode: str | None = None,
             need: _Need = _NO_NEED, strategy: str | None = None) -> tuple[Assignment, list[StateChange]] | None:
    mode = mode or ctx.team.pools[pool].strategy
    return _pick(ctx, rule, strategy or mode, _pool_candidates(ctx, pool, mode), need,
                 f"{reason} -> pool {pool} ({mode.replace('_', ' ')}): {{rep}}", pool=pool)


def _to_rep(ctx: _Ctx, rule: _Rule, rep_id: str, reason: str, strategy: str,
            need: _Need = _NO_NEED) -> tuple[Assignment, list[StateChange]] | None:
    return _pick(ctx, rule, strategy, [(0, ctx.team.by_id[rep_id])], need, f"{reason} -> {{rep}}")


def _queue(ctx: _Ctx, name: str, rule: str, strategy: str, reason: str) -> Assignment:
    q = ctx.team.queues.get(name)
    return Assignment(queue=name, owner_ids=dict(q.owner_ids) if q else {}, rule=rule, strategy=strategy,
                      reason=f"{reason} -> queue {name}")


def _strategy(rule: Rule) -> str:
    return str(rule.__struct_config__.tag)


def _try(
    ctx: _Ctx, rule: Rule, config: RoutingConfig
) -> tuple[Assignment, list[StateChange]] | Assignment | str | None:
    """What one rule decides.

    (assignment, changes): it found a rep. Assignment alone: it sent the lead to a queue. None: it applied but
    nobody was available. str: why it did not apply.
    """
    s = _strategy(rule)
    if isinstance(rule, ToQueue):
        return _queue(ctx, rule.queue, rule.name, s, rule.description or rule.name)
    if isinstance(rule, Named):
        return _to_rep(ctx, rule, rule.rep, "named rep", s)
    if isinstance(rule, RoundRobin | Weighted):
        return _to_pool(ctx, rule, rule.pool, "rotation", mode=s)
    if isinstance(rule, Skill):
        need = _Need(frozenset(x.casefold() for x in rule.skills) | _values(ctx.view, rule.skill_field),
                     _values(ctx.view, rule.language_field))
        wanted = sorted(need.skills | need.language)
        return _to_pool(ctx, rule, rule.pool, f"needs {', '.join(wanted) or 'no skill'}", need=need, strategy=s)
    if isinstance(rule, TerritoryRule):
        c = ctx.lead.company
        for name in rule.territories or list(config.territories):
            t = config.territories[name]
            if t.contains(c.country, c.region, c.postal_code):
                where = f"territory {name} ({' '.join(x for x in (c.country, c.region, c.postal_code) if x)})"
                if t.rep is not None:
                    return _to_rep(ctx, rule, t.rep, where, s)
                assert t.pool is not None
                return _to_pool(ctx, rule, t.pool, where, strategy=s)
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
                return _to_rep(ctx, rule, rep.id, f"owner of the existing {what} ({m.rule})", s)
        return "the matched record's owner is not on the roster"
    if isinstance(rule, Vip):
        c = ctx.lead.company
        keys = rule.keys
        hit = next((k for k in (c.domain, c.normalized_name) if k and k in keys), None)
        if hit is None:
            return "not a target account"
        if rule.rep is not None:
            return _to_rep(ctx, rule, rule.rep, f"target account {hit}", s)
        assert rule.pool is not None
        return _to_pool(ctx, rule, rule.pool, f"target account {hit}", strategy=s)
    return f"unknown strategy {s}"  # unreachable: the union is closed


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
    view: dict[str, Any] | None = None,
) -> RouteResult:
    """Decide the owner. Pure: returns the assignment, every skipped candidate, the trace and the state changes.

    ``now`` must be timezone-aware. ``view`` (from ``lead_view``) may be passed to save building it again.
    """
    if view is None:
        view = lead_view(lead, score=score, tags=tags, match=match)
    elif "tags" not in view or "score.total" not in view:
        add_context(view, score=score, tags=tags, match=match)
    ctx = _Ctx(lead, view, match, team, state, now)
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
                    ctx.trace.append(f"{rule.name}: nobody available -> queue {fb.queue}")
                    a = _queue(ctx, fb.queue, rule.name, "fallback", f"{rule.name}: nobody available")
                    return RouteResult(assignment=a, skipped=tuple(ctx.skipped), trace=tuple(ctx.trace))
                why = f"{rule.name}: nobody available, override"
                got = (_to_pool(ctx, rule, fb.pool, why, strategy="fallback") if fb.pool is not None
                       else _to_rep(ctx, rule, fb.rep or "", why, "fallback"))
            if got is None:
                ctx.trace.append(f"{rule.name}: nobody available, next rule")
                continue
        assignment, changes = got
        ctx.trace.append(f"{rule.name}: {assignment.reason}")
        return RouteResult(assignment=assignment, skipped=tuple(ctx.skipped), changes=tuple(changes),
                           trace=tuple(ctx.trace))
    ctx.trace.append(f"fallback: no rule assigned the lead -> queue {config.fallback_queue}")
    a = _queue(ctx, config.fallback_queue, "fallback", "fallback", "no rule assigned the lead")
    return RouteResult(assignment=a, skipped=tuple(ctx.skipped), trace=tuple(ctx.trace))
