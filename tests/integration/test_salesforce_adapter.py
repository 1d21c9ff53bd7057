"""SalesforceCrm (simple-salesforce, unmodified) against the sandbox over HTTPS, with the shared Redis limiter."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce

from adapters.salesforce.auth import SalesforceAuth, login_url, make_session
from adapters.salesforce.client import SalesforceCrm
from connector.errors import AuthError, FatalError, RetryableError
from connector.ports import WriteItem
from connector.settings import load_settings
from sandbox.common import FaultPlan
from sandbox.salesforce import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TOKEN, INTEGRATION_USERNAME
from sandbox.server import SandboxServer

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
PUBLIC_PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
UPSERT = "PATCH /services/data/{version}/composite/sobjects/{sobject}/{field}"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(salesforce={"jwt_clients": {"leadrelay-jwt": PUBLIC_PEM.decode()},
                                   "leadrelay_fields": True}) as s:
        yield s


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.reset()
    return server


def client_credentials(sandbox: SandboxServer, secret: str = DEFAULT_CLIENT_SECRET) -> SalesforceAuth:
    return SalesforceAuth(
        session=make_session(str(sandbox.ca_path)),
        login_url=sandbox.url,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=secret,
        instance_url=sandbox.url,
    )


@pytest.fixture
def crm(sandbox: SandboxServer, redis_url: str) -> SalesforceCrm:
    return SalesforceCrm(client_credentials(sandbox), redis=redis.Redis.from_url(redis_url), retry_base_s=0.05)


def lib(sandbox: SandboxServer) -> Salesforce:
    return Salesforce(instance_url=sandbox.url, session_id=DEFAULT_TOKEN, session=make_session(str(sandbox.ca_path)))


def item(i: int, **fields: object) -> WriteItem:
    base = {"LastName": f"Lead{i}", "Company": f"Company {i}", "Email": f"person{i}@corp{i}.example"}
    return WriteItem(key=f"lead-{i}", fields={**base, **fields}, object_type="lead")


def write_calls(sandbox: SandboxServer) -> int:
    return sum(c["count"] for c in sandbox.calls.snapshot()
               if c["vendor"] == "salesforce" and c["endpoint"].split()[0] in ("POST", "PATCH", "DELETE")
               and "oauth2" not in c["endpoint"] and c["endpoint"] != COMPOSITE)  # fmt: skip


COMPOSITE = "POST /services/data/{version}/composite"  # the adapter's lookups: up to 5 queries in one call


def lookup_calls(sandbox: SandboxServer) -> int:
    return sum(c["count"] for c in sandbox.calls.snapshot() if c["vendor"] == "salesforce"
               and (c["endpoint"].startswith("GET") or c["endpoint"] == COMPOSITE))  # fmt: skip


def test_write_upserts_and_a_replay_creates_nothing_new(crm: SalesforceCrm, sandbox: SandboxServer) -> None:
    items = [item(i) for i in range(3)]
    first = crm.write(items)
    assert [(o.status, o.created) for o in first] == [("written", True)] * 3
    again = crm.write(items)
    assert [(o.status, o.created, o.record_id) for o in again] == [("written", False, o.record_id) for o in first]
    leads = sandbox.salesforce.records()["Lead"]
    assert sorted(r["Leadrelay_Id__c"] for r in leads) == ["lead-0", "lead-1", "lead-2"]
    assert {r["LastModifiedById"] for r in leads} == {sandbox.salesforce.integration_user["Id"]}


def test_owner_is_kept_with_sforce_auto_assign_false(crm: SalesforceCrm, sandbox: SandboxServer) -> None:
    sarah = sandbox.salesforce.user_id("sarah.chen@leadrelay.example")
    (out,) = crm.write([item(1, OwnerId=sarah)])
    assert crm.get(out.record_id or "").owner_id == sarah  # type: ignore[union-attr]
    # The same write without the header (the library used directly): the org's assignment rule takes the lead.
    raw = lib(sandbox).Lead.create({"LastName": "X", "Company": "Y", "OwnerId": sarah})
    assert crm.get(raw["id"]).owner_id == sandbox.salesforce.queue_id  # type: ignore[union-attr]


def test_update_by_known_id_and_matched_account(crm: SalesforceCrm, sandbox: SandboxServer) -> None:
    acct = lib(sandbox).Account.create({"Name": "Globex", "Website": "globex.example"})["id"]
    existing = lib(sandbox).Lead.create({"LastName": "Known", "Company": "Globex"})["id"]
    out = crm.write([
        WriteItem(key="lead-77", fields={"Rating": "Warm"}, record_id=existing, account_id=acct),
        WriteItem(key="lead-78", fields={"LastName": "New", "Company": "Globex"}, account_id=acct),
    ])  # fmt: skip
    assert [o.status for o in out] == ["written", "written"] and out[0].record_id == existing
    leads = {r["Id"]: r for r in sandbox.salesforce.records()["Lead"]}
    assert leads[existing]["Rating"] == "Warm" and leads[existing]["Matched_Account__c"] == acct
    assert leads[existing].get("Leadrelay_Id__c") is None  # a record someone else created keeps its identity
    assert leads[out[1].record_id or ""]["Matched_Account__c"] == acct
    assert len(leads) == 2


def test_a_refused_picklist_value_fails_only_that_row(crm: SalesforceCrm, sandbox: SandboxServer) -> None:
    out = crm.write([item(1), item(2, Status="Qualified-ish"), item(3)])
    assert [o.status for o in out] == ["written", "permanent", "written"]
    assert out[1].error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert out[1].message == "Lead Status: bad value for restricted picklist field: Qualified-ish"
    assert len(sandbox.salesforce.records()["Lead"]) == 2
    assert sandbox.calls.count("salesforce", UPSERT) == 1  # the permanent row is not retried


def test_a_record_salesforce_refuses_the_whole_call_for_fails_alone(crm: SalesforceCrm, sandbox: SandboxServer) -> None:
    # Salesforce answers 400 INVALID_FIELD for the whole collection when one record names a column its object
    # lacks: the call is split until that record is alone, and the others are written
    contact = lib(sandbox).Contact.create({"LastName": "Known", "Email": "known@corp.example"})["id"]
    others = [lib(sandbox).Contact.create({"LastName": f"C{i}"})["id"] for i in range(6)]
    bad = WriteItem(key="lead-bad", fields={"Company": "Lead-only field"}, record_id=contact, object_type="lead")
    good = [WriteItem(key=f"lead-{i}", fields={"Leadrelay_Score__c": i}, record_id=rid, object_type="Contact")
            for i, rid in enumerate(others)]
    out = crm.write([*good[:3], bad, *good[3:]])
    assert [o.status for o in out] == ["written"] * 3 + ["permanent"] + ["written"] * 3
    assert out[3].error_code == "INVALID_FIELD" and "No such column 'Company'" in (out[3].message or "")
    contacts = {r["Id"]: r for r in sandbox.salesforce.records()["Contact"]}
    assert [contacts[rid]["Leadrelay_Score__c"] for rid in others] == [0, 1, 2, 3, 4, 5]
    assert contacts[contact].get("Company") is None
    calls = sandbox.calls.count("salesforce", "PATCH /services/data/{version}/composite/sobjects")
    assert calls <= 1 + 2 * 3  # halves down to the one record: ~2·log2(7), not one call per record


def test_row_locks_are_retried_alone(crm: SalesforceCrm, sandbox: SandboxServer) -> None:
    sandbox.faults["salesforce"].set(FaultPlan(lock_error_share=0.5, seed=7))
    out = crm.write([item(i) for i in range(40)])
    assert {o.status for o in out} == {"written"}
    assert sandbox.calls.count("salesforce", UPSERT) >= 2
    assert len(sandbox.salesforce.records()["Lead"]) == 40


def test_find_by_email_and_domain_with_paging(crm: SalesforceCrm, sandbox: SandboxServer) -> None:
    sandbox.salesforce.query_batch_size = 25
    crm.write([item(i, Email=f"p{i}@acme.example") for i in range(60)])
    sf = lib(sandbox)
    acme = sf.Account.create({"Name": "Acme", "Website": "https://www.acmewidgets.com"})["id"]
    sf.Account.create({"Name": "Not Acme", "Website": "https://notacmewidgets.com"})
    sf.Contact.create({"LastName": "Doe", "Email": "Jane.Doe@acmewidgets.com", "AccountId": acme})
    sandbox.calls.reset()
    found = crm.find(
        [f"P{i}@acme.example" for i in range(60)] + ["jane.doe@acmewidgets.com", "nobody@x.example"],
        ["acmewidgets.com"],
    )
    kinds = Counter(r.kind for r in found)
    assert kinds == {"lead": 60, "contact": 1, "account": 1}
    contact = next(r for r in found if r.kind == "contact")
    assert (contact.company, contact.account_id, contact.domain) == ("Acme", acme, "acmewidgets.com")
    assert next(r for r in found if r.kind == "account").id == acme
    assert sandbox.calls.count("salesforce", "GET /services/data/{version}/query/{locator}") == 2  # 60 leads = 3 pages


def test_find_chunks_long_email_lists_under_the_uri_limit(sandbox: SandboxServer, redis_url: str) -> None:
    crm = SalesforceCrm(client_credentials(sandbox), redis=redis.Redis.from_url(redis_url), max_query_uri=2000)
    crm.write([item(i) for i in range(300)])
    found = crm.find([f"person{i}@corp{i}.example" for i in range(300)])
    assert len(found) == 300
    assert sandbox.calls.count("salesforce", "GET /services/data/{version}/query", 414) == 0
    # leads and contacts, chunked into >= 10 queries, sent 5 to a Composite request
    assert sandbox.calls.count("salesforce", COMPOSITE) >= 2
    assert sandbox.calls.count("salesforce", "GET /services/data/{version}/query") == 0


def test_owners_get_and_ping(crm: SalesforceCrm, sandbox: SandboxServer) -> None:
    owners = crm.owners()
    assert {o.email for o in owners} == {INTEGRATION_USERNAME, "sarah.chen@leadrelay.example",
                                         "marcus.reed@leadrelay.example", "ana.lopez@leadrelay.example"}  # fmt: skip
    assert all(o.id.startswith("005") and o.active for o in owners)
    (out,) = crm.write([item(5)])
    rec = crm.get(out.record_id or "")
    assert rec is not None and rec.kind == "lead" and rec.email == "person5@corp5.example"
    assert crm.get("00Q5e0000009999AAA") is None
    assert crm.ping() is True


def test_bad_credentials_are_an_auth_error(sandbox: SandboxServer) -> None:
    crm = SalesforceCrm(client_credentials(sandbox, secret="wrong"))
    with pytest.raises(AuthError) as err:
        crm.write([item(1)])
    assert "invalid_client" in str(err.value)
    assert "wrong" not in str(err.value)
    assert crm.ping() is False
    stale = SalesforceCrm(SalesforceAuth(session=make_session(str(sandbox.ca_path)), session_id="expired-token",
                                         instance_url=sandbox.url))  # fmt: skip
    with pytest.raises(AuthError):
        stale.owners()


def test_an_expired_session_is_refreshed_once(crm: SalesforceCrm, sandbox: SandboxServer) -> None:
    crm.write([item(1)])
    sandbox.salesforce.expire_sessions()
    assert [o.status for o in crm.write([item(2)])] == ["written"]
    assert sandbox.calls.count("salesforce", "POST /services/oauth2/token", 200) == 2
    assert sandbox.calls.count("salesforce", UPSERT, 401) == 1


def test_jwt_bearer_login(sandbox: SandboxServer, tmp_path: Path) -> None:
    key_file = tmp_path / "server.key"
    key_file.write_bytes(PRIVATE_PEM)
    settings = load_settings({}, salesforce_domain=sandbox.netloc, salesforce_client_id="leadrelay-jwt",
                             salesforce_username=INTEGRATION_USERNAME, salesforce_private_key_file=str(key_file),
                             ca_bundle=str(sandbox.ca_path))  # fmt: skip
    crm = SalesforceCrm.from_settings(settings)
    assert crm.auth.flow == "jwt-bearer" and login_url(sandbox.netloc) == sandbox.url
    assert crm.write([item(1)])[0].status == "written"
    assert "PRIVATE" not in repr(crm.auth)


def test_daily_allocation_403_is_retryable_with_a_long_wait(sandbox: SandboxServer, redis_url: str) -> None:
    crm = SalesforceCrm(client_credentials(sandbox), redis=redis.Redis.from_url(redis_url), reserve_share=0,
                        daily_retry_after_s=600, deadline_s=5)  # fmt: skip
    sandbox.salesforce.daily_api_limit = 1
    assert crm.write([item(1)])[0].status == "written"
    (out,) = crm.write([item(2)])
    assert out.status == "retryable" and out.retry_after == 600
    assert "TotalRequests Limit exceeded." in (out.message or "")
    assert sandbox.calls.count("salesforce", UPSERT, 403) == 1  # no hammering an exhausted org
    other_worker = SalesforceCrm(client_credentials(sandbox), redis=redis.Redis.from_url(redis_url), deadline_s=5)
    with pytest.raises(RetryableError) as err:
        other_worker.owners()
    assert 590 < err.value.retry_after <= 600  # the pause is shared through Redis
    assert sandbox.calls.count("salesforce", "GET /services/data/{version}/query") == 0


def test_the_allocation_reserve_is_never_spent(sandbox: SandboxServer, redis_url: str) -> None:
    crm = SalesforceCrm(client_credentials(sandbox), redis=redis.Redis.from_url(redis_url), reserve_share=0.2,
                        deadline_s=5)  # fmt: skip
    sandbox.salesforce.daily_api_limit = 10
    sandbox.salesforce.api_used = 7
    assert crm.write([item(1)])[0].status == "written"  # 8/10 used now: the last 20% belong to the org
    (out,) = crm.write([item(2)])
    assert out.status == "retryable" and "nearly used" in (out.message or "")
    assert sandbox.salesforce.api_used == 8


def test_1000_decisions_take_at_most_5_write_calls(crm: SalesforceCrm, sandbox: SandboxServer) -> None:
    sarah = sandbox.salesforce.user_id("sarah.chen@leadrelay.example")
    items = [item(i, OwnerId=sarah, Rating="Hot", Leadrelay_Score__c=80) for i in range(1000)]
    crm.find([str(i.fields["Email"]) for i in items])
    lookups = lookup_calls(sandbox)
    out = crm.write(items)
    assert Counter(o.status for o in out) == {"written": 1000}
    assert write_calls(sandbox) <= 5
    print(f"\nsalesforce: 1000 decisions -> {write_calls(sandbox)} write calls, {lookups} lookup calls")
    assert {r["OwnerId"] for r in sandbox.salesforce.records()["Lead"]} == {sarah}


def test_1000_decisions_under_30_percent_faults_end_written_exactly_once(
    crm: SalesforceCrm, sandbox: SandboxServer
) -> None:
    crm.deadline_s = 240
    sandbox.faults["salesforce"].set(FaultPlan(latency_ms=200, rate_limit_share=0.15, server_error_share=0.15,
                                               lock_error_share=0.05, seed=11))  # fmt: skip
    items = [item(i) for i in range(1000)]
    out = crm.write(items)
    assert Counter(o.status for o in out) == {"written": 1000}
    leads = sandbox.salesforce.records()["Lead"]
    assert len(leads) == 1000 and len({r["Leadrelay_Id__c"] for r in leads}) == 1000
    statuses = Counter(
        c["status"] for c in sandbox.calls.snapshot() if c["endpoint"] == UPSERT for _ in range(c["count"])
    )
    print(f"\nsalesforce under faults: upsert calls by status {dict(statuses)}")
    assert statuses[403] + statuses[500] + statuses[503] > 0  # the faults did happen


def test_requests_ca_bundle_in_the_environment_does_not_override_the_sandbox_ca(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    crm = SalesforceCrm(client_credentials(sandbox))
    assert crm.ping() is True
    plain = requests.Session()
    plain.verify = str(sandbox.ca_path)
    with pytest.raises(OSError):  # what trust_env=False protects us from
        plain.get(f"{sandbox.url}/_sandbox/health", timeout=5)


def test_two_workers_share_one_daily_budget_through_redis(sandbox: SandboxServer, redis_url: str) -> None:
    sandbox.salesforce.daily_api_limit = 480  # half for leadrelay = 240/day: a burst may take 240/24 = 10 calls
    a, b = (SalesforceCrm(client_credentials(sandbox), redis=redis.Redis.from_url(redis_url), assumed_daily_limit=480,
                          deadline_s=0.5) for _ in range(2))  # fmt: skip
    outcomes = [crm.write([item(i * 2 + j)])[0] for i in range(8) for j, crm in enumerate((a, b))]
    assert Counter(o.status for o in outcomes) == {"written": 10, "retryable": 6}
    assert all("rate limit" in (o.message or "") for o in outcomes if o.status == "retryable")
    assert sandbox.calls.count("salesforce", UPSERT) == 10 and sandbox.salesforce.api_used == 10


def test_a_whole_call_refusal_is_permanent_with_salesforces_code(crm: SalesforceCrm) -> None:
    out = crm.write([item(1, Shoe_Size__c=44), item(2, Shoe_Size__c=45)])  # a field the org does not have
    assert [(o.status, o.error_code) for o in out] == [("permanent", "INVALID_FIELD")] * 2
    assert "No such column 'Shoe_Size__c' on sobject of type Lead" in (out[0].message or "")


def test_a_replay_after_lost_responses_creates_nothing_new(sandbox: SandboxServer, redis_url: str) -> None:
    crm = SalesforceCrm(client_credentials(sandbox), redis=redis.Redis.from_url(redis_url), timeout_s=0.3,
                        deadline_s=1.5)  # fmt: skip
    crm.owners()  # log in before the network turns slow
    sandbox.faults["salesforce"].set(FaultPlan(latency_ms=600))  # answers arrive after we gave up waiting
    items = [item(i) for i in range(50)]
    assert {o.status for o in crm.write(items)} == {"retryable"}
    deadline = time.monotonic() + 10
    while len(sandbox.salesforce.records()["Lead"]) < 50 and time.monotonic() < deadline:
        time.sleep(0.05)  # Salesforce went on and saved them
    sandbox.faults["salesforce"].clear()
    again = crm.write(items)
    assert [(o.status, o.created) for o in again] == [("written", False)] * 50
    assert len(sandbox.salesforce.records()["Lead"]) == 50


def test_settings_from_the_environment_client_credentials_and_session_id(sandbox: SandboxServer) -> None:
    env = {
        "LEADRELAY_SALESFORCE_INSTANCE_URL": sandbox.url,
        "LEADRELAY_SALESFORCE_CLIENT_ID": DEFAULT_CLIENT_ID,
        "LEADRELAY_SALESFORCE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "LEADRELAY_CA_BUNDLE": str(sandbox.ca_path),
    }
    crm = SalesforceCrm.from_settings(load_settings(env))
    assert crm.auth.flow == "client-credentials" and crm.ping() is True
    assert DEFAULT_CLIENT_SECRET not in repr(crm.auth)
    direct = {"LEADRELAY_SALESFORCE_INSTANCE_URL": sandbox.url, "LEADRELAY_SALESFORCE_SESSION_ID": DEFAULT_TOKEN,
              "LEADRELAY_CA_BUNDLE": str(sandbox.ca_path)}  # fmt: skip
    crm = SalesforceCrm.from_settings(load_settings(direct))
    assert crm.auth.flow == "session-id" and not crm.auth.refreshable
    assert len(crm.owners()) == 4


def test_a_refused_query_inside_the_composite_lookup_is_a_refusal_naming_the_field(sandbox: SandboxServer) -> None:
    crm = SalesforceCrm(client_credentials(sandbox), upsert_key="No_Such_Field__c", deadline_s=5)
    with pytest.raises(FatalError) as err:
        crm.find(["ada@acme.example"], ["acme.example"])  # Lead, Contact and Account queries: one Composite call
    assert "INVALID_FIELD" in str(err.value) and "No_Such_Field__c" in str(err.value)
    assert sandbox.calls.count("salesforce", COMPOSITE) == 1  # a refusal is not retried
