"""First-contact SLAs (connector.sla, connector.worked): business time, the ladder, holds, reassignment, "worked".

Dates: 2026-03-06 is a Friday; 2026-09-07 is Labor Day (US, a Monday); 2026-04-06 is Easter Monday (Germany).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connector.config import load_config
from connector.decision import Assignment, Decision, RouteResult, ScoreResult, TagResult
from connector.errors import ConfigError
from connector.mapping.crm import CrmMapping
from connector.model import Company, Identity, Lead
from connector.pipeline import decide, plan_write
from connector.routing import RoutingState, routing_from_text
from connector.sla import (
    business_add,
    due_at,
    next_owner,
    pool_next_start,
    release_order,
    sla_from_text,
)
from connector.team import team_from_text
from connector.worked import WorkedWhen, activity_since, status_moved, worked_at
from connector.yamlconf import from_text

ROOT = Path(__file__).resolve().parents[2]
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")

TEAM = team_from_text(
    """
reps:
  - {id: boss, name: Bo Ss, email: b@x.io, role: manager, timezone: America/New_York, country: US}
  - {id: ny1, name: Ny One, email: n1@x.io, role: ae, timezone: America/New_York, country: US, manager: boss,
     owner_ids: {crm_a: "11"}}
  - {id: ny2, name: Ny Two, email: n2@x.io, role: ae, timezone: America/New_York, country: US, manager: boss,
     daily_cap: 1, owner_ids: {crm_a: "12"}}
  - {id: ny3, name: Ny Three, email: n3@x.io, role: ae, timezone: America/New_York, country: US, manager: boss,
     owner_ids: {crm_a: "13"}}
  - {id: de1, name: De One, email: d1@x.io, role: ae, timezone: Europe/Berlin, country: DE, subdivision: BE}
  - {id: de2, name: De Two, email: d2@x.io, role: ae, timezone: Europe/Berlin, country: DE, subdivision: BE,
     hours: {start: "10:00", end: "18:00"}}
pools:
  ny: {members: [ny1, ny2, ny3]}
  berlin: {members: [de1, de2]}
queues:
  waiting: {owner_ids: {crm_a: "99"}}
""",
    file="team.yaml",
)
ROUTING = routing_from_text(
    """
fallback_queue: waiting
rules:
  - {name: ny_hot, strategy: round_robin, pool: ny, after_hours: hold}
  - {name: berlin_hot, strategy: round_robin, pool: berlin, after_hours: hold}
""",
    file="routing.yaml", team=TEAM,
)
HOT = """
grades:
  hot: {first_contact_minutes: 5, remind_after_minutes: 0, manager_after_minutes: 5, reassign_after_minutes: 10}
  warm: {first_contact_minutes: 120, manager_after_minutes: 60}
