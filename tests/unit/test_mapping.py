"""Mapping engine: transforms, payload paths, the shipped mappings against their fixtures, CRM field mapping."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector import transforms as tf
from connector.config import load_config
from connector.decision import Assignment, Decision, MatchResult, RouteResult, ScoreResult, TagResult
from connector.errors import ConfigError, InputError
from connector.mapping import (
    CrmMapping,
    SourceMapping,
    crm_fields,
    load_crm_mapping,
    load_source_mapping,
    map_payload,
    parse_path,
    resolve,
)
from connector.model import Company, Identity, Lead, Origin

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "mappings" / "sources"
CRM = ROOT / "mappings" / "crm"
FIXTURES = ROOT / "tests" / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def mapping_from(tmp_path: Path, text: str) -> SourceMapping:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return load_source_mapping(path)


# ---- transforms -------------------------------------------------------------------------------------------------


def test_text_transforms() -> None:
    assert tf.trim("  Acme \n  Corp ") == "Acme Corp"
    assert tf.trim(["  a ", "b  "]) == ["a", "b"]
    assert tf.lower("ACME") == "acme"
    assert tf.upper("gb") == "GB"
    assert tf.lower(5) == 5  # non-text passes through untouched


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50-200", (50, 200)),
        ("1,000+", (1000, None)),
        ("10k", (10_000, 10_000)),
        ("10-50k", (10_000, 50_000)),
        ("201 – 500 employees", (201, 500)),
        ("<50", (0, 50)),
        ("under 10", (0, 10)),
        ("over 5,000", (5000, None)),
        ("$1M-$10M", (1_000_000, 10_000_000)),
        ("1.5m", (1_500_000, 1_500_000)),
        (250, (250, 250)),
        ("200-50", (50, 200)),
    ],
)
def test_number_range(text: Any, expected: tuple[Any, Any]) -> None:
    assert tuple(tf.number_range(text)) == expected


@pytest.mark.parametrize("bad", ["lots", "", "fifty", "1-2-3", True, None, "9" * 100])
def test_number_range_rejects(bad: Any) -> None:
    with pytest.raises(tf.TransformError):
        tf.number_range(bad)


def test_dates() -> None:
    assert tf.parse_date("2024-09-17T14:03:27Z") == datetime(2024, 9, 17, 14, 3, 27, tzinfo=UTC)
    assert tf.parse_date("2024-09-17") == datetime(2024, 9, 17, tzinfo=UTC)
    assert tf.parse_date("Sep 17, 2024 2:03 PM") == datetime(2024, 9, 17, 14, 3, tzinfo=UTC)
    assert tf.parse_date("05/01/2024") == datetime(2024, 5, 1, tzinfo=UTC)
    assert tf.parse_date("05/01/2024", dayfirst=True) == datetime(2024, 1, 5, tzinfo=UTC)
    assert tf.parse_date(1726581807000) == datetime(2024, 9, 17, 14, 3, 27, tzinfo=UTC)  # epoch ms
    assert tf.parse_date("1726581807") == datetime(2024, 9, 17, 14, 3, 27, tzinfo=UTC)
    with pytest.raises(tf.TransformError):
        tf.parse_date("next tuesday-ish")


def test_bools() -> None:
    for yes in ("on", "Yes", "true", "1", "checked", True, 1, ["on"]):
        assert tf.to_bool(yes) is True
    for no in ("off", "no", "false", "0", "", False, 0):
        assert tf.to_bool(no) is False
    assert tf.negate("false") is True
    with pytest.raises(tf.TransformError):
        tf.to_bool("maybe")


def test_split_list_and_names() -> None:
    assert tf.split_list("demo, pricing; trial ,") == ["demo", "pricing", "trial"]
    assert tf.split_list(["a ", "", None, "b"]) == ["a", "b"]
    assert tf.split_list("a|b", "|") == ["a", "b"]
    assert tuple(tf.split_name("Dana Whitfield")) == ("Dana Whitfield", "Dana", "Whitfield")
    dr = tf.split_name("Dr. Ana de la Cruz")
    assert (dr.first, dr.last) == ("Ana", "de la Cruz")
    comma = tf.split_name("Whitfield, Dana")
    assert (comma.first, comma.last) == ("Dana", "Whitfield")


def test_paths() -> None:
    steps = parse_path('form_response.answers[field.ref=work_email]')
    payload = fixture("typeform_form_response.json")
    value, where = resolve(payload, steps)
    assert value == "lukas.brandt@kessler-logistik.de"
    assert where == ("form_response", "answers", 2)
    assert resolve(payload, parse_path("form_response.answers[field.ref=company_size]"))[0] == "201-1,000"
    assert resolve(payload, parse_path("form_response.answers[field.ref=interest]"))[0] == ["Product demo", "Pricing"]
    assert resolve(payload, parse_path("form_response.answers[0].text"))[0] == "Lukas"
    assert resolve({"a.b": {"c": 1}}, parse_path('["a.b"].c')) == (1, ("a.b", "c"))
    assert resolve(payload, parse_path("form_response.nope.deeper")) == (None, None)
    with pytest.raises(ValueError):
        parse_path("a..b[")


# ---- shipped source mappings against their fixtures ---------------------------------------------------------------


def test_all_shipped_mappings_load() -> None:
    names = sorted(p.stem for p in SOURCES.glob("*.yaml"))
    assert names == ["hubspot_contact", "salesforce_lead", "typeform_demo", "website"]
    for path in SOURCES.glob("*.yaml"):
        assert load_source_mapping(path).name == path.stem


def test_website_form() -> None:
    lead = map_payload(fixture("website_form.json"), load_source_mapping(SOURCES / "website.yaml"))
    assert lead.identity.email == "Dana.Whitfield@Brightwave-Health.com"  # trimmed; normalize lower-cases
    assert (lead.identity.first_name, lead.identity.last_name) == ("Dana", "Whitfield")
    assert lead.identity.phone == "(617) 555-0148"
    assert lead.company.name == "Brightwave Health, Inc."
    assert (lead.company.size, lead.company.size_max) == (201, 500)
    assert (lead.company.country, lead.company.region, lead.company.postal_code) == ("United States", "MA", "02139")
    assert lead.role.title == "VP of Clinical Operations"
    assert lead.intent.requests == ("demo",)
    assert lead.intent.message is not None and lead.intent.message.startswith("We are evaluating")
    assert lead.consent.email_opt_in is True
    assert (lead.origin.source, lead.origin.channel, lead.origin.form) == ("form", "web", "website")
    assert (lead.origin.utm_source, lead.origin.utm_medium, lead.origin.utm_campaign) == (
        "google", "cpc", "q3-healthcare-routing"
    )
    assert lead.origin.submitted_at == datetime(2024, 9, 17, 14, 3, 27, tzinfo=UTC)
    assert lead.answers == {"page_url": "https://www.northwind-routing.example/demo?utm_source=google"}
    # unmapped keys are kept; empty ones carry nothing
    assert lead.extra == {"gclid": "Cj0KCQjw-uK0BhC0ARIsANQtgGN", "newsletter_frequency": "monthly"}
    assert lead.flags == ()


def test_typeform() -> None:
    mapping = load_source_mapping(SOURCES / "typeform_demo.yaml")
    assert mapping.inbound.secret_env == "LEADRELAY_TYPEFORM_SECRET"
    lead = map_payload(fixture("typeform_form_response.json"), mapping)
    assert lead.identity.email == "lukas.brandt@kessler-logistik.de"
    assert (lead.identity.first_name, lead.identity.last_name) == ("Lukas", "Brandt")
    assert lead.identity.phone == "+4930901820"
    assert lead.company.name == "Kessler Logistik GmbH"
    assert lead.company.website == "https://kessler-logistik.de"
    assert (lead.company.size, lead.company.size_max) == (201, 1000)
    assert lead.company.country == "Germany"
    assert lead.role.title == "Head of Revenue Operations"
    assert lead.intent.requests == ("demo", "pricing")
    assert lead.consent.email_opt_in is True
    assert (lead.origin.utm_source, lead.origin.utm_medium, lead.origin.utm_campaign) == (
        "linkedin", "paid_social", "emea-demand-q3"
    )
    assert lead.origin.utm_content == "carousel-2"
    assert lead.origin.delivery_id == "01J7Z3K9QW4T6M8R2V5X0B1C3D"
    assert lead.origin.external_ids == {"typeform": "0b4e2c9f1d7a4e8b9c3f6a2d5e8b1c4f"}
    assert lead.origin.submitted_at == datetime(2024, 9, 18, 9, 15, 6, tzinfo=UTC)
    assert lead.origin.source == "typeform"
    # answers no rule took, by field ref, read by their type
    assert lead.answers == {"crm": "Salesforce", "sales_reps": 35, "go_live": "2024-11-01"}
    # metadata the mapping does not use is kept; the form definition is ignored on purpose
    assert lead.extra == {"form_response.form_id": "Xq7mB2pL", "form_response.landed_at": "2024-09-18T09:12:41Z"}


def test_hubspot_contact() -> None:
    lead = map_payload(fixture("hubspot_contact.json"), load_source_mapping(SOURCES / "hubspot_contact.yaml"))
    assert lead.origin.external_ids == {"hubspot": "51234"}
    assert lead.identity.email == "mreyes@harborpointsoftware.com"
    assert (lead.identity.first_name, lead.identity.last_name) == ("Maria", "Reyes")
    assert lead.company.name == "Harbor Point Software"
    assert (lead.company.size, lead.company.size_max) == (100, 500)
    assert lead.company.revenue == 42_000_000.0
    assert (lead.company.country, lead.company.region) == ("United States", "California")
    assert lead.role.title == "Director of Sales Operations"
    assert lead.origin.utm_medium == "cpc"
    assert lead.consent.email_opt_in is True  # hs_email_optout "false"
    assert lead.origin.submitted_at == datetime(2024, 9, 16, 20, 41, 9, 617000, tzinfo=UTC)
    assert (lead.origin.source, lead.origin.channel) == ("hubspot", "crm")
    assert lead.extra["properties.hubspot_owner_id"] == "81734562"
    assert lead.extra["properties.lifecyclestage"] == "lead"
    assert lead.extra["createdAt"] == "2024-09-16T20:41:09.617Z"  # createdate won; the other copy is kept
    assert "properties.hs_object_id" not in lead.extra  # ignored: the same id as origin.external_ids


def test_salesforce_lead() -> None:
    mapping = load_source_mapping(SOURCES / "salesforce_lead.yaml")
    assert mapping.inbound.allowed_org_ids_env == "LEADRELAY_SALESFORCE_ORG_IDS"
    lead = map_payload(fixture("salesforce_lead.json"), mapping)
    assert lead.origin.external_ids == {"salesforce": "00Q5e00000A1b2cEAB"}
    assert lead.identity.email == "priya.raman@meridianbank.co.uk"
    assert lead.company.name == "Meridian Bank plc"
    assert (lead.company.size, lead.company.size_max) == (4200, 4200)
    assert lead.company.revenue == 1_250_000_000.0
    assert lead.role.title == "Chief Information Security Officer"
    assert lead.company.postal_code == "EC2V 7HH"
    assert lead.extra == {"LeadSource": "Partner Referral", "OwnerId": "0055e000001AbCdAAK",
                          "Status": "Open - Not Contacted"}


# ---- engine behaviour ---------------------------------------------------------------------------------------------


def test_bad_values_become_flags_and_stay_in_extra() -> None:
    mapping = load_source_mapping(SOURCES / "website.yaml")
    lead = map_payload({"email": "a@b.co", "company_size": "lots", "consent": "maybe", "submitted_at": "soon"}, mapping)
    assert lead.company.size is None
    assert lead.consent.email_opt_in is None
    assert set(lead.flags) == {"company.size_unparsed", "consent.email_opt_in_unparsed", "origin.submitted_at_unparsed"}
    assert lead.extra == {"company_size": "lots", "consent": "maybe", "submitted_at": "soon"}


def test_first_non_empty_and_nothing_dropped() -> None:
    mapping = load_source_mapping(SOURCES / "website.yaml")
    lead = map_payload({"email": "  ", "work_email": "x@acme.com", "email_address": "y@acme.com"}, mapping)
    assert lead.identity.email == "x@acme.com"
    assert lead.extra == {"email_address": "y@acme.com"}  # the later alternative is not lost


def test_full_name_only_is_split() -> None:
    lead = map_payload({"name": "  Ana  de la Cruz "}, load_source_mapping(SOURCES / "website.yaml"))
    assert lead.identity.full_name == "Ana de la Cruz"
    assert (lead.identity.first_name, lead.identity.last_name) == ("Ana", "de la Cruz")


def test_explicit_first_last_win_over_split(tmp_path: Path) -> None:
    lead = map_payload(
        {"name": "Jo Bloggs", "first_name": "Joanna"}, load_source_mapping(SOURCES / "website.yaml")
    )
    assert (lead.identity.first_name, lead.identity.last_name) == ("Joanna", "Bloggs")


def test_picklist_const_default_and_taken_field(tmp_path: Path) -> None:
    mapping = mapping_from(
        tmp_path,
        """
