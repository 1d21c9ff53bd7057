"""Routing (``rules/routing.yaml``): who owns a lead. A pure function of (lead, config, state snapshot, now).

Rules are tried in order and the first that matches *and finds someone* wins. A rule matches when its
``when`` holds and its strategy applies (the lead is in a territory, is a target account, has an owner on
the roster...). Candidates are skipped — and every skip is recorded — when inactive, missing a required
skill or language, out of office, at their daily cap, or (with ``after_hours: hold``) outside their hours.
When nobody is left, ``on_unavailable`` says what next: ``next_rule``, or a fallback pool, rep or queue.
After the last rule, the file's ``fallback_queue`` takes the lead.

- ``config``: the file's shape, its load and its cross-checks against the team roster;
- ``state``: the counters routing reads (``RoutingState``) and ``apply_changes`` for the changes it returns;
- ``candidates``: who can take a lead now, and the pick in pool order;
- ``strategies``: what each kind of rule does, and ``route``.
"""

from connector.routing.config import (
    Account,
    Fallback,
    FallbackOwner,
    Named,
    PostalRange,
    RoundRobin,
    RoutingConfig,
    Rule,
    RuleBase,
    Skill,
    Territory,
    TerritoryRule,
    ToQueue,
    Vip,
    Weighted,
    load_routing,
    routing_from_text,
)
from connector.routing.state import RoutingState, StateConflict, apply_changes, load_of
from connector.routing.strategies import route

__all__ = [
    "Account",
    "Fallback",
    "FallbackOwner",
    "Named",
    "PostalRange",
    "RoundRobin",
    "RoutingConfig",
    "RoutingState",
    "Rule",
    "RuleBase",
    "Skill",
    "StateConflict",
    "Territory",
    "TerritoryRule",
    "ToQueue",
    "Vip",
    "Weighted",
    "apply_changes",
    "load_of",
    "load_routing",
    "route",
    "routing_from_text",
]
