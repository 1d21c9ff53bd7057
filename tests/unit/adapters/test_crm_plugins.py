"""The CRM plug-in boundary: the registry, and each plugin's knowledge of its CRM as plain data in, plain data out
(webhook requests verified and parsed, its own deliveries read: echo, a person's owner change, a new record)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from adapters.crm import (
    CrmEvent,
    CrmPlugin,
    UnknownCrm,
    WebhookRequest,
    load_config,
    names,
    plugin,
    read_only_fields,
    write_window_ms,
)
from connector.errors import ConfigError, SignatureError
from connector.model import CrmRecord
from connector.settings import Settings, load_settings
from sandbox.hubspot_webhooks import sign_v3
from sandbox.salesforce_outbound import build_notifications, is_ack

ROOT = Path(__file__).resolve().parents[3]
WHEN = datetime(2024, 9, 18, 9, 16, tzinfo=UTC)
APP_ID = 1234567
SECRET = "hubspot-client-secret"
URL = "https://relay.example.com/webhooks/hubspot"
ORG = "00D5e000000KmXpEAK"
INTEGRATION_USER = "0055e000000IntUsAAA"


def settings(**values: object) -> Settings:
    return load_settings({}, hubspot_app_id=APP_ID, hubspot_webhook_secret=SECRET, salesforce_org_ids=(ORG,),
                         salesforce_user_id=INTEGRATION_USER, **values)


# ---- registry --------------------------------------------------------------------------------------------------


def test_the_registry_knows_each_crm_and_names_them_when_asked_for_another() -> None:
    assert names() == ("hubspot", "salesforce")
    assert [plugin(n).name for n in names()] == list(names())
    with pytest.raises(UnknownCrm, match="known: hubspot, salesforce"):
        plugin("pipedrive")


@pytest.mark.parametrize("name", names())
def test_a_plugin_is_one_folder_and_two_mapping_files(name: str) -> None:
    p: CrmPlugin = plugin(name)
    assert (ROOT / "adapters" / name / "plugin.py").is_file()
    assert (ROOT / "mappings" / "sources" / f"{p.source_mapping}.yaml").is_file()
    assert (ROOT / "mappings" / "crm" / f"{name}.yaml").is_file()
    assert set(p.settings) <= set(Settings.__struct_fields__), set(p.settings) - set(Settings.__struct_fields__)
    assert p.batch_max > 0 and p.write_window_ms > 0 and p.owner_field and p.read_only
    assert p.endpoint.summary and p.endpoint.handler_name


def test_batch_sizes_windows_and_owner_fields_are_the_vendors() -> None:
    assert (plugin("hubspot").batch_max, plugin("salesforce").batch_max) == (100, 200)
    assert (plugin("hubspot").owner_field, plugin("salesforce").owner_field) == ("hubspot_owner_id", "OwnerId")
    assert (plugin("hubspot").source_mapping, plugin("salesforce").source_mapping) == ("hubspot_contact",
                                                                                        "salesforce_lead")


def test_the_write_window_is_the_crms_own_unless_set() -> None:
    assert write_window_ms(settings(), "hubspot") == 200
    assert write_window_ms(settings(), "salesforce") == 50
    assert write_window_ms(settings(write_batch_window_ms=75), "hubspot") == 75


def test_read_only_fields_come_from_the_plugins_and_reach_the_config_loader(tmp_path: Path) -> None:
    fields = read_only_fields()
    assert set(fields) == set(names())
    assert "hs_object_id" in fields["hubspot"] and "LastModifiedById" in fields["salesforce"]
    assert load_config(ROOT).crm  # the bundled mappings write no read-only field
    # a mapping that writes one is refused when the service loads the config
    import shutil

    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    crm_file = tmp_path / "mappings" / "crm" / "hubspot.yaml"
    text = crm_file.read_text(encoding="utf-8")
    first_target = next(line for line in text.splitlines() if line.strip().startswith("to:"))
    crm_file.write_text(text.replace(first_target, first_target.split("to:")[0] + "to: hs_object_id", 1),
                        encoding="utf-8")
    with pytest.raises(ConfigError, match="hs_object_id"):
        load_config(tmp_path)


# ---- HubSpot ---------------------------------------------------------------------------------------------------


def hubspot_event(**fields: object) -> dict[str, object]:
    event = {"eventId": 1, "subscriptionType": "contact.propertyChange", "objectId": 501, "occurredAt": 1_726_000_000}
    return {**event, **fields}


def test_hubspot_receive_verifies_then_parses_and_answers_with_counts() -> None:
    hs = plugin("hubspot")
    body = json.dumps([hubspot_event(), hubspot_event(eventId=2, subscriptionType="company.creation")]).encode()
    stamp = str(int(WHEN.timestamp() * 1000))
    headers = {"x-hubspot-signature-v3": sign_v3(SECRET, "POST", URL, body, stamp),
               "x-hubspot-request-timestamp": stamp}
    config = load_config(ROOT)  # the secret comes from the settings
    received = hs.receive(WebhookRequest(method="POST", url=URL, headers=headers, body=body), settings=settings(),
                          config=config, now=WHEN)
    assert received.records == 2 and [d.source for d in received.deliveries] == ["hubspot"]  # contacts only
    answer = hs.answer(received, accepted=1, duplicate=0)
    assert answer.media_type == "application/json"
    assert msgspec.json.decode(answer.body) == {"events": 2, "accepted": 1, "duplicate": 0}
    with pytest.raises(SignatureError):
        hs.receive(WebhookRequest(method="POST", url=URL + "?x=1", headers=headers, body=body), settings=settings(),
                   config=config, now=WHEN)


def test_hubspot_recognises_its_own_write_by_change_source_and_app_id() -> None:
    hs = plugin("hubspot")
    assert hs.read_event(hubspot_event(changeSource="INTEGRATION", sourceId=str(APP_ID)), settings()).echo
    assert not hs.read_event(hubspot_event(changeSource="INTEGRATION", sourceId="999"), settings()).echo
    assert not hs.read_event(hubspot_event(changeSource="CRM_UI", sourceId="userId:42"), settings()).echo
    unset = load_settings({})
    assert not hs.read_event(hubspot_event(changeSource="INTEGRATION", sourceId=str(APP_ID)), unset).echo


def test_hubspot_owner_change_by_a_person_and_a_new_contact() -> None:
    hs = plugin("hubspot")
    change = hs.read_event(hubspot_event(changeSource="CRM_UI", sourceId="userId:42",
                                         propertyName="hubspot_owner_id", propertyValue="7002"), settings())
    assert change == CrmEvent(record_id="501", owner_change=change.owner_change, occurred_at=change.occurred_at)
    assert change.owner_change is not None
    assert (change.owner_change.owner, change.owner_change.by) == ("7002", "hubspot user userId:42")
    assert not change.owner_change.unless_written
    other = hs.read_event(hubspot_event(propertyName="jobtitle", propertyValue="CFO"), settings())
    assert other.owner_change is None and other.record is None  # a new contact is fetched with the client's get
    record = CrmRecord(crm="hubspot", id="501", kind="contact", email="ana@example.com",
                       fields={"email": "ana@example.com"})
    assert hs.mapping_input(record) == {"id": "501", "properties": {"email": "ana@example.com"}}


# ---- Salesforce ------------------------------------------------------------------------------------------------


def outbound(org: str = ORG, session: str | None = None, host: str = "acme.my.salesforce.com", **lead: object) -> bytes:
    fields = {"Id": "00Q5e000001AbCdEAK", "Email": "ana@acme.example", "LastName": "Silva", "Company": "Acme", **lead}
    return build_notifications(organization_id=org, notifications=[("04l5e00000Notif1AAA", "Lead", fields)],
                               action_id="04k5e0000000001AAA", session_id=session,
                               enterprise_url=f"https://{host}/services/Soap/c/62.0",
                               partner_url=f"https://{host}/services/Soap/u/62.0")


def sf_request(body: bytes) -> WebhookRequest:
    return WebhookRequest(method="POST", url="https://relay.example.com/webhooks/salesforce",
                          headers={"content-type": "text/xml"}, body=body)


def test_salesforce_receive_checks_the_org_and_answers_with_the_ack(tmp_path: Path) -> None:
    sf = plugin("salesforce")
    config = load_config(ROOT)
    request = sf_request(outbound())
    received = sf.receive(request, settings=settings(), config=config, now=WHEN)
    assert received.records == 1 and received.deliveries[0].delivery_id == "04l5e00000Notif1AAA"
    answer = sf.answer(received, accepted=1, duplicate=0)
    assert answer.status == 200 and answer.media_type.startswith("text/xml") and is_ack(answer.body)
    with pytest.raises(SignatureError):
        sf.receive(msgspec.structs.replace(request, body=outbound(org="00D000000000001AAA")), settings=settings(),
                   config=config, now=WHEN)


def test_salesforce_checks_the_org_before_it_reads_a_notification() -> None:
    # a malformed notification from another org is refused as another org's (401), not parsed (400)
    body = outbound(org="00D000000000001AAA").replace(b"<Id>04l5e00000Notif1AAA</Id>", b"")
    with pytest.raises(SignatureError, match="allow-list"):
        plugin("salesforce").receive(sf_request(body), settings=settings(), config=load_config(ROOT), now=WHEN)


def test_a_salesforce_delivery_carries_the_record_id_only() -> None:
    received = plugin("salesforce").receive(
        sf_request(outbound(OwnerId="0055e000000RepAAAA", LastModifiedById="0055e000000HumanAA")),
        settings=settings(), config=load_config(ROOT), now=WHEN)
    payload = received.deliveries[0].payload
    assert payload == {"Id": "00Q5e000001AbCdEAK", "attributes": {"type": "Lead"}, "_organization_id": ORG,
                       "LastModifiedById": "0055e000000HumanAA"}  # no Email, Company or OwnerId to believe


class OrgAnswers:
    """Stands in for the org's answer to the SessionId call-back (the sandbox answers it for real in the
    integration tests)."""

    def __init__(self, org: str) -> None:
        self.org = org
        self.asked: list[tuple[str, str]] = []

    def __call__(self, session: str, instance: str, settings: Settings) -> str:
        self.asked.append((session, instance))
        return self.org


def test_a_salesforce_session_id_is_verified_with_the_configured_org(monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.salesforce.session import SessionCheck

    check = SessionCheck()
    monkeypatch.setattr("adapters.salesforce.plugin.SESSIONS", check)
    ours = OrgAnswers(ORG)
    monkeypatch.setattr(check, "_org_of", ours)
    sf, config = plugin("salesforce"), load_config(ROOT)
    st = settings(salesforce_instance_url="https://acme.my.salesforce.com")
    for _ in range(3):
        sf.receive(sf_request(outbound(session="00D5e!live")), settings=st, config=config, now=WHEN)
    assert ours.asked == [("00D5e!live", "https://acme.my.salesforce.com")]  # asked once, then remembered
    with pytest.raises(SignatureError, match="not the configured instance"):  # never asks a host the message names
        sf.receive(sf_request(outbound(session="00D5e!other", host="evil.example")), settings=st, config=config,
                   now=WHEN)
    with pytest.raises(SignatureError, match="no instance URL"):
        sf.receive(sf_request(outbound(session="00D5e!other")), settings=settings(), config=config, now=WHEN)
    assert len(ours.asked) == 1
    monkeypatch.setattr(check, "_org_of", OrgAnswers("00D000000000001AAA"))
    with pytest.raises(SignatureError, match="another organization"):
        sf.receive(sf_request(outbound(session="00D5e!stolen")), settings=st, config=config, now=WHEN)


def test_a_message_without_a_session_id_is_refused_when_one_is_required() -> None:
    sf, config = plugin("salesforce"), load_config(ROOT)
    with pytest.raises(SignatureError, match="no SessionId"):
        sf.receive(sf_request(outbound()), settings=settings(salesforce_require_session_id=True), config=config,
                   now=WHEN)
    assert sf.receive(sf_request(outbound()), settings=settings(), config=config, now=WHEN).records == 1


def test_salesforce_echo_and_a_trigger_to_read_the_record() -> None:
    sf = plugin("salesforce")
    base = {"Id": "00Q5e000001AbCdEAK", "Email": "ana@acme.example", "Company": "Acme", "OwnerId": "0055e000000RepAAAA"}
    assert sf.read_event({**base, "LastModifiedById": INTEGRATION_USER[:15]}, settings()).echo  # 15 or 18 chars
    ev = sf.read_event({**base, "LastModifiedById": "0055e000000HumanAAA"}, settings())
    # whatever the message says, nothing of it is believed: the record is read from Salesforce
    assert ev == CrmEvent(record_id="00Q5e000001AbCdEAK", reread=True)


def test_a_salesforce_record_read_from_the_api_says_who_owns_it() -> None:
    sf = plugin("salesforce")
    fields = {"Id": "00Q5e000001AbCdEAK", "Email": "ana@acme.example", "Company": "Acme", "Phone": None,
              "OwnerId": "0055e000000RepAAAA", "LastModifiedById": "0055e000000HumanAAA"}
    record = CrmRecord(crm="salesforce", id="00Q5e000001AbCdEAK", kind="lead", email="ana@acme.example",
                       owner_id="0055e000000RepAAAA", fields=fields)
    ev = sf.read_record(record, settings())
    assert not ev.echo and ev.record == record and not ev.reread
    assert ev.owner_change is not None and ev.owner_change.unless_written  # every edit carries the owner
    assert (ev.owner_change.owner, ev.owner_change.by) == ("0055e000000RepAAAA", "salesforce user 0055e000000HumanAAA")
    assert ev.mapping_input is not None and "Phone" not in ev.mapping_input and ev.mapping_input["Company"] == "Acme"
    ours = msgspec.structs.replace(record, fields={**fields, "LastModifiedById": INTEGRATION_USER})
    assert sf.read_record(ours, settings()).echo
    assert sf.read_record(msgspec.structs.replace(record, owner_id=None), settings()).owner_change is None
