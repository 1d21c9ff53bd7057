"""Scoring: fit, behaviour (with half-life decay), intent, negative rules, thresholds -> stage and grade."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.decision import MatchResult
from connector.errors import ConfigError
from connector.model import Company, Event, Identity, Intent, Lead, Role
from connector.score import decayed, load_scoring, score, scoring_from_text

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
RULES = Path(__file__).resolve().parents[2] / "rules"

CONFIG = scoring_from_text(
    """
half_life_days: 10
fit:
  - {name: big, when: {field: company.size, op: gte, value: 500}, points: 20, reason: 500+ employees}
  - {name: exec, when: {field: role.seniority, op: in, value: [c_level, vp]}, points: 15}
negative:
  - {name: disposable, when: {field: flags, op: contains, value: email_disposable}, points: -40}
behaviour:
  - {name: pricing, events: [pricing_visit], points: 10, within_days: 30}
  - {name: webinar, events: [webinar], points: 8, within_days: 60, half_life_days: 5, max_points: 10}
  - {name: browsing, events: [page_view], points: 1, min_count: 3, within_days: 14, decay: false}
intent:
  - {name: demo, when: {field: intent.requests, op: contains, value: demo}, points: 40}
stage_rules:
  - {stage: customer, when: {field: match.kind, op: eq, value: account}}
stages:
  - {stage: sql, min_score: 70, when: {field: score.intent, op: gt, value: 0}}
  - {stage: mql, min_score: 40}
  - {stage: lead, min_score: 10}
  - {stage: subscriber}
grades:
  - {grade: hot, min_score: 70, action: call within 5 minutes}
  - {grade: warm, min_score: 30, action: SDR sequence today}
  - {grade: cold, action: nurture}
