"""The webhook API on a real Redis: signatures and replay windows before parsing, size limits, problem details
naming the field, idempotent redelivery, and the operational endpoints."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from adapters.forms.standard_webhooks import sign
from adapters.forms.typeform import sign as typeform_sign
from connector.settings import load_settings
from leadrelay.api.app import create_app
from sandbox.hubspot_webhooks import sign_v3
from sandbox.salesforce_outbound import build_notifications
from tests.integration.harness import FORM_SECRET, TYPEFORM_SECRET
from tests.tokens import API_TOKENS, bearer
from worker.queue import queue_name

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
P = "api-lr:"
HUBSPOT_SECRET = "hubspot-secret"
ORG = "00D5e000000KmXpEAK"



@pytest.fixture
async def client(redis_url: str, signing_secrets: None) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = load_settings({}, redis_url=redis_url, key_prefix=P, config_dir=str(ROOT), max_body_bytes=20_000,
                             hubspot_webhook_secret=HUBSPOT_SECRET, salesforce_org_ids=(ORG,),
                             public_base_url="https://leads.example.com", api_tokens=API_TOKENS)
    async with AsyncTestClient(create_app(settings, crm=False)) as c:
        yield c


async def jobs(redis_url: str) -> int:
    r = Redis.from_url(redis_url)
    n = int(await r.zcard(queue_name(P)))
    await r.aclose()
    return n


def form_body() -> bytes:
    return (FIXTURES / "website_form.json").read_bytes()


def signed(body: bytes, msg_id: str = "msg_1", ts: int | None = None) -> dict[str, str]:
    return {"content-type": "application/json", **sign(FORM_SECRET, msg_id, ts or int(time.time()), body)}


async def test_signed_form_is_queued_once_and_redelivery_is_2xx_without_a_job(client, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    body = form_body()
    r1 = await client.post("/webhooks/forms/website", content=body, headers=signed(body))
    assert r1.status_code == 202 and r1.json()["status"] == "accepted"
    r2 = await client.post("/webhooks/forms/website", content=body, headers=signed(body))
    assert r2.status_code == 202 and r2.json()["status"] == "duplicate"
    assert await jobs(redis_url) == 1


async def test_bad_signature_is_401_before_parsing(client, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    body = b"{not json at all"
    headers = signed(form_body())  # a signature over another body
    r = await client.post("/webhooks/forms/website", content=body, headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["title"] == "Signature check failed"
    assert await jobs(redis_url) == 0


async def test_stale_and_missing_timestamps_are_401(client) -> None:  # type: ignore[no-untyped-def]
    body = form_body()
    stale = await client.post("/webhooks/forms/website", content=body, headers=signed(body, ts=int(time.time()) - 600))
    detail = stale.json()["detail"].lower()
    assert stale.status_code == 401 and ("stale" in detail or "old" in detail)
    unsigned = await client.post("/webhooks/forms/website", content=body, headers={"content-type": "application/json"})
    assert unsigned.status_code == 401


async def test_oversized_body_is_413(client) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({"email": "a@b.example", "message": "x" * 30_000}).encode()
    r = await client.post("/webhooks/forms/website", content=body, headers=signed(body))
    assert r.status_code == 413
    assert r.json()["status"] == 413


async def test_malformed_body_is_400_naming_the_field(client, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    body = b'["a", "list", "not", "an", "object"]'
    r = await client.post("/webhooks/forms/website", content=body, headers=signed(body))
    assert r.status_code == 400 and r.json()["field"] == "body"
    tf = json.loads((FIXTURES / "typeform_form_response.json").read_text())
    tf["form_response"]["answers"] = "oops"
    raw = json.dumps(tf).encode()
    r = await client.post("/webhooks/typeform/typeform_demo", content=raw,
                          headers={"content-type": "application/json",
                                   "Typeform-Signature": typeform_sign(TYPEFORM_SECRET, raw)})
    assert r.status_code == 400 and r.json()["field"].startswith("form_response.answers")
    assert await jobs(redis_url) == 0


async def test_unknown_form_is_404_with_a_hint(client) -> None:  # type: ignore[no-untyped-def]
    body = form_body()
    r = await client.post("/webhooks/forms/nosuchform", content=body, headers=signed(body))
    assert r.status_code == 404 and "mappings/sources/nosuchform.yaml" in r.json()["hint"]


async def test_typeform_signature(client, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    raw = (FIXTURES / "typeform_form_response.json").read_bytes()
    bad = await client.post("/webhooks/typeform/typeform_demo", content=raw,
                            headers={"Typeform-Signature": typeform_sign("wrong", raw)})
    assert bad.status_code == 401
    ok = await client.post("/webhooks/typeform/typeform_demo", content=raw,
                           headers={"Typeform-Signature": typeform_sign(TYPEFORM_SECRET, raw)})
    again = await client.post("/webhooks/typeform/typeform_demo", content=raw,
                              headers={"Typeform-Signature": typeform_sign(TYPEFORM_SECRET, raw)})
    assert ok.status_code == 200 and again.status_code == 200 and again.json()["status"] == "duplicate"
    assert await jobs(redis_url) == 1


def hubspot_events(n: int) -> bytes:
    return json.dumps([{"eventId": 100 + i, "subscriptionId": 1, "portalId": 62515, "appId": 1234567,
                        "occurredAt": 1732400000000 + i, "subscriptionType": "contact.creation",
                        "attemptNumber": 0, "objectId": 5000 + i, "changeFlag": "CREATED",
                        "changeSource": "CRM_UI", "sourceId": "userId:7"} for i in range(n)]).encode()


async def test_hubspot_v3_signature_over_the_public_uri(client, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    body = hubspot_events(3)
    ts = str(int(time.time() * 1000))
    uri = "https://leads.example.com/webhooks/hubspot"
    good = {"X-HubSpot-Signature-v3": sign_v3(HUBSPOT_SECRET, "POST", uri, body, ts),
            "X-HubSpot-Request-Timestamp": ts, "content-type": "application/json"}
    r = await client.post("/webhooks/hubspot", content=body, headers=good)
    assert r.status_code == 200 and r.json() == {"events": 3, "accepted": 3, "duplicate": 0}
    again = await client.post("/webhooks/hubspot", content=body, headers=good)
    assert again.json() == {"events": 3, "accepted": 0, "duplicate": 3}
    old = str(int(time.time() * 1000) - 6 * 60 * 1000)
    stale = {**good, "X-HubSpot-Request-Timestamp": old,
             "X-HubSpot-Signature-v3": sign_v3(HUBSPOT_SECRET, "POST", uri, body, old)}
    assert (await client.post("/webhooks/hubspot", content=body, headers=stale)).status_code == 401
    assert await jobs(redis_url) == 3


async def test_hubspot_malformed_event_names_the_field(client) -> None:  # type: ignore[no-untyped-def]
    events = json.loads(hubspot_events(2))
    events[1]["objectId"] = "not-a-number"
    body = json.dumps(events).encode()
    ts = str(int(time.time() * 1000))
    headers = {"X-HubSpot-Signature-v3": sign_v3(HUBSPOT_SECRET, "POST", "https://leads.example.com/webhooks/hubspot",
                                                 body, ts), "X-HubSpot-Request-Timestamp": ts}
    r = await client.post("/webhooks/hubspot", content=body, headers=headers)
    assert r.status_code == 400 and "objectId" in r.json()["field"]


async def test_salesforce_outbound_message_acked_and_org_allow_listed(client, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    lead = {"Id": "00Q5e000001AbCdEAK", "Email": "ana@acme.example", "LastName": "Silva", "Company": "Acme",
            "LastModifiedById": "0055e000000HumanAAA"}
    body = build_notifications(organization_id=ORG, notifications=[("04l5e00000Notif1AAA", "Lead", lead)],
                               action_id="04k5e0000000001AAA", session_id=None,
                               enterprise_url="https://x/services/Soap/c/62.0",
                               partner_url="https://x/services/Soap/u/62.0")
    r = await client.post("/webhooks/salesforce", content=body, headers={"content-type": "text/xml"})
    assert r.status_code == 200 and b"<Ack>true</Ack>" in r.content
    other = body.replace(ORG.encode(), b"00D000000000001AAA")
    assert (await client.post("/webhooks/salesforce", content=other)).status_code == 401
    assert await jobs(redis_url) == 1


async def test_health_metrics_schema_and_lead_lookup(client) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready", headers=bearer())
    assert ready.status_code == 200 and ready.json()["checks"] == {"redis": "ok"}
    body = form_body()
    await client.post("/webhooks/forms/website", content=body, headers=signed(body, "msg_m"))
    await client.post("/webhooks/forms/website", content=b"x", headers=signed(body, "msg_bad"))
    import asyncio

    for _ in range(50):  # the rejection counter is written after the 401 went out
        text = (await client.get("/metrics", headers=bearer())).text
        if 'outcome="rejected"' in text:
            break
        await asyncio.sleep(0.02)
    assert 'leadrelay_deliveries_total{outcome="accepted",reason="",source="form"} 1.0' in text, text
    assert 'leadrelay_deliveries_total{outcome="rejected",reason="signature",source="form"} 1.0' in text, text
    assert "leadrelay_queue_depth 1.0" in text
    schema = (await client.get("/schema/openapi.json", headers=bearer())).json()
    assert "/webhooks/hubspot" in schema["paths"]
    missing = await client.get("/api/leads/ld_nope", headers=bearer())
    assert missing.status_code == 404 and missing.json()["title"] == "Not found"


async def test_the_metrics_page_shows_parked_leads_the_oldest_due_jobs_age_and_the_redis_primary(  # type: ignore[no-untyped-def]
    client, redis_url: str
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from tests.integration.harness import form_delivery, samples
    from tests.integration.test_nothing_lost import task
    from worker.metrics import Recorder
    from worker.parking import park
    from worker.store import Store

    r = Redis.from_url(redis_url)
    store = Store(r, P)
    await park(store, "hubspot", form_delivery(samples(1)[0], 0), "CrmUnavailable: HubSpot error 503", Recorder())
    await store.push_write(task(1))
    await store.push_write(task(2))
    now_ms = time.time() * 1000
    # due 30 s ago and not taken (every worker busy, or none running); a retry due in a minute is not late
    await r.zadd(queue_name(P), {"late-job": now_ms - 30_000, "deferred-job": now_ms + 60_000})
    await r.aclose()
    text = (await client.get("/metrics", headers=bearer())).text
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value
           for family in text_string_to_metric_families(text) for s in family.samples}
    assert got[("leadrelay_leads_parked", (("kind", "delivery"),))] == 1
    assert got[("leadrelay_leads_parked", (("kind", "write"),))] == 2
    assert 30 <= got[("leadrelay_oldest_queued_job_seconds", ())] < 60
    assert got[("leadrelay_redis_uptime_seconds", ())] > 0  # the test's own Redis, up since the session began
    assert got[("leadrelay_redis_connected_replicas", ())] == 0
    assert got[("leadrelay_crm_breaker_open", ())] == 0
