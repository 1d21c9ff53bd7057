"""What the CRM mappings need of the CRM's fields, and the comparison with what a CRM describes (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from connector.mapping.crm import CrmMapping, CustomField, load_crm_mapping
from connector.mapping.fields import CrmFieldInfo, FieldSpec, clean, compare, needed_fields, objects_of

ROOT = Path(__file__).resolve().parents[2]


def mapping(fields: list[dict[str, Any]], **extra: Any) -> CrmMapping:
    body = {"crm": "acme", "object": "Lead", "upsert_key": "Ext_Id__c", "fields": fields, **extra}
    return msgspec.convert(body, CrmMapping)


def found(name: str, kind: str, **kw: Any) -> CrmFieldInfo:
    return CrmFieldInfo(object=kw.pop("object", "Lead"), name=name, kind=kind, vendor_type=kw.pop("vendor", kind),
                        **kw)


def spec(name: str, kind: str, **kw: Any) -> FieldSpec:
    return FieldSpec(object=kw.pop("object", "Lead"), name=name, kind=kind, **kw)


def by_name(specs: list[FieldSpec]) -> dict[tuple[str, str], FieldSpec]:
    return {(s.object, s.name): s for s in specs}


def test_the_hubspot_mapping_needs_its_standard_properties_and_leadrelays_own() -> None:
    needed = by_name(needed_fields([load_crm_mapping(ROOT / "mappings/crm/hubspot.yaml")]))
    assert needed[("contacts", "email")].unique and needed[("contacts", "email")].custom is None  # the upsert key
    stages = needed[("contacts", "lifecyclestage")]
    assert stages.kind == "picklist"
    assert stages.options == ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
                              "customer")  # the map's values, nulls ("do not send") left out
    assert needed[("contacts", "numemployees")].options[-1] == "1000+"  # bucket values
    assert needed[("contacts", "hubspot_owner_id")].kind == "owner"
    assert needed[("contacts", "annualrevenue")].kind == "number"
    own = {s.name for s in needed.values() if s.custom is not None}
    assert own == {"leadrelay_score", "leadrelay_grade", "leadrelay_tags", "leadrelay_segments", "leadrelay_reason",
                   "leadrelay_id"}
    assert needed[("contacts", "leadrelay_id")].unique  # custom.unique: the adapter upserts by it without email
    assert needed[("contacts", "leadrelay_reason")].kind == "textarea"
    assert needed[("contacts", "leadrelay_score")].kind == "number"


def test_the_salesforce_mapping_needs_fields_on_lead_and_on_a_matched_contact() -> None:
    specs = needed_fields([load_crm_mapping(ROOT / "mappings/crm/salesforce.yaml")])
    needed = by_name(specs)
    assert objects_of(specs) == ["Lead", "Contact"]
    assert needed[("Lead", "Leadrelay_Id__c")].unique
    assert needed[("Lead", "Matched_Account__c")].kind == "reference"
    custom = needed[("Lead", "Matched_Account__c")].custom
    assert custom is not None and custom.references == "Account"
    assert needed[("Lead", "Status")].options == ("Open - Not Contacted",)
    assert needed[("Lead", "Rating")].options == ("Hot", "Warm", "Cold")
    assert needed[("Lead", "Company")].length == 255
    assert {n for o, n in needed if o == "Contact"} == {"OwnerId", "Leadrelay_Score__c", "Leadrelay_Tags__c",
                                                        "Leadrelay_Reason__c"}
    assert needed[("Contact", "Leadrelay_Tags__c")].custom is not None


def test_a_field_written_twice_is_one_field_with_every_value_and_the_longest_text() -> None:
    m = mapping([
        {"from": "id", "to": "Ext_Id__c"},
        {"from": "decision.grade", "to": "Rating", "map": {"hot": "Hot"}, "max_length": 10},
        {"from": "decision.stage", "to": "Rating", "map": {"sql": "Warm", "mql": None}, "max_length": 40},
    ])
    needed = by_name(needed_fields([m]))
    assert needed[("Lead", "Rating")].options == ("Hot", "Warm")
    assert needed[("Lead", "Rating")].length == 40
    assert needed[("Lead", "Rating")].sources == ("decision.grade", "decision.stage")


@pytest.mark.parametrize(("field", "kind"), [
    ({"from": "company.size", "to": "X"}, "number"),
    ({"from": "decision.score", "to": "X"}, "number"),
    ({"from": "decision.owner_id", "to": "X"}, "owner"),
    ({"from": "decision.account_id", "to": "X"}, "reference"),
    ({"from": "decision.tags", "to": "X"}, "text"),  # joined "a;b"
    ({"from": "identity.email", "to": "X"}, "text"),
    ({"from": "company.size", "to": "X", "buckets": [{"max": 10, "value": "small"}, {"value": "big"}]}, "picklist"),
    ({"from": "decision.score", "to": "X", "custom": {"type": "text", "label": "X"}}, "text"),
])
def test_the_kind_of_field_a_mapping_field_needs(field: dict[str, Any], kind: str) -> None:
    m = mapping([{"from": "id", "to": "Ext_Id__c"}, field])
    assert by_name(needed_fields([m]))[("Lead", "X")].kind == kind


@pytest.mark.parametrize("custom", [
    {"type": "reference", "label": "A"},  # no `references`
    {"type": "text", "label": "A", "references": "Account"},
    {"type": "text", "label": "A", "options": ["x"]},
    {"type": "number", "label": ""},
    {"type": "list", "label": "A"},
])
def test_a_custom_field_declared_wrongly_does_not_load(custom: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        mapping([{"from": "id", "to": "Ext_Id__c", "custom": custom}])


def test_a_missing_field_is_created_by_setup_only_when_leadrelay_owns_it() -> None:
    owned = CustomField(type="number", label="Score")
    checks = compare([spec("Score__c", "number", custom=owned), spec("Email", "text")], [])
    assert [(c.status, c.creatable) for c in checks] == [("missing", True), ("missing", False)]
    assert "setup creates it" in checks[0].detail
    assert "standard field" in checks[1].detail
    assert not clean(checks)


@pytest.mark.parametrize(("need", "have", "status"), [
    (spec("A", "number"), found("A", "text", vendor="string(255)"), "wrong type"),
    (spec("A", "text"), found("A", "textarea"), "ok"),
    (spec("A", "textarea"), found("A", "text"), "ok"),
    (spec("A", "picklist", options=("Hot",)), found("A", "text"), "ok"),  # any text fits a text field
    (spec("A", "text"), found("A", "picklist", restricted=True), "wrong type"),  # free text into a closed list
    (spec("A", "text"), found("A", "picklist", restricted=False), "ok"),
    (spec("A", "picklist", options=("Hot", "Warm")), found("A", "picklist", options=("Hot",)),
     "picklist values missing"),
    (spec("A", "picklist", options=("Hot", "Warm")), found("A", "picklist", options=("Hot",), restricted=False),
     "ok"),  # an open picklist takes any value
    (spec("A", "picklist", options=("Hot",)), found("A", "picklist", options=("Hot", "Cold")), "ok"),
    (spec("A", "owner"), found("A", "reference"), "wrong type"),
    (spec("A", "text"), found("A", "text", writable=False), "read-only"),
    (spec("A", "text", unique=True), found("A", "text"), "not unique"),
    (spec("A", "text", unique=True), found("A", "text", unique=True), "ok"),
    (spec("A", "text", length=255), found("A", "text", length=80), "too short"),
    (spec("A", "text", length=80), found("A", "text", length=80), "ok"),
    (spec("A", "number"), found("A", "number", vendor="double"), "ok"),
    (spec("A", "bool"), found("A", "other"), "wrong type"),
])
def test_a_field_the_crm_has_is_ok_or_says_what_is_wrong(need: FieldSpec, have: CrmFieldInfo, status: str) -> None:
    (check,) = compare([need], [have])
    assert check.status == status
    assert check.ok is (status == "ok")
    assert not check.creatable


def test_the_details_name_what_to_add_and_what_the_field_is() -> None:
    (values,) = compare([spec("Rating", "picklist", options=("Hot", "Warm", "Cold"))],
                        [found("Rating", "picklist", options=("Hot",))])
    assert values.detail == "add: Warm, Cold"
    (typed,) = compare([spec("Score", "number")], [found("Score", "text", vendor="string(255)")])
    assert typed.detail == "it is string(255); leadrelay writes number"


def test_a_reference_must_point_to_the_object_the_mapping_names() -> None:
    owned = CustomField(type="reference", label="Acct", references="Account")
    need = spec("Acct__c", "reference", custom=owned)
    (wrong,) = compare([need], [found("Acct__c", "reference", references=("Contact",))])
    assert wrong.status == "wrong type" and "Contact" in wrong.detail
    (right,) = compare([need], [found("Acct__c", "reference", references=("Account",))])
    assert right.ok


def test_names_are_compared_without_case_and_per_object() -> None:
    needed = [spec("leadrelay_score__c", "number"), spec("Score", "number", object="Contact")]
    checks = compare(needed, [found("Leadrelay_Score__c", "number"), found("Score", "number", object="Lead")])
    assert [c.status for c in checks] == ["ok", "missing"]  # Contact.Score is not Lead.Score
    assert checks[0].found is not None and checks[0].found.name == "Leadrelay_Score__c"


def test_clean_only_when_every_field_is_ok() -> None:
    needed = [spec("A", "text"), spec("B", "number")]
    assert clean(compare(needed, [found("A", "text"), found("B", "number")]))
    assert not clean(compare(needed, [found("A", "text")]))


def test_the_text_length_a_created_field_gets() -> None:
    owned = CustomField(type="text", label="T")
    assert spec("T", "text", custom=owned).text_length() == 255
    assert spec("T", "text", custom=owned, length=80).text_length() == 80
    sized = CustomField(type="text", label="T", length=100)
    assert spec("T", "text", custom=sized, length=80).text_length() == 100
