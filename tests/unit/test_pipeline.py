"""The pipeline: which source mapping reads a delivery, the decision, and the CRM write it leads to."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from connector.config import Config, load_config
from connector.decision import Assignment, Decision, MatchResult
from connector.errors import InputError
from connector.model import CrmRecord
from connector.pipeline import decide, ingest, ingest_delivery, mapping_name, plan_write, write_item
from connector.ports import Delivery
from connector.routing import RoutingState

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(ROOT)


def delivery(source: str, form: str | None = None) -> Delivery:
    return Delivery(source=source, delivery_id="d1", received_at=WHEN, payload={"email": "jo@acme.com"}, form=form)


def test_the_mapping_is_the_deliverys_own_else_its_sources_default_else_its_sources_only_one(config: Config) -> None:
    assert mapping_name(delivery("form", form="typeform_demo"), config) == "typeform_demo"
    assert mapping_name(delivery("form"), config) == "website"
    assert mapping_name(delivery("csv"), config) == "website"
    for name, source in config.sources.items():  # a CRM's deliveries name no form: its mapping says `source:`
        if source.source not in ("form", "csv"):
            assert mapping_name(delivery(source.source), config) == name
    assert mapping_name(delivery("nowhere"), config) == "nowhere"  # ingest then says there is no such mapping
    with pytest.raises(InputError, match="no source mapping named 'nowhere'"):
        ingest_delivery(delivery("nowhere"), config)


def test_a_source_read_by_two_mappings_needs_the_delivery_to_name_one(config: Config) -> None:
    website = config.sources["website"]
    two = msgspec.structs.replace(config, sources={
        **config.sources, "a": msgspec.structs.replace(website, name="a", source="x"),
        "b": msgspec.structs.replace(website, name="b", source="x"),
    })
    with pytest.raises(InputError, match="x deliveries are read by a, b"):
        mapping_name(delivery("x"), two)
    assert ingest_delivery(delivery("x"), two, mapping="b").origin.form == "b"


def test_the_write_goes_to_the_object_its_crm_mapping_names(config: Config) -> None:
    lead = msgspec.structs.replace(ingest({"email": "jo@acme.com", "first_name": "Jo", "last_name": "Lee",
                                          "company": "Acme"}, config, mapping="website"), id="L1")
    decision = decide(lead, config, state=RoutingState(), now=WHEN)
    assert config.crm
    for crm, mapping in config.crm.items():
        item = write_item(decision, config, crm)
        assert item.object_type == mapping.object and item.key == "L1"
        assert item.fields[mapping.upsert_key]
    assert {crm: write_item(decision, config, crm).object_type for crm in config.crm} == {
        "hubspot": "contacts", "salesforce": "Lead"}  # as the shipped mapping files say


# ---- what a write does to a record the CRM already has -----------------------------------------------------------

REP = "0058d000001DwACAA0"  # sarah_chen in Salesforce
CONTACT_OWNER = "0058d000001DwAAAA0"


def routed(config: Config, match: MatchResult | None = None, stage: str = "mql") -> Decision:
    lead = msgspec.structs.replace(ingest({"email": "jo@acme.com", "first_name": "Jo", "last_name": "Lee",
                                           "company": "Acme", "country": "US"}, config, mapping="website"), id="L1")
    decision = decide(lead, config, state=RoutingState(), now=WHEN)
    score = msgspec.structs.replace(decision.score, stage=stage)
    route = msgspec.structs.replace(decision.route, assignment=Assignment(owner="sarah_chen", rule="r"))
    return msgspec.structs.replace(decision, match=match, score=score, route=route)


def contact_match(owner: str | None = CONTACT_OWNER) -> MatchResult:
    return MatchResult(record_id="0035e000001CntAAA", crm="salesforce", kind="contact", rule="email_exact",
                       confidence=1.0, owner_id=owner, account_id="0015e000001AccAAA")


def test_a_lead_matching_a_salesforce_contact_writes_only_the_contact_fields(config: Config) -> None:
    item = write_item(routed(config, contact_match()), config, "salesforce")
    assert (item.object_type, item.record_id, item.key) == ("Contact", "0035e000001CntAAA", "L1")
    # no Lead field (Company, Status, LeadSource, LastName, Email...) and not our external id: no Lead is made
    assert set(item.fields) == {"Leadrelay_Score__c", "Leadrelay_Tags__c", "Leadrelay_Reason__c"}
    assert item.account_id is None  # the Contact stays on its own Account


def test_a_contact_keeps_its_owner_and_the_plan_says_what_was_done(config: Config) -> None:
    item, plan = plan_write(routed(config, contact_match()), config, "salesforce")
    assert "OwnerId" not in item.fields
    assert (plan.object, plan.record_id, plan.matched) == ("Contact", "0035e000001CntAAA", "contact")
    assert plan.kept == {"OwnerId": "the Contact has one"}
    assert set(plan.fields) == set(item.fields)
    assert "updates the matched Contact 0035e000001CntAAA; no Lead is created" in plan.summary
    ownerless = CrmRecord(crm="salesforce", id="0035e000001CntAAA", kind="contact", email="jo@acme.com",
                          owner_id=None, fields={"Id": "0035e000001CntAAA", "OwnerId": None})
    item, plan = plan_write(routed(config, contact_match(owner=None)), config, "salesforce", record=ownerless)
    assert item.fields["OwnerId"] == REP and "OwnerId" not in plan.kept  # only while it has none
    unknown = plan_write(routed(config, contact_match(owner=None)), config, "salesforce")[1]
    assert unknown.kept == {"OwnerId": "the Contact's own is not known"}  # never overwrite what we cannot see


def test_a_new_salesforce_lead_gets_the_uncontacted_status(config: Config) -> None:
    for stage in ("lead", "mql", "sql"):
        item, plan = plan_write(routed(config, stage=stage), config, "salesforce")
        assert item.fields["Status"] == "Open - Not Contacted" and item.record_id is None
        assert plan.summary == "creates or updates Lead by Leadrelay_Id__c" and not plan.kept


def test_a_status_a_rep_moved_on_is_never_overwritten(config: Config) -> None:
    lead_match = MatchResult(record_id="00Q5e000001LeaAAA", crm="salesforce", kind="lead", rule="email_exact",
                             confidence=1.0, owner_id=REP)
    for status in ("Working - Contacted", "Closed - Not Converted"):
        existing = CrmRecord(crm="salesforce", id="00Q5e000001LeaAAA", kind="lead", email="jo@acme.com",
                             owner_id=REP, fields={"Id": "00Q5e000001LeaAAA", "Status": status})
        item, plan = plan_write(routed(config, lead_match, stage="sql"), config, "salesforce", record=existing)
        assert item.record_id == "00Q5e000001LeaAAA" and "Status" not in item.fields
        assert "would not move it forward" in plan.kept["Status"]
    # a re-decision of a lead we wrote: its status now is not known, and Salesforce would take any value
    again = write_item(routed(config, stage="sql"), config, "salesforce", update=True)
    assert "Status" not in again.fields and again.fields["Leadrelay_Score__c"]
    # HubSpot ignores a lifecycle stage that would move back itself: a re-decision may still move it forward
    assert write_item(routed(config, stage="sql"), config, "hubspot", update=True).fields["lifecyclestage"] == \
        "salesqualifiedlead"
