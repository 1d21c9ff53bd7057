"""Routing: every strategy, availability (out of office, caps, hours, holidays) and the seeds' edge cases.

Two setups: a small roster written here (one rule per test, to pin each strategy down), and the shipped
Northwind Analytics rules (rules/team.yaml, rules/routing.yaml) for the company's own scenarios.
Times are explicit ``now`` values: 2026-03-04 is a Wednesday; 2026-07-03 is the observed US Independence Day.
"""

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connector.decision import MatchResult, ScoreResult, TagResult
from connector.errors import ConfigError
from connector.model import Company, Lead
from connector.routing import (
    RoutingConfig,
    RoutingState,
    StateConflict,
    apply_changes,
    load_routing,
    route,
    routing_from_text,
)
from connector.team import Team, load_team, team_from_text

RULES = Path(__file__).resolve().parents[2] / "rules"
NY = ZoneInfo("America/New_York")
WED = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # 10:00 New York, 07:00 Los Angeles, 16:00 Berlin
HOT = ScoreResult(total=90, grade="hot", stage="sql")
WARM = ScoreResult(total=50, grade="warm", stage="mql")
NO_TAGS = TagResult()

TEAM = team_from_text(
    """
reps:
  - {id: a1, name: Ann One, email: a1@x.io, role: sdr, timezone: America/New_York, country: US}
  - {id: a2, name: Al Two, email: a2@x.io, role: sdr, timezone: America/New_York, country: US}
  - {id: a3, name: Ari Three, email: a3@x.io, role: sdr, timezone: America/New_York, country: US}
  - {id: a4, name: Abe Four, email: a4@x.io, role: sdr, timezone: America/New_York, country: US}
  - {id: big, name: Bea Big, email: b@x.io, role: ae, timezone: America/New_York, country: US, weight: 2}
  - {id: small, name: Sam Small, email: s@x.io, role: ae, timezone: America/Chicago, country: US}
  - {id: nyc, name: Nia York, email: n@x.io, role: ae, timezone: America/New_York, country: US, daily_cap: 2,
     owner_ids: {salesforce: 005NYC, hubspot: "901"}}
  - {id: la, name: Lou Angel, email: l@x.io, role: ae, timezone: America/Los_Angeles, country: US}
  - {id: hc, name: Hal Care, email: h@x.io, role: ae, timezone: America/Chicago, country: US, skills: [healthcare]}
  - {id: gen, name: Gen Eral, email: g@x.io, role: ae, timezone: America/Chicago, country: US}
  - {id: de, name: Dora Deutsch, email: d@x.io, role: ae, timezone: Europe/Berlin, country: DE, subdivision: BE,
     languages: [de, en]}
  - {id: away, name: Otto Away, email: o@x.io, role: ae, timezone: America/New_York, country: US,
     out_of_office: [{start: 2026-03-02, end: 2026-03-06}]}
  - {id: gone, name: Gail Gone, email: gg@x.io, role: ae, timezone: America/New_York, country: US, active: false}
pools:
  four: {members: [a1, a2, a3, a4]}
  two_to_one: {members: [big, small], strategy: weighted}
  coasts: {members: [la, nyc]}
  vertical: {members: [gen, hc]}
  langs: {members: [nyc, de]}
  flaky: {members: [gone, away, a1]}
  dead: {members: [gone, away]}
queues:
  triage: {owner_ids: {salesforce: 00GTRI}}
  spare: {}
""",
    file="team.yaml",
)


def config(rules: str, territories: str = "") -> RoutingConfig:
    return routing_from_text(f"fallback_queue: triage\n{territories}rules:\n{rules}", file="routing.yaml", team=TEAM)


def run(lead: Lead, cfg: RoutingConfig, *, team: Team = TEAM, state: RoutingState | None = None,
        now: datetime = WED, score: ScoreResult = HOT, match: MatchResult | None = None):
    return route(lead, score=score, tags=NO_TAGS, match=match, config=cfg, team=team,
                 state=state or RoutingState(), now=now)


def spread(cfg: RoutingConfig, n: int) -> Counter[str]:
    """Route ``n`` leads, applying each result's state changes before the next, as the service does."""
    state, owners = RoutingState(), Counter[str]()
    for _ in range(n):
        result = run(Lead(), cfg, state=state)
        owners[result.assignment.owner or "-"] += 1
        state = apply_changes(state, result.changes)
    return owners


