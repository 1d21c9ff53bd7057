"""Each webhook kind, as its vendor sends it, ends as an owner in the sandbox CRM — through the real API,
arq workers in their own processes, the real client libraries and the sandbox over HTTPS."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from adapters.forms.standard_webhooks import sign
from adapters.forms.typeform import sign as typeform_sign
from tests.integration.harness import (
    FORM_SECRET,
    ROOT,
    TYPEFORM_SECRET,
    ApiServer,
    WorkerProcs,
    config_dir,
    free_port,
    hubspot_contacts,
    sandbox_for,
    settings_for,
    wait_for,
)
from tests.tokens import API_TOKENS, bearer

# a hot German lead is held outside EMEA hours: this test and its processes run on a working Tuesday
# morning (UTC)
pytestmark = pytest.mark.usefixtures("business_hours")

FIXTURES = ROOT / "tests" / "fixtures"
HUBSPOT_SECRET = "hubspot-client-secret-for-tests"



def _owner_ids(sandbox) -> set[str]:  # type: ignore[no-untyped-def]
    return {o["id"] for o in sandbox.hubspot.owners}


@pytest.mark.timeout(180)
def test_form_typeform_and_hubspot_webhooks_end_as_owned_hubspot_contacts(
    redis_url: str, tmp_path: Path, signing_secrets: None
) -> None:
    cfg = config_dir(tmp_path)
    port = free_port()
    with sandbox_for(cfg, webhook_url=f"http://127.0.0.1:{port}/webhooks/hubspot", client_secret=HUBSPOT_SECRET,
                     webhook_properties=["hubspot_owner_id"]) as sandbox:
        settings = settings_for(sandbox, redis_url, cfg, hubspot_webhook_secret=HUBSPOT_SECRET)
        with ApiServer(settings, port) as api, WorkerProcs(settings, 1) as workers, httpx.Client() as http:
            # 1. a website form (Standard Webhooks signature)
            body = (FIXTURES / "website_form.json").read_bytes()
            r = http.post(f"{api.url}/webhooks/forms/website", content=body,
                          headers={"content-type": "application/json",
                                   **sign(FORM_SECRET, "msg_e2e_1", int(time.time()), body)})
            assert r.status_code == 202, r.text
            # 2. a Typeform form_response (Typeform-Signature)
            body = (FIXTURES / "typeform_form_response.json").read_bytes()
            r = http.post(f"{api.url}/webhooks/typeform/typeform_demo", content=body,
                          headers={"content-type": "application/json",
                                   "Typeform-Signature": typeform_sign(TYPEFORM_SECRET, body)})
            assert r.status_code == 200, r.text
            # 3. a contact a rep creates in HubSpot: HubSpot's own contact.creation webhook (signature v3)
            hs_id = sandbox.hubspot.ui_create({"email": "maria.reyes@harborpointsoftware.com", "firstname": "Maria",
                                               "lastname": "Reyes", "company": "Harbor Point Software",
                                               "country": "United States", "state": "CA"}, user_id=77)

            def owned() -> dict[str, str]:
                return {c["properties"]["email"]: c["properties"].get("hubspot_owner_id", "")
                        for c in hubspot_contacts(sandbox)}

            wanted = {"dana.whitfield@brightwave-health.com", "lukas.brandt@kessler-logistik.de",
                      "maria.reyes@harborpointsoftware.com"}
            wait_for(lambda: wanted <= {e for e, o in owned().items() if o}, 60, "three owned contacts")
            assert sandbox.hubspot.webhooks.idle(10)
            time.sleep(1.0)  # our own writes come back as webhooks: give the worker time to (not) act on them
            errors = workers.stop()
        contacts = hubspot_contacts(sandbox)
        upserts = sandbox.calls.count("hubspot", "POST /crm/v3/objects/contacts/batch/upsert")
    owners = owned()
    assert len(contacts) == 3, [c["properties"]["email"] for c in contacts]
    assert all(owners[e] in _owner_ids(sandbox) for e in wanted), (owners, errors)
    # the rep's contact was updated in place (one record), and our own writes' webhooks were echoes
    assert any(c["id"] == hs_id and c["properties"].get("hubspot_owner_id") for c in contacts)
    assert upserts <= 3


@pytest.mark.timeout(180)
def test_salesforce_outbound_message_ends_as_an_owned_lead(redis_url: str, tmp_path: Path) -> None:
    cfg = config_dir(tmp_path)
    port = free_port()
    with sandbox_for(cfg) as sandbox:
        sf = sandbox.salesforce
        # "Send Session ID": each message carries a session of the org, which the API verifies with the org
        sf.options.update(outbound_url=f"http://127.0.0.1:{port}/webhooks/salesforce", outbound_send_session_id=True)
        sandbox.reset()
        settings = settings_for(
            sandbox, redis_url, cfg, crm="salesforce", salesforce_instance_url=sandbox.url,
            salesforce_domain=sandbox.url, salesforce_client_id="leadrelay-sandbox-client",
            salesforce_client_secret="leadrelay-sandbox-secret", salesforce_org_ids=(sf.org_id,),
            salesforce_user_id=sf.integration_user["Id"], salesforce_require_session_id=True)
        with ApiServer(settings, port), WorkerProcs(settings, 1) as workers:
            human = next(u for u in sf.users if u["Id"] != sf.integration_user["Id"])
            lead = sf.edit_as(human["Username"], "Lead", None, {
                "FirstName": "Priya", "LastName": "Natarajan", "Email": "priya.natarajan@lumenbio.com",
                "Company": "Lumen Bio", "Country": "United States", "State": "CA", "Title": "VP Operations",
                "OwnerId": human["Id"]})
            lead_id = lead["id"]

            def owner() -> str | None:
                rows = [r for r in sf.records()["Lead"] if r["Email"] == "priya.natarajan@lumenbio.com"]
                return rows[0]["OwnerId"] if rows and rows[0].get("LastModifiedById") == sf.integration_user["Id"] \
                    else None

            wait_for(lambda: owner() is not None, 60, "the lead owned by a routing decision")
            time.sleep(1.5)  # our write fires an Outbound Message too: it must be recognised as an echo
            errors = workers.stop()
        leads = sf.records()["Lead"]
        verified = sandbox.calls.count("salesforce", "GET /services/data/{version}/query", 200)
    assert len(leads) == 1, errors
    assert verified >= 1  # the session was checked with the org (then remembered)
    assert sf.outbound is not None and len(sf.outbound.acked) >= 2  # the rep's message and our write's echo
    assert owner_in_team(leads[0]["OwnerId"], cfg), leads[0]
    assert leads[0]["Id"] == lead_id  # the person's own lead was routed in place, not a copy


def owner_in_team(owner_id: str, cfg: Path) -> bool:
    from connector.config import load_config

    team = load_config(cfg).team
    ids = {r.owner_ids.get("salesforce") for r in team.reps} | {q.owner_ids.get("salesforce")
                                                                 for q in team.queues.values()}
    return owner_id in ids


def test_payload_fixtures_are_the_vendors_shapes() -> None:
    # guard: the fixtures above are the documented shapes, not ours
    tf = json.loads((FIXTURES / "typeform_form_response.json").read_text())
    assert tf["event_type"] == "form_response" and "answers" in tf["form_response"]


@pytest.mark.timeout(120)
def test_a_reps_owner_change_in_hubspot_is_kept_when_the_person_submits_again(
    redis_url: str, tmp_path: Path, signing_secrets: None
) -> None:
    cfg = config_dir(tmp_path)
    port = free_port()
    body = (FIXTURES / "website_form.json").read_bytes()
    with sandbox_for(cfg, webhook_url=f"http://127.0.0.1:{port}/webhooks/hubspot", client_secret=HUBSPOT_SECRET,
                     webhook_properties=["hubspot_owner_id"]) as sandbox:
        settings = settings_for(sandbox, redis_url, cfg, hubspot_webhook_secret=HUBSPOT_SECRET, api_tokens=API_TOKENS)
        with ApiServer(settings, port) as api, WorkerProcs(settings, 1), httpx.Client() as http:
            r = http.post(f"{api.url}/webhooks/forms/website", content=body,
                          headers={"content-type": "application/json",
                                   **sign(FORM_SECRET, "msg_first", int(time.time()), body)})
            assert r.status_code == 202

            def contact() -> dict:  # type: ignore[type-arg]
                rows = hubspot_contacts(sandbox)
                return rows[0] if rows else {"properties": {}}

            wait_for(lambda: bool(contact()["properties"].get("hubspot_owner_id")), 30, "routed")
            routed_to = contact()["properties"]["hubspot_owner_id"]
            other = next(o["id"] for o in sandbox.hubspot.owners if o["id"] != routed_to)
            sandbox.hubspot.ui_update(contact()["id"], {"hubspot_owner_id": other}, user_id=42)  # a rep reassigns
            assert sandbox.hubspot.webhooks.idle(10)
            time.sleep(1.0)
            upsert = "POST /crm/v3/objects/contacts/batch/upsert"
            before = sandbox.calls.count("hubspot", upsert)
            again = body.replace(b"Can we see a demo next week?", b"Following up: pricing for 40 reps?")
            r = http.post(f"{api.url}/webhooks/forms/website", content=again,
                          headers={"content-type": "application/json",
                                   **sign(FORM_SECRET, "msg_second", int(time.time()), again)})
            assert r.status_code == 202
            # the second submission is written (fields updated) — without touching the owner
            wait_for(lambda: sandbox.calls.count("hubspot", upsert) > before, 30, "the second submission written")
            lead_id = http.get(f"{api.url}/api/leads/" + _lead_id(redis_url), headers=bearer()).json()
        final = contact()
    assert final["properties"]["hubspot_owner_id"] == other  # the rep's change stands
    assert len(hubspot_contacts(sandbox)) == 1
    assert "hubspot user" in lead_id["owner_locked"]


def _lead_id(redis_url: str) -> str:
    import redis

    from tests.integration.harness import PREFIX

    r = redis.Redis.from_url(redis_url)
    value = r.get(f"{PREFIX}done:form:msg_first")
    r.close()
    return value.decode() if value else "missing"
