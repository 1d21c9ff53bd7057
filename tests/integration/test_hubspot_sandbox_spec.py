"""The HubSpot sandbox answers as HubSpot's published OpenAPI specifications document, over HTTPS.

Each answer is checked two ways: by hand against the spec's required fields, and by deserializing it with
hubspot-api-client's models (generated from those specs) with client-side validation on, which refuses a missing
required field or a value outside an enum. The library ships with that validation off, so a deviation goes
unnoticed by the library calls the other tests make.
"""

from __future__ import annotations

import importlib
import json
import ssl
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from sandbox.common import Faults
from sandbox.hubspot import HubSpotSandbox
from sandbox.server import SandboxServer

TOKEN = "pat-spec-0000-hubspot"
OWNERS = [{"id": "601", "email": "rep1@example.com", "firstName": "Rep", "lastName": "One"},
          {"id": "602", "email": "inbound@example.com", "firstName": "Inbound", "lastName": "Queue", "type": "QUEUE"}]
ERROR_FIELDS = {"category", "correlationId", "message"}  # components/schemas/Error, required
STANDARD_ERROR_FIELDS = {"category", "context", "errors", "links", "message", "status"}  # StandardError, required


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(hubspot={"token": TOKEN, "owners": OWNERS, "tier": "professional"}) as s:
        yield s


@pytest.fixture
def http(server: SandboxServer) -> Iterator[httpx.Client]:
    server.reset()
    with httpx.Client(base_url=server.url, verify=ssl.create_default_context(cafile=str(server.ca_path)),
                      headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def spec_model(package: str, model: str, body: Any) -> Any:
    """``body`` deserialized as hubspot-api-client's ``model`` with client-side validation on (raises if it is not
    the documented shape)."""
    module = importlib.import_module(f"hubspot.crm.{package}")
    config = module.Configuration()
    config.client_side_validation = True
    return module.ApiClient(configuration=config).deserialize(SimpleNamespace(data=json.dumps(body)), model)


def contact(http: httpx.Client, email: str) -> str:
    r = http.post("/crm/v3/objects/contacts", json={"properties": {"email": email}})
    assert r.status_code == 201
    return str(r.json()["id"])


def company(http: httpx.Client, name: str) -> str:
    r = http.post("/crm/v3/objects/companies", json={"properties": {"name": name}})
    assert r.status_code == 201
    return str(r.json()["id"])


def test_an_unknown_contact_is_a_404_with_the_error_body(http: httpx.Client) -> None:
    for path in ("/crm/v3/objects/contacts/987654", "/crm/v3/objects/contacts/nobody@example.com?idProperty=email"):
        r = http.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
        body = r.json()
        assert set(body) >= ERROR_FIELDS and body["status"] == "error"
        assert body["category"] == "OBJECT_NOT_FOUND"
        assert body["message"] == "Object not found.  objectId are usually numeric."
        uuid.UUID(body["correlationId"])
        assert body["context"]["id"] == [path.rsplit("/", 1)[1].split("?")[0]]
        spec_model("contacts", "Error", body)


def test_owners_carry_the_required_type(http: httpx.Client, server: SandboxServer) -> None:
    server.hubspot.owners.append({"id": "603", "email": "late@example.com", "firstName": "Late", "lastName": "Hire",
                                  "userId": 9003, "archived": False})  # added by hand, as a test may
    try:
        body = http.get("/crm/v3/owners").json()
    finally:
        server.hubspot.owners.pop()
    types = {o["id"]: o["type"] for o in body["results"]}
    assert types == {"601": "PERSON", "602": "QUEUE", "603": "PERSON"}
    for owner in body["results"]:
        assert {"id", "type", "createdAt", "updatedAt", "archived"} <= set(owner)  # PublicOwner, required
        assert owner["userIdIncludingInactive"] == owner["userId"]
    page = spec_model("owners", "CollectionResponsePublicOwnerForwardPaging", body)
    assert [o.type for o in page.results] == ["PERSON", "QUEUE", "PERSON"]
    with pytest.raises(ValueError, match="owner type"):
        HubSpotSandbox(Faults(), owners=[{"email": "x@example.com", "type": "TEAM"}])


def test_default_association_with_a_missing_object_is_200_with_errors(http: httpx.Client) -> None:
    person, acme = contact(http, "ada@example.com"), company(http, "Acme")
    r = http.post("/crm/v4/associations/contacts/companies/batch/associate/default", json={"inputs": [
        {"from": {"id": person}, "to": {"id": acme}}, {"from": {"id": person}, "to": {"id": "999999"}}]})
    assert r.status_code == 200  # the only answer the spec documents; failed pairs are in errors[]
    body = r.json()
    assert body["status"] == "COMPLETE" and body["numErrors"] == 1
    assert {(x["from"]["id"], x["to"]["id"]) for x in body["results"]} == {(person, acme), (acme, person)}
    error = body["errors"][0]
    assert set(error) >= STANDARD_ERROR_FIELDS
    assert error["context"]["fromObjectId"] == [person] and error["context"]["toObjectId"] == ["999999"]
    spec_model("associations.v4", "BatchResponsePublicDefaultAssociation", body)


def test_a_refused_single_default_association_is_an_error_body(http: httpx.Client) -> None:
    person = contact(http, "ada@example.com")
    r = http.put(f"/crm/v4/objects/contact/{person}/associations/default/company/999999")
    assert r.status_code == 400
    body = r.json()
    assert set(body) >= ERROR_FIELDS
    uuid.UUID(body["correlationId"])
    spec_model("associations.v4", "Error", body)


def test_failed_inputs_of_batch_answers_are_complete_standard_errors(http: httpx.Client) -> None:
    upsert = http.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": [
        {"idProperty": "email", "id": "a@example.com", "objectWriteTraceId": "a", "properties": {"firstname": "A"}},
        {"idProperty": "email", "id": "b@example.com", "objectWriteTraceId": "b",
         "properties": {"hs_lead_status": "WARM_ISH"}},
        {"idProperty": "email", "id": "c@example.com", "objectWriteTraceId": "c",
         "properties": {"favourite_colour": "teal"}},
    ]})
    assert upsert.status_code == 207
    body = upsert.json()
    assert body["numErrors"] == 2 and [r["objectWriteTraceId"] for r in body["results"]] == ["a"]
    for error in body["errors"]:
        assert set(error) >= STANDARD_ERROR_FIELDS and error["status"] == "error"
    assert [e["context"]["objectWriteTraceId"] for e in body["errors"]] == [["b"], ["c"]]
    assert body["errors"][0]["errors"][0]["code"] == "INVALID_OPTION"  # the detail HubSpot gives is kept
    spec_model("contacts", "BatchResponseSimplePublicUpsertObjectWithErrors", body)

    read = http.post("/crm/v3/objects/contacts/batch/read", json={
        "idProperty": "email", "inputs": [{"id": "a@example.com"}, {"id": "zed@example.com"}],
        "properties": ["email"], "propertiesWithHistory": []})
    assert read.status_code == 207
    body = read.json()
    assert [r["properties"]["email"] for r in body["results"]] == ["a@example.com"]
    error = body["errors"][0]
    assert set(error) >= STANDARD_ERROR_FIELDS and error["category"] == "OBJECT_NOT_FOUND"
    assert error["context"] == {"ids": ["zed@example.com"]}
    spec_model("contacts", "BatchResponseSimplePublicObjectWithErrors", body)