# ---- strategies -----------------------------------------------------------------------------------------------


def test_named_rep() -> None:
    result = run(Lead(), config("  - {name: to_nia, strategy: named, rep: nyc}\n"))
    a = result.assignment
    assert (a.owner, a.rule, a.strategy) == ("nyc", "to_nia", "named")
    assert a.owner_ids == {"salesforce": "005NYC", "hubspot": "901"}
    assert [c.kind for c in result.changes] == ["load"]
    assert result.changes[0].key == "nyc" and result.changes[0].expected == 2 and result.changes[0].day == "2026-03-04"


def test_round_robin_four_reps_over_100_leads_is_25_each() -> None:
    owners = spread(config("  - {name: rr, strategy: round_robin, pool: four}\n"), 100)
    assert owners == {"a1": 25, "a2": 25, "a3": 25, "a4": 25}


def test_round_robin_pointer_change_is_compare_and_set() -> None:
    result = run(Lead(), config("  - {name: rr, strategy: round_robin, pool: four}\n"),
                 state=RoutingState(pointers={"four": 6}))
    assert result.assignment.owner == "a3"  # 6 % 4 = 2
    pointer = next(c for c in result.changes if c.kind == "pointer")
    assert (pointer.key, pointer.expected, pointer.value) == ("four", 6, 7)


def test_weighted_two_to_one_over_300_leads_is_exactly_200_100() -> None:
    owners = spread(config("  - {name: w, strategy: weighted, pool: two_to_one}\n"), 300)
    assert owners == {"big": 200, "small": 100}


def test_weighted_order_is_smooth() -> None:
    cfg = config("  - {name: w, strategy: weighted, pool: two_to_one}\n")
    state, order = RoutingState(), []
    for _ in range(6):
        result = run(Lead(), cfg, state=state)
        order.append(result.assignment.owner)
        state = apply_changes(state, result.changes)
    assert order == ["big", "small", "big", "big", "small", "big"]


def test_skill_filters_the_pool_and_records_the_skip() -> None:
    cfg = config("  - {name: hc, strategy: skill, pool: vertical, skills: [healthcare]}\n")
    result = run(Lead(), cfg)
    assert result.assignment.owner == "hc"
    assert [(s.rep, s.reason) for s in result.skipped] == [("gen", "missing_skill")]


def test_skill_from_a_lead_field_language() -> None:
    cfg = config("  - {name: lang, strategy: skill, pool: langs, language_field: answers.language}\n")
    assert run(Lead(answers={"language": "DE"}), cfg).assignment.owner == "de"
    assert run(Lead(answers={"language": "en"}), cfg).assignment.owner == "nyc"
    # nobody speaks Japanese: the rule finds nobody and the lead falls through to the fallback queue
    result = run(Lead(answers={"language": "ja"}), cfg)
    assert result.assignment.queue == "triage" and {s.reason for s in result.skipped} == {"missing_skill"}


TERRITORIES = """territories:
  nj_north: {countries: [US], postal_codes: [{from: "070", to: "079"}], rep: nyc}
  west: {countries: [US], regions: [US-CA, US-WA], pool: coasts}
  dach: {countries: [DE, AT, CH], rep: de}
"""


@pytest.mark.parametrize(
    ("company", "owner"),
    [
        (Company(country="US", postal_code="07302"), "nyc"),  # Jersey City: postal range
        (Company(country="US", region="US-NJ", postal_code="08540"), None),  # Princeton: South Jersey, no territory
        (Company(country="US", region="US-CA"), "la"),
        (Company(country="DE", postal_code="07743"), "de"),  # Jena: a German 07xxx is not New Jersey
        (Company(country="AT"), "de"),
        (Company(country="BR"), None),
        (Company(), None),
    ],
)
def test_territory(company: Company, owner: str | None) -> None:
    cfg = config("  - {name: terr, strategy: territory}\n", TERRITORIES)
    result = run(Lead(company=company), cfg, score=WARM)
    assert result.assignment.owner == owner
    if owner is None:
        assert result.assignment.queue == "triage" and "in no territory" in result.trace[0]


