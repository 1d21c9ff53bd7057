"""Structured conditions: every operator, groups, the lead view, and load-time errors with file:line."""

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from connector.conditions import Condition, compile_condition, describe, lead_view
from connector.decision import MatchResult, ScoreResult, TagResult
from connector.errors import ConfigError
from connector.model import Company, Event, Identity, Intent, Lead, Role
from connector.yamlconf import from_text

LEAD = Lead(
    identity=Identity(email="ana.lopez@acme-health.com", first_name="Ana"),
    company=Company(name="Acme Health", domain="acme-health.com", size=250, industry="Hospital & Health Care",
                    country="US", region="US-NY", postal_code="10001"),
    role=Role(title="VP Data", seniority="vp"),
    intent=Intent(requests=("demo", "pricing"), message="We need pipeline forecasts"),
    events=(Event(kind="pricing_visit", at=datetime(2026, 3, 1, tzinfo=UTC)),),
    answers={"timeline": "This quarter", "seats": "40", "modules": ["dashboards", "alerts"]},
    extra={"properties.lifecyclestage": "customer"},
    flags=("email_role",),
)
VIEW = lead_view(
    LEAD,
    score=ScoreResult(total=82.5, grade="hot", stage="sql"),
    tags=TagResult(tags=("industry:healthcare", "size:mid_market"), segments=("hot_inbound",)),
    match=MatchResult(record_id="001", crm="salesforce", kind="account", rule="account_domain", confidence=0.95),
)


def check(cond: dict) -> bool:
    return compile_condition(msgspec.convert(cond, Condition))(VIEW)


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ({"field": "company.country", "op": "eq", "value": "us"}, True),  # text ignores case
        ({"field": "company.country", "op": "eq", "value": "GB"}, False),
        ({"field": "company.country", "op": "ne", "value": "GB"}, True),
        ({"field": "company.city", "op": "ne", "value": "Paris"}, True),  # missing value: ne holds
        ({"field": "company.country", "op": "in", "value": ["GB", "US"]}, True),
        ({"field": "company.country", "op": "not_in", "value": ["GB", "DE"]}, True),
        ({"field": "company.country", "op": "not_in", "value": ["US"]}, False),
        ({"field": "company.size", "op": "gt", "value": 250}, False),
        ({"field": "company.size", "op": "gte", "value": 250}, True),
        ({"field": "company.size", "op": "lt", "value": 251}, True),
        ({"field": "company.size", "op": "lte", "value": 249}, False),
        ({"field": "company.size", "op": "between", "value": [200, 999]}, True),
        ({"field": "company.size", "op": "between", "value": [251, 999]}, False),
        ({"field": "company.revenue", "op": "gt", "value": 0}, False),  # missing value fails
        ({"field": "intent.requests", "op": "contains", "value": "demo"}, True),
        ({"field": "intent.requests", "op": "contains", "value": "trial"}, False),
        ({"field": "intent.message", "op": "contains", "value": "PIPELINE"}, True),  # substring, any case
        ({"field": "intent.requests", "op": "contains_any", "value": ["trial", "pricing"]}, True),
        ({"field": "tags", "op": "contains_any", "value": ["size:enterprise", "size:smb"]}, False),
        ({"field": "identity.email", "op": "starts_with", "value": "ana."}, True),
        ({"field": "identity.email", "op": "ends_with", "value": [".org", "@acme-health.com"]}, True),
        ({"field": "company.name", "op": "matches", "value": r"\bhealth\b"}, True),
        ({"field": "company.name", "op": "matches", "value": r"^health"}, False),
        ({"field": "company.postal_code", "op": "exists"}, True),
        ({"field": "company.city", "op": "exists"}, False),
        ({"field": "company.city", "op": "missing"}, True),
        ({"field": "flags", "op": "missing"}, False),
        ({"field": "answers.timeline", "op": "eq", "value": "this quarter"}, True),
        ({"field": "answers.seats", "op": "gte", "value": 40}, True),  # numeric text compares as a number
        ({"field": "answers.seats", "op": "eq", "value": 40}, True),
        ({"field": "answers.modules", "op": "eq", "value": "alerts"}, True),  # list value: membership
        ({"field": "answers.missing_key", "op": "missing"}, True),
        ({"field": "extra.properties.lifecyclestage", "op": "eq", "value": "customer"}, True),
        ({"field": "score.total", "op": "gt", "value": 80}, True),
        ({"field": "score.grade", "op": "eq", "value": "hot"}, True),
        ({"field": "segments", "op": "contains", "value": "hot_inbound"}, True),
        ({"field": "match.kind", "op": "eq", "value": "account"}, True),
        ({"field": "match.confidence", "op": "gte", "value": 0.9}, True),
        ({"field": "events.kinds", "op": "contains", "value": "pricing_visit"}, True),
        ({"field": "events.count", "op": "eq", "value": 1}, True),
        ({"field": "identity.email_domain", "op": "eq", "value": "acme-health.com"}, True),
    ],
)
def test_operators(cond: dict, expected: bool) -> None:
    assert check(cond) is expected