""",
    file="scoring.yaml",
)


def ev(kind: str, days_ago: float) -> Event:
    return Event(kind=kind, at=NOW - timedelta(days=days_ago))


def test_fit_rules_list_every_hit_with_reason() -> None:
    lead = Lead(company=Company(size=800), role=Role(seniority="vp"))
    result = score(lead, CONFIG, now=NOW)
    assert [(h.rule, h.category, h.points) for h in result.hits] == [("big", "fit", 20), ("exec", "fit", 15)]
    assert result.hits[0].reason == "500+ employees"
    assert result.hits[1].reason == "role.seniority in c_level, vp"  # no reason given: the condition in words
    assert (result.fit, result.behaviour, result.intent, result.total) == (35, 0, 0, 35)


def test_intent_rule() -> None:
    result = score(Lead(intent=Intent(requests=("demo",))), CONFIG, now=NOW)
    assert result.intent == 40 and result.hits[0].category == "intent"


def test_negative_rule_takes_points_away_as_fit() -> None:
    lead = Lead(company=Company(size=800), flags=("email_disposable",))
    result = score(lead, CONFIG, now=NOW)
    assert result.fit == -20 and {h.rule: h.points for h in result.hits}["disposable"] == -40


def test_half_life_math() -> None:
    assert decayed(10, 0, 10) == 10
    assert decayed(10, 10, 10) == pytest.approx(5)
    assert decayed(10, 20, 10) == pytest.approx(2.5)
    assert decayed(10, -3, 10) == 10  # a timestamp in the future counts as new
    assert decayed(10, 1000, None) == 10


def test_behaviour_decays_per_event_with_the_global_half_life() -> None:
    lead = Lead(events=tuple(ev("pricing_visit", days) for days in (0, 10, 20, 31)))
    result = score(lead, CONFIG, now=NOW)
    (hit,) = result.hits
    assert hit.category == "behaviour"
    assert hit.points == pytest.approx(10 + 5 + 2.5)  # the 31-day-old visit is outside within_days
    assert "3 × pricing_visit" in hit.reason and "half-life 10 d" in hit.reason


def test_behaviour_rule_half_life_and_cap() -> None:
    lead = Lead(events=(ev("webinar", 5),))
    assert score(lead, CONFIG, now=NOW).behaviour == pytest.approx(4)  # rule's own half-life: 5 days
    lead = Lead(events=(ev("webinar", 0), ev("webinar", 0)))
    result = score(lead, CONFIG, now=NOW)
    assert result.behaviour == 10 and "capped" in result.hits[0].reason


def test_behaviour_min_count_and_no_decay() -> None:
    two = Lead(events=(ev("page_view", 1), ev("page_view", 13)))
    assert score(two, CONFIG, now=NOW).hits == ()
    three = Lead(events=(ev("page_view", 1), ev("page_view", 13), ev("page_view", 13.5)))
    assert score(three, CONFIG, now=NOW).behaviour == 3


@pytest.mark.parametrize(
    ("size", "demo", "stage", "grade", "action"),
    [
        (None, False, "subscriber", "cold", "nurture"),  # 0
        (800, False, "lead", "cold", "nurture"),  # 20
        (None, True, "mql", "warm", "SDR sequence today"),  # 40
        (800, True, "mql", "warm", "SDR sequence today"),  # 60
    ],
)
def test_thresholds_give_stage_and_grade(size: int | None, demo: bool, stage: str, grade: str, action: str) -> None:
    lead = Lead(company=Company(size=size), intent=Intent(requests=("demo",) if demo else ()))
    result = score(lead, CONFIG, now=NOW)
    assert (result.stage, result.grade, result.action) == (stage, grade, action)


def test_sql_needs_intent_as_well_as_score() -> None:
    hot = Lead(company=Company(size=800), role=Role(seniority="vp"), intent=Intent(requests=("demo",)))
    result = score(hot, CONFIG, now=NOW)
    assert (result.total, result.stage, result.grade) == (75, "sql", "hot")
    no_intent = Lead(company=Company(size=800), role=Role(seniority="vp"),
                     events=tuple(ev("pricing_visit", 0) for _ in range(4)))
    result = score(no_intent, CONFIG, now=NOW)
    assert result.total == 75 and result.stage == "mql"  # hot, but nobody asked: not sales-qualified


def test_existing_customer_keeps_customer_stage() -> None:
    match = MatchResult(record_id="001A", crm="salesforce", kind="account", rule="account_domain", confidence=0.95)
    result = score(Lead(), CONFIG, now=NOW, match=match)
    assert result.stage == "customer" and result.grade == "cold"


@pytest.mark.parametrize(
    ("snippet", "field", "message"),
    [
        ("negative:\n  - {name: x, when: {field: flags, op: exists}, points: 5}\n", "negative[0].points", "below 0"),
        ("grades:\n  - {grade: hot, min_score: 70, action: call}\n", "grades[0]", "catch-all"),
        ("fit:\n  - {name: a, when: {field: company.size, op: gt, value: 1}, points: 1}\n"
         "  - {name: a, when: {field: company.size, op: gt, value: 2}, points: 1}\n", "fit[1].name", "twice"),
        ("behaviour:\n  - {name: b, events: [webinar], points: 1, half_life_days: 0}\n", "behaviour[0]", "> 0"),
    ],
)
def test_config_errors_name_the_field(snippet: str, field: str, message: str) -> None:
    grades = "" if "grades" in snippet else "grades:\n  - {grade: cold, action: nurture}\n"
    base = "stages:\n  - {stage: lead}\n" + grades
    with pytest.raises(ConfigError) as exc:
        scoring_from_text(base + snippet, file="scoring.yaml")
    assert exc.value.field == field and message in str(exc.value) and exc.value.line is not None


def test_shipped_rules_score_a_hot_demo_request() -> None:
    config = load_scoring(RULES / "scoring.yaml")
    lead = Lead(
        identity=Identity(email="cio@stmarys-health.org"),
        company=Company(size=1500, industry="Hospital & Health Care", country="US", domain="stmarys-health.org"),
        role=Role(seniority="c_level", department="it"),
        intent=Intent(requests=("demo",)),
        events=(ev("pricing_visit", 7),),
    )
    result = score(lead, config, now=NOW)
    assert {h.category for h in result.hits} == {"fit", "behaviour", "intent"}
    assert {h.rule: h.points for h in result.hits}["pricing_page"] == 5  # 10 points, 7 days, 7-day half-life
    assert (result.stage, result.grade, result.action) == ("sql", "hot", "call within 5 minutes")
    assert result.total == pytest.approx(result.fit + result.behaviour + result.intent)


def test_shipped_rules_customer_and_competitor() -> None:
    config = load_scoring(RULES / "scoring.yaml")
    customer = Lead(extra={"properties.lifecyclestage": "customer"})
    assert score(customer, config, now=NOW).stage == "customer"
    rival = Lead(company=Company(domain="tableau.com", size=5000), intent=Intent(requests=("demo",)))
    result = score(rival, config, now=NOW)
    assert "competitor" in [h.rule for h in result.hits] and result.grade == "cold"
