"""rules/notify.yaml: who is told per grade, rule and segment; a typo fails with file:line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.decision import Assignment, Decision, RouteResult, ScoreResult, TagResult
from connector.errors import ConfigError
from connector.model import Lead
from connector.notify import NotifyConfig, Recipient, load_notify, notify_from_text, recipients
from connector.team import Team, load_team

RULES = Path(__file__).resolve().parents[2] / "rules"


def _decision(grade: str, *, owner: str | None = "sarah_chen", rule: str = "northeast",
              segments: tuple[str, ...] = (), queue: str | None = None) -> Decision:
    return Decision(lead=Lead(id="L-1"), score=ScoreResult(total=50, grade=grade),
                    tags=TagResult(segments=segments),
                    route=RouteResult(assignment=Assignment(owner=owner, rule=rule, queue=queue)))


@pytest.fixture(scope="module")
def shipped() -> tuple[NotifyConfig, Team]:
    return load_notify(RULES / "notify.yaml"), load_team(RULES / "team.yaml")


def test_hot_goes_to_the_owner_on_slack_and_the_manager_by_email(shipped: tuple[NotifyConfig, Team]) -> None:
    config, team = shipped
    assert recipients(config, _decision("hot"), team) == (
        Recipient(channel="sales_slack", kind="slack", audience="owner", route="hot_and_warm_to_owner",
                  rep="sarah_chen"),
        Recipient(channel="manager_email", kind="email", audience="manager", route="hot_to_manager",
                  rep="dana_whitfield"),
    )


def test_warm_goes_to_the_owner_only_and_cold_to_nobody(shipped: tuple[NotifyConfig, Team]) -> None:
    config, team = shipped
    assert [(r.channel, r.rep) for r in recipients(config, _decision("warm"), team)] == [("sales_slack",
                                                                                          "sarah_chen")]
    assert recipients(config, _decision("cold"), team) == ()


def test_without_a_roster_or_an_owner_nobody_personal_is_told(shipped: tuple[NotifyConfig, Team]) -> None:
    config, _ = shipped
    assert [r.audience for r in recipients(config, _decision("hot"))] == ["owner"]  # manager unknown
    assert recipients(config, _decision("hot", owner=None, queue="unassigned")) == ()


CONFIG = """\
channels:
  - {name: team_slack, kind: slack, url_env: LEADRELAY_SLACK_URL}
  - {name: ops_hook, kind: webhook, url_env: LEADRELAY_HOOK_URL, secret_env: LEADRELAY_HOOK_SECRET}
  - {name: list, kind: email, to: [sales@example.com]}
routes:
  - {name: enterprise, segments: [enterprise], channels: [team_slack, ops_hook], tell: [owner, pool]}
  - {name: queued, rules: [fallback], channels: [list], tell: [pool]}
  - {name: again, grades: [hot], channels: [team_slack], tell: [owner]}
"""


def test_filters_by_segment_and_rule_and_tells_each_target_once() -> None:
    config = notify_from_text(CONFIG, file="notify.yaml")
    got = recipients(config, _decision("hot", segments=("enterprise",), queue=None))
    assert [(r.channel, r.kind, r.audience, r.rep) for r in got] == [
        ("team_slack", "slack", "owner", "sarah_chen"), ("ops_hook", "webhook", "owner", "sarah_chen"),
        ("team_slack", "slack", "pool", None), ("ops_hook", "webhook", "pool", None)]
    queued = recipients(config, _decision("cold", owner=None, rule="fallback", queue="unassigned"))
    assert queued == (Recipient(channel="list", kind="email", audience="pool", route="queued", queue="unassigned"),)


@pytest.mark.parametrize(("text", "line", "field", "message"), [
    (CONFIG.replace("tell: [owner]}", "tel: [owner]}"), 8, "routes[2].tel", "unknown field"),
    (CONFIG.replace("kind: webhook", "kind: webhok"), 3, "channels[1].kind", "Invalid value 'webhok'"),
    (CONFIG.replace("tell: [pool]}", "tell: [boss]}"), 7, "routes[1].tell[0]", "Invalid enum value 'boss'"),
    (CONFIG.replace("channels: [list]", "channels: [lists]"), 7, "routes[1].channels[0]",
     "no channel named 'lists'"),
    (CONFIG.replace("name: list,", "name: team_slack,"), 4, "channels[2].name", "defined twice"),
])
def test_a_typo_fails_with_file_line_and_field(text: str, line: int, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        notify_from_text(text, file="rules/notify.yaml")
    err = info.value
    assert (err.file, err.line, err.field) == ("rules/notify.yaml", line, field), str(err)
    assert message in str(err) and str(err).startswith(f"rules/notify.yaml:{line}: {field}:")


def test_a_typo_in_the_shipped_file_names_its_line(tmp_path: Path) -> None:
    text = (RULES / "notify.yaml").read_text(encoding="utf-8").replace("    grades: [hot]\n", "    grade: [hot]\n")
    path = tmp_path / "notify.yaml"
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("    grade: [hot]") + 1
    with pytest.raises(ConfigError, match=rf"notify.yaml:{line}: routes\[1\].grade: .*unknown field"):
        load_notify(path)
