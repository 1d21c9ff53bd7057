"""Recycling (connector.recycle, rules/recycling.yaml, the CRM mapping's ``recycle:``): which lost leads come back,
when, and by which routing rule."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from connector.config import load_config
from connector.errors import ConfigError
from connector.mapping.crm import RecycleFields
from connector.model import Company, Identity, Intent, Lead
from connector.pipeline import decide
from connector.recycle import RecyclingConfig, recycling_from_text
from connector.routing import RoutingState
from worker.rescore import behaviour_events

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
FIELDS = RecycleFields(status_field="hs_lead_status", lost=["UNQUALIFIED", "BAD_TIMING"],
                       reason_field="leadrelay_lost_reason",
                       reasons={"timing": "timing", "no_budget": "no_budget", "BAD_TIMING": "timing"})


@pytest.mark.parametrize(("status", "reason", "code"), [
    ("UNQUALIFIED", "no_budget", "no_budget"),  # the reason field says why
    ("BAD_TIMING", None, "timing"),  # the status itself says why
    ("BAD_TIMING", "no_budget", "no_budget"),  # the reason field wins
    ("UNQUALIFIED", None, None),  # lost, but for no recycled reason
    ("UNQUALIFIED", "spam", None),
    ("OPEN", "timing", None),  # not lost at all
    (None, "timing", None),
])
def test_the_reason_a_lead_was_lost_for(status: str | None, reason: str | None, code: str | None) -> None:
    assert FIELDS.reason(status, reason) == code


def test_the_shipped_files_recycle_timing_after_90_days_by_the_re_engagement_rule() -> None:
    config = load_config(ROOT)
    assert config.recycling.due("timing", T0) == T0 + timedelta(days=90)
    assert config.recycling.due("spam", T0) is None
    assert config.recycling.route is not None and config.recycling.route.name == "re_engagement"
    assert config.crm["hubspot"].recycle is not None
    assert config.crm["hubspot"].recycle.reason("BAD_TIMING", None) == "timing"


def test_a_recycled_lead_is_routed_by_the_re_engagement_rule_alone() -> None:
    config = load_config(ROOT)
    # a hot enterprise lead: rules/routing.yaml would send it to a territory AE; re-engagement sends it to the SDRs
    lead = Lead(id="ld_1", identity=Identity(email="kim@acme.example"), company=Company(size=5000, country="US",
                region="US-NY"), intent=Intent(requests=("demo",)))
    normal = decide(lead, config, state=RoutingState(), now=T0)
    assert normal.route.assignment.rule != "re_engagement"
    routing = config.recycling.reengagement(config.routing)
    recycled = decide(lead, msgspec.structs.replace(config, routing=routing), state=RoutingState(), now=T0)
    a = recycled.route.assignment
    assert a.rule == "re_engagement" and a.owner in config.team.pools["sdr"].members
    assert recycled.route.changes  # the SDR rotation moves on: committed like any routing


def test_without_the_file_nothing_is_recycled() -> None:
    assert RecyclingConfig().due("timing", T0) is None


def test_a_route_naming_a_pool_not_on_the_roster_is_refused_with_its_line() -> None:
    team = load_config(ROOT).team
    text = "reasons:\n  timing: {delay_days: 90}\nroute:\n  name: back\n  strategy: round_robin\n  pool: nobody\n"
    with pytest.raises(ConfigError) as err:
        recycling_from_text(text, file="recycling.yaml", team=team)
    assert (err.value.field, err.value.line) == ("route.pool", 6)  # the line of `pool: nobody`
    with pytest.raises(ConfigError, match="route"):
        recycling_from_text("reasons:\n  timing: {delay_days: 90}\n", file="recycling.yaml", team=team)
    with pytest.raises(ConfigError, match="delay_days"):
        recycling_from_text("reasons:\n  timing: {delay_days: -1}\n", file="recycling.yaml")


def test_a_crm_change_of_a_behaviour_field_is_one_event_of_its_kind() -> None:
    config = load_config(ROOT)
    events = behaviour_events(config, "hubspot", {"hs_analytics_num_page_views": "7", "jobtitle": "CFO"}, T0)
    assert [(e.kind, e.at, e.detail) for e in events] == [("page_view", T0, "hs_analytics_num_page_views=7")]
    assert behaviour_events(config, "hubspot", {"jobtitle": "CFO"}, T0) == ()
