"""The Salesforce sandbox, driven by simple-salesforce (unmodified) over HTTPS: the REST behaviours it emulates."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as DET
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sandbox.common import FaultPlan
from sandbox.salesforce import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TOKEN, INTEGRATION_USERNAME
from sandbox.salesforce_outbound import build_notifications, is_ack
from sandbox.server import SandboxServer

FIXTURE = Path(__file__).parents[1] / "fixtures" / "salesforce_outbound_message.xml"
NS = {"s": "http://schemas.xmlsoap.org/soap/envelope/", "o": "http://soap.sforce.com/2005/09/outbound",
      "sf": "urn:sobject.enterprise.soap.sforce.com"}  # fmt: skip
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
PUBLIC_PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(salesforce={"jwt_clients": {"jwt-app": PUBLIC_PEM.decode(), "shape-only-app": None},
                                   "leadrelay_fields": True}) as s:
        yield s


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.reset()
    return server


def session(server: SandboxServer) -> requests.Session:
    s = requests.Session()
    s.verify = str(server.ca_path)
    s.trust_env = False
    return s


@pytest.fixture
def sf(sandbox: SandboxServer) -> Salesforce:
    return Salesforce(instance_url=sandbox.url, session_id=DEFAULT_TOKEN, session=session(sandbox), version="62.0")


def lead(i: int, **extra: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Lead"}, "LastName": f"Lead{i}", "Company": f"Co{i}", "Email": f"p{i}@co{i}.example",
            **extra}  # fmt: skip


def rep_id(sandbox: SandboxServer, email: str = "sarah.chen@leadrelay.example") -> str:
    return sandbox.salesforce.user_id(email)


def test_create_get_update_delete_a_lead(sf: Salesforce, sandbox: SandboxServer) -> None:
    created = sf.Lead.create({"LastName": "Raman", "Company": "Meridian Bank", "Email": "priya@meridian.example"})
    assert created["success"] is True and created["id"].startswith("00Q") and len(created["id"]) == 18
    got = sf.Lead.get(created["id"])
    assert got["Status"] == "Open - Not Contacted"  # the picklist's default
    assert got["CreatedById"] == sandbox.salesforce.integration_user["Id"]
    assert sf.Lead.update(created["id"], {"Rating": "Hot"}) == 204
    assert sf.Lead.get(created["id"])["Rating"] == "Hot"
    assert sf.Lead.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get(created["id"])


def test_required_fields_and_restricted_picklists_are_refused_with_salesforce_codes(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.create({"FirstName": "No", "Email": "x@y.example"})
    assert err.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert set(err.value.content[0]["fields"]) == {"LastName", "Company"}
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.create({"LastName": "A", "Company": "B", "Status": "Hot Prospect"})
    assert err.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.create({"LastName": "A", "Company": "B", "Favourite_Colour__c": "blue"})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_upsert_by_external_id_is_201_then_200_and_one_record(sf: Salesforce, sandbox: SandboxServer) -> None:
    assert sf.Lead.upsert("Leadrelay_Id__c/lead-1", {"LastName": "A", "Company": "B"}) == 201
    assert sf.Lead.upsert("Leadrelay_Id__c/lead-1", {"LastName": "A2", "Company": "B"}) == 200
    leads = sandbox.salesforce.records()["Lead"]
    assert [(r["Leadrelay_Id__c"], r["LastName"]) for r in leads] == [("lead-1", "A2")]
    with pytest.raises(SalesforceMalformedRequest):  # not an external id field
        sf.Lead.upsert("Company/Acme", {"LastName": "A"})


def test_collections_take_200_records_and_refuse_201(sf: Salesforce, sandbox: SandboxServer) -> None:
    rows = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": [lead(i) for i in range(200)]}
    )
    assert len(rows) == 200 and all(r["success"] and r["id"].startswith("00Q") for r in rows)
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful("composite/sobjects", method="POST", json={"records": [lead(i) for i in range(201)]})
    assert err.value.status == 400
    assert err.value.content == [{"message": "record limit reached. cannot submit more than 200 records into this call",
                                  "errorCode": "EXCEEDED_ID_LIMIT"}]  # fmt: skip
    assert len(sandbox.salesforce.records()["Lead"]) == 200  # the refused call changed nothing
    assert sandbox.calls.count("salesforce", "POST /services/data/{version}/composite/sobjects", 400) == 1


def test_collection_upsert_by_external_id_is_exactly_once(sf: Salesforce, sandbox: SandboxServer) -> None:
    records = [lead(i, Leadrelay_Id__c=f"k{i}") for i in range(150)]
    path = "composite/sobjects/Lead/Leadrelay_Id__c"
    first = sf.restful(path, method="PATCH", json={"allOrNone": False, "records": records})
    again = sf.restful(path, method="PATCH", json={"allOrNone": False, "records": records})
    assert all(r["success"] and r["created"] for r in first)
    assert all(r["success"] and not r["created"] for r in again)
    assert [r["id"] for r in first] == [r["id"] for r in again]
    assert len(sandbox.salesforce.records()["Lead"]) == 150


def test_one_bad_row_fails_alone_unless_all_or_none(sf: Salesforce, sandbox: SandboxServer) -> None:
    records = [lead(1), lead(2, Rating="Lukewarm"), lead(3)]
    rows = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    assert [r["success"] for r in rows] == [True, False, True]
    assert rows[1]["errors"] == [{"statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                  "message": "Rating: bad value for restricted picklist field: Lukewarm",
                                  "fields": ["Rating"]}]  # fmt: skip
    sandbox.reset()
    rows = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    assert [r["success"] for r in rows] == [False, False, False]
    assert rows[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sandbox.salesforce.records()["Lead"] == []


def test_unique_external_id_gives_duplicate_value(sf: Salesforce) -> None:
    first = sf.restful("composite/sobjects", method="POST", json={"records": [lead(1, Leadrelay_Id__c="same")]})
    rows = sf.restful("composite/sobjects", method="POST", json={"records": [lead(2, Leadrelay_Id__c="SAME")]})
    assert rows[0]["success"] is False
    assert rows[0]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    assert first[0]["id"] in rows[0]["errors"][0]["message"]


def test_assignment_rule_runs_unless_sforce_auto_assign_false(sf: Salesforce, sandbox: SandboxServer) -> None:
    ours = rep_id(sandbox)
    without = sf.Lead.create({"LastName": "A", "Company": "B", "OwnerId": ours})
    with_false = sf.Lead.create(
        {"LastName": "A", "Company": "B", "OwnerId": ours}, headers={"Sforce-Auto-Assign": "FALSE"}
    )
    assert sf.Lead.get(without["id"])["OwnerId"] == sandbox.salesforce.queue_id  # the rule's queue won
    assert sf.Lead.get(with_false["id"])["OwnerId"] == ours
    rows = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Lead"}, "Id": with_false["id"], "Title": "CTO"}]})  # fmt: skip
    assert rows[0]["success"]
    assert sf.Lead.get(with_false["id"])["OwnerId"] == sandbox.salesforce.queue_id  # rules run on update too


def test_owner_must_be_an_active_user(sf: Salesforce, sandbox: SandboxServer) -> None:
    inactive = rep_id(sandbox, "tom.berg@leadrelay.example")
    hdr = {"Sforce-Auto-Assign": "FALSE"}
    rows = sf.restful("composite/sobjects", method="POST", headers=hdr, json={"records": [
        lead(1, OwnerId=inactive), lead(2, OwnerId="005000000000000AAA"), lead(3, OwnerId="not-an-id")]})  # fmt: skip
    assert [r["errors"][0]["statusCode"] for r in rows] == [
        "INACTIVE_OWNER_OR_USER", "INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID"]  # fmt: skip


def test_soql_is_parsed_filters_sort_limit(sf: Salesforce) -> None:
    sf.restful("composite/sobjects", method="POST", json={"records": [
        lead(1, Email="ada@acme.example", Rating="Hot", Company="Acme"),
        lead(2, Email="bob@acme.example", Rating="Cold", Company="Acme Corp"),
        lead(3, Email="cy@globex.example", Rating="Warm", Company="Globex"),
        lead(4, Email="di@initech.example", Company="O'Brien & Co")]})  # fmt: skip
    q = ("SELECT Id, Email, Rating FROM Lead WHERE (Email IN ('ADA@acme.example', 'cy@globex.example') "
         "OR Company LIKE 'acme c%') AND Rating != null ORDER BY Email DESC LIMIT 2")  # fmt: skip
    res = sf.query(q)
    assert res["done"] is True and res["totalSize"] == 2
    assert [r["Email"] for r in res["records"]] == ["cy@globex.example", "bob@acme.example"]
    assert list(res["records"][0]) == ["attributes", "Id", "Email", "Rating"]
    escaped = sf.query("SELECT Id, Company FROM Lead WHERE Company = 'O\\'Brien & Co'")
    assert [r["Company"] for r in escaped["records"]] == ["O'Brien & Co"]
    assert sf.query("SELECT Id FROM Lead WHERE NOT Rating IN ('Hot', 'Cold')")["totalSize"] == 2


def test_email_filter_uses_the_index_and_follows_updates(sf: Salesforce) -> None:
    # the sandbox answers `Email IN (...)` through an index, as Salesforce does: it must still see edits
    records = [lead(1, Email="ada@acme.example", Rating="Hot"), lead(2, Email="bob@acme.example", Rating="Cold")]
    created = sf.restful("composite/sobjects", method="POST", json={"records": records})
    q = "SELECT Id, Email FROM Lead WHERE IsConverted = false AND Email IN ('ADA@acme.example', '{}')"
    assert [r["Email"] for r in sf.query(q.format("bob@acme.example"))["records"]] == [
        "ada@acme.example", "bob@acme.example"]  # fmt: skip
    sf.Lead.update(created[1]["id"], {"Email": "robert@acme.example"})
    assert [r["Email"] for r in sf.query(q.format("bob@acme.example"))["records"]] == ["ada@acme.example"]
    assert sf.query(q.format("robert@acme.example"))["totalSize"] == 2
    sf.Lead.delete(created[0]["id"])
    assert [r["Email"] for r in sf.query(q.format("robert@acme.example"))["records"]] == ["robert@acme.example"]
    assert sf.query("SELECT Id FROM Lead WHERE Email = 'ROBERT@acme.example' AND Rating = 'Hot'")["totalSize"] == 0


def test_soql_errors_are_salesforces(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Lead WHERE")
    assert err.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id, Shoe_Size__c FROM Lead")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Opportunityy")
    assert err.value.content[0]["errorCode"] == "INVALID_TYPE"


def test_query_pages_with_next_records_url(sf: Salesforce, sandbox: SandboxServer) -> None:
    sandbox.salesforce.query_batch_size = 50
    sf.restful("composite/sobjects", method="POST", json={"records": [lead(i, Company="Acme") for i in range(120)]})
    first = sf.query("SELECT Id FROM Lead WHERE Company = 'Acme'")
    assert first["done"] is False and first["totalSize"] == 120 and len(first["records"]) == 50
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g") and first["nextRecordsUrl"].endswith(
        "-50"
    )
    everything = sf.query_all("SELECT Id FROM Lead WHERE Company = 'Acme'")
    assert len({r["Id"] for r in everything["records"]}) == 120
    assert sandbox.calls.count("salesforce", "GET /services/data/{version}/query/{locator}", 200) == 2


def test_relationship_fields_resolve_one_level(sf: Salesforce, sandbox: SandboxServer) -> None:
    acct = sf.Account.create({"Name": "Acme", "Website": "https://www.acme.example"})
    sf.Contact.create({"LastName": "Doe", "Email": "jd@acme.example", "AccountId": acct["id"]})
    rec = sf.query("SELECT Id, Account.Name, Owner.Email FROM Contact")["records"][0]
    assert rec["Account"]["Name"] == "Acme"
    assert rec["Owner"]["Email"] == INTEGRATION_USERNAME


def test_bad_session_is_401_invalid_session_id(sandbox: SandboxServer) -> None:
    bad = Salesforce(instance_url=sandbox.url, session_id="nope", session=session(sandbox), version="62.0")
    with pytest.raises(SalesforceExpiredSession) as err:
        bad.query("SELECT Id FROM Lead")
    assert err.value.status == 401
    assert err.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_limit_info_header_and_daily_allocation_403(sf: Salesforce, sandbox: SandboxServer) -> None:
    sandbox.salesforce.daily_api_limit = 3
    sf.query("SELECT Id FROM Lead")
    assert tuple(sf.api_usage["api-usage"]) == (1, 3)
    sf.query("SELECT Id FROM Lead")
    sf.query("SELECT Id FROM Lead")
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.query("SELECT Id FROM Lead")
    assert err.value.status == 403
    assert err.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def test_faults_render_in_salesforce_shapes(sf: Salesforce, sandbox: SandboxServer) -> None:
    sandbox.faults["salesforce"].set(FaultPlan(rate_limit_share=1.0))
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.query("SELECT Id FROM Lead")
    assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert err.value.content[0]["message"] == "ConcurrentPerOrgLongTxn Limit exceeded."
    sandbox.faults["salesforce"].set(FaultPlan(lock_error_share=1.0))
    rows = sf.restful("composite/sobjects", method="POST", json={"records": [lead(1), lead(2)]})
    assert {r["errors"][0]["statusCode"] for r in rows} == {"UNABLE_TO_LOCK_ROW"}
    assert sandbox.salesforce.records()["Lead"] == []


def test_composite_takes_25_subrequests_with_references_and_refuses_26(sf: Salesforce, sandbox: SandboxServer) -> None:
    acct = {
        "method": "POST",
        "url": "/services/data/v62.0/sobjects/Account",
        "referenceId": "acct",
        "body": {"Name": "A"},
    }
    subs: list[dict[str, Any]] = [acct]
    subs += [{"method": "POST", "url": "/services/data/v62.0/sobjects/Contact", "referenceId": f"c{i}",
              "body": {"LastName": f"C{i}", "AccountId": "@{acct.id}"}} for i in range(24)]  # fmt: skip
    res = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": subs})
    assert [r["httpStatusCode"] for r in res["compositeResponse"]] == [201] * 25
    acct_id = res["compositeResponse"][0]["body"]["id"]
    assert res["compositeResponse"][0]["httpHeaders"] == {
        "Location": f"/services/data/v62.0/sobjects/Account/{acct_id}"
    }
    assert {c["AccountId"] for c in sandbox.salesforce.records()["Contact"]} == {acct_id}
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite", method="POST", json={"compositeRequest": subs + subs[:1]})


def token(sandbox: SandboxServer, **form: str) -> requests.Response:
    return session(sandbox).post(f"{sandbox.url}/services/oauth2/token", data=form, timeout=10)


def test_oauth_client_credentials(sandbox: SandboxServer) -> None:
    ok = token(
        sandbox, grant_type="client_credentials", client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET
    )
    assert ok.status_code == 200 and ok.json()["instance_url"] == sandbox.url and ok.json()["token_type"] == "Bearer"
    sf = Salesforce(
        instance_url=ok.json()["instance_url"], session_id=ok.json()["access_token"], session=session(sandbox)
    )
    assert sf.query("SELECT Id FROM User")["totalSize"] == 5
    bad = token(sandbox, grant_type="client_credentials", client_id=DEFAULT_CLIENT_ID, client_secret="wrong")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    sandbox.salesforce.expire_sessions()
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM User")


def assertion(client: str, aud: str, *, key: bytes = PRIVATE_PEM, exp_in: int = 170) -> str:
    claims = {"iss": client, "sub": INTEGRATION_USERNAME, "aud": aud, "exp": int(time.time()) + exp_in}
    return str(jwt.encode(claims, key, algorithm="RS256"))


def test_oauth_jwt_bearer_checks_signature_audience_and_expiry(sandbox: SandboxServer) -> None:
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert (
        token(sandbox, grant_type=grant, assertion=assertion("jwt-app", "https://login.salesforce.com")).status_code
        == 200
    )
    assert token(sandbox, grant_type=grant, assertion=assertion("jwt-app", sandbox.url)).status_code == 200
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())  # fmt: skip
    forged = token(sandbox, grant_type=grant, assertion=assertion("jwt-app", sandbox.url, key=other_key))
    assert forged.status_code == 400 and forged.json() == {
        "error": "invalid_grant",
        "error_description": "invalid assertion",
    }
    wrong_aud = token(sandbox, grant_type=grant, assertion=assertion("jwt-app", "https://evil.example"))
    assert wrong_aud.json()["error_description"] == "audience is invalid"
    too_long = token(sandbox, grant_type=grant, assertion=assertion("jwt-app", sandbox.url, exp_in=3600))
    assert too_long.status_code == 400
    unknown = token(sandbox, grant_type=grant, assertion=assertion("who", sandbox.url))
    assert unknown.json()["error"] == "invalid_client_id"
    assert (
        token(sandbox, grant_type=grant, assertion=assertion("shape-only-app", sandbox.url, key=other_key)).status_code
        == 200
    )


# --- Outbound Messages --------------------------------------------------------------------------------------------


class Listener:
    """A plain-HTTP SOAP listener that refuses the first ``refuse`` messages, then acknowledges."""

    def __init__(self, refuse: int = 0) -> None:
        self.bodies: list[bytes] = []
        self.refuse = refuse
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                listener.bodies.append(body)
                ack = "true" if len(listener.bodies) > listener.refuse else "false"
                out = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
                       '"http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notificationsResponse '
                       f'xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>{ack}</Ack></notificationsResponse>'
                       "</soapenv:Body></soapenv:Envelope>").encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/salesforce/outbound"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def wait_for(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def notifications(body: bytes) -> list[dict[str, str]]:
    root = DET.fromstring(body)
    out = []
    for n in root.iterfind(".//o:Notification", NS):
        sobj = n.find("o:sObject", NS)
        assert sobj is not None
        out.append(
            {el.tag.split("}")[1]: el.text or "" for el in sobj} | {"_id": n.findtext("o:Id", namespaces=NS) or ""}
        )
    return out


def test_outbound_message_fires_for_a_reps_edit_and_is_retried_until_ack() -> None:
    listener = Listener(refuse=1)
    opts = {
        "outbound_url": listener.url,
        "outbound_retry_base_s": 0.1,
        "outbound_exclude_users": [INTEGRATION_USERNAME],
        "leadrelay_fields": True,
    }
    try:
        with SandboxServer(salesforce=opts) as srv:
            sf = Salesforce(instance_url=srv.url, session_id=DEFAULT_TOKEN, session=session(srv), version="62.0")
            ours = sf.Lead.create({"LastName": "Ours", "Company": "Acme", "Leadrelay_Id__c": "lead-1"})
            rep = srv.salesforce.edit_as(
                "sarah.chen@leadrelay.example", "Lead", ours["id"], {"Status": "Working - Contacted"}
            )
            assert rep["success"]
            wait_for(lambda: len(listener.bodies) >= 2)  # refused once, then delivered again
            assert listener.bodies[0] == listener.bodies[1]
            (note,) = notifications(listener.bodies[1])
            assert note["Id"] == ours["id"] and note["Status"] == "Working - Contacted"
            assert note["LastModifiedById"] == rep_id(srv)
            assert note["_id"].startswith("04l")
            root = DET.fromstring(listener.bodies[1])
            assert root.findtext(".//o:OrganizationId", namespaces=NS) == srv.salesforce.org_id
            assert root.find(".//o:SessionId", NS).get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
            wait_for(lambda: srv.salesforce.outbound is not None and srv.salesforce.outbound.pending() == 0)
            assert len(listener.bodies) == 2  # our own create was excluded by the rule's criteria
    finally:
        listener.close()


def test_outbound_batches_up_to_100_notifications_and_sends_latest_data() -> None:
    listener = Listener()
    try:
        with SandboxServer(salesforce={"outbound_url": listener.url, "outbound_batch_window_s": 1.0}) as srv:
            sf = Salesforce(instance_url=srv.url, session_id=DEFAULT_TOKEN, session=session(srv), version="62.0")
            first = []
            for start in (0, 200):
                recs = [lead(i) for i in range(start, start + 150)]
                first += sf.restful("composite/sobjects", method="POST", json={"records": recs})
            sf.Lead.update(first[0]["id"], {"Title": "Latest"})  # queued before the first message goes out
            wait_for(lambda: sum(len(notifications(b)) for b in listener.bodies) == 301)
            assert max(len(notifications(b)) for b in listener.bodies) == 100
            assert all(len(notifications(b)) <= 100 for b in listener.bodies)
            about_first = [n for b in listener.bodies for n in notifications(b) if n["Id"] == first[0]["id"]]
            assert [n.get("Title") for n in about_first] == ["Latest", "Latest"]  # the latest data, not the first
    finally:
        listener.close()


def test_outbound_fixture_has_the_documented_shape() -> None:
    body = FIXTURE.read_bytes()
    root = DET.fromstring(body)
    note = root.find("s:Body/o:notifications", NS)
    assert note is not None
    assert [el.tag.split("}")[1] for el in note][:5] == [
        "OrganizationId",
        "ActionId",
        "SessionId",
        "EnterpriseUrl",
        "PartnerUrl",
    ]
    sobj = note.find("o:Notification/o:sObject", NS)
    assert sobj is not None and sobj.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "sf:Lead"
    assert notifications(body)[1]["Company"] == "O'Neil <Holdings>"
    rebuilt = build_notifications(
        organization_id="00D5e0000001ABCEA2",
        action_id="04k5e000000CaRkAAK",
        session_id=None,
        enterprise_url="https://x/c",
        partner_url="https://x/u",
        notifications=[("04l5e00000Gx7QzAAJ", "Lead", {"Id": "00Q5e00000A1b2cEAB"})],
    )
    assert notifications(rebuilt) == [{"Id": "00Q5e00000A1b2cEAB", "_id": "04l5e00000Gx7QzAAJ"}]
    assert is_ack(b"<r xmlns='http://soap.sforce.com/2005/09/outbound'><Ack>true</Ack></r>")
    assert not is_ack(b"<r><Ack>false</Ack></r>") and not is_ack(b"not xml")


def test_control_endpoints_expire_sessions_and_edit_as_a_rep(sf: Salesforce, sandbox: SandboxServer) -> None:
    created = sf.Lead.create({"LastName": "A", "Company": "B"})
    s = session(sandbox)
    edit = {"username": "marcus.reed@leadrelay.example", "id": created["id"], "fields": {"Title": "VP"}}
    assert s.post(f"{sandbox.url}/_sandbox/salesforce/edit-as", json=edit, timeout=5).json()["success"] is True
    rec = sf.Lead.get(created["id"])
    assert (rec["Title"], rec["LastModifiedById"]) == ("VP", rep_id(sandbox, "marcus.reed@leadrelay.example"))
    assert s.post(f"{sandbox.url}/_sandbox/salesforce/expire-sessions", timeout=5).status_code == 204
    with pytest.raises(SalesforceExpiredSession):
        sf.Lead.get(created["id"])
