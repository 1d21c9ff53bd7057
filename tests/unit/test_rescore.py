"""Re-scoring over time (connector.rescore): when the score next crosses a threshold, the re-score itself (the stage
never moves back), and the CRM write of a re-score (score, grade and stage only)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
import time_machine

from connector.config import load_config
from connector.decision import Assignment, Decision, MatchResult, RouteResult, TagResult
from connector.model import Company, Event, Identity, Intent, Lead
from connector.pipeline import decide
from connector.rescore import (
    MAX_EVENTS,
    forward,
    merge_events,
    next_crossing,
    rescore,
    rescored_decision,
    score_write,
)
from connector.routing import RoutingState
from connector.score import score, scoring_from_text

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

SCORING = scoring_from_text(
    """
fit:
  - {name: big, when: {field: company.size, op: gte, value: 500}, points: 20}
behaviour:
  - {name: pricing, events: [pricing_visit], points: 10, within_days: 30, half_life_days: 7, max_points: 20}
  - {name: browsing, events: [page_view], points: 1, min_count: 3, within_days: 14, decay: false}
intent:
  - {name: demo, when: {field: intent.requests, op: contains, value: demo}, points: 40}
  - {name: pricing_ask, when: {field: intent.requests, op: contains, value: pricing}, points: 5}
stages:
  - {stage: sql, min_score: 70, when: {field: score.intent, op: gt, value: 0}}
  - {stage: mql, min_score: 40}
  - {stage: lead, min_score: 10}
  - {stage: subscriber}
grades:
  - {grade: hot, min_score: 70, action: call}
  - {grade: warm, min_score: 30, action: sequence}
  - {grade: cold, action: nurture}
