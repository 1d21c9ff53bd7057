"""Salesforce Outbound Messages: SOAP parsing (defusedxml), org allow-list, the Ack, deliveries through the mapping.

Messages are built by the sandbox's own ``build_notifications`` and read from the shipped fixture.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.salesforce.outbound import (
    OutboundMessage,
    ack,
    check_org,
    outbound_deliveries,
    parse_outbound,
)
from connector.config import Config
from connector.errors import InputError, SignatureError
from connector.pipeline import ingest, ingest_delivery
from sandbox.salesforce_outbound import build_notifications, is_ack

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = (ROOT / "tests" / "fixtures" / "salesforce_outbound_message.xml").read_bytes()
ORG = "00D5e0000001ABCEA2"
WHEN = datetime(2024, 9, 15, 9, 2, tzinfo=UTC)



def lead(i: int, **extra: Any) -> tuple[str, str, dict[str, Any]]:
    fields = {"Id": f"00Q5e00000{i:05d}AAA", "Email": f"lead{i}@example.com", "LastName": f"Last{i}",
              "Company": "Acme", "IsConverted": False, "HasOptedOutOfEmail": False, "MobilePhone": None,
              "LastModifiedById": "0055e000001IntAAA", "CreatedDate": "2024-09-15T08:22:10.000+0000", **extra}
    return (f"04l5e00000N{i:06d}", "Lead", fields)


def message(n: int = 1, *, org: str = ORG, session: str | None = "sess!abc", **extra: Any) -> bytes:
    return build_notifications(
        organization_id=org, action_id="04k5e000000CaRkAAK", session_id=session,
        enterprise_url="https://acme.my.salesforce.com/services/Soap/c/62.0/00D5e0000001ABC",
        partner_url="https://acme.my.salesforce.com/services/Soap/u/62.0/00D5e0000001ABC",
        notifications=[lead(i, **extra) for i in range(n)],
    )


# ---- parsing --------------------------------------------------------------------------------------------------


def test_fixture_parses() -> None:
    m = parse_outbound(FIXTURE)
    assert m.organization_id == ORG
    assert m.action_id == "04k5e000000CaRkAAK"
    assert m.session_id is None  # xsi:nil
    assert m.enterprise_url and m.enterprise_url.startswith("https://acme.my.salesforce.com/services/Soap/c/")
    assert m.partner_url and "/Soap/u/" in m.partner_url
    assert [n.id for n in m.notifications] == ["04l5e00000Gx7QzAAJ", "04l5e00000Gx7R0AAJ"]
    first, second = m.notifications
    assert first.sobject_type == "Lead"
    assert first.fields["Email"] == "priya.raman@meridianbank.co.uk"
    assert first.fields["IsConverted"] == "false"  # every value arrives as text
    assert second.fields["LastName"] == "O'Neil & Sons" and second.fields["Company"] == "O'Neil <Holdings>"
    assert second.fields["Leadrelay_Id__c"] == "lead-7f3a"


def test_fixture_deliveries_are_triggers_naming_the_record(config: Config) -> None:
    message = parse_outbound(FIXTURE)
    deliveries = outbound_deliveries(message, received_at=WHEN)
    assert [d.delivery_id for d in deliveries] == ["04l5e00000Gx7QzAAJ", "04l5e00000Gx7R0AAJ"]
    d = deliveries[0]
    assert (d.source, d.form, d.received_at) == ("salesforce", None, WHEN)
    # the record's id and type, and who last changed it (echo suppression reads this); no field to believe
    assert d.payload == {"Id": message.notifications[0].fields["Id"], "attributes": {"type": "Lead"},
                         "_organization_id": ORG, "LastModifiedById": "0055e000001AbCdAAK"}
    assert deliveries[1].payload["LastModifiedById"] == "0055e000001IntAAA"
    # the worker reads the record from the API; the source mapping reads a Lead's fields, as the fixture has them
    people = [ingest(n.fields, config, mapping="salesforce_lead") for n in message.notifications]
    assert [p.identity.email for p in people] == ["priya.raman@meridianbank.co.uk", "tom@oneil.example"]
    assert people[0].company.name == "Meridian Bank plc"
    assert ingest_delivery(d, config).identity.email is None  # the delivery itself carries no email


@pytest.mark.parametrize("bad", ["", "00Q/../../sobjects/User", "00Q5e00000A000001", "x" * 19])
def test_a_notification_without_a_valid_record_id_names_it(bad: str) -> None:
    body = message(2).replace(b"<sf:Id>00Q5e00000" + b"00001AAA</sf:Id>", f"<sf:Id>{bad}</sf:Id>".encode())
    with pytest.raises(InputError) as err:
        outbound_deliveries(parse_outbound(body), received_at=WHEN)
    assert err.value.field == "Notification[1].sObject.Id"


def test_sandbox_built_message_round_trips(config: Config) -> None:
    m = parse_outbound(message(3))
    assert m.session_id == "sess!abc"
    assert len(m.notifications) == 3
    n = m.notifications[2]
    assert n.id == "04l5e00000N000002" and n.sobject_type == "Lead"
    assert next(iter(n.fields)) == "Id"
    assert "MobilePhone" not in n.fields  # nulls are left out by Salesforce
    assert n.fields["HasOptedOutOfEmail"] == "false"
    assert n.fields["CreatedDate"] == "2024-09-15T08:22:10.000Z"
    assert outbound_deliveries(m, received_at=WHEN)[2].payload["Id"] == n.fields["Id"]
    person = ingest(n.fields, config, mapping="salesforce_lead")
    assert person.identity.email == "lead2@example.com"
    assert person.consent.email_opt_in is True  # HasOptedOutOfEmail "false" -> not -> True


def test_redelivery_gives_the_same_ids() -> None:
    first = [d.delivery_id for d in outbound_deliveries(parse_outbound(message(5)), received_at=WHEN)]
    again = [d.delivery_id for d in outbound_deliveries(parse_outbound(message(5)), received_at=datetime.now(UTC))]
    assert first == again and len(set(first)) == 5


def test_nil_field_is_none() -> None:
    body = FIXTURE.replace(b"<sf:Phone>020 7946 0321</sf:Phone>", b'<sf:Phone xsi:nil="true"/>')
    fields = parse_outbound(body).notifications[0].fields
    assert "Phone" in fields and fields["Phone"] is None


def test_100_notifications_parse_101_do_not() -> None:
    assert len(parse_outbound(message(100)).notifications) == 100
    body = message(100)
    extra = body[body.index(b"   <Notification>"):body.index(b"   </Notification>") + len(b"   </Notification>\n")]
    too_many = body.replace(b"  </notifications>", extra + b"  </notifications>")
    with pytest.raises(InputError) as err:
        parse_outbound(too_many)
    assert err.value.field == "Notification"


def test_missing_organization_id_names_it() -> None:
    body = FIXTURE.replace(b"<OrganizationId>00D5e0000001ABCEA2</OrganizationId>", b"")
    with pytest.raises(InputError) as err:
        parse_outbound(body)
    assert err.value.field == "OrganizationId"


def test_notification_without_id_or_sobject_names_it() -> None:
    with pytest.raises(InputError) as err:
        parse_outbound(FIXTURE.replace(b"<Id>04l5e00000Gx7R0AAJ</Id>", b""))
    assert err.value.field == "Notification[1].Id"
    start, end = FIXTURE.index(b"<sObject"), FIXTURE.index(b"</sObject>") + len(b"</sObject>")
    with pytest.raises(InputError) as err:
        parse_outbound(FIXTURE[:start] + FIXTURE[end:])
    assert err.value.field == "Notification[0].sObject"


@pytest.mark.parametrize("body", [b"", b"not xml", b"<a><b></a>", FIXTURE[:-40], b"\xff\xfe<x/>"])
def test_bad_xml_is_an_input_error_on_body(body: bytes) -> None:
    with pytest.raises(InputError) as err:
        parse_outbound(body)
    assert err.value.field == "body"


def test_soap_without_notifications_is_an_input_error() -> None:
    body = b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body/></soapenv:Envelope>'
    with pytest.raises(InputError) as err:
        parse_outbound(body)
    assert err.value.field == "notifications"


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>&xxe;</OrganizationId></notifications>
</soapenv:Body></soapenv:Envelope>"""

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>&lol3;</OrganizationId></notifications>"""

DTD_ONLY = b"""<?xml version="1.0"?>
<!DOCTYPE notifications SYSTEM "http://attacker.example/x.dtd">
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>x</OrganizationId></notifications>"""


@pytest.mark.parametrize("body", [XXE, BOMB, DTD_ONLY], ids=["xxe", "billion-laughs", "external-dtd"])
def test_entity_and_dtd_payloads_are_rejected(body: bytes) -> None:
    with pytest.raises(InputError) as err:
        parse_outbound(body)
    assert err.value.field == "body"
    assert "forbidden" in err.value.message


# ---- org allow-list ---------------------------------------------------------------------------------------------


def _msg(org: str) -> OutboundMessage:
    return parse_outbound(message(1, org=org))


def test_allowed_org_passes_in_15_and_18_char_forms() -> None:
    check_org(_msg(ORG), [ORG])
    check_org(_msg(ORG), {ORG[:15]})
    check_org(_msg(ORG[:15]), [ORG])
    check_org(_msg(ORG), ["00D000000000001", f" {ORG} "])


def test_other_org_or_empty_list_is_refused() -> None:
    with pytest.raises(SignatureError, match="allow-list"):
        check_org(_msg("00D5e0000001XYZEA2"), [ORG])
    with pytest.raises(SignatureError):
        check_org(_msg(ORG), [])
    with pytest.raises(SignatureError):  # ids are case-sensitive in their 15-char form
        check_org(_msg(ORG.lower()), [ORG])
    with pytest.raises(SignatureError):  # a short prefix is not an org id
        check_org(_msg("00D5e"), ["00D5e"])


# ---- ack ------------------------------------------------------------------------------------------------------


def test_ack_is_accepted_by_the_sandbox_sender() -> None:
    assert is_ack(ack())
    assert is_ack(ack(True))
    assert not is_ack(ack(False))
    assert b"<notificationsResponse" in ack() and b"http://soap.sforce.com/2005/09/outbound" in ack()
