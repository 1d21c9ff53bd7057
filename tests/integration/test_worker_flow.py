"""Queued deliveries -> arq worker -> decisions in Redis -> batched upserts in the HubSpot sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from redis.asyncio import Redis

from tests.integration.burst import run_burst
from tests.integration.harness import (
    PREFIX,
    config_dir,
    form_delivery,
    hubspot_contacts,
    samples,
    sandbox_for,
    settings_for,
)
from worker.metrics import render_async
from worker.queue import connect, enqueue_delivery
from worker.store import Keys, Store


async def test_queued_leads_end_as_owned_contacts_in_the_sandbox(redis_url: str, tmp_path: Path) -> None:
    cfg = config_dir(tmp_path)
    with sandbox_for(cfg) as sandbox:
        settings = settings_for(sandbox, redis_url, cfg)
        pool = await connect(redis_url, PREFIX)
        rows = samples(40)
        for i, row in enumerate(rows):
            assert await enqueue_delivery(pool, form_delivery(row, i), PREFIX)
        assert not await enqueue_delivery(pool, form_delivery(rows[0], 0), PREFIX)  # same delivery id: no job
        await run_burst(settings)
        await pool.aclose()
        contacts = hubspot_contacts(sandbox)
        writes = sandbox.calls.count("hubspot", "POST /crm/v3/objects/contacts/batch/upsert")
    assert sorted(c["properties"]["email"] for c in contacts) == sorted(r["email"].lower() for r in rows)
    owners = {o["id"] for o in sandbox.hubspot.owners}
    r = Redis.from_url(redis_url)
    store = Store(r, PREFIX)
    # a lead held after hours (rules/routing.yaml `after_hours: hold`) is written without an owner until its release
    held = {json.loads(lead["decision"])["lead"]["identity"]["email"]
            for lead in await store.leads([x.decode() for x in await r.zrange(Keys(PREFIX).held, 0, -1)])}
    assert all((c["properties"].get("hubspot_owner_id") in owners) != (c["properties"]["email"] in held)
               for c in contacts)
    assert writes <= 8, f"{writes} upsert calls for 40 leads: not batched"
    lead_id = (await r.get(f"{PREFIX}done:form:d0")).decode()
    stored = await store.lead(lead_id)
    decision = json.loads(stored["decision"])
    assert decision["lead"]["identity"]["email"] == rows[0]["email"].lower()
    assert json.loads(stored["write"])["status"] == "written"
    text = (await render_async(r, PREFIX, {})).decode()
    await r.aclose()
    counted = [line for line in text.splitlines() if line.startswith("leadrelay_crm_calls_total{")
               and "contacts/batch/upsert" in line and 'status="200"' in line]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) == writes
    assert "leadrelay_speed_to_lead_seconds_count" in text and "leadrelay_leads_decided_total" in text


async def test_a_known_person_whose_lead_expired_is_decided_and_written_again(redis_url: str, tmp_path: Path) -> None:
    """Leads expire before identities (retention): the next form of such a person is routed again, same id."""
    cfg = config_dir(tmp_path)
    with sandbox_for(cfg) as sandbox:
        settings = settings_for(sandbox, redis_url, cfg)
        pool = await connect(redis_url, PREFIX)
        row = samples(1)[0]
        r = Redis.from_url(redis_url)
        store = Store(r, PREFIX)
        for i, payload in enumerate([row, {**row, "job_title": "Chief Revenue Officer"}]):
            assert await enqueue_delivery(pool, form_delivery(payload, i), PREFIX)
            await run_burst(settings)
            lead_id = (await r.get(f"{PREFIX}done:form:d{i}")).decode()
            if i == 0:
                first = lead_id
                await r.delete(f"{PREFIX}lead:{lead_id}")  # what the lead's retention period does
        stored = await store.lead(lead_id)
        await r.aclose()
        await pool.aclose()
        contacts = hubspot_contacts(sandbox)
    assert lead_id == first
    assert "decision" in stored and json.loads(stored["write"])["status"] == "written"
    assert json.loads(stored["decision"])["lead"]["role"]["title"] == "Chief Revenue Officer"
    assert [c["properties"].get("jobtitle") for c in contacts] == ["Chief Revenue Officer"]