def test_groups() -> None:
    yes = {"field": "company.country", "op": "eq", "value": "US"}
    no = {"field": "company.country", "op": "eq", "value": "DE"}
    assert check({"all": [yes, yes, yes]}) is True
    assert check({"all": [yes, no]}) is False
    assert check({"any": [no, no, yes]}) is True
    assert check({"any": [no, no]}) is False
    assert check({"not": no}) is True
    assert check({"not": {"all": [yes, {"not": no}]}}) is False


def test_describe_reads_like_a_sentence() -> None:
    cond = msgspec.convert(
        {"all": [{"field": "company.size", "op": "between", "value": [50, 199]},
                 {"not": {"field": "flags", "op": "contains", "value": "email_free"}}]},
        Condition,
    )
    assert describe(cond) == "company.size between 50 and 199 and (not (flags contains email_free))"


def test_lead_view_without_context_has_no_decision_fields() -> None:
    view = lead_view(LEAD)
    assert view["company.size"] == 250 and "score.total" not in view and "tags" not in view
    assert check({"field": "score.grade", "op": "missing"}) is False  # VIEW has the context
    assert compile_condition(msgspec.convert({"field": "score.grade", "op": "missing"}, Condition))(view)


class _File(msgspec.Struct, forbid_unknown_fields=True):
    rules: list[Condition]


def _load(text: str) -> _File:
    return from_text(text, _File, file="rules/x.yaml")


def test_unknown_field_fails_at_load_with_file_line_and_suggestion() -> None:
    text = (
        "rules:\n  - {field: company.size, op: gt, value: 5}\n"
        "  - all:\n      - {field: compnay.size, op: gt, value: 5}\n"
    )
    with pytest.raises(ConfigError) as exc:
        _load(text)
    assert exc.value.file == "rules/x.yaml" and exc.value.line == 4
    assert exc.value.field == "rules[1].all[0]"
    assert "compnay.size" in str(exc.value) and "did you mean 'company.size'" in str(exc.value)
    assert str(exc.value).startswith("rules/x.yaml:4: rules[1].all[0]:")


def test_bad_operator_fails_at_load() -> None:
    with pytest.raises(ConfigError) as exc:
        _load("rules:\n\n  - {field: company.size, op: bigger, value: 5}\n")
    assert exc.value.line == 3 and "no such operator 'bigger'" in str(exc.value)


@pytest.mark.parametrize(
    ("leaf", "message"),
    [
        ("{field: company.size, op: gt, value: lots}", "must be a number"),
        ("{field: company.country, op: in, value: [GB, NO]}", "must be text"),  # YAML's NO is false
        ("{field: company.size, op: between, value: [10]}", "[low, high]"),
        ("{field: company.country, op: gt, value: 3}", "does not apply"),
        ("{field: company.name, op: matches, value: '(unclosed'}", "bad regex"),
        ("{field: company.name, op: exists, value: 3}", "takes no value"),
        ("{field: company.name}", "needs both"),
        ("{field: company.name, op: eq, value: x, any: [{field: tags, op: exists}]}", "exactly one"),
        ("{all: []}", "at least one"),
        ("{field: company.name, opp: eq, value: x}", "unknown field"),  # a typo in a key: msgspec's own message
        ("{field: answers., op: exists}", "no such field"),
    ],
)
def test_bad_values_fail_at_load(leaf: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _load(f"rules:\n  - {leaf}\n")
    assert message in str(exc.value)
    assert exc.value.line == 2


# ---- contains on tuples and lists ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ((), False),
    (("Industry:Healthcare", "size:smb"), True),
    (("industry:software",), False),
    ((1, None, "SIZE:SMB"), True),
    (([1], "size:smb"), True),  # an unhashable item
    (([1], "size:mid"), False),
    (["INDUSTRY:HEALTHCARE"], True),
])
def test_contains_on_tuples_and_lists(value: Any, expected: bool) -> None:
    cond = Condition(field="tags", op="contains_any", value=["industry:healthcare", "size:smb"])
    for _ in range(2):  # the same answer every time
        assert cond.test({"tags": value}) is expected
