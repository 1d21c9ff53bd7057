"""Recycling (``rules/recycling.yaml``): a lead lost or disqualified for a reason that passes (no budget, timing, a
competitor, no response) comes back after that reason's delay, and interest shown after it routes it again.

Pure: which reason the CRM's status and reason fields say (``RecycleFields.reason`` in the CRM mapping), when the
lead enters re-engagement (``due``), and the config a recycled lead is routed with (``reengagement``: the one
routing rule ``route`` names, with the territories and fallback queue of ``rules/routing.yaml``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path

import msgspec

from connector.routing import Fallback, RoutingConfig, Rule, TerritoryRule
from connector.team import Team
from connector.yamlconf import Where, from_text, load_yaml


class Reason(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    delay_days: float  # after this long the lead enters re-engagement
    description: str = ""

    def __post_init__(self) -> None:
        if self.delay_days < 0:
            raise ValueError("delay_days must be 0 or more")


class RecyclingConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Reason code -> its delay, and the routing rule a lead that shows interest again after it is routed by.
    Without the file (or without ``route``) nothing is recycled."""

    reasons: dict[str, Reason] = {}
    route: Rule | None = None

    def due(self, reason: str, lost_at: datetime) -> datetime | None:
        """When a lead lost at ``lost_at`` for ``reason`` enters re-engagement; None for a reason not recycled."""
        r = self.reasons.get(reason)
        if r is None or self.route is None:
            return None
        return lost_at + timedelta(days=r.delay_days)

    def reengagement(self, routing: RoutingConfig) -> RoutingConfig:
        """The routing config a recycled lead is decided with: the ``route`` rule alone, then the fallback queue."""
        assert self.route is not None
        return RoutingConfig(territories=routing.territories, rules=[self.route], fallback_queue=routing.fallback_queue)


def _check(config: RecyclingConfig, team: Team | None, routing: RoutingConfig | None, where: Where) -> None:
    rule = config.route
    if config.reasons and rule is None:
        where.fail("route", "name the routing rule recycled leads are routed by (e.g. round_robin to the sdr pool)")
    if rule is None:
        return
    if isinstance(rule, TerritoryRule) and routing is not None:
        for i, name in enumerate(rule.territories):
            if name not in routing.territories:
                where.fail(f"route.territories[{i}]", f"no territory {name!r} in rules/routing.yaml")
    if team is None:
        return
    fb = rule.on_unavailable if isinstance(rule.on_unavailable, Fallback) else None
    named: list[tuple[str, str | None, Collection[str]]] = [
        ("route.pool", getattr(rule, "pool", None), team.pools), ("route.rep", getattr(rule, "rep", None), team.by_id),
        ("route.queue", getattr(rule, "queue", None), team.queues)]
    if fb is not None:
        named += [("route.on_unavailable.pool", fb.pool, team.pools), ("route.on_unavailable.rep", fb.rep, team.by_id),
                  ("route.on_unavailable.queue", fb.queue, team.queues)]
    for path, value, known in named:
        if value is not None and value not in known:
            where.fail(path, f"{value!r} is not in the team roster (have: {', '.join(known)})")


def recycling_from_text(text: str, *, file: str, team: Team | None = None,
                        routing: RoutingConfig | None = None) -> RecyclingConfig:
    return from_text(text, RecyclingConfig, file=file, check=lambda c, w: _check(c, team, routing, w))


def load_recycling(path: str | Path, team: Team | None = None,
                   routing: RoutingConfig | None = None) -> RecyclingConfig:
    """Load ``rules/recycling.yaml``; with ``team`` every pool, rep and queue the rule names must be on the roster."""
    return load_yaml(path, RecyclingConfig, check=lambda c, w: _check(c, team, routing, w))