name: t
source: csv
fields:
  - {to: company.name, from: company}
  - {to: company.name, from: organisation}
  - {to: consent.basis, const: legitimate_interest}
  - {to: company.country, from: country, default: US}
  - to: intent.requests
    from: why
    transform: [split]
    map: {Demo please: demo, newsletter: null, "*": other}
  - {to: extra.list_name, const: "Q3 trade show"}
""",
    )
    payload = {"company": "Acme", "organisation": "Acme Holdings", "why": "demo PLEASE, newsletter, x"}
    lead = map_payload(payload, mapping)
    assert lead.company.name == "Acme"
    assert lead.extra["organisation"] == "Acme Holdings"  # a second source for a filled field is kept
    assert lead.consent.basis == "legitimate_interest"
    assert lead.company.country == "US"
    assert lead.intent.requests == ("demo", "other")
    assert lead.extra["list_name"] == "Q3 trade show"
    assert lead.origin.source == "csv" and lead.origin.channel is None


def test_nested_leftovers_are_flattened(tmp_path: Path) -> None:
    text = "name: t\nsource: form\nignore: [meta.debug]\nfields:\n  - {to: identity.email, from: c.e}\n"
    mapping = mapping_from(tmp_path, text)
    lead = map_payload(
        {"c": {"e": "a@b.co", "n": "Ann"}, "tags": ["x", "y"], "rows": [{"k": 1}, {"k": ""}], "meta": {"debug": 1}},
        mapping,
    )
    assert lead.identity.email == "a@b.co"
    assert lead.extra == {"c.n": "Ann", "tags": ["x", "y"], "rows[0].k": 1}


@pytest.mark.parametrize("payload", [[1, 2], "email=a@b.co", None, 42])
def test_non_object_payload_is_input_error(payload: Any) -> None:
    with pytest.raises(InputError) as err:
        map_payload(payload, load_source_mapping(SOURCES / "website.yaml"))
    assert err.value.field == "$"


def test_odd_values_do_not_raise() -> None:
    mapping = load_source_mapping(SOURCES / "website.yaml")
    lead = map_payload({"email": {"nested": True}, "phone": 4155550133, "company": ["A", "B"], "state": None}, mapping)
    assert lead.identity.phone == "4155550133"
    assert lead.company.name == "A; B"
    assert lead.flags == ("identity.email_unparsed",)
    assert lead.extra == {"email.nested": True}


# ---- config errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "line", "field", "says"),
    [
        ("  - {to: identity.email, from: email, transform: [lowr]}\n", 4, "fields[0]", "unknown transform 'lowr'"),
        ("  - {to: identity.emial, from: email}\n", 4, "fields[0]", "unknown target 'identity.emial'"),
        ("  - {to: identity.email, form: email}\n", 4, "fields[0].form", "unknown field"),
        ("  - {to: identity.email, from: email, const: x}\n", 4, "fields[0]", "either `from` or `const`"),
        ("  - {to: identity.email}\n", 4, "fields[0]", "needs `from`"),
        ("  - {to: answers.*, from: answers}\n", 4, "fields[0]", "[field=*]"),
        ("  - {to: identity.email, from: 'a[b'}\n", 4, "fields[0]", "cannot read path"),
    ],
)
def test_config_errors_name_file_line_and_field(tmp_path: Path, body: str, line: int, field: str, says: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\nsource: form\nfields:\n  - {to: identity.phone, from: phone}\n" + body)
    with pytest.raises(ConfigError) as err:
        load_source_mapping(path)
    field = field.replace("[0]", "[1]")
    assert err.value.file == str(path)
    assert err.value.line == line + 1
    assert err.value.field == field
    assert says in str(err.value)
    assert str(err.value).startswith(f"{path}:{line + 1}: {field}:")


def test_config_error_bad_source_and_yaml(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("name: x\nsource: ''\n")  # any system may send leads (its name is data), but some must
    with pytest.raises(ConfigError) as err:
        load_source_mapping(path)
    assert (err.value.line, err.value.field) == (2, "source")
    path.write_text("name: x\nsource: form\nfields: [\n")
    with pytest.raises(ConfigError) as err:
        load_source_mapping(path)
    assert err.value.line is not None and "invalid YAML" in str(err.value)


# ---- CRM mappings -------------------------------------------------------------------------------------------------


def decision_for(lead: Lead, stage: str = "mql", grade: str = "warm") -> Decision:
    return Decision(
        lead=lead,
        score=ScoreResult(total=72.0, fit=40.0, intent=32.0, stage=stage, grade=grade),
        tags=TagResult(tags=("industry:healthcare", "size:mid_market"), segments=("enterprise_pod",)),
        route=RouteResult(assignment=Assignment(owner="sarah", rule="healthcare_specialist")),
        match=MatchResult(record_id="001A", crm="salesforce", kind="account", rule="account_domain",
                          confidence=1.0, account_id="001A"),
        explanation="Healthcare lead from a 201-500 company -> Sarah (healthcare_specialist)",
    )


LEAD = Lead(
    id="lr_01J7Z",
    identity=Identity(email="dana@brightwave-health.com", first_name="Dana", last_name="Whitfield"),
    company=Company(name="Brightwave Health", size=201, size_max=500, country="US", region="US-MA",
                    revenue=25_000_000.0),
    origin=Origin(source="form"),
)


def test_hubspot_crm_fields() -> None:
    mapping = load_crm_mapping(CRM / "hubspot.yaml")
    assert (mapping.upsert_key, mapping.lifecycle_backwards) == ("email", "never")
    out = crm_fields(LEAD, decision_for(LEAD), mapping, owner_id="81734562")
    assert out == {
        "email": "dana@brightwave-health.com",
        "firstname": "Dana",
        "lastname": "Whitfield",
        "company": "Brightwave Health",
        "country": "US",
        "state": "MA",
        "numemployees": "100-500",  # the bucket of the lower bound
        "annualrevenue": "25000000",
        "hubspot_owner_id": "81734562",
        "lifecyclestage": "marketingqualifiedlead",
        "hs_lead_status": "NEW",
        "leadrelay_score": "72",
        "leadrelay_grade": "warm",
        "leadrelay_tags": "industry:healthcare;size:mid_market",
        "leadrelay_segments": "enterprise_pod",
        "leadrelay_reason": "Healthcare lead from a 201-500 company -> Sarah (healthcare_specialist)",
        "leadrelay_id": "lr_01J7Z",
    }
    assert mapping.stage_rank("marketingqualifiedlead") == 2
    assert mapping.stage_rank("customer") > mapping.stage_rank("lead")  # type: ignore[operator]
    assert mapping.stage_rank("unknown") is None


def test_hubspot_without_owner_sends_no_owner() -> None:
    out = crm_fields(LEAD, decision_for(LEAD, stage="subscriber"), load_crm_mapping(CRM / "hubspot.yaml"),
                     owner_id=None)
    assert "hubspot_owner_id" not in out
    assert out["lifecyclestage"] == "subscriber"
    assert "hs_lead_status" not in out  # mapped to null: not sent


def test_salesforce_crm_fields() -> None:
    mapping = load_crm_mapping(CRM / "salesforce.yaml")
    assert mapping.upsert_key == "Leadrelay_Id__c"
    bare = Lead(id="lr_2", identity=Identity(email="x@y.com"), origin=Origin(source="typeform"))
    out = crm_fields(bare, decision_for(bare, stage="sql", grade="hot"), mapping, owner_id="0055e000001AbCdAAK")
    assert out == {
        "Leadrelay_Id__c": "lr_2",
        "Email": "x@y.com",
        "LastName": "[not provided]",
        "Company": "[not provided]",
        "LeadSource": "Web",
        "OwnerId": "0055e000001AbCdAAK",
        "Status": "Open - Not Contacted",  # a routed lead is uncontacted, however hot: a rep moves it on
        "Rating": "Hot",
        "Leadrelay_Score__c": 72,
        "Leadrelay_Tags__c": "industry:healthcare;size:mid_market",
        "Leadrelay_Reason__c": "Healthcare lead from a 201-500 company -> Sarah (healthcare_specialist)",
        "Matched_Account__c": "001A",
    }
    full = crm_fields(LEAD, decision_for(LEAD, stage="customer"), mapping, owner_id=None)
    assert full["Company"] == "Brightwave Health"
    assert full["NumberOfEmployees"] == 201 and full["State"] == "MA"
    assert "Status" not in full  # converted statuses are never set by an update


# Fields the CRMs compute themselves, as their adapters name them (data for the tests; the core names no CRM).
READ_ONLY: dict[str, frozenset[str]] = {
    "hubspot": frozenset(
        {"hs_object_id", "createdate", "lastmodifieddate", "hs_createdate", "hs_lastmodifieddate", "hs_all_owner_ids",
         "hs_analytics_source", "hs_is_contact", "hs_lifecyclestage_lead_date", "num_associated_deals"}
    ),
    "salesforce": frozenset(
        {"Id", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp", "IsDeleted",
         "IsConverted", "ConvertedDate", "ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId",
         "MasterRecordId", "LastActivityDate", "LastViewedDate", "LastReferencedDate", "Name", "PhotoUrl"}
    ),
}


def test_crm_mapping_refuses_read_only_and_missing_upsert_key(tmp_path: Path) -> None:
    path = tmp_path / "crm.yaml"
    path.write_text("crm: salesforce\nobject: Lead\nupsert_key: Email\nfields:\n"
                    "  - {from: identity.email, to: Email}\n  - {from: id, to: CreatedDate}\n")
    with pytest.raises(ConfigError) as err:
        load_crm_mapping(path, read_only=READ_ONLY)
    assert "read-only" in str(err.value)
    assert str(err.value) == (f"{path}:1: (top level): field 'CreatedDate' is read-only in salesforce; "
                              "remove it from the mapping")
    assert isinstance(load_crm_mapping(path), CrmMapping)  # without its CRM's list, only the file's own is checked
    path.write_text("crm: hubspot\nobject: contacts\nupsert_key: email\nread_only: [foo]\nfields:\n"
                    "  - {from: identity.email, to: email}\n  - {from: id, to: foo}\n")
    with pytest.raises(ConfigError, match="field 'foo' is read-only in hubspot"):
        load_crm_mapping(path)
    path.write_text("crm: hubspot\nobject: contacts\nupsert_key: email\nfields:\n"
                    "  - {from: identity.email, to: mail}\n")
    with pytest.raises(ConfigError, match="upsert_key"):
        load_crm_mapping(path)
    path.write_text("crm: hubspot\nobject: contacts\nupsert_key: email\nfields:\n"
                    "  - {from: identity.email, to: email}\n  - {from: decision.scroe, to: x}\n")
    with pytest.raises(ConfigError) as err:
        load_crm_mapping(path)
    assert err.value.line == 6 and err.value.field == "fields[1]"


def test_no_stage_maps_a_salesforce_lead_to_a_contacted_status() -> None:
    mapping = load_crm_mapping(CRM / "salesforce.yaml")
    bare = Lead(id="lr_3", identity=Identity(email="x@y.com"))
    statuses = {stage: crm_fields(bare, decision_for(bare, stage=stage), mapping, owner_id=None).get("Status")
                for stage in ("subscriber", "lead", "mql", "sql", "opportunity", "customer")}
    assert statuses == {"subscriber": "Open - Not Contacted", "lead": "Open - Not Contacted",
                        "mql": "Open - Not Contacted", "sql": "Open - Not Contacted", "opportunity": None,
                        "customer": None}
    # Salesforce's default Lead statuses, in the order a lead moves through them
    assert mapping.stage_order == ["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted",
                                   "Closed - Converted"]


def test_the_stage_only_moves_forward_on_an_existing_record() -> None:
    sf = load_crm_mapping(CRM / "salesforce.yaml")
    assert sf.stage_kept("Open - Not Contacted", "Working - Contacted") is not None  # a rep moved it on
    assert sf.stage_kept("Open - Not Contacted", "Closed - Not Converted") is not None
    assert sf.stage_kept("Open - Not Contacted", "Open - Not Contacted") is not None  # no move: nothing to send
    assert sf.stage_kept("Working - Contacted", "Open - Not Contacted") is None  # forward
    assert sf.stage_kept("Open - Not Contacted", "Nurture (custom)") is not None  # a status we cannot rank
    assert sf.stage_kept("Open - Not Contacted", None) is None  # the record has none
    assert sf.stage_kept("Open - Not Contacted", known=False) is not None  # Salesforce would take any value
    hs = load_crm_mapping(CRM / "hubspot.yaml")
    assert hs.stage_kept("lead", known=False) is None  # HubSpot itself ignores a move back
    assert hs.stage_kept("lead", "customer") is not None and hs.stage_kept("customer", "lead") is None


def test_a_matched_contact_section_lists_what_a_contact_gets(tmp_path: Path) -> None:
    mapping = load_crm_mapping(CRM / "salesforce.yaml", read_only=READ_ONLY)
    contact = mapping.matched["contact"]
    assert contact.object == "Contact"
    assert [(f.to, f.if_empty) for f in contact.fields] == [
        ("OwnerId", True), ("Leadrelay_Score__c", False), ("Leadrelay_Tags__c", False), ("Leadrelay_Reason__c", False)]
    base = "crm: salesforce\nobject: Lead\nupsert_key: Email\nfields:\n  - {from: identity.email, to: Email}\n"
    path = tmp_path / "crm.yaml"
    path.write_text(base + "matched:\n  account: {object: Account, fields: [{from: decision.score, to: S}]}\n")
    with pytest.raises(ConfigError, match="'account' is not a person match kind"):
        load_crm_mapping(path)
    path.write_text(base + "matched:\n  contact: {object: Contact, fields: [{from: id, to: CreatedDate}]}\n")
    with pytest.raises(ConfigError, match=r"matched\.contact: field 'CreatedDate' is read-only in salesforce"):
        load_crm_mapping(path, read_only=READ_ONLY)


def test_crm_mapping_type() -> None:
    assert isinstance(load_crm_mapping(CRM / "salesforce.yaml"), CrmMapping)


def test_shipped_crm_mappings_write_no_read_only_field() -> None:
    for path in sorted(CRM.glob("*.yaml")):
        assert load_crm_mapping(path, read_only=READ_ONLY).fields


def test_config_refuses_a_crm_mapping_writing_a_read_only_field(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    crm = tmp_path / "mappings" / "crm" / "hubspot.yaml"
    crm.write_text(crm.read_text() + "  - {from: id, to: hs_object_id}\n")
    assert load_config(tmp_path).crm["hubspot"].object == "contacts"  # no CRM list given: not checked
    with pytest.raises(ConfigError, match="field 'hs_object_id' is read-only in hubspot") as err:
        load_config(tmp_path, crm_read_only=READ_ONLY)
    first_key = next(n for n, line in enumerate(crm.read_text().splitlines(), 1) if line.startswith("crm:"))
    assert (err.value.file, err.value.line, err.value.field) == (str(crm), first_key, "(top level)")


def test_website_events_become_behaviour_events_and_junk_is_flagged() -> None:
    from connector.mapping import load_source_mapping, map_payload

    mapping = load_source_mapping("mappings/sources/website.yaml")
    lead = map_payload(
        {"email": "a@b.example", "events": [{"kind": "pricing_visit", "at": "2026-11-20T10:00:00Z"}]}, mapping
    )
    assert [e.kind for e in lead.events] == ["pricing_visit"]
    assert lead.events[0].at.year == 2026
    bad = map_payload({"email": "a@b.example", "events": "junk"}, mapping)
    assert bad.events == ()
    assert "events_unparsed" in bad.flags
    assert bad.extra["events"] == "junk"