def test_account_owner_wins_even_at_capacity() -> None:
    cfg = config("  - {name: acct, strategy: account, enforce_capacity: false}\n"
                 "  - {name: rr, strategy: round_robin, pool: four}\n")
    match = MatchResult(record_id="001X", crm="salesforce", kind="contact", rule="account_domain", confidence=0.95,
                        account_id="001X", account_owner_id="005NYC")
    result = run(Lead(), cfg, match=match, state=RoutingState(load={"nyc": 2}))
    assert result.assignment.owner == "nyc" and result.assignment.rule == "acct"
    assert "owner of the existing account" in result.assignment.reason
    unknown = MatchResult(record_id="1", crm="hubspot", kind="contact", rule="email_exact", confidence=1.0,
                          owner_id="999999")
    result = run(Lead(), cfg, match=unknown)
    assert result.assignment.rule == "rr" and "not on the roster" in result.trace[0]


def test_vip_overrides_later_rules() -> None:
    cfg = config("  - {name: vip, strategy: vip, accounts: [globex.com, Initech Inc.], rep: nyc}\n"
                 "  - {name: rr, strategy: round_robin, pool: four}\n")
    assert run(Lead(company=Company(domain="globex.com")), cfg).assignment.owner == "nyc"
    assert run(Lead(company=Company(normalized_name="initech")), cfg).assignment.owner == "nyc"
    result = run(Lead(company=Company(domain="other.com")), cfg)
    assert result.assignment.rule == "rr" and result.trace[0] == "vip: not a target account"


# ---- availability ---------------------------------------------------------------------------------------------


def test_inactive_and_out_of_office_reps_are_skipped_in_pool_order() -> None:
    result = run(Lead(), config("  - {name: rr, strategy: round_robin, pool: flaky}\n"))
    assert result.assignment.owner == "a1"
    assert [(s.rep, s.reason) for s in result.skipped] == [("gone", "inactive"), ("away", "out_of_office")]
    pointer = next(c for c in result.changes if c.kind == "pointer")
    assert (pointer.expected, pointer.value) == (0, 3)  # past the skipped reps: they do not get a turn later


def test_rep_at_capacity_is_skipped_and_the_cap_travels_with_the_change() -> None:
    cfg = config("  - {name: c, strategy: round_robin, pool: coasts}\n")
    state = RoutingState(pointers={"coasts": 1}, load={"nyc": 2})
    result = run(Lead(), cfg, state=state)
    assert result.assignment.owner == "la"
    assert [(s.rep, s.reason) for s in result.skipped] == [("nyc", "at_capacity")]
    # yesterday's count does not block today
    stale = RoutingState(pointers={"coasts": 1}, load={"nyc": 2}, days={"nyc": "2026-03-03"})
    assert run(Lead(), cfg, state=stale).assignment.owner == "nyc"


def test_on_unavailable_fallback_queue_and_next_rule() -> None:
    to_queue = config("  - {name: d, strategy: round_robin, pool: dead, on_unavailable: {queue: spare}}\n")
    result = run(Lead(), to_queue)
    assert (result.assignment.owner, result.assignment.queue) == (None, "spare")
    assert len(result.skipped) == 2 and result.changes == ()
    onward = config("  - {name: d, strategy: round_robin, pool: dead}\n  - {name: n, strategy: named, rep: a2}\n")
    result = run(Lead(), onward)
    assert result.assignment.owner == "a2" and result.trace[0] == "d: nobody available, next rule"


def test_after_hours_route_anyway() -> None:
    thursday_night = datetime(2026, 7, 2, 20, 0, tzinfo=NY)
    result = run(Lead(), config("  - {name: n, strategy: named, rep: nyc}\n"), now=thursday_night)
    assert result.assignment.owner == "nyc" and result.assignment.hold_until is None and result.skipped == ()


def test_after_hours_hold_until_next_business_hour_across_holiday_and_weekend() -> None:
    # Thursday 20:00; Friday is the observed Independence Day, then a weekend: held until Monday 09:00
    thursday_night = datetime(2026, 7, 2, 20, 0, tzinfo=NY)
    result = run(Lead(), config("  - {name: n, strategy: named, rep: nyc, after_hours: hold}\n"), now=thursday_night)
    a = result.assignment
    assert a.owner == "nyc" and a.hold_until == datetime(2026, 7, 6, 9, 0, tzinfo=NY)
    assert "held until 2026-07-06T09:00" in a.reason
    assert result.changes[0].day == "2026-07-06"  # counts against Monday's cap


