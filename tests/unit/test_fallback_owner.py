"""rules/routing.yaml ``fallback_owner``: a lead of its grades that nobody could take goes to a manager or an
on-call pool — daily cap and hours notwithstanding — instead of silently to the fallback queue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.decision import ScoreResult, TagResult
from connector.errors import ConfigError
from connector.model import Company, Lead
from connector.routing import RoutingConfig, RoutingState, apply_changes, route, routing_from_text
from connector.team import team_from_text

SAT_NIGHT = datetime(2026, 3, 8, 3, 0, tzinfo=UTC)  # Saturday 22:00 in New York: nobody works
HOT = ScoreResult(total=95, grade="hot", stage="sql")
WARM = ScoreResult(total=50, grade="warm", stage="mql")

TEAM = team_from_text(
    """
reps:
  - {id: ae, name: Ann Exec, email: ae@x.io, role: ae, timezone: America/New_York, country: US, daily_cap: 1,
     manager: boss}
  - {id: boss, name: Bo Boss, email: boss@x.io, role: manager, timezone: America/New_York, country: US, daily_cap: 0,
     owner_ids: {hubspot: "42"}}
  - {id: chief, name: Cy Chief, email: cy@x.io, role: manager, timezone: America/New_York, country: US}
  - {id: away, name: Al Away, email: al@x.io, role: manager, timezone: America/New_York, country: US,
     out_of_office: [{start: 2026-03-01, end: 2026-03-31}]}
pools:
  aes: {members: [ae]}
  on_call: {members: [boss, chief]}
  nobody: {members: [away]}
queues:
  unassigned: {}
  nurture: {}
""",
    file="team.yaml",
)

RULES = """
rules:
  - {name: us_aes, strategy: round_robin, pool: aes, after_hours: hold,
     when: {field: company.country, op: eq, value: US}}
  - {name: warm_aes, strategy: round_robin, pool: aes, on_unavailable: {queue: unassigned},
     when: {field: score.grade, op: eq, value: warm}}
  - {name: cold, strategy: queue, queue: nurture, when: {field: score.grade, op: eq, value: cold}}
"""


def config(fallback_owner: str) -> RoutingConfig:
    return routing_from_text(f"fallback_queue: unassigned\n{fallback_owner}{RULES}", file="routing.yaml", team=TEAM)


def run(cfg: RoutingConfig, *, country: str = "BR", score: ScoreResult = HOT, state: RoutingState | None = None,
        now: datetime = SAT_NIGHT):
    return route(Lead(company=Company(country=country)), score=score, tags=TagResult(), match=None, config=cfg,
                 team=TEAM, state=state or RoutingState(), now=now)


def test_a_hot_lead_in_no_rule_goes_to_the_named_manager_at_night_and_over_cap() -> None:
    result = run(config("fallback_owner: {rep: boss}\n"))
    a = result.assignment
    assert (a.owner, a.queue, a.rule, a.strategy, a.owner_ids) == ("boss", None, "fallback_owner", "fallback_owner",
                                                                   {"hubspot": "42"})
    assert a.reason == "no rep available (no rule assigned the lead) — assigned to the fallback owner -> Bo Boss"
    assert result.trace[-1] == f"fallback_owner: {a.reason}"
    assert [(c.kind, c.key, c.expected) for c in result.changes] == [("load", "boss", None)]  # cap not enforced


def test_an_on_call_pool_takes_turns_and_skips_who_is_away() -> None:
    cfg = config("fallback_owner: {pool: on_call}\n")
    state, owners = RoutingState(), []
    for _ in range(3):
        result = run(cfg, state=state)
        owners.append(result.assignment.owner)
        state = apply_changes(state, result.changes)
    assert owners == ["boss", "chief", "boss"]


def test_a_fallback_owner_away_leaves_the_lead_in_the_queue_and_says_so() -> None:
    result = run(config("fallback_owner: {pool: nobody}\n"))
    a = result.assignment
    assert (a.owner, a.queue, a.rule) == (None, "unassigned", "fallback")
    assert [(s.rep, s.reason, s.rule) for s in result.skipped] == [("away", "out_of_office", "fallback_owner")]
    assert result.trace[-2:] == ("fallback_owner: unavailable as well",
                                 "fallback: no rule assigned the lead -> queue unassigned")


def test_only_the_named_grades_and_only_when_nobody_was_available() -> None:
    cfg = config("fallback_owner: {rep: boss}\n")
    # a warm lead nobody could take stays with the rule's own fallback queue (hot only by default)
    state = RoutingState(load={"ae": 1}, days={"ae": "2026-03-07"})
    warm = run(cfg, score=WARM, state=state)
    assert (warm.assignment.owner, warm.assignment.queue) == (None, "unassigned")
    # a cold lead goes to nurture on purpose: no fallback owner
    cold = run(cfg, score=ScoreResult(total=5, grade="cold"))
    assert (cold.assignment.owner, cold.assignment.queue) == (None, "nurture")
    # a rule's on_unavailable queue for a grade it names is "nobody available" too
    warm_too = config("fallback_owner: {rep: boss, grades: [hot, warm]}\n")
    result = run(warm_too, score=WARM, state=state)
    assert (result.assignment.owner, result.assignment.rule) == ("boss", "fallback_owner")
    assert result.assignment.reason.startswith("no rep available (warm_aes: nobody available)")


def test_a_held_hot_lead_is_still_held_for_its_rep_not_given_to_the_fallback_owner() -> None:
    result = run(config("fallback_owner: {rep: boss}\n"), country="US")
    assert (result.assignment.owner, result.assignment.rule) == ("ae", "us_aes")
    assert result.assignment.hold_until is not None


def test_without_a_fallback_owner_the_queue_takes_it_as_before() -> None:
    result = run(config(""))
    assert (result.assignment.owner, result.assignment.queue, result.assignment.rule) == (None, "unassigned",
                                                                                          "fallback")


@pytest.mark.parametrize(("text", "field", "words"), [
    ("fallback_owner: {rep: nobody_here}\n", "fallback_owner.rep", "not a rep id"),
    ("fallback_owner: {pool: night_shift}\n", "fallback_owner.pool", "no pool 'night_shift'"),
    ("fallback_owner: {rep: boss, pool: on_call}\n", None, "exactly one of `rep` or `pool`"),
    ("fallback_owner: {grades: [hot]}\n", None, "exactly one of `rep` or `pool`"),
    ("fallback_owner: {rep: boss, manager: boss}\n", None, "manager"),
])
def test_a_wrong_fallback_owner_fails_at_load_naming_the_line(text: str, field: str | None, words: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config(text)
    assert words in str(exc.value) and exc.value.line == 2
    if field is not None:
        assert exc.value.field == field
