"""Salesforce end to end, against the sandbox over HTTPS with the real simple-salesforce and Redis:
Outbound Messages are triggers (a forged one changes nothing), a person known as a Contact is not made a Lead,
and a Lead's Status only ever moves forward."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from redis.asyncio import Redis

from connector.settings import Settings
from sandbox.salesforce_outbound import build_notifications
from sandbox.server import SandboxServer
from tests.integration.burst import run_burst
from tests.integration.harness import (
    PREFIX,
    ApiServer,
    WorkerProcs,
    config_dir,
    form_delivery,
    free_port,
    samples,
    sandbox_for,
    settings_for,
    wait_for,
)
from worker.queue import connect, enqueue_delivery
from worker.store import Store
from worker.store.keys import Keys


def sf_settings(sandbox: SandboxServer, redis_url: str, cfg: Path, **extra: Any) -> Settings:
    sf = sandbox.salesforce
    return settings_for(sandbox, redis_url, cfg, crm="salesforce", salesforce_instance_url=sandbox.url,
                        salesforce_domain=sandbox.url, salesforce_client_id="leadrelay-sandbox-client",
                        salesforce_client_secret="leadrelay-sandbox-secret", salesforce_org_ids=(sf.org_id,),
                        salesforce_user_id=sf.integration_user["Id"], **extra)


def people(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return [u for u in sandbox.salesforce.users if u["Id"] != sandbox.salesforce.integration_user["Id"]]


def forged(sandbox: SandboxServer, notification: str, record_id: str, *, session: str | None,
           host: str | None = None, **fields: Any) -> bytes:
    """An Outbound Message as an attacker would send it: our org id (not a secret), a real record id, his values."""
    sf = sandbox.salesforce
    base = f"{host or sandbox.url}/services/Soap"
    return build_notifications(organization_id=sf.org_id, action_id="04k5e0000000001AAA", session_id=session,
                               enterprise_url=f"{base}/c/62.0/{sf.org_id[:15]}",
                               partner_url=f"{base}/u/62.0/{sf.org_id[:15]}",
                               notifications=[(notification, "Lead", {"Id": record_id, **fields})])


@pytest.mark.timeout(180)
def test_a_forged_outbound_message_changes_nothing_in_salesforce(redis_url: str, tmp_path: Path) -> None:
    cfg = config_dir(tmp_path)
    port, other_port = free_port(), free_port()
    with sandbox_for(cfg) as sandbox:
        sf = sandbox.salesforce
        sf.options.update(outbound_url=f"http://127.0.0.1:{port}/webhooks/salesforce", outbound_send_session_id=True)
        sandbox.reset()
        rep, other = people(sandbox)[:2]
        # a Lead the org had before leadrelay came (no Outbound Message fired for it), and never routed by us
        old = sf.seed("Lead", {"LastName": "Okafor", "Email": "ada.okafor@northbeam.example", "Company": "Northbeam",
                               "OwnerId": rep["Id"], "Status": "Working - Contacted"})
        settings = sf_settings(sandbox, redis_url, cfg, salesforce_require_session_id=True)
        with ApiServer(settings, port) as api, WorkerProcs(settings, 1) as workers, httpx.Client() as http:
            # a genuine message (with the org's session, verified by a call back to the org) routes a rep's lead
            new = sf.edit_as(rep["Username"], "Lead", None, {
                "FirstName": "Priya", "LastName": "Natarajan", "Email": "priya.natarajan@lumenbio.com",
                "Company": "Lumen Bio", "Country": "United States", "OwnerId": rep["Id"]})["id"]
            wait_for(lambda: lead(sandbox, new)["LastModifiedById"] == sf.integration_user["Id"], 60, "routed")
            time.sleep(1.0)  # our write's own Outbound Message: an echo
            before = {r["Id"]: r for r in sf.records()["Lead"]}
            evil = {"Email": "attacker@evil.example", "LastName": "Evil", "Company": "Evil Corp",
                    "OwnerId": other["Id"], "LastModifiedById": other["Id"]}

            def post(url: str, body: bytes) -> int:
                return http.post(f"{url}/webhooks/salesforce", content=body,
                                 headers={"content-type": "text/xml"}).status_code

            assert post(api.url, forged(sandbox, "04l5e000000Forg1AAA", new, session=None, **evil)) == 401
            assert post(api.url, forged(sandbox, "04l5e000000Forg2AAA", old, session="00D!guessed", **evil)) == 401
            stolen = sf._outbound_session()  # even a live session is only taken for our own instance's messages
            assert post(api.url, forged(sandbox, "04l5e000000Forg3AAA", old, session=stolen,
                                        host="https://evil.example", **evil)) == 401
            # an org that sends no session id: the message is a trigger; the worker reads the record itself
            lenient = sf_settings(sandbox, redis_url, cfg)
            with ApiServer(lenient, other_port) as open_api:
                assert post(open_api.url, forged(sandbox, "04l5e000000Forg4AAA", new, session=None, **evil)) == 200
                done = redis.Redis.from_url(redis_url)
                wait_for(lambda: bool(done.exists(Keys(PREFIX).done("salesforce", "04l5e000000Forg4AAA"))), 30,
                         "the trigger handled")
                done.close()
            time.sleep(0.5)
            errors = workers.stop()
        after = {r["Id"]: r for r in sf.records()["Lead"]}
    assert after == before, errors  # every field of every Lead as it was: email, company, owner, last modified
    assert after[new]["Email"] == "priya.natarajan@lumenbio.com" and after[old]["Company"] == "Northbeam"
    assert after[old]["OwnerId"] == rep["Id"] and after[new]["OwnerId"] != other["Id"]


def lead(sandbox: SandboxServer, record_id: str) -> dict[str, Any]:
    return next(r for r in sandbox.salesforce.records()["Lead"] if r["Id"] == record_id)


async def run_worker(settings: Settings, rows: list[tuple[int, dict[str, Any]]]) -> None:
    pool = await connect(settings.redis_url or "", PREFIX)
    for i, row in rows:
        assert await enqueue_delivery(pool, form_delivery(row, i), PREFIX)
    await pool.aclose()
    await run_burst(settings)


async def stored(redis_url: str) -> tuple[dict[str, dict[str, Any]], list[Any]]:
    """Each decided lead's decision and write result by email, and the dead-letter list."""
    r = Redis.from_url(redis_url)
    store = Store(r, PREFIX)
    out: dict[str, dict[str, Any]] = {}
    async for key in r.scan_iter(match=f"{PREFIX}lead:*"):
        h = await r.hgetall(key)
        if b"decision" in h:
            d = json.loads(h[b"decision"])
            out[d["lead"]["identity"]["email"]] = {"decision": d, "write": json.loads(h.get(b"write") or b"{}")}
    dead = await store.dead_letters()
    await r.aclose()
    return out, dead