""",
    file="scoring.yaml",
)


def hot_lead(*, demo: bool = True) -> Lead:
    """fit 20 + intent 40 + two pricing visits at T0 (20) = 80: hot, sql."""
    return Lead(id="ld_1", identity=Identity(email="kim@acme.example"), company=Company(size=800),
                intent=Intent(requests=("demo",) if demo else ("pricing",)),
                events=(Event(kind="pricing_visit", at=T0), Event(kind="pricing_visit", at=T0, detail="/pricing#2")))


def decided(lead: Lead, at: datetime = T0) -> Decision:
    route = RouteResult(assignment=Assignment(owner="sam", rule="everyone"))
    return Decision(lead=lead, score=score(lead, SCORING, now=at), tags=TagResult(), route=route, decided_at=at)


def test_a_hot_lead_is_due_when_its_pricing_visits_have_halved_below_the_hot_threshold() -> None:
    d = decided(hot_lead())
    assert (d.score.total, d.score.grade, d.score.stage) == (80, "hot", "sql")
    at = next_crossing(d.lead, SCORING, now=T0, current=d.score)
    # behaviour 20 halves every 7 days: at 7 days the total is 70 (still hot); once it rounds below 70 it is warm
    assert at is not None and T0 + timedelta(days=7) < at <= T0 + timedelta(days=7, minutes=15)
    assert score(d.lead, SCORING, now=at).grade == "warm"
    assert score(d.lead, SCORING, now=at - timedelta(minutes=1)).grade == "hot"


def test_no_behaviour_points_no_crossing() -> None:
    lead = msgspec.structs.replace(hot_lead(), events=())
    d = decided(lead)
    assert next_crossing(lead, SCORING, now=T0, current=d.score) is None


def test_points_that_never_decay_keep_the_lead_above_the_threshold() -> None:
    views = tuple(Event(kind="page_view", at=T0 - timedelta(hours=i)) for i in range(3))
    lead = Lead(id="ld_2", company=Company(size=800), events=views)  # fit 20 + browsing 3 (no decay) = 23: cold
    d = decided(lead)
    # nothing between the floor (20) and 23 ... until the views leave their 14-day window: lead -> still lead
    assert d.score.total == 23
    assert next_crossing(lead, SCORING, now=T0, current=d.score) is None


def test_rescore_before_the_crossing_is_nothing_to_write() -> None:
    d = decided(hot_lead())
    assert rescore(d, SCORING, now=T0 + timedelta(days=3)) is None


def test_decay_across_hot_to_warm_rescores_and_keeps_the_stage() -> None:
    d = decided(hot_lead())
    later = T0 + timedelta(days=8)
    got = rescore(d, SCORING, now=later)
    assert got is not None and got.crossed
    assert got.score.grade == "warm" and got.score.total < 70
    assert score(d.lead, SCORING, now=later).stage == "mql"  # what the total alone would say ...
    assert got.score.stage == "sql"  # ... but a stage never moves back
    assert "80 -> " in got.line and "hot -> warm" in got.line and "stage sql kept" in got.line
    new = rescored_decision(d, got)
    assert new.history == (got.line,) and new.score == got.score
    assert "warm" in new.explanation and new.route == d.route


def test_a_second_threshold_is_found_after_the_first() -> None:
    lead = hot_lead(demo=False)  # fit 20 + intent 5 + behaviour 20 = 45: warm, mql
    d = decided(lead)
    first = next_crossing(lead, SCORING, now=T0, current=d.score)
    assert first is not None  # 45 -> below 40 (mql) once behaviour < 15
    r = rescore(d, SCORING, now=first)
    assert r is not None and r.score.stage == "mql" and r.score.total < 40  # held: lead would be a step back
    second = next_crossing(r.lead, SCORING, now=first, current=r.score)
    assert second is not None and second > first  # below 30: warm -> cold
    r2 = rescore(rescored_decision(d, r), SCORING, now=second)
    assert r2 is not None and r2.score.grade == "cold"


def test_new_behaviour_raises_the_score_and_may_move_the_stage_forward() -> None:
    d = decided(hot_lead(demo=False), at=T0)  # 45: warm, mql
    now = T0 + timedelta(days=1)
    views = [Event(kind="page_view", at=now - timedelta(minutes=m)) for m in range(3)]
    got = rescore(d, SCORING, now=now, events=views)
    assert got is not None
    assert len(got.lead.events) == 5
    assert got.score.total == pytest.approx(45 - 20 + 20 * 0.5 ** (1 / 7) + 3, abs=0.01)
    assert "3 new event(s): page_view" in got.line


def test_the_same_event_reported_twice_counts_once() -> None:
    e = Event(kind="email_click", at=T0)
    assert merge_events((e,), (e,)) == (e,)
    many = [Event(kind="page_view", at=T0 + timedelta(seconds=i)) for i in range(MAX_EVENTS + 5)]
    kept = merge_events((), many)
    assert len(kept) == MAX_EVENTS and kept[-1] == many[-1]  # the newest are kept


def test_stages_move_forward_only() -> None:
    assert forward("sql", "mql") == "sql"
    assert forward("lead", "mql") == "mql"
    assert forward("customer", "lead") == "customer"


def test_the_crossing_is_the_same_whatever_the_clock_says() -> None:
    """next_crossing reads only its ``now``: a frozen clock days later changes nothing."""
    d = decided(hot_lead())
    expected = next_crossing(d.lead, SCORING, now=T0, current=d.score)
    with time_machine.travel(T0 + timedelta(days=30), tick=False):
        assert next_crossing(d.lead, SCORING, now=T0, current=d.score) == expected
        assert datetime.now(UTC) == T0 + timedelta(days=30)


def test_the_crm_write_of_a_rescore_is_the_score_grade_and_stage_only() -> None:
    config = load_config(ROOT)
    lead = Lead(id="ld_9", identity=Identity(email="kim@acme.example", first_name="Kim"),
                company=Company(name="Acme", size=800, country="US"), intent=Intent(requests=("demo",)))
    d = decide(lead, config, state=RoutingState(), now=T0)
    item, plan = score_write(d, config, "hubspot")
    assert set(item.fields) == {"email", "leadrelay_id", "leadrelay_score", "leadrelay_grade", "lifecyclestage"}
    assert item.key == "ld_9" and item.account_id is None
    assert plan.kept["hubspot_owner_id"] == plan.kept["hs_lead_status"] == plan.kept["firstname"]
    sf_item, sf_plan = score_write(d, config, "salesforce")
    # Salesforce's Status is not moved unless its current value is known (the mapping's rule): not sent
    assert set(sf_item.fields) == {"Leadrelay_Id__c", "Leadrelay_Score__c", "Rating"}
    assert "Status" in sf_plan.kept and "OwnerId" in sf_plan.kept


def test_a_rescore_of_a_matched_salesforce_contact_writes_the_contact_not_a_lead() -> None:
    config = load_config(ROOT)
    lead = Lead(id="ld_7", identity=Identity(email="kim@acme.example"), company=Company(size=800),
                intent=Intent(requests=("demo",)))
    d = msgspec.structs.replace(decide(lead, config, state=RoutingState(), now=T0), match=MatchResult(
        record_id="003000000000001AAA", crm="salesforce", kind="contact", rule="email_exact", confidence=1.0))
    item, plan = score_write(d, config, "salesforce")
    assert (item.object_type, item.record_id, set(item.fields)) == ("Contact", "003000000000001AAA",
                                                                   {"Leadrelay_Score__c"})
    assert plan.summary.startswith("re-score: updates the matched Contact")
