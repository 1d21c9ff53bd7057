"""How each CRM adapter reads its vendor's field types into leadrelay's kinds, and what it asks to create."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.hubspot import fields as hubspot
from adapters.salesforce import fields as salesforce
from connector.errors import FatalError
from connector.mapping.crm import CustomField
from connector.mapping.fields import FieldCheck, FieldSpec


def owned(name: str, obj: str = "Lead", **custom: Any) -> FieldSpec:
    c = CustomField(**{"label": name, **custom})
    return FieldSpec(object=obj, name=name, kind=c.type, custom=c, unique=c.unique, options=tuple(c.options))


@pytest.mark.parametrize(("prop", "kind"), [
    ({"name": "hubspot_owner_id", "type": "enumeration", "fieldType": "select", "referencedObjectType": "OWNER"},
     "owner"),
    ({"name": "a", "type": "string", "fieldType": "text"}, "text"),
    ({"name": "a", "type": "string", "fieldType": "textarea"}, "textarea"),
    ({"name": "a", "type": "enumeration", "fieldType": "select"}, "picklist"),
    ({"name": "a", "type": "enumeration", "fieldType": "checkbox"}, "multipicklist"),
    ({"name": "a", "type": "enumeration", "fieldType": "booleancheckbox"}, "bool"),
    ({"name": "a", "type": "number", "fieldType": "number"}, "number"),
    ({"name": "a", "type": "datetime", "fieldType": "date"}, "datetime"),
    ({"name": "a", "type": "object_coordinates", "fieldType": "text"}, "other"),
])
def test_hubspot_property_kinds(prop: dict[str, Any], kind: str) -> None:
    assert hubspot.kind_of(prop) == kind


def test_hubspot_property_as_leadrelay_sees_it() -> None:
    info = hubspot.field_info("contacts", {
        "name": "email", "type": "string", "fieldType": "text", "hubspotDefined": True, "hasUniqueValue": False,
        "modificationMetadata": {"readOnlyValue": False}})
    assert info.unique and info.writable and not info.custom  # email is the contact's unique identifier
    computed = hubspot.field_info("contacts", {
        "name": "hs_score", "type": "enumeration", "fieldType": "select", "calculated": True,
        "options": [{"value": "a", "hidden": False}, {"value": "b", "hidden": True}],
        "modificationMetadata": {"readOnlyValue": True}})
    assert not computed.writable and computed.options == ("a",) and computed.vendor_type == "enumeration/select"


def test_hubspot_property_create_bodies() -> None:
    body = hubspot.property_create(owned("grade", obj="contacts", type="picklist", options=["hot", "warm"]))
    assert (body["type"], body["fieldType"], body["groupName"]) == ("enumeration", "select", "leadrelay")
    assert [o["value"] for o in body["options"]] == ["hot", "warm"]
    flag = hubspot.property_create(owned("flag", obj="contacts", type="bool"))
    assert [o["value"] for o in flag["options"]] == ["true", "false"]
    assert hubspot.property_create(owned("lid", obj="contacts", type="text", unique=True))["hasUniqueValue"]
    with pytest.raises(FatalError):  # a HubSpot property cannot point to another object
        hubspot.property_create(owned("acct", obj="contacts", type="reference", references="companies"))


@pytest.mark.parametrize(("field", "kind"), [
    ({"type": "reference", "referenceTo": ["Group", "User"]}, "owner"),
    ({"type": "reference", "referenceTo": ["Account"]}, "reference"),
    ({"type": "currency"}, "number"),
    ({"type": "email"}, "text"),
    ({"type": "textarea"}, "textarea"),
    ({"type": "multipicklist"}, "multipicklist"),
    ({"type": "address"}, "other"),
])
def test_salesforce_field_kinds(field: dict[str, Any], kind: str) -> None:
    assert salesforce.kind_of(field) == kind


def test_salesforce_field_as_leadrelay_sees_it() -> None:
    info = salesforce.field_info("Lead", {
        "name": "Rating", "type": "picklist", "length": 40, "createable": True, "updateable": False,
        "restrictedPicklist": True, "picklistValues": [{"value": "Hot", "active": True},
                                                      {"value": "Old", "active": False}]})
    assert info.options == ("Hot",) and info.restricted and not info.writable and info.length is None
    ext = salesforce.field_info("Lead", {"name": "X__c", "type": "string", "length": 80, "externalId": True,
                                         "custom": True, "createable": True, "updateable": True})
    assert ext.unique and ext.custom and ext.length == 80 and ext.vendor_type == "string(80)"


def test_salesforce_custom_field_metadata() -> None:
    assert salesforce.metadata(owned("Id__c", type="text", unique=True)) == {
        "label": "Id__c", "type": "Text", "description": "", "length": 255, "externalId": True, "unique": True,
        "caseSensitive": False}
    assert salesforce.metadata(owned("Long__c", type="text", length=1000))["type"] == "LongTextArea"
    assert salesforce.metadata(owned("N__c", type="number"))["precision"] == 18
    pick = salesforce.metadata(owned("P__c", type="picklist", options=["a", "b"]))
    assert [v["fullName"] for v in pick["valueSet"]["valueSetDefinition"]["value"]] == ["a", "b"]
    look = salesforce.metadata(owned("Acct__c", type="reference", references="Account"))
    assert (look["type"], look["referenceTo"], look["relationshipName"]) == ("Lookup", "Account", "Acct")
    with pytest.raises(FatalError):  # not a custom field's name
        salesforce.metadata(owned("Score", type="number"))


def test_manual_steps_name_the_field_its_type_and_field_level_security() -> None:
    spec = owned("Leadrelay_Score__c", type="number")
    steps = salesforce.manual_steps(FieldCheck(spec=spec, found=None, status="missing"))
    assert steps[0] == "Setup → Object Manager → Lead → Fields & Relationships → New"
    assert "Field Name Leadrelay_Score (API name Leadrelay_Score__c)" in steps[2]
    assert "Field-Level Security" in steps[-1]
    hs = hubspot.manual_steps(FieldCheck(spec=owned("leadrelay_score", obj="contacts", type="number"), found=None,
                                         status="missing"))
    assert hs[0].endswith("Contact properties → Create property") and "internal name leadrelay_score" in hs[1]
