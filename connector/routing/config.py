"""Routing config (``rules/routing.yaml``): territories, the rules in order and the fallback queue.

Loaded and checked once: with the team roster, every pool, rep and queue a rule names must be on it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import msgspec
import pycountry

from connector.conditions import Condition, field_kind
from connector.keys import company_key, registrable_domain
from connector.team import Team
from connector.yamlconf import Where, from_text, load_yaml


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


class RuleBase(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="strategy", dict=True,
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


class Named(RuleBase, tag="named"):
    rep: str


class RoundRobin(RuleBase, tag="round_robin"):
    pool: str


class Weighted(RuleBase, tag="weighted"):
    pool: str


class Skill(RuleBase, tag="skill"):
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


class TerritoryRule(RuleBase, tag="territory"):
    territories: list[str] = []  # tried in this order; empty: every territory, in file order


class Account(RuleBase, tag="account"):
    """The matched record's owner wins: the account owner, else the lead/contact owner (in ``prefer`` order)."""

    prefer: list[Literal["account_owner", "record_owner"]] = msgspec.field(
        default_factory=lambda: ["account_owner", "record_owner"]
    )
    min_confidence: float = 0.0


class Vip(RuleBase, tag="vip"):
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


class ToQueue(RuleBase, tag="queue"):
    """Straight to a queue (nurture, disqualified): no rep, no capacity."""

    queue: str


Rule = Named | RoundRobin | Weighted | Skill | TerritoryRule | Account | Vip | ToQueue


class FallbackOwner(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Who takes a lead of ``grades`` that no rule could give to a rep, instead of the fallback queue: a manager
    (``rep``) or an on-call rotation (``pool``). Applies where the lead would otherwise go to a queue because nobody
    was available (the end of the rules, or an ``on_unavailable: {queue: ...}``), not to a rule that sends leads to
    a queue on purpose. Daily caps and working hours do not hold it back (someone must hear of a hot lead now);
    an inactive or out-of-office rep does, and then the lead goes to the queue as before."""

    grades: tuple[str, ...] = ("hot",)
    rep: str | None = None
    pool: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if (self.pool is None) == (self.rep is None):
            raise ValueError("fallback_owner goes to exactly one of `rep` or `pool`")


class RoutingConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    territories: dict[str, Territory] = {}
    rules: list[Rule]
    fallback_queue: str
    fallback_owner: FallbackOwner | None = None


def _check(config: RoutingConfig, team: Team | None, where: Where) -> None:
    fail = where.fail
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
    if config.fallback_owner is not None:
        rep("fallback_owner.rep", config.fallback_owner.rep)
        pool("fallback_owner.pool", config.fallback_owner.pool)


def routing_from_text(text: str, *, file: str, team: Team | None = None) -> RoutingConfig:
    return from_text(text, RoutingConfig, file=file, check=lambda config, where: _check(config, team, where))


def load_routing(path: str | Path, team: Team | None = None) -> RoutingConfig:
    """Load ``rules/routing.yaml``; with ``team``, every pool, rep and queue it names must be on the roster."""
    return load_yaml(path, RoutingConfig, check=lambda config, where: _check(config, team, where))
