"""Hostile input at the API (issue 11, point 6): non-finite and out-of-range numbers, deep nesting in JSON and
XML, each answered 400 with a problem body naming the field — never a 500, never queued."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from adapters.forms.standard_webhooks import sign
from adapters.forms.typeform import sign as typeform_sign
from connector.settings import load_settings
from leadrelay.api.app import create_app
from sandbox.hubspot_webhooks import sign_v3
from tests.integration.harness import FORM_SECRET, TYPEFORM_SECRET
from tests.tokens import API_TOKENS, bearer
from worker.queue import queue_name

ROOT = Path(__file__).resolve().parents[2]
P = "hostile-lr:"
HUBSPOT_SECRET = "hubspot-secret"
ORG = "00D5e000000KmXpEAK"


@pytest.fixture
async def client(redis_url: str, signing_secrets: None) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = load_settings({}, redis_url=redis_url, key_prefix=P, config_dir=str(ROOT), max_body_bytes=2_000_000,
                             hubspot_webhook_secret=HUBSPOT_SECRET, salesforce_org_ids=(ORG,),
                             public_base_url="https://leads.example.com", api_tokens=API_TOKENS)
    async with AsyncTestClient(create_app(settings, crm=False)) as c:
        yield c


async def queued(redis_url: str) -> int:
    r = Redis.from_url(redis_url)
    n = int(await r.zcard(queue_name(P)))
    await r.aclose()
    return n


def _form(body: bytes) -> dict[str, str]:
    return {"content-type": "application/json", **sign(FORM_SECRET, f"msg_{time.time_ns()}", int(time.time()), body)}


@pytest.mark.parametrize(("value", "field"), [
    ("NaN", "company_size"), ("Infinity", "company_size"), ("-Infinity", "company_size"),
    ("1e999", "company_size"), ("123456789012345678901234567890", "company_size"),
])
async def test_non_finite_or_huge_numbers_are_400_naming_the_field(client, redis_url: str, value: str,  # type: ignore[no-untyped-def]
                                                                   field: str) -> None:
    body = ('{"email": "jane@acme.com", "first_name": "Jane", "last_name": "Doe", "company": "Acme", '
            f'"{field}": {value}}}').encode()
    r = await client.post("/webhooks/forms/website", content=body, headers=_form(body))
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == field
    assert await queued(redis_url) == 0


async def test_a_nested_bad_number_is_named_by_its_path(client) -> None:  # type: ignore[no-untyped-def]
    body = b'{"email": "jane@acme.com", "answers": {"budget": [1, 2, NaN]}}'
    r = await client.post("/webhooks/forms/website", content=body, headers=_form(body))
    assert r.status_code == 400 and r.json()["field"] == "answers.budget[2]"


@pytest.mark.parametrize("depth", [40, 100_000])
async def test_deeply_nested_json_is_400(client, depth: int) -> None:  # type: ignore[no-untyped-def]
    body = b'{"email": "jane@acme.com", "x": ' + b"[" * depth + b"]" * depth + b"}"
    r = await client.post("/webhooks/forms/website", content=body, headers=_form(body))
    assert r.status_code == 400, r.text
    assert "nested" in r.json()["detail"]


async def test_deeply_nested_typeform_is_400(client) -> None:  # type: ignore[no-untyped-def]
    body = b'{"event_id": "e1", "event_type": "form_response", "form_response": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    r = await client.post("/webhooks/typeform/typeform_demo", content=body,
                          headers={"Typeform-Signature": typeform_sign(TYPEFORM_SECRET, body),
                                   "content-type": "application/json"})
    assert r.status_code == 400, r.text


async def test_deeply_nested_hubspot_events_are_400(client) -> None:  # type: ignore[no-untyped-def]
    body = b"[" * 50_000 + b"]" * 50_000
    ts = str(int(time.time() * 1000))
    uri = "https://leads.example.com/webhooks/hubspot"
    r = await client.post("/webhooks/hubspot", content=body,
                          headers={"X-HubSpot-Signature-v3": sign_v3(HUBSPOT_SECRET, "POST", uri, body, ts),
                                   "X-HubSpot-Request-Timestamp": ts, "content-type": "application/json"})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("org", [ORG, "00D000000000000AAA"])
@pytest.mark.parametrize("where", ["notifications", "field"])
async def test_deeply_nested_outbound_message_is_400_whatever_the_org(client, org: str, where: str) -> None:  # type: ignore[no-untyped-def]
    deep = "<a>" * 50_000 + "</a>" * 50_000
    inner = deep if where == "notifications" else (
        '<Notification><Id>04l5e000001ABCDAA4</Id><sObject xsi:type="sf:Lead" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Email>{deep}</sf:Email></sObject></Notification>")
    body = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
            '"http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notifications '
            f'xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{org}</OrganizationId>{inner}'
            '</notifications></soapenv:Body></soapenv:Envelope>').encode()
    r = await client.post("/webhooks/salesforce", content=body, headers={"content-type": "text/xml"})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_junk_webhook_paths_create_no_metric_series(client, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    """Point 7: labels come only from configured names; a 60 KB path segment must not become a series."""
    junk = "x" * 60_000
    for path in (f"/webhooks/{junk}", f"/webhooks/forms/{junk}", "/webhooks/zzz-made-up"):
        r = await client.post(path, content=b"{}", headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500
    r = Redis.from_url(redis_url)
    try:
        for _ in range(50):  # the counters are written by a background task: wait for them
            keys = [k async for k in r.scan_iter(match=f"{P}*")]
            if keys:
                break
            await asyncio.sleep(0.02)
        dump = b"".join([k for k in keys] + [b"".join(x for kv in (await r.hgetall(k)).items() for x in kv)
                                             for k in keys if await r.type(k) == b"hash"])
    finally:
        await r.aclose()
    assert b"xxxxxxxxxx" not in dump and b"zzz-made-up" not in dump
    metrics = await client.get("/metrics", headers=bearer())
    assert "xxxxxxxxxx" not in metrics.text and "zzz-made-up" not in metrics.text
    assert 'source="unknown"' in metrics.text


class _BrokenRedis(Redis):
    """A real client whose scripts fail with an unexpected error: stands in for a bug behind the API."""

    async def eval(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        raise RuntimeError("boom: a bug")

    def pipeline(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        pipe = super().pipeline(*args, **kwargs)  # the accept script runs in one with its WAIT
        real = pipe.execute

        async def execute(*a: object, **kw: object) -> list[object]:
            if any(command[0][0] in ("EVAL", "EVALSHA") for command in pipe.command_stack):
                raise RuntimeError("boom: a bug")
            return await real(*a, **kw)

        pipe.execute = execute  # type: ignore[method-assign]
        return pipe


async def test_an_unexpected_error_is_a_logged_counted_problem_500(redis_url: str, signing_secrets: None) -> None:
    settings = load_settings({}, redis_url=redis_url, key_prefix=P, config_dir=str(ROOT), api_tokens=API_TOKENS)
    broken = _BrokenRedis.from_url(redis_url)
    async with AsyncTestClient(create_app(settings, crm=False, redis=broken)) as c:
        body = b'{"email": "jane@acme.com", "first_name": "Jane"}'
        with structlog.testing.capture_logs() as logs:
            r = await c.post("/webhooks/forms/website", content=body, headers=_form(body))
        assert r.status_code == 500
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "boom" not in r.text  # nothing of the internals
        errors = [e for e in logs if e["event"] == "unhandled_error"]
        assert len(errors) == 1 and isinstance(errors[0]["exc_info"], RuntimeError)
        await asyncio.sleep(0.05)
        metrics = await c.get("/metrics", headers=bearer())
        assert 'leadrelay_http_errors_total{route="/webhooks/forms/{form:str}",status="500"} 1' in metrics.text