def test_association_batch_read_reports_inputs_without_associations(http: httpx.Client) -> None:
    linked, alone, acme = contact(http, "a@example.com"), contact(http, "b@example.com"), company(http, "Acme")
    http.put(f"/crm/v4/objects/contact/{linked}/associations/default/company/{acme}").raise_for_status()
    r = http.post("/crm/v4/associations/contacts/companies/batch/read",
                  json={"inputs": [{"id": linked}, {"id": alone}]})
    assert r.status_code == 207
    body = r.json()
    assert [(x["from"]["id"], [t["toObjectId"] for t in x["to"]]) for x in body["results"]] == [(linked, [int(acme)])]
    assert body["numErrors"] == 1
    error = body["errors"][0]
    assert set(error) >= STANDARD_ERROR_FIELDS
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert error["message"] == f"No company is associated with contact {alone}."
    assert error["context"]["fromObjectId"] == [alone]
    spec_model("associations.v4", "BatchResponsePublicAssociationMultiWithLabelWithErrors", body)
    every = http.post("/crm/v4/associations/contacts/companies/batch/read", json={"inputs": [{"id": linked}]})
    assert every.status_code == 200 and "errors" not in every.json()
    spec_model("associations.v4", "BatchResponsePublicAssociationMultiWithLabel", every.json())


def test_successful_answers_validate_against_the_generated_models(http: httpx.Client) -> None:
    """Regression guard for the operations leadrelay uses, on their happy paths."""
    person, acme = contact(http, "a@example.com"), company(http, "Acme")
    http.put(f"/crm/v4/objects/contact/{person}/associations/default/company/{acme}").raise_for_status()
    got = http.get(f"/crm/v3/objects/contacts/{person}?properties=email,phone&associations=companies")
    assert got.status_code == 200 and got.json()["properties"]["phone"] is None  # nullable, as the spec types it
    spec_model("contacts", "SimplePublicObjectWithAssociations", got.json())
    upsert = http.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": [
        {"idProperty": "email", "id": "a@example.com", "objectWriteTraceId": "a", "properties": {"firstname": "A"}}]})
    assert upsert.status_code == 200
    assert spec_model("contacts", "BatchResponseSimplePublicUpsertObject", upsert.json()).results[0].new is False
    read = http.post("/crm/v3/objects/contacts/batch/read", json={
        "idProperty": "email", "inputs": [{"id": "a@example.com"}], "properties": ["email"],
        "propertiesWithHistory": []})
    assert read.status_code == 200
    spec_model("contacts", "BatchResponseSimplePublicObject", read.json())
    update = http.post("/crm/v3/objects/contacts/batch/update",
                       json={"inputs": [{"id": person, "properties": {"lifecyclestage": "lead"}}]})
    assert update.status_code == 200
    spec_model("contacts", "BatchResponseSimplePublicObject", update.json())
    found = http.post("/crm/v3/objects/companies/search", json={
        "filterGroups": [{"filters": [{"propertyName": "name", "operator": "EQ", "value": "Acme"}]}], "limit": 200})
    assert found.status_code == 200
    page = spec_model("companies", "CollectionResponseWithTotalSimplePublicObjectForwardPaging", found.json())
    assert page.total == 1
