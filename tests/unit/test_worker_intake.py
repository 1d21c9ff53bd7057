"""Intake (delivery -> lead) for a CRM's own webhook deliveries, with small fakes for the store and the CRM:
echoes are dropped and counted, a person's owner change on a lead we routed is kept, a new record becomes a lead."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.crm import load_config
from connector.config import Config
from connector.model import CrmRecord
from connector.ports import Delivery
from connector.settings import Settings, load_settings
from worker.intake import Intake
from worker.metrics import Recorder

ROOT = Path(__file__).resolve().parents[2]
APP_ID = 4242
INTEGRATION_USER = "0055e000000IntUsAAA"


class FakeStore:
    def __init__(self, records: dict[tuple[str, str], str] | None = None,
                 leads: dict[str, dict[str, bytes]] | None = None) -> None:
        self.records = records or {}
        self.leads = leads or {}

    async def record_lead(self, crm: str, record_id: str) -> str | None:
        return self.records.get((crm, record_id))

    async def lead(self, lead_id: str) -> dict[str, bytes]:
        return dict(self.leads.get(lead_id, {}))

    async def set_lead_fields(self, lead_id: str, **fields: str | bytes) -> None:
        self.leads.setdefault(lead_id, {}).update({k: v.encode() if isinstance(v, str) else v
                                                   for k, v in fields.items()})


class FakeCrm:
    def __init__(self, name: str, record: CrmRecord | None = None) -> None:
        self.name = name
        self.record = record
        self.asked: list[str] = []

    def get(self, record_id: str) -> CrmRecord | None:
        self.asked.append(record_id)
        return self.record


class FakeMetrics:
    def __init__(self) -> None:
        self.counted: list[tuple[str, dict[str, str]]] = []

    async def inc(self, name: str, labels: Any = None, amount: float = 1.0) -> None:
        self.counted.append((name, dict(labels or {})))


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(ROOT)


def settings(crm: str) -> Settings:
    return load_settings({}, crm=crm, hubspot_app_id=APP_ID, salesforce_user_id=INTEGRATION_USER)


def delivery(source: str, payload: dict[str, Any]) -> Delivery:
    return Delivery(source=source, delivery_id="d1", received_at=datetime(2024, 9, 18, tzinfo=UTC), payload=payload)


def run(intake: Intake, d: Delivery) -> Any:
    return asyncio.run(intake.incoming(d))


def test_an_echo_is_dropped_and_counted_as_a_duplicate(config: Config) -> None:
    metrics = FakeMetrics()
    intake = Intake(settings("hubspot"), config, FakeStore(), FakeCrm("hubspot"), Recorder(metrics))  # type: ignore[arg-type]
    got = run(intake, delivery("hubspot", {"objectId": 9, "changeSource": "INTEGRATION", "sourceId": str(APP_ID)}))
    assert got.lead is None and got.status == "echo"
    assert metrics.counted == [("leadrelay_deliveries_total",
                                {"source": "hubspot", "outcome": "duplicate", "reason": "echo"})]


def test_a_persons_owner_change_on_a_routed_lead_is_kept(config: Config) -> None:
    store = FakeStore(records={("hubspot", "9"): "ld_1"})
    intake = Intake(settings("hubspot"), config, store, FakeCrm("hubspot"), Recorder())  # type: ignore[arg-type]
    got = run(intake, delivery("hubspot", {"objectId": 9, "changeSource": "CRM_UI", "sourceId": "userId:42",
                                           "propertyName": "hubspot_owner_id", "propertyValue": "7002"}))
    assert got.status == "owner_change"
    assert store.leads["ld_1"] == {"owner_locked": b"hubspot user userId:42", "owner_in_crm": b"7002"}
    other = run(intake, delivery("hubspot", {"objectId": 9, "propertyName": "jobtitle", "propertyValue": "CFO"}))
    assert other.status == "ignored"  # a person's other edits stand as they are


def sf_lead(owner: str, by: str = "005Human", **fields: Any) -> CrmRecord:
    """A Salesforce Lead as the API answers it (``SalesforceCrm.get``)."""
    values = {"Id": "00Q1", "Email": "bo@acme.example", "LastName": "Bo", "Company": "Acme", "OwnerId": owner,
              "LastModifiedById": by, **fields}
    return CrmRecord(crm="salesforce", id="00Q1", kind="lead", email=values["Email"], owner_id=owner, fields=values)


def test_an_owner_equal_to_the_one_we_wrote_is_no_change(config: Config) -> None:
    store = FakeStore(records={("salesforce", "00Q1"): "ld_1"}, leads={"ld_1": {"owner_written": b"005A"}})
    crm = FakeCrm("salesforce", sf_lead("005A"))
    intake = Intake(settings("salesforce"), config, store, crm, Recorder())  # type: ignore[arg-type]
    same = run(intake, delivery("salesforce", {"Id": "00Q1", "LastModifiedById": "005Human"}))
    assert same.status == "ignored" and "owner_locked" not in store.leads["ld_1"]
    crm.record = sf_lead("005B")
    moved = run(intake, delivery("salesforce", {"Id": "00Q1", "LastModifiedById": "005Human"}))
    assert moved.status == "owner_change" and store.leads["ld_1"]["owner_locked"] == b"salesforce user 005Human"
    assert crm.asked == ["00Q1", "00Q1"]  # the owner is the one Salesforce answers, read by id


def test_a_forged_owner_in_an_outbound_message_is_not_believed(config: Config) -> None:
    # the message says the owner moved to 005Evil; the org says it is still the owner we wrote
    store = FakeStore(records={("salesforce", "00Q1"): "ld_1"}, leads={"ld_1": {"owner_written": b"005A"}})
    intake = Intake(settings("salesforce"), config, store, FakeCrm("salesforce", sf_lead("005A")), Recorder())  # type: ignore[arg-type]
    got = run(intake, delivery("salesforce", {"Id": "00Q1", "OwnerId": "005Evil", "LastModifiedById": "005Human",
                                              "Email": "evil@example.com"}))
    assert got.status == "ignored" and store.leads["ld_1"] == {"owner_written": b"005A"}


def test_a_message_about_a_record_that_is_not_there_is_ignored(config: Config) -> None:
    intake = Intake(settings("salesforce"), config, FakeStore(), FakeCrm("salesforce"), Recorder())  # type: ignore[arg-type]
    assert run(intake, delivery("salesforce", {"Id": "00Q9", "Email": "evil@example.com"})).status == "ignored"


def test_our_own_write_read_back_from_salesforce_is_an_echo(config: Config) -> None:
    crm = FakeCrm("salesforce", sf_lead("005A", by=INTEGRATION_USER))
    intake = Intake(settings("salesforce"), config, FakeStore(), crm, Recorder())  # type: ignore[arg-type]
    assert run(intake, delivery("salesforce", {"Id": "00Q1", "LastModifiedById": "005Human"})).status == "echo"
    echo = run(intake, delivery("salesforce", {"Id": "00Q1", "LastModifiedById": INTEGRATION_USER}))
    assert echo.status == "echo" and crm.asked == ["00Q1"]  # said so in the message: dropped without a call


def test_a_new_record_is_fetched_only_from_the_crm_we_write_to(config: Config) -> None:
    record = CrmRecord(crm="hubspot", id="9", kind="contact", email="ana@example.com",
                       fields={"email": "ana@example.com", "firstname": "Ana", "lastname": "Silva"})
    crm = FakeCrm("hubspot", record)
    intake = Intake(settings("hubspot"), config, FakeStore(), crm, Recorder())  # type: ignore[arg-type]
    got = run(intake, delivery("hubspot", {"objectId": 9, "subscriptionType": "contact.creation"}))
    assert crm.asked == ["9"] and got.record == record
    assert got.lead is not None and got.lead.identity.email == "ana@example.com"
    assert got.lead.origin.delivery_id == "d1"
    elsewhere = Intake(settings("salesforce"), config, FakeStore(), FakeCrm("salesforce"), Recorder())  # type: ignore[arg-type]
    assert run(elsewhere, delivery("hubspot", {"objectId": 9})).status == "ignored"


def test_a_new_salesforce_lead_is_read_from_salesforce_not_from_the_message(config: Config) -> None:
    crm = FakeCrm("salesforce", sf_lead("005A", Email="bo@acme.example", Company="Acme"))
    intake = Intake(settings("salesforce"), config, FakeStore(), crm, Recorder())  # type: ignore[arg-type]
    got = run(intake, delivery("salesforce", {"Id": "00Q1", "Email": "evil@example.com", "LastName": "Evil",
                                              "Company": "Evil Corp", "attributes": {"type": "Lead"}}))
    assert crm.asked == ["00Q1"] and got.record is not None and got.record.id == "00Q1"
    assert got.lead is not None and got.lead.identity.email == "bo@acme.example"
    assert got.lead.company.name == "Acme"
    elsewhere = Intake(settings("hubspot"), config, FakeStore(), FakeCrm("hubspot"), Recorder())  # type: ignore[arg-type]
    assert run(elsewhere, delivery("salesforce", {"Id": "00Q1"})).status == "ignored"  # not the CRM we read


def test_a_form_delivery_is_mapped_as_before(config: Config) -> None:
    intake = Intake(settings("hubspot"), config, FakeStore(), FakeCrm("hubspot"), Recorder())  # type: ignore[arg-type]
    d = Delivery(source="form", delivery_id="f1", received_at=datetime(2024, 9, 18, tzinfo=UTC), form="website",
                 payload={"email": "cy@example.org", "first_name": "Cy", "last_name": "Lee", "company": "Example"})
    got = run(intake, d)
    assert got.record is None and got.lead is not None and got.lead.identity.email == "cy@example.org"