def test_after_hours_hold_prefers_a_rep_at_work_now() -> None:
    # 07:00 in Los Angeles, 10:00 in New York: Lou is skipped as outside hours, Nia takes it now
    cfg = config("  - {name: c, strategy: round_robin, pool: coasts, after_hours: hold}\n")
    result = run(Lead(), cfg)
    assert result.assignment.owner == "nyc" and result.assignment.hold_until is None
    assert [(s.rep, s.reason) for s in result.skipped] == [("la", "outside_hours")]


def test_hold_picks_the_first_rep_back_on_a_public_holiday() -> None:
    # Good Friday 2026 (April 3) is a holiday in Berlin, not in the US: at 08:00 New York time, Nia starts first
    cfg = config("  - {name: l, strategy: round_robin, pool: langs, after_hours: hold}\n")
    good_friday = datetime(2026, 4, 3, 8, 0, tzinfo=NY)
    result = run(Lead(), cfg, now=good_friday)
    assert result.assignment.owner == "nyc" and result.assignment.hold_until == datetime(2026, 4, 3, 9, 0, tzinfo=NY)


# ---- state ----------------------------------------------------------------------------------------------------


def test_apply_changes_is_compare_and_set() -> None:
    cfg = config("  - {name: n, strategy: round_robin, pool: coasts}\n")
    result = run(Lead(), cfg, state=RoutingState(pointers={"coasts": 1}))
    with pytest.raises(StateConflict):
        apply_changes(RoutingState(pointers={"coasts": 2}), result.changes)  # someone else moved it
    with pytest.raises(StateConflict):
        named = run(Lead(), config("  - {name: n, strategy: named, rep: nyc}\n"))
        apply_changes(RoutingState(load={"nyc": 2}, days={"nyc": "2026-03-04"}), named.changes)  # cap 2 reached
    state = apply_changes(RoutingState(load={"nyc": 2}, days={"nyc": "2026-03-03"}), named.changes)
    assert state.load["nyc"] == 1 and state.days["nyc"] == "2026-03-04"  # a new day starts from 0


def test_routing_is_pure() -> None:
    cfg = config("  - {name: rr, strategy: round_robin, pool: four}\n")
    state = RoutingState(pointers={"four": 1})
    assert run(Lead(), cfg, state=state) == run(Lead(), cfg, state=state)
    assert state.pointers == {"four": 1}