"""


# ---- business time -------------------------------------------------------------------------------------------

def test_a_deadline_inside_working_hours_is_plain_minutes() -> None:
    start = datetime(2026, 3, 6, 10, 0, tzinfo=NY)
    assert business_add(TEAM.by_id["ny1"], start, 300) == datetime(2026, 3, 6, 15, 5, tzinfo=UTC)


def test_a_deadline_near_closing_time_runs_on_the_next_working_morning() -> None:
    # Friday 16:58 New York + 5 business minutes: 2 today, 3 on Monday from 09:00
    start = datetime(2026, 3, 6, 16, 58, tzinfo=NY)
    assert business_add(TEAM.by_id["ny1"], start, 300) == datetime(2026, 3, 9, 9, 3, tzinfo=NY)


def test_a_deadline_skips_the_owners_public_holiday() -> None:
    start = datetime(2026, 9, 4, 23, 0, tzinfo=NY)  # Friday night before Labor Day
    assert business_add(TEAM.by_id["ny1"], start, 300) == datetime(2026, 9, 8, 9, 5, tzinfo=NY)
    # wall-clock counting ignores hours and holidays
    assert due_at(TEAM.by_id["ny1"], start, 300, business_hours=False) == datetime(2026, 9, 5, 3, 5, tzinfo=UTC)


def test_long_deadlines_span_several_working_days() -> None:
    start = datetime(2026, 3, 5, 16, 0, tzinfo=NY)  # Thursday 16:00, 8-hour days: 1 h + 8 h + 1 h
    assert business_add(TEAM.by_id["ny1"], start, 10 * 3600) == datetime(2026, 3, 9, 10, 0, tzinfo=NY)


# ---- the ladder ----------------------------------------------------------------------------------------------

def test_the_hot_ladder_is_reminder_at_5_manager_at_10_reassignment_at_15() -> None:
    sla = sla_from_text(HOT, file="sla.yaml")
    hot, warm = sla.for_grade("hot"), sla.for_grade("warm")
    assert hot is not None and warm is not None and sla.for_grade("cold") is None
    assert hot.ladder() == [("remind", 300), ("manager", 600), ("reassign", 900)]
    assert warm.ladder() == [("remind", 7200), ("manager", 10800)]


@pytest.mark.parametrize(("text", "field"), [
    ("grades: {hot: {first_contact_minutes: 0}}", "first_contact_minutes must be more than 0"),
    ("grades: {hot: {first_contact_minutes: 5, remind_after_minutes: -1}}", "remind_after_minutes must not be"),
    ("grades: {hot: {first_contact_minutes: 5, escalate: 3}}", "escalate: Object contains unknown field"),
    ("hold_queue: nowhere", "hold_queue: no queue 'nowhere'"),
])
def test_a_bad_sla_file_names_the_field(text: str, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        sla_from_text(text, file="sla.yaml", team=TEAM)
    assert str(err.value).startswith("sla.yaml:1: ") and field in str(err.value)


def test_the_shipped_rules_load_with_an_sla_and_worked_when_per_crm() -> None:
    config = load_config(ROOT)
    assert config.sla is not None and config.sla.for_grade("hot") is not None
    assert all(m.worked_when is not None for m in config.crm.values())


# ---- holds: released at the pool's next business hour, holidays included ------------------------------------

def test_a_lead_held_friday_night_is_released_monday_0900_in_the_pools_time_zone() -> None:
    friday = datetime(2026, 3, 6, 22, 0, tzinfo=NY)
    assert pool_next_start(TEAM, "ny", friday) == datetime(2026, 3, 9, 9, 0, tzinfo=NY)
    friday_berlin = datetime(2026, 3, 13, 22, 0, tzinfo=BERLIN)
    assert pool_next_start(TEAM, "berlin", friday_berlin) == datetime(2026, 3, 16, 9, 0, tzinfo=BERLIN)


def test_when_monday_is_a_holiday_there_the_release_is_tuesday_0900() -> None:
    labor_day_weekend = datetime(2026, 9, 4, 22, 0, tzinfo=NY)
    assert pool_next_start(TEAM, "ny", labor_day_weekend) == datetime(2026, 9, 8, 9, 0, tzinfo=NY)
    easter = datetime(2026, 4, 3, 22, 0, tzinfo=BERLIN)  # Good Friday night; Easter Monday is off in Berlin
    assert pool_next_start(TEAM, "berlin", easter) == datetime(2026, 4, 7, 9, 0, tzinfo=BERLIN)


def test_routing_holds_the_friday_night_lead_until_the_same_moment() -> None:
    config = load_config(ROOT)
    config = config.__class__(**{**{f: getattr(config, f) for f in config.__struct_fields__},
                                 "team": TEAM, "routing": ROUTING, "sla": sla_from_text(HOT, file="sla.yaml")})
    lead = Lead(id="L1", identity=Identity(email="ana@acme.example"), company=Company(name="Acme"))
    for now, release in [(datetime(2026, 3, 6, 22, 0, tzinfo=NY), datetime(2026, 3, 9, 9, 0, tzinfo=NY)),
                         (datetime(2026, 9, 4, 22, 0, tzinfo=NY), datetime(2026, 9, 8, 9, 0, tzinfo=NY))]:
        d = decide(lead, config, state=RoutingState(), now=now)
        assert d.route.assignment.owner == "ny1" and d.route.assignment.hold_until == release
        assert pool_next_start(TEAM, "ny", now) == release


def test_release_order_is_hot_first_then_arrival() -> None:
    held = [("w1", "warm", 1.0), ("h2", "hot", 3.0), ("c1", "cold", 0.5), ("h1", "hot", 2.0), ("w0", "warm", 0.1)]
    assert release_order(held) == ["h1", "h2", "w0", "w1", "c1"]


def _hot_decision(owner: str, hold_until: datetime | None = None, rule: str = "ny_hot") -> Decision:
    lead = Lead(id="L1", identity=Identity(email="ana@acme.example"), company=Company(name="Acme"))
    rep = TEAM.by_id[owner]
    return Decision(lead=lead, score=ScoreResult(total=90, grade="hot", stage="sql"), tags=TagResult(),
                    route=RouteResult(assignment=Assignment(owner=owner, owner_ids=dict(rep.owner_ids), rule=rule,
                                                            hold_until=hold_until)))


def test_a_held_leads_write_leaves_the_owner_out_or_writes_the_hold_queue() -> None:
    base = load_config(ROOT)
    held = _hot_decision("ny1", hold_until=datetime(2026, 3, 9, 9, 0, tzinfo=NY))
    crm = "hubspot"
    owner_field = "hubspot_owner_id"
    fields = {f: getattr(base, f) for f in base.__struct_fields__}
    plain = base.__class__(**{**fields, "team": TEAM, "sla": sla_from_text(HOT, file="sla.yaml")})
    item, plan = plan_write(held, plain, crm)
    assert owner_field not in item.fields and "held after hours" in plan.kept[owner_field]
    team = team_from_text("reps: []\nqueues: {waiting: {owner_ids: {hubspot: '99'}}}", file="t.yaml")
    queued = base.__class__(**{**fields, "team": team, "sla": sla_from_text("hold_queue: waiting", file="s.yaml")})
    assert plan_write(held, queued, crm)[0].fields[owner_field] == "99"
    released, _ = plan_write(held, plain, crm, owner_id="11")
    assert released.fields[owner_field] == "11"


# ---- reassignment --------------------------------------------------------------------------------------------

def test_the_next_rep_in_the_pool_at_work_with_room_gets_the_lead() -> None:
    now = datetime(2026, 3, 4, 11, 0, tzinfo=NY)  # Wednesday morning
    found = next_owner(_hot_decision("ny1"), ROUTING, TEAM, RoutingState(), now, tried=())
    assert found is not None
    assignment, changes = found
    assert assignment.owner == "ny2" and assignment.owner_ids == {"crm_a": "12"}
    assert assignment.strategy == "sla_reassign" and "ny1 made no first contact" in assignment.reason
    assert [(c.kind, c.key, c.value, c.expected, c.day) for c in changes] == [("load", "ny2", 1, 1, "2026-03-04")]
    full = RoutingState(load={"ny2": 1}, days={"ny2": "2026-03-04"})  # ny2 at their cap: ny3
    assert next_owner(_hot_decision("ny1"), ROUTING, TEAM, full, now, tried=())[0].owner == "ny3"  # type: ignore[index]
    assert next_owner(_hot_decision("ny3"), ROUTING, TEAM, full, now, tried=("ny1",)) is None
    night = datetime(2026, 3, 4, 23, 0, tzinfo=NY)  # nobody at work: nobody to hand it to
    assert next_owner(_hot_decision("ny1"), ROUTING, TEAM, RoutingState(), night, tried=()) is None


# ---- worked ----------------------------------------------------------------------------------------------------

SPEC = WorkedWhen(status_field="Status", initial=["Open - Not Contacted"], activity_fields=["LastActivityDate",
                                                                                           "last_call"])
SINCE = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def test_a_status_moved_off_its_first_value_is_worked() -> None:
    assert not any(status_moved(SPEC, v) for v in ("Open - Not Contacted", "", None))
    assert status_moved(SPEC, "Working - Contacted")
    at = datetime(2026, 3, 4, 15, 3, tzinfo=UTC)
    assert worked_at(SPEC, {"Status": "Working - Contacted"}, SINCE, status_changed_at=at) == at
    assert worked_at(SPEC, {"Status": "Open - Not Contacted"}, SINCE) is None


def test_only_activity_since_the_clock_started_counts() -> None:
    assert activity_since(SPEC, {"last_call": "2025-11-01T10:00:00Z"}, SINCE) is None  # an old call
    assert activity_since(SPEC, {"last_call": "1772636700000"}, SINCE) == datetime(2026, 3, 4, 15, 5, tzinfo=UTC)
    # a date-only field (LastActivityDate): that day counts, not before the clock started
    assert activity_since(SPEC, {"LastActivityDate": "2026-03-04"}, SINCE) == SINCE
    assert activity_since(SPEC, {"LastActivityDate": date(2026, 3, 3)}, SINCE) is None
    with pytest.raises(ValueError):
        WorkedWhen()


def test_a_mapping_whose_own_status_is_not_initial_is_refused() -> None:
    text = (ROOT / "mappings" / "crm" / "hubspot.yaml").read_text().replace("initial: [NEW, OPEN]", "initial: [NEW]")
    with pytest.raises(ConfigError, match="leadrelay writes 'OPEN' to hs_lead_status"):
        from_text(text, CrmMapping, file="hubspot.yaml")
