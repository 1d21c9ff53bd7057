"""The shipped rules/*.yaml load, and roster mistakes fail at load with file:line and field."""

from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.routing import Account, Skill, TerritoryRule, Vip, load_routing
from connector.score import load_scoring
from connector.tags import load_tags
from connector.team import load_team, team_from_text

RULES = Path(__file__).resolve().parents[2] / "rules"


def test_shipped_rules_load() -> None:
    team = load_team(RULES / "team.yaml")
    routing = load_routing(RULES / "routing.yaml", team)
    scoring = load_scoring(RULES / "scoring.yaml")
    tags = load_tags(RULES / "tags.yaml")
    # the example company has what the seeds describe
    assert {"northeast", "southeast", "west_coast", "emea"} <= set(routing.territories)
    assert any(t.postal_codes for t in routing.territories.values())  # one split territory
    assert team.sequences["enterprise_pod"].count("olivia_grant") == 2 and len(team.sequences["enterprise_pod"]) == 4
    assert any("healthcare" in r.skills for r in team.reps if r.role == "ae")
    assert any({"de", "es"} <= set(r.languages) for r in team.reps)
    assert any(r.out_of_office for r in team.reps)
    assert {r.timezone for r in team.reps} >= {"America/New_York", "America/Chicago", "America/Los_Angeles",
                                                "Europe/London", "Europe/Berlin"}
    assert {"nurture", "unassigned"} <= set(team.queues) and routing.fallback_queue == "unassigned"
    kinds = {type(r) for r in routing.rules}
    assert {Account, Vip, Skill, TerritoryRule} <= kinds
    assert scoring.fit and scoring.behaviour and scoring.intent and scoring.negative
    assert set(tags.taxonomy) == {"industry", "use_case", "size", "urgency", "lifecycle"}


REP = "  - {{id: {id}, name: N, email: n@x.io, role: ae, timezone: {tz}, country: US{more}}}\n"


def roster(*reps: str, pools: str = "") -> str:
    return "reps:\n" + "".join(reps) + pools


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (roster(REP.format(id="a", tz="America/New_York", more=""),
                pools="pools:\n  p:\n    members: [a,\n      b]\n"),
         6, "pools.p.members[1]", "'b' is not a rep id"),
        (roster(REP.format(id="a", tz="America/Nowhere", more="")), 2, "reps[0]", "not an IANA time zone"),
        (roster(REP.format(id="a", tz="UTC", more=", manager: boss")), 2, "reps[0].manager", "not a rep id"),
        (roster(REP.format(id="a", tz="UTC", more=""), REP.format(id="a", tz="UTC", more="")), 3, "reps[1].id",
         "appears twice"),
        (roster(REP.format(id="a", tz="UTC", more=", hours: {start: '18:00', end: '09:00'}")), 2, "reps[0].hours",
         "before end"),
        (roster(REP.format(id="a", tz="UTC", more=", role_typo: x")), 2, "reps[0].role_typo", "unknown field"),
        (roster(REP.format(id="a", tz="UTC", more=""), pools="pools:\n  p: {members: [a], weights: {z: 2}}\n"), 4,
         "pools.p.weights.z", "not a member"),
    ],
)
def test_roster_errors(text: str, line: int, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        team_from_text(text, file="rules/team.yaml")
    err = exc.value
    assert (err.file, err.line, err.field) == ("rules/team.yaml", line, field)
    assert message in str(err) and str(err).startswith(f"rules/team.yaml:{line}: {field}:")
