"""The Salesforce sandbox serves what a mirror of the org reads, through simple-salesforce (unmodified) over HTTPS:
Bulk API 2.0 query jobs, Get Deleted, QueryAll with IsDeleted / MasterRecordId after a merge, SystemModstamp on
every write."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from sandbox.salesforce import DEFAULT_TOKEN
from sandbox.server import SandboxServer
from tests.integration.test_salesforce_sandbox import session

REP = "sarah.chen@leadrelay.example"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as s:
        yield s


@pytest.fixture
def sf(sandbox: SandboxServer) -> Salesforce:
    return Salesforce(instance_url=sandbox.url, session_id=DEFAULT_TOKEN, session=session(sandbox), version="62.0")


def seed_leads(sandbox: SandboxServer, n: int) -> list[str]:
    return [sandbox.salesforce.seed("Lead", {"LastName": f"Lead{i}", "Company": f"Co{i}",
                                             "Email": f"p{i}@co{i}.example"}) for i in range(n)]


def rows(pages: Iterator[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for page in pages:
        out += list(csv.DictReader(io.StringIO(page)))
    return out


def test_a_bulk2_query_returns_all_500_leads_in_sets_of_max_records(sf: Salesforce, sandbox: SandboxServer) -> None:
    ids = seed_leads(sandbox, 500)
    pages = list(sf.bulk2.Lead.query("SELECT Id, LastName, Email, Owner.Email, IsConverted FROM Lead",
                                     max_records=200, wait=0.05))
    assert len(pages) == 3  # 200 + 200 + 100, chained by Sforce-Locator
    got = rows(iter(pages))
    assert [r["Id"] for r in got] == ids
    assert list(got[0]) == ["Id", "LastName", "Email", "Owner.Email", "IsConverted"]  # the query's column order
    assert got[7]["Email"] == "p7@co7.example" and got[7]["Owner.Email"] == REP and got[7]["IsConverted"] == "false"
    assert pages[0].startswith('"Id","LastName"')  # every value double-quoted
    account = sandbox.salesforce.seed("Account", {"Name": "Acme"})
    sandbox.salesforce.seed("Contact", {"LastName": "Ada", "AccountId": account})
    assert [r["Account.Name"] for r in rows(sf.bulk2.Contact.query("SELECT Id, Account.Name FROM Contact",
                                                                    wait=0.05))] == ["Acme"]
    assert [r["Id"] for r in rows(sf.bulk2.Account.query("SELECT Id FROM Account", wait=0.05))] == [account]


def test_a_bulk2_job_is_refused_what_salesforce_refuses(sf: Salesforce, sandbox: SandboxServer) -> None:
    with pytest.raises(SalesforceMalformedRequest):  # Bulk API 2.0 runs no OFFSET
        list(sf.bulk2.Lead.query("SELECT Id FROM Lead OFFSET 10", wait=0.05))
    with pytest.raises(SalesforceMalformedRequest):
        list(sf.bulk2.Lead.query("SELECT Nope FROM Lead", wait=0.05))
    seed_leads(sandbox, 3)
    http = sf.session
    base = f"{sandbox.url}/services/data/v62.0/jobs/query"
    auth = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    job = http.post(base, json={"operation": "query", "query": "SELECT Id FROM Lead"}, headers=auth).json()
    assert job["state"] == "UploadComplete" and job["object"] == "Lead" and job["id"].startswith("750")
    early = http.get(f"{base}/{job['id']}/results", headers=auth)
    assert early.status_code == 412 and early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"
    assert http.get(f"{base}/{job['id']}", headers=auth).json()["state"] == "JobComplete"
    other_version = http.get(f"{sandbox.url}/services/data/v61.0/jobs/query/{job['id']}/results", headers=auth)
    assert other_version.status_code == 409
    page = http.get(f"{base}/{job['id']}/results", params={"maxRecords": 2}, headers=auth)
    assert page.headers["Sforce-NumberOfRecords"] == "2" and page.headers["content-type"].startswith("text/csv")
    rest = http.get(f"{base}/{job['id']}/results", params={"maxRecords": 2, "locator": page.headers["Sforce-Locator"]},
                    headers=auth)
    assert rest.headers["Sforce-NumberOfRecords"] == "1" and rest.headers["Sforce-Locator"] == "null"
    assert http.get(f"{base}/{job['id']}/results", params={"maxRecords": 0}, headers=auth).status_code == 400


def test_deleted_leads_are_listed_by_get_deleted_and_read_by_query_all(sf: Salesforce, sandbox: SandboxServer) -> None:
    ids = seed_leads(sandbox, 3)
    before = datetime.now(UTC) - timedelta(minutes=1)
    sf.Lead.delete(ids[1])
    with pytest.raises(SalesforceResourceNotFound) as gone:
        sf.Lead.get(ids[1])
    assert gone.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    listed = sf.Lead.deleted(before, datetime.now(UTC) + timedelta(minutes=1))
    assert [d["id"] for d in listed["deletedRecords"]] == [ids[1]]
    assert listed["deletedRecords"][0]["deletedDate"].endswith("+0000") and "latestDateCovered" in listed
    assert sf.Contact.deleted(before, datetime.now(UTC))["deletedRecords"] == []
    assert [r["Id"] for r in sf.query("SELECT Id FROM Lead")["records"]] == [ids[0], ids[2]]
    every = sf.query_all("SELECT Id, IsDeleted FROM Lead", include_deleted=True)["records"]
    assert {(r["Id"], r["IsDeleted"]) for r in every} == {(ids[0], False), (ids[1], True), (ids[2], False)}
    bulk = rows(sf.bulk2.Lead.query_all("SELECT Id, IsDeleted FROM Lead WHERE IsDeleted = true", wait=0.05))
    assert bulk == [{"Id": ids[1], "IsDeleted": "true"}]
    with pytest.raises(SalesforceMalformedRequest):  # Get Deleted reaches 30 days back, and start precedes end
        sf.Lead.deleted(datetime.now(UTC) - timedelta(days=31), datetime.now(UTC))
    with pytest.raises(SalesforceMalformedRequest):
        sf.Lead.deleted(datetime.now(UTC), before)


def test_a_merge_leaves_the_merged_records_deleted_with_their_master_record_id(
    sf: Salesforce, sandbox: SandboxServer
) -> None:
    kept = sandbox.salesforce.seed("Contact", {"LastName": "Smith", "FirstName": "Bob", "Email": "bob@ibm.example"})
    dupe = sandbox.salesforce.seed("Contact", {"LastName": "Smith", "FirstName": "Robert", "Email": "r@ibm.example"})
    result = sandbox.salesforce.merge_as(REP, "Contact", kept, [dupe], {"Phone": "+1 212 555 0100"})
    assert result["success"] and result["mergedRecordIds"] == [dupe]
    merged = sf.query_all("SELECT Id, MasterRecordId FROM Contact WHERE IsDeleted = true AND MasterRecordId != null",
                          include_deleted=True)["records"]
    assert [(r["Id"], r["MasterRecordId"]) for r in merged] == [(dupe, kept)]
    assert [r["Id"] for r in sf.query("SELECT Id FROM Contact")["records"]] == [kept]
    assert sf.Contact.get(kept)["Phone"] == "+1 212 555 0100"
    gone = sf.Contact.deleted(datetime.now(UTC) - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1))
    assert [d["id"] for d in gone["deletedRecords"]] == [dupe]
    big, small = (sandbox.salesforce.seed("Account", {"Name": n}) for n in ("IBM", "I.B.M."))
    person = sandbox.salesforce.seed("Contact", {"LastName": "Lee", "AccountId": small})
    assert sandbox.salesforce.merge_as(REP, "Account", big, [small])["updatedRelatedIds"] == [person]
    assert sf.Contact.get(person)["AccountId"] == big
    assert not sandbox.salesforce.merge_as(REP, "Account", big, [big])["success"]


def test_system_modstamp_moves_on_every_write_and_soql_reads_what_changed_since(
    sf: Salesforce, sandbox: SandboxServer
) -> None:
    with time_machine.travel(datetime(2026, 3, 1, 9, 0, tzinfo=UTC), tick=False):
        old, edited, deleted = seed_leads(sandbox, 3)
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False):
        sandbox.salesforce.edit_as(REP, "Lead", edited, {"Title": "CTO"})
        sandbox.salesforce.org.delete("Lead", deleted)
    stamps = {r["Id"]: r["SystemModstamp"] for r in sf.query_all(
        "SELECT Id, SystemModstamp FROM Lead", include_deleted=True)["records"]}
    assert stamps[old].startswith("2026-03-01T09:00:00") and stamps[edited].startswith("2026-03-02T09:00:00")
    assert stamps[deleted].startswith("2026-03-02T09:00:00")
    since = sf.query_all("SELECT Id FROM Lead WHERE SystemModstamp > 2026-03-02T08:00:00Z ORDER BY SystemModstamp",
                         include_deleted=True)["records"]
    assert sorted(r["Id"] for r in since) == sorted([edited, deleted])
    with pytest.raises(SalesforceMalformedRequest):
        sf.query("SELECT Id FROM Lead WHERE SystemModstamp > 2026-13-02T08:00:00Z")