@pytest.mark.timeout(120)
async def test_a_person_known_as_a_contact_gets_no_lead_and_a_status_a_rep_moved_on_stays(
    redis_url: str, tmp_path: Path
) -> None:
    cfg = config_dir(tmp_path)
    rows = samples(6)
    with sandbox_for(cfg) as sandbox:
        sf = sandbox.salesforce
        rep = people(sandbox)[0]
        account = sf.seed("Account", {"Name": "Known Co", "Website": "known.example", "OwnerId": rep["Id"]})
        contacts = [sf.seed("Contact", {"FirstName": "Known", "LastName": f"Person {i}", "Email": rows[i]["email"],
                                        "AccountId": account, "OwnerId": rep["Id"]}) for i in (0, 1)]
        working = sf.seed("Lead", {"LastName": "Working", "Email": rows[2]["email"], "Company": "Acme",
                                   "Status": "Working - Contacted", "OwnerId": rep["Id"]})
        settings = sf_settings(sandbox, redis_url, cfg, write_batch_window_ms=400)
        await run_worker(settings, list(enumerate(rows)))  # one write batch for all six
        first, dead = await stored(redis_url)
        records = sf.records()
        # the same people again: a rep has moved one of our new leads on meanwhile
        ours = next(r for r in records["Lead"] if r["Email"] == rows[3]["email"].lower())
        sf.edit_as(rep["Username"], "Lead", ours["Id"], {"Status": "Closed - Not Converted"})
        again = [(100 + i, {**row, "job_title": "Head of Everything"}) for i, row in enumerate(rows)]
        await run_worker(settings, again)
        _, dead_again = await stored(redis_url)
        final = sf.records()
    assert dead == [] and dead_again == []
    assert {e: v["write"].get("status") for e, v in first.items()} == {r["email"].lower(): "written" for r in rows}
    by_id = {c["Id"]: c for c in final["Contact"]}
    for i, cid in enumerate(contacts):
        c = by_id[cid]
        assert c["OwnerId"] == rep["Id"] and c["AccountId"] == account and c["LastName"] == f"Person {i}"
        assert c["Leadrelay_Score__c"] is not None and c.get("Leadrelay_Reason__c")
        plan = first[rows[i]["email"].lower()]["decision"]["write"]
        assert (plan["object"], plan["record_id"], plan["matched"]) == ("Contact", cid, "contact")
        assert plan["kept"] == {"OwnerId": "the Contact has one"}
    lead_emails = sorted(r["Email"] for r in final["Lead"])
    assert lead_emails == sorted(r["email"].lower() for r in rows[2:])  # no Lead for a known Contact, no double
    statuses = {r["Email"]: r["Status"] for r in final["Lead"]}
    assert statuses[rows[2]["email"].lower()] == "Working - Contacted"  # the existing Lead's status stands
    assert statuses[rows[3]["email"].lower()] == "Closed - Not Converted"  # a re-decision never sets it back
    assert {statuses[r["email"].lower()] for r in rows[4:]} == {"Open - Not Contacted"}
    assert {r["Title"] for r in final["Lead"]} == {"Head of Everything"}  # the second forms were written
    assert working in {r["Id"] for r in final["Lead"]}  # the person's own Lead was updated in place
