"""The simulation engine: decide a list of leads in order under one config, and compare two runs.

Shared by `leadrelay simulate`, the console's preview and backtest: pure, no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from connector.config import Config
from connector.decision import Decision
from connector.match import IdentityIndex
from connector.model import CrmRecord, Lead
from connector.pipeline import decide, ingest
from connector.routing import RoutingState, apply_changes


@dataclass
class Run:
    """The decisions of one rule set over the file, and what they add up to."""

    config: Config
    decisions: list[Decision] = field(default_factory=list)

    def owner(self, d: Decision) -> str:
        a = d.route.assignment
        return a.owner or f"queue:{a.queue}"

    def summary(self) -> dict[str, Any]:
        owners = Counter(self.owner(d) for d in self.decisions)
        rules = Counter(d.route.assignment.rule for d in self.decisions)
        grades = Counter(d.score.grade for d in self.decisions)
        unassigned = sum(1 for d in self.decisions if d.route.assignment.owner is None)
        n = len(self.decisions) or 1
        return {
            "config_version": self.config.version,
            "leads": len(self.decisions),
            "owners": dict(owners.most_common()),
            "rules": dict(rules.most_common()),
            "rules_never_hit": [r.name for r in self.config.routing.rules if r.name not in rules],
            "grades": dict(grades.most_common()),
            "unassigned_share": round(unassigned / n, 4),
            "held": sum(1 for d in self.decisions if d.route.assignment.hold_until is not None),
        }


def run(config: Config, leads: list[tuple[int, dict[str, Any]]], records: list[CrmRecord], *, mapping: str,
        now: datetime | None, on_lead: Callable[[], object] | None = None) -> Run:
    """Decide every lead in order, carrying the routing state from one lead to the next."""
    canonical = [msgspec.structs.replace(ingest(payload, config, mapping=mapping), id=f"L{i + 1:05d}")
                 for i, (_, payload) in enumerate(leads)]
    return run_leads(config, canonical, records, now=now, on_lead=on_lead)


def run_leads(config: Config, leads: Iterable[Lead], records: list[CrmRecord], *, now: datetime | None,
              state: RoutingState | None = None, on_lead: Callable[[], object] | None = None) -> Run:
    """``run`` over canonical leads (stored ones: the console's backtest and preview), from ``state`` (default:
    a fresh routing state)."""
    index = IdentityIndex(records, config=config.matching)
    state = state or RoutingState()
    result = Run(config)
    for lead in leads:
        # replay each lead at the moment it was submitted: working hours and decay as they were
        at = now or lead.origin.submitted_at or datetime.now(UTC)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        decision = decide(lead, config, state=state, now=at, index=index)
        state = apply_changes(state, decision.route.changes)
        result.decisions.append(decision)
        if on_lead is not None:
            on_lead()
    return result


def changes_between(base: Run, new: Run) -> list[dict[str, Any]]:
    """Leads whose owner differs between the baseline and the new rules, with each side's reason."""
    out = []
    for b, n in zip(base.decisions, new.decisions, strict=True):
        if base.owner(b) != new.owner(n):
            out.append({
                "lead": n.lead.id, "email": n.lead.identity.email,
                "before": base.owner(b), "before_rule": b.route.assignment.rule,
                "after": new.owner(n), "after_rule": n.route.assignment.rule,
                "why": n.explanation,
            })
    return out


def stage_changes(base: Run, new: Run) -> list[dict[str, Any]]:
    """Leads whose stage or grade differs between the two runs."""
    out = []
    for b, n in zip(base.decisions, new.decisions, strict=True):
        if (b.score.stage, b.score.grade) != (n.score.stage, n.score.grade):
            out.append({"lead": n.lead.id, "email": n.lead.identity.email, "before": b.score.stage,
                        "after": n.score.stage, "before_grade": b.score.grade, "after_grade": n.score.grade,
                        "before_score": b.score.total, "after_score": n.score.total})
    return out


def tag_changes(base: Run, new: Run) -> list[dict[str, Any]]:
    """Leads whose tags or segments differ between the two runs: what was added and what was removed."""
    out = []
    for b, n in zip(base.decisions, new.decisions, strict=True):
        before = set(b.tags.tags) | {f"segment:{s}" for s in b.tags.segments}
        after = set(n.tags.tags) | {f"segment:{s}" for s in n.tags.segments}
        if before != after:
            out.append({"lead": n.lead.id, "email": n.lead.identity.email, "added": sorted(after - before),
                        "removed": sorted(before - after)})
    return out
