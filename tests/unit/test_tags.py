"""Tags from a closed taxonomy (lookups and rules) and segments over fields and tags."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.decision import MatchResult, ScoreResult
from connector.errors import ConfigError
from connector.model import Company, Event, Intent, Lead
from connector.tags import load_tags, tag, tags_from_text

RULES = Path(__file__).resolve().parents[2] / "rules"
TAXONOMY = """
taxonomy:
  industry: [healthcare, retail]
  size: [smb, enterprise]
  urgency: [now, exploring]
"""
CONFIG = tags_from_text(
    TAXONOMY
    + """
lookups:
  - name: industry
    field: company.industry
    category: industry
    values:
      healthcare: [Hospital & Health Care, pharmaceuticals]
      retail: [retail]
rules:
  - {name: big, when: {field: company.size, op: gte, value: 1000}, tags: ["size:enterprise"], reason: "1,000+ staff"}
  - {name: small, when: {field: company.size, op: lt, value: 1000}, tags: ["size:smb"]}
  - name: urgent
    when: {any: [{field: intent.requests, op: contains, value: demo}, {field: events.count, op: gte, value: 3}]}
    tags: ["urgency:now"]
  - name: exploring          # sees the tags applied above it
    when: {not: {field: tags, op: contains, value: "urgency:now"}}
    tags: ["urgency:exploring"]
segments:
  - name: enterprise_healthcare
    when:
      all:
        - {field: tags, op: contains, value: "industry:healthcare"}
        - {field: tags, op: contains, value: "size:enterprise"}
    description: large hospitals
  - name: hot_now
    when: {all: [{field: score.grade, op: eq, value: hot}, {field: tags, op: contains, value: "urgency:now"}]}
  - name: hot_hospital     # segments see the segments before them
    when:
      all:
        - {field: segments, op: contains, value: hot_now}
        - {field: segments, op: contains, value: enterprise_healthcare}
""",
    file="tags.yaml",
)
HOT = ScoreResult(total=90, grade="hot")
COLD = ScoreResult(total=5, grade="cold")


def test_lookup_rules_and_segments_with_reasons() -> None:
    lead = Lead(company=Company(industry="hospital & health care", size=2000), intent=Intent(requests=("demo",)))
    result = tag(lead, HOT, CONFIG)
    assert result.tags == ("industry:healthcare", "size:enterprise", "urgency:now")
    assert result.segments == ("enterprise_healthcare", "hot_now", "hot_hospital")
    assert result.reasons["industry:healthcare"] == "industry: company.industry is hospital & health care"
    assert result.reasons["size:enterprise"] == "big: 1,000+ staff"
    assert result.reasons["enterprise_healthcare"] == "segment enterprise_healthcare: large hospitals"


def test_rules_see_earlier_tags_and_behaviour() -> None:
    quiet = tag(Lead(company=Company(size=20, industry="Retail")), COLD, CONFIG)
    assert quiet.tags == ("industry:retail", "size:smb", "urgency:exploring") and quiet.segments == ()
    at = datetime(2026, 3, 1, tzinfo=UTC)
    busy = Lead(events=tuple(Event(kind="page_view", at=at) for _ in range(3)))
    assert tag(busy, COLD, CONFIG).tags == ("urgency:now",)


def test_segment_reads_score() -> None:
    lead = Lead(intent=Intent(requests=("demo",)))
    assert "hot_now" in tag(lead, HOT, CONFIG).segments
    assert "hot_now" not in tag(lead, COLD, CONFIG).segments


@pytest.mark.parametrize(
    ("snippet", "field"),
    [
        ('rules:\n  - {name: r, when: {field: company.size, op: gt, value: 1}, tags: ["size:mid_market"]}\n',
         "rules[0].tags[0]"),
        ('rules:\n  - {name: r, when: {field: company.size, op: gt, value: 1}, tags: ["vertical:retail"]}\n',
         "rules[0].tags[0]"),
        ("lookups:\n  - {name: l, field: company.industry, category: industry, values: {banking: [bank]}}\n",
         "lookups[0].values.banking"),
        ('segments:\n  - {name: s, when: {field: tags, op: contains, value: "size:huge"}}\n', "segments[0].when.value"),
    ],
)
def test_tags_outside_the_taxonomy_fail_at_load(snippet: str, field: str) -> None:
    with pytest.raises(ConfigError) as exc:
        tags_from_text(TAXONOMY + snippet, file="tags.yaml")
    assert exc.value.field == field and "not in the taxonomy" in str(exc.value)
    assert exc.value.line == len(TAXONOMY.splitlines()) + 2


def test_shipped_tags() -> None:
    config = load_tags(RULES / "tags.yaml")
    match = MatchResult(record_id="001", crm="hubspot", kind="account", rule="account_domain", confidence=0.95)
    lead = Lead(company=Company(industry="Banking", size=300, country="DE"), intent=Intent(requests=("pricing",)))
    result = tag(lead, ScoreResult(total=50, grade="warm"), config, match=match)
    assert set(result.tags) == {"industry:financial_services", "size:mid_market", "urgency:this_quarter",
                                "lifecycle:customer_account"}
    assert set(result.segments) == {"emea_mid_market", "expansion"}