@pytest.mark.parametrize(
    ("rules", "field", "message"),
    [
        ("  - {name: x, strategy: round_robin, pool: nope}\n", "rules[1].pool", "no pool 'nope'"),
        ("  - {name: x, strategy: named, rep: nobody}\n", "rules[1].rep", "not a rep id"),
        ("  - {name: x, strategy: lottery, pool: four}\n", "rules[1].strategy", "Invalid value"),
        ("  - {name: x, strategy: named, rep: a1, on_unavailable: {queue: nope}}\n", "rules[1].on_unavailable.queue",
         "no queue"),
        ("  - {name: x, strategy: territory, territories: [mars]}\n", "rules[1].territories[0]", "no territory"),
    ],
)
def test_routing_errors_name_file_line_and_field(rules: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config("  - {name: ok, strategy: named, rep: a1}\n" + rules)
    assert exc.value.field == field and message in str(exc.value)
    assert exc.value.file == "routing.yaml" and exc.value.line == 4


def test_bad_territory_region_fails_at_load() -> None:
    with pytest.raises(ConfigError) as exc:
        config("  - {name: t, strategy: territory}\n", "territories:\n  x: {countries: [US], regions: [NY], rep: a1}\n")
    assert "ISO 3166-2" in str(exc.value) and exc.value.line == 3


# ---- Northwind Analytics (the shipped rules) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def northwind() -> tuple[Team, RoutingConfig]:
    team = load_team(RULES / "team.yaml")
    return team, load_routing(RULES / "routing.yaml", team)


def nw(northwind: tuple[Team, RoutingConfig], lead: Lead, **kw):
    team, cfg = northwind
    return run(lead, cfg, team=team, **kw)


def test_northwind_hot_lead_in_no_territory_goes_to_the_manager_on_call(northwind) -> None:
    result = nw(northwind, Lead(company=Company(country="BR", size=300)))
    a = result.assignment
    assert (a.owner, a.queue, a.rule, a.strategy) == ("dana_whitfield", None, "fallback_owner", "fallback_owner")
    assert a.owner_ids == {"hubspot": "51200001", "salesforce": "0058d000001DwAAAA0"}
    assert "hot_by_territory: in no territory" in " ".join(result.trace)
    assert a.reason.startswith("no rep available (no rule assigned the lead) — assigned to the fallback owner")


def test_northwind_ungraded_lead_in_no_territory_goes_to_the_fallback_queue(northwind) -> None:
    result = nw(northwind, Lead(company=Company(country="BR", size=300)), score=ScoreResult(total=0, grade=""))
    a = result.assignment
    assert (a.owner, a.queue, a.rule) == (None, "unassigned", "fallback")
    assert a.owner_ids == {"hubspot": "51200092", "salesforce": "00G8d000004UnaAEAS"}


def test_northwind_enterprise_lead_whose_territory_rep_is_at_cap_goes_to_the_enterprise_pod(northwind) -> None:
    lead = Lead(company=Company(country="US", region="US-GA", size=5000))
    assert nw(northwind, lead).assignment.owner == "jasmine_ortiz"
    result = nw(northwind, lead, state=RoutingState(load={"jasmine_ortiz": 20}))
    a = result.assignment
    assert (a.owner, a.rule, a.strategy) == ("olivia_grant", "enterprise", "fallback")
    assert [(s.rep, s.reason) for s in result.skipped] == [("jasmine_ortiz", "at_capacity")]
    assert any(c.kind == "pointer" and c.key == "enterprise_pod" for c in result.changes)


def test_northwind_rep_out_of_office_goes_to_the_next_in_pool(northwind) -> None:
    lead = Lead(company=Company(country="US", region="US-NY", size=100))
    result = nw(northwind, lead, state=RoutingState(pointers={"northeast": 1}))  # Marcus's turn, on leave
    assert result.assignment.owner == "sarah_chen"
    assert [(s.rep, s.reason, s.rule) for s in result.skipped] == [("marcus_bell", "out_of_office", "hot_by_territory")]


def test_northwind_after_hours_hot_lead_is_held_for_the_first_rep_in(northwind) -> None:
    # Thursday night before the July 4 long weekend: Sarah starts at 08:30, Marcus at 09:00 on Monday
    lead = Lead(company=Company(country="US", region="US-MA", size=100))
    result = nw(northwind, lead, now=datetime(2026, 7, 2, 21, 30, tzinfo=NY))
    a = result.assignment
    assert a.owner == "sarah_chen" and a.hold_until == datetime(2026, 7, 6, 8, 30, tzinfo=NY)
    assert [(s.rep, s.reason) for s in result.skipped] == [("marcus_bell", "outside_hours")]


def test_northwind_international_lead_with_a_german_postal_code(northwind) -> None:
    lead = Lead(company=Company(country="DE", postal_code="07743", city="Jena", size=300))
    result = nw(northwind, lead)
    assert result.assignment.owner in {"oliver_hughes", "elena_vogel"}
    assert "territory emea" in result.assignment.reason
    speaks = nw(northwind, Lead(company=Company(country="DE"), answers={"language": "de"}))
    assert speaks.assignment.owner == "elena_vogel" and speaks.assignment.rule == "native_language"


def test_northwind_existing_account_goes_to_the_account_owner(northwind) -> None:
    match = MatchResult(record_id="0018d00000AcmeAAQ", crm="salesforce", kind="account", rule="account_domain",
                        confidence=0.95, account_id="0018d00000AcmeAAQ", account_owner_id="0058d000001DwAFAA0")
    result = nw(northwind, Lead(company=Company(country="US", region="US-NY")), match=match)
    a = result.assignment
    assert (a.owner, a.rule, a.strategy) == ("ryan_nakamura", "existing_account", "account")
    assert a.owner_ids["salesforce"] == "0058d000001DwAFAA0"


def test_northwind_target_account_and_grades(northwind) -> None:
    vip = nw(northwind, Lead(company=Company(domain="globex.com", country="US", region="US-CA")))
    assert (vip.assignment.owner, vip.assignment.rule) == ("olivia_grant", "target_accounts")
    warm = nw(northwind, Lead(company=Company(country="US", region="US-CA")), score=WARM)
    assert warm.assignment.rule == "warm_to_sdr" and warm.assignment.owner in {"tyler_jenkins", "aisha_patel"}
    cold = nw(northwind, Lead(), score=ScoreResult(total=5, grade="cold"))
    assert cold.assignment.queue == "nurture"
