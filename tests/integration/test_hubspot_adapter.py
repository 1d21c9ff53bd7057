"""HubSpot adapter and sandbox: hubspot-api-client (unmodified) over HTTPS against the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException

from adapters.hubspot.client import HubSpotCrm
from connector.errors import AuthError
from connector.ports import WriteItem
from sandbox.server import SandboxServer

TOKEN = "pat-test-0000-hubspot"
OWNERS = [{"id": str(600 + i), "email": f"rep{i}@example.com", "firstName": f"Rep{i}", "lastName": "Smith"}
          for i in range(7)]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(hubspot={"token": TOKEN, "owners": OWNERS, "tier": "professional",
                                "leadrelay_fields": True}) as s:
        yield s


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.reset()
    return server


@pytest.fixture
def crm(sandbox: SandboxServer, redis_url: str) -> HubSpotCrm:
    return HubSpotCrm(token=TOKEN, base_url=sandbox.url, ca_bundle=str(sandbox.ca_path),
                      redis=redis.Redis.from_url(redis_url), rate_per_10s=190)


@pytest.fixture
def lib(sandbox: SandboxServer) -> HubSpot:
    """The vendor library itself, for the calls our adapter does not make (single create, batch update)."""
    return HubSpot(access_token=TOKEN, host=sandbox.url, ssl_ca_cert=str(sandbox.ca_path))


def item(i: int, **fields: object) -> WriteItem:
    base = {"email": f"person{i}@corp{i}.example", "firstname": f"P{i}", "leadrelay_id": f"lead-{i}"}
    return WriteItem(key=f"lead-{i}", fields={**base, **fields}, object_type="contacts")


def test_single_create_is_201_and_a_duplicate_email_is_409_with_the_existing_id(lib: HubSpot) -> None:
    created = lib.crm.contacts.basic_api.create({"properties": {"email": "ada@example.com", "firstname": "Ada"}})
    assert created.properties["email"] == "ada@example.com"
    with pytest.raises(ApiException) as err:
        lib.crm.contacts.basic_api.create({"properties": {"email": "ADA@example.com"}})
    assert err.value.status == 409
    body = json.loads(err.value.body)
    assert body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {created.id}"


def test_batch_update_takes_100_inputs_and_refuses_101(lib: HubSpot, sandbox: SandboxServer) -> None:
    batch = lib.crm.contacts.batch_api
    ids = []
    for start in (0, 100):
        inputs = [{"properties": {"email": f"u{i}@example.com"}} for i in range(start, min(start + 100, 101))]
        ids += [r.id for r in batch.create({"inputs": inputs}).results]
    assert len(ids) == 101
    done = batch.update({"inputs": [{"id": i, "properties": {"jobtitle": "CTO"}} for i in ids[:100]]})
    assert len(done.results) == 100
    with pytest.raises(ApiException) as err:
        batch.update({"inputs": [{"id": i, "properties": {"jobtitle": "CEO"}} for i in ids]})
    assert err.value.status == 400
    body = json.loads(err.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert "maximum number of inputs supported in a batch request is 100" in body["message"]
    titles = [c["properties"].get("jobtitle") for c in sandbox.hubspot.records()["contacts"]]
    assert titles.count("CTO") == 100 and "CEO" not in titles  # the refused batch wrote nothing


def test_upsert_twice_leaves_one_record_per_person(crm: HubSpotCrm, sandbox: SandboxServer) -> None:
    items = [item(i) for i in range(5)]
    first = crm.write(items)
    second = crm.write([item(i, firstname=f"Again{i}") for i in range(5)])
    assert [o.status for o in first] == ["written"] * 5 and all(o.created for o in first)
    assert [o.record_id for o in second] == [o.record_id for o in first]
    assert not any(o.created for o in second)
    contacts = sandbox.hubspot.records()["contacts"]
    assert len(contacts) == 5
    assert sorted(c["properties"]["firstname"] for c in contacts) == [f"Again{i}" for i in range(5)]


def test_search_by_email_pages_and_refuses_pages_over_200(lib: HubSpot, crm: HubSpotCrm) -> None:
    crm.write([item(i) for i in range(250)])
    search = lib.crm.contacts.search_api
    hit = search.do_search({"filterGroups": [{"filters": [
        {"propertyName": "email", "operator": "EQ", "value": "PERSON7@corp7.example"}]}]})
    assert hit.total == 1 and hit.results[0].properties["email"] == "person7@corp7.example"
    page = search.do_search({"filterGroups": [], "limit": 200})
    assert page.total == 250 and len(page.results) == 200 and page.paging.next.after == "200"
    with pytest.raises(ApiException) as err:
        search.do_search({"filterGroups": [], "limit": 201})
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        search.do_search({"filterGroups": [], "limit": 200, "after": "9900"})  # no paging past 10,000 results
    assert err.value.status == 400 and "10000" in json.loads(err.value.body)["message"]


def test_search_is_limited_to_5_requests_a_second(lib: HubSpot) -> None:
    search = lib.crm.contacts.search_api
    statuses = []
    for _ in range(6):
        try:
            statuses.append(search.do_search_with_http_info({"filterGroups": []})[1])
        except ApiException as exc:
            statuses.append(exc.status)
            body = json.loads(exc.body)
    assert statuses[-1] == 429 and statuses.count(200) >= 5 - 1  # the 6th inside one second is refused
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "SECONDLY"


def test_find_reads_contacts_by_email_with_their_company_and_companies_by_domain(
    crm: HubSpotCrm, lib: HubSpot, sandbox: SandboxServer
) -> None:
    company = lib.crm.companies.basic_api.create({"properties": {"name": "Corp 1", "domain": "corp1.example"}})
    crm.write([WriteItem(key="lead-1", fields={**item(1).fields, "hubspot_owner_id": "601"}, account_id=company.id),
               WriteItem(key="x", fields={"email": "solo@else.example"})])
    sandbox.calls.reset()
    found = crm.find(["Person1@corp1.example", "solo@else.example", "nobody@nowhere.example"], ["corp1.example"])
    people = {r.email: r for r in found if r.kind == "contact"}
    accounts = [r for r in found if r.kind == "account"]
    assert set(people) == {"person1@corp1.example", "solo@else.example"}
    assert people["person1@corp1.example"].owner_id == "601"
    assert people["person1@corp1.example"].account_id == company.id
    assert people["solo@else.example"].account_id is None
    assert [(a.id, a.domain) for a in accounts] == [(company.id, "corp1.example")]
    assert sandbox.calls.count("hubspot", "POST /crm/v3/objects/contacts/batch/read") == 1


def test_owners_are_read_in_pages(crm: HubSpotCrm, lib: HubSpot) -> None:
    owners = crm.owners()
    assert [(o.id, o.email, o.first_name) for o in owners] == [(o["id"], o["email"], o["firstName"]) for o in OWNERS]
    page = lib.crm.owners.owners_api.get_page(limit=3)
    assert len(page.results) == 3 and page.paging.next.after


def test_write_associates_contacts_with_their_company(crm: HubSpotCrm, lib: HubSpot, sandbox: SandboxServer) -> None:
    company = lib.crm.companies.basic_api.create({"properties": {"name": "Acme", "domain": "acme.example"}})
    out = crm.write([WriteItem(key=f"k{i}", fields={"email": f"a{i}@acme.example"}, account_id=company.id)
                     for i in range(3)])
    assert {o.status for o in out} == {"written"}
    pairs = {(a["fromObjectId"], a["toObjectId"]) for a in sandbox.hubspot.records()["associations"]
             if a["fromObjectType"] == "contacts"}
    assert pairs == {(o.record_id, company.id) for o in out}
    assert crm.get(out[0].record_id).account_id == company.id  # type: ignore[union-attr]
    batch_default = "POST /crm/v4/associations/{from_type}/{to_type}/batch/associate/default"
    assert sandbox.calls.count("hubspot", batch_default) == 1
    # the v4 per-pair PUT, through the library
    other = lib.crm.companies.basic_api.create({"properties": {"name": "Beta"}})
    lib.crm.associations.v4.basic_api.create_default("contact", out[1].record_id, "company", other.id)
    assert (out[1].record_id, other.id) in {(a["fromObjectId"], a["toObjectId"])
                                            for a in sandbox.hubspot.records()["associations"]}


def test_a_company_hubspot_does_not_have_leaves_the_contact_written_and_says_so(
    crm: HubSpotCrm, lib: HubSpot, sandbox: SandboxServer
) -> None:
    acme = lib.crm.companies.basic_api.create({"properties": {"name": "Acme", "domain": "acme.example"}})
    out = crm.write([WriteItem(key="k1", fields={"email": "a1@acme.example"}, account_id=acme.id),
                     WriteItem(key="k2", fields={"email": "a2@gone.example"}, account_id="999999")])
    assert [o.status for o in out] == ["written", "written"] and out[0].error_code is None
    assert out[1].error_code == "ASSOCIATION_FAILED" and "999999" in (out[1].message or "")
    # HubSpot answers the batch 200 with the failed pair in errors[] (its spec documents no 207 here)
    batch_default = "POST /crm/v4/associations/{from_type}/{to_type}/batch/associate/default"
    assert sandbox.calls.count("hubspot", batch_default, 200) == 1
    assert crm.get(out[0].record_id).account_id == acme.id  # type: ignore[union-attr]
    assert crm.get(out[1].record_id).account_id is None  # type: ignore[union-attr]
    assert crm.get("987654") is None  # unknown id: HubSpot's 404 with its error body


def test_bad_token_is_an_auth_error(sandbox: SandboxServer, redis_url: str) -> None:
    bad = HubSpotCrm(token="pat-wrong", base_url=sandbox.url, ca_bundle=str(sandbox.ca_path),
                     redis=redis.Redis.from_url(redis_url))
    assert bad.ping() is False
    with pytest.raises(AuthError):
        bad.write([item(1)])
    with pytest.raises(AuthError):
        bad.find(["a@b.example"])
    assert sandbox.hubspot.records()["contacts"] == []


def test_a_value_hubspot_refuses_fails_only_that_row_with_hubspots_message(
    crm: HubSpotCrm, sandbox: SandboxServer
) -> None:
    items = [item(i, hs_lead_status="NEW") for i in range(4)]
    items[2] = item(2, hs_lead_status="WARM_ISH")
    out = crm.write(items)
    assert [o.status for o in out] == ["written", "written", "permanent", "written"]
    assert out[2].error_code == "INVALID_OPTION"
    assert "WARM_ISH was not one of the allowed options" in (out[2].message or "")
    assert out[2].message.startswith("Property values were not valid")  # type: ignore[union-attr]
    assert sandbox.calls.count("hubspot", "POST /crm/v3/objects/contacts/batch/upsert") == 1  # no retry of a bad row
    assert len(sandbox.hubspot.records()["contacts"]) == 3


def test_unknown_and_read_only_properties_are_refused_per_row(crm: HubSpotCrm) -> None:
    out = crm.write([item(1, favourite_colour="teal"), item(2, hs_object_id="5"), item(3)])
    assert [o.status for o in out] == ["permanent", "permanent", "written"]
    assert out[0].error_code == "PROPERTY_DOESNT_EXIST" and 'Property \\"favourite_colour\\" does not exist' in (
        out[0].message or "")
    assert out[1].error_code == "READ_ONLY_VALUE"


def test_lifecycle_stage_does_not_move_back_unless_configured_to_clear_then_set(
    crm: HubSpotCrm, sandbox: SandboxServer, redis_url: str
) -> None:
    crm.write([item(1, lifecyclestage="customer"), item(2, lifecyclestage="customer")])
    out = crm.write([item(1, lifecyclestage="lead")])
    assert out[0].status == "written"
    stages = {c["properties"]["email"]: c["properties"]["lifecyclestage"]
              for c in sandbox.hubspot.records()["contacts"]}
    assert stages["person1@corp1.example"] == "customer"  # HubSpot ignored the backwards move
    sandbox.calls.reset()
    clearing = HubSpotCrm(token=TOKEN, base_url=sandbox.url, ca_bundle=str(sandbox.ca_path),
                          redis=redis.Redis.from_url(redis_url), lifecycle_backwards="clear_then_set")
    out = clearing.write([item(1, lifecyclestage="lead"), item(2, lifecyclestage="evangelist")])
    assert [o.status for o in out] == ["written", "written"]
    stages = {c["properties"]["email"]: c["properties"]["lifecyclestage"]
              for c in sandbox.hubspot.records()["contacts"]}
    assert stages == {"person1@corp1.example": "lead", "person2@corp2.example": "evangelist"}
    assert sandbox.calls.count("hubspot", "POST /crm/v3/objects/contacts/batch/update") == 2  # clear, then set


def test_rate_limit_headers_are_on_every_answer(lib: HubSpot) -> None:
    _, status, headers = lib.crm.owners.owners_api.get_page_with_http_info()
    assert status == 200
    assert headers["X-HubSpot-RateLimit-Max"] == "190"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert int(headers["X-HubSpot-RateLimit-Remaining"]) < 190
    assert int(headers["X-HubSpot-RateLimit-Daily-Remaining"]) < int(headers["X-HubSpot-RateLimit-Daily"])
