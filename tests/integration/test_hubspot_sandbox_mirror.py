"""The HubSpot sandbox serves what a mirror of the portal reads, through hubspot-api-client (unmodified) over HTTPS:
every record page by page, search by last modification (and its 10,000-result wall), archive, merge, and the
deletion / merge / company webhooks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException

from sandbox.hubspot_webhooks import sign_v3
from sandbox.server import SandboxServer
from tests.integration.test_hubspot_webhooks import APP_ID, SECRET, Receiver

TOKEN = "pat-mirror-0000-hubspot"
SUBSCRIPTIONS = ["contact.creation", "contact.propertyChange", "contact.deletion", "contact.merge",
                 "company.creation", "company.propertyChange", "company.deletion"]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(hubspot={"token": TOKEN, "tier": "professional"}) as s:
        yield s


@pytest.fixture
def lib(sandbox: SandboxServer) -> HubSpot:
    return HubSpot(access_token=TOKEN, host=sandbox.url, ssl_ca_cert=str(sandbox.ca_path))


def seed_contacts(sandbox: SandboxServer, n: int, start: int = 0) -> list[str]:
    return [sandbox.hubspot.seed("contacts", {"email": f"person{i}@corp{i}.example", "firstname": f"P{i}"})
            for i in range(start, start + n)]


def millis(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_the_list_api_pages_through_250_contacts_in_pages_of_at_most_100(lib: HubSpot, sandbox: SandboxServer) -> None:
    ids = seed_contacts(sandbox, 250)
    everyone = lib.crm.contacts.get_all(properties=["email"])  # the client's own pager: limit=100, after=next
    assert [c.id for c in everyone] == ids  # each once, in a stable order
    assert everyone[7].properties["email"] == "person7@corp7.example"
    first = lib.crm.contacts.basic_api.get_page(limit=100)
    assert len(first.results) == 100 and first.paging.next.after == ids[100]
    last = lib.crm.contacts.basic_api.get_page(limit=100, after=ids[200])
    assert len(last.results) == 50 and last.paging is None
    with pytest.raises(ApiException) as err:
        lib.crm.contacts.basic_api.get_page(limit=101)
    assert err.value.status == 400 and json.loads(err.value.body)["category"] == "VALIDATION_ERROR"
    with pytest.raises(ApiException) as err:  # with property history HubSpot allows 50 a page
        lib.crm.contacts.basic_api.get_page(limit=51, properties_with_history=["email"])
    assert err.value.status == 400


def test_the_list_api_pages_companies_and_lists_archived_records_only_when_asked(
    lib: HubSpot, sandbox: SandboxServer
) -> None:
    ids = [sandbox.hubspot.seed("companies", {"name": f"Co {i}", "domain": f"co{i}.example"}) for i in range(15)]
    lib.crm.companies.basic_api.archive(ids[3])
    live = lib.crm.companies.get_all(properties=["domain"])
    assert [c.id for c in live] == [i for i in ids if i != ids[3]] and not any(c.archived for c in live)
    gone = lib.crm.companies.basic_api.get_page(archived=True)
    assert [c.id for c in gone.results] == [ids[3]] and gone.results[0].archived is True
    assert gone.results[0].archived_at is not None


def test_search_by_lastmodifieddate_finds_what_changed_since_in_modification_order(
    lib: HubSpot, sandbox: SandboxServer
) -> None:
    with time_machine.travel(datetime(2026, 3, 1, 9, 0, tzinfo=UTC), tick=False):
        old = seed_contacts(sandbox, 3)
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False):
        sandbox.hubspot.ui_update(old[2], {"jobtitle": "CTO"})
    with time_machine.travel(datetime(2026, 3, 2, 8, 0, tzinfo=UTC), tick=False):
        new = seed_contacts(sandbox, 2, start=3)
    since = millis("2026-03-02T00:00:00+00:00")
    page = lib.crm.contacts.search_api.do_search({
        "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since)}]}],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["email", "lastmodifieddate"], "limit": 200})
    assert page.total == 3 and [c.id for c in page.results] == [*new, old[2]]
    iso = lib.crm.contacts.search_api.do_search({  # an ISO 8601 value means the same instant
        "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE",
                                       "value": "2026-03-02T08:30:00Z"}]}], "limit": 10})
    assert [c.id for c in iso.results] == [old[2]]
    companies = lib.crm.companies.search_api.do_search({
        "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "0"}]}]})
    assert companies.total == 0
    with pytest.raises(ApiException) as err:
        lib.crm.contacts.search_api.do_search({"filterGroups": [{"filters": [
            {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "yesterday"}]}]})
    assert err.value.status == 400


def test_search_stops_at_10000_results_with_a_400(lib: HubSpot, sandbox: SandboxServer) -> None:
    seed_contacts(sandbox, 10_050)
    query = {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}]}],
             "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}], "limit": 200}
    last = lib.crm.contacts.search_api.do_search({**query, "after": "9800"})
    assert last.total == 10_050 and len(last.results) == 200 and last.paging.next.after == "10000"
    with pytest.raises(ApiException) as err:
        lib.crm.contacts.search_api.do_search({**query, "after": last.paging.next.after})
    assert err.value.status == 400 and "10000" in json.loads(err.value.body)["message"]


def test_archive_takes_a_contact_out_of_reads_and_search_and_frees_its_email(
    lib: HubSpot, sandbox: SandboxServer
) -> None:
    ada, bob = seed_contacts(sandbox, 2)
    lib.crm.contacts.basic_api.archive(ada)
    with pytest.raises(ApiException) as err:
        lib.crm.contacts.basic_api.get_by_id(ada)
    assert err.value.status == 404
    assert lib.crm.contacts.basic_api.get_by_id(ada, archived=True).archived is True
    found = lib.crm.contacts.search_api.do_search({"filterGroups": []})
    assert [c.id for c in found.results] == [bob]
    again = lib.crm.contacts.basic_api.create({"properties": {"email": "person0@corp0.example"}})
    assert again.id not in (ada, bob)
    lib.crm.contacts.batch_api.archive({"inputs": [{"id": bob}, {"id": again.id}]})
    assert lib.crm.contacts.get_all() == []
    with pytest.raises(ApiException) as err:
        lib.crm.contacts.basic_api.archive("987654")
    assert err.value.status == 404


def test_merge_makes_one_new_record_both_old_ids_lead_to(lib: HubSpot, sandbox: SandboxServer) -> None:
    primary = sandbox.hubspot.seed("contacts", {"email": "bob@ibm.example", "firstname": "Bob", "phone": ""})
    other = sandbox.hubspot.seed("contacts", {"email": "robert.smith@ibm.example", "firstname": "Robert",
                                              "lastname": "Smith", "phone": "+1 212 555 0100"})
    company = sandbox.hubspot.seed("companies", {"name": "IBM"})
    lib.crm.associations.v4.basic_api.create_default("contact", other, "company", company)
    merged = lib.crm.contacts.basic_api.merge({"primaryObjectId": primary, "objectIdToMerge": other})
    assert merged.id not in (primary, other)  # HubSpot's merge creates a new record with a new id
    read = lib.crm.contacts.basic_api.get_by_id(merged.id, properties=[
        "email", "firstname", "lastname", "phone", "hs_additional_emails", "hs_merged_object_ids"],
        associations=["companies"])
    props = read.properties
    assert (props["email"], props["firstname"], props["lastname"]) == ("bob@ibm.example", "Bob", "Smith")
    assert props["phone"] == "+1 212 555 0100" and props["hs_additional_emails"] == "robert.smith@ibm.example"
    assert props["hs_merged_object_ids"] == f"{primary};{other}"
    assert [a.id for a in read.associations["companies"].results] == [company]
    for old in (primary, other):  # the old ids still answer, with the merged record
        assert lib.crm.contacts.basic_api.get_by_id(old).id == merged.id
    assert [c.id for c in lib.crm.contacts.get_all()] == [merged.id]
    archived = lib.crm.contacts.basic_api.get_page(archived=True)
    assert sorted(c.id for c in archived.results) == sorted([primary, other])
    by_old_email = lib.crm.contacts.basic_api.get_by_id("robert.smith@ibm.example", id_property="email")
    assert by_old_email.id == merged.id
    with pytest.raises(ApiException) as err:  # no new contact under the merged-away address
        lib.crm.contacts.basic_api.create({"properties": {"email": "robert.smith@ibm.example"}})
    assert err.value.status == 409
    with pytest.raises(ApiException) as err:
        lib.crm.contacts.basic_api.merge({"primaryObjectId": merged.id, "objectIdToMerge": "987654"})
    assert err.value.status == 404
    with pytest.raises(ApiException) as err:
        lib.crm.contacts.basic_api.merge({"primaryObjectId": merged.id, "objectIdToMerge": merged.id})
    assert err.value.status == 400


def test_a_contacts_additional_emails_are_read_and_taken(lib: HubSpot, sandbox: SandboxServer) -> None:
    ada = sandbox.hubspot.seed("contacts", {"email": "ada@work.example",
                                            "hs_additional_emails": "ada@home.example;a.l@old.example"})
    read = lib.crm.contacts.get_all(properties=["hs_additional_emails"])
    assert read[0].properties["hs_additional_emails"] == "ada@home.example;a.l@old.example"
    assert lib.crm.contacts.basic_api.get_by_id("A.L@old.example", id_property="email").id == ada
    with pytest.raises(ApiException) as err:
        lib.crm.contacts.basic_api.create({"properties": {"email": "ada@home.example"}})
    assert err.value.status == 409
    with pytest.raises(ApiException) as err:  # read-only through the v3 API
        lib.crm.contacts.basic_api.update(ada, {"properties": {"hs_additional_emails": "x@y.example"}})
    assert err.value.status == 400


def test_deletion_merge_and_company_changes_arrive_as_signed_webhooks() -> None:
    receiver = Receiver()
    try:
        with SandboxServer(hubspot={"token": TOKEN, "webhook_url": receiver.url, "client_secret": SECRET,
                                    "app_id": APP_ID, "webhook_subscriptions": SUBSCRIPTIONS,
                                    "webhook_properties": ["domain", "email"]}) as s:
            lib = HubSpot(access_token=TOKEN, host=s.url, ssl_ca_cert=str(s.ca_path))
            acme = lib.crm.companies.basic_api.create({"properties": {"name": "Acme"}}).id
            lib.crm.companies.basic_api.update(acme, {"properties": {"domain": "acme.example"}})
            a = lib.crm.contacts.basic_api.create({"properties": {"email": "a@acme.example"}}).id
            b = lib.crm.contacts.basic_api.create({"properties": {"email": "b@acme.example"}}).id
            c = lib.crm.contacts.basic_api.create({"properties": {"email": "c@acme.example"}}).id
            lib.crm.contacts.basic_api.archive(c)
            merged = s.hubspot.ui_merge("contacts", a, b, user_id=7)
            s.hubspot.ui_delete("companies", acme, user_id=7)
            assert s.hubspot.webhooks.idle()
    finally:
        receiver.server.shutdown()
    for r in receiver.requests:
        ts = r["headers"]["X-HubSpot-Request-Timestamp"]
        assert r["headers"]["X-HubSpot-Signature-v3"] == sign_v3(SECRET, "POST", receiver.url, r["body"], ts)
    events = {(e["subscriptionType"], str(e["objectId"])): e for e in receiver.events()}
    assert events[("company.creation", acme)]["changeFlag"] == "CREATED"
    assert events[("company.propertyChange", acme)]["propertyValue"] == "acme.example"
    assert events[("contact.deletion", c)]["changeFlag"] == "DELETED"
    assert events[("contact.deletion", c)]["changeSource"] == "INTEGRATION"
    merge = events[("contact.merge", merged)]
    assert (merge["primaryObjectId"], merge["mergedObjectIds"], merge["newObjectId"]) == (int(a), [int(b)],
                                                                                          int(merged))
    assert merge["changeSource"] == "CRM_UI" and merge["sourceId"] == "userId:7"
    assert events[("company.deletion", acme)]["sourceId"] == "userId:7"
    assert len({e["subscriptionId"] for e in receiver.events()}) == 7  # one subscription per event type
