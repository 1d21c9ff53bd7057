"""The admin API (/api/admin) on a real Redis, with the real worker and the HubSpot sandbox where leads are decided:
tokens and roles, validation naming file/line/field as `config validate` does, publish / roll back followed by the
app, previews and backtests that write nothing, decision search, and dead-letter replay with the current mapping."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from adapters.forms.typeform import sign as typeform_sign
from connector.config import load_config
from connector.ports import Delivery
from connector.settings import Settings, load_settings
from leadrelay.api.app import create_app
from tests.integration.burst import run_burst
from tests.integration.harness import (
    PREFIX,
    ROOT,
    TYPEFORM_SECRET,
    config_dir,
    enqueue_forms,
    hubspot_contacts,
    pool_team,
    samples,
    sandbox_for,
    settings_for,
)
from tests.tokens import ADMIN_TOKEN, API_TOKENS, bearer
from worker.dead_letters import dead_letter_delivery
from worker.queue import decode_delivery, job_deserializer, queue_name
from worker.recent import RecentPayloads, keep_seconds
from worker.store import Keys, Store
from worker.store.keys import arq_job

ADMIN = bearer(ADMIN_TOKEN)
VIEWER = bearer()
CLI = [sys.executable, "-c", "from leadrelay.cli.main import app; app()"]
TYPEFORM = ROOT / "tests" / "fixtures" / "typeform_form_response.json"


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    team, routing = pool_team({"ana": 1, "ben": 1})
    return config_dir(tmp_path / "cfg", team=team, routing=routing)


def api_settings(redis_url: str, cfg: Path, **extra: Any) -> Settings:
    return load_settings({}, redis_url=redis_url, key_prefix=PREFIX, config_dir=str(cfg), api_tokens=API_TOKENS,
                         config_poll_s=60.0, **extra)  # only the publishing process moves at once


@pytest.fixture
async def client(redis_url: str, cfg: Path, signing_secrets: None) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with AsyncTestClient(create_app(api_settings(redis_url, cfg), crm=False)) as c:
        yield c


def routing_to(rep: str) -> str:
    return yaml.safe_dump({"fallback_queue": "unassigned",
                           "rules": [{"name": "all_to_" + rep, "strategy": "named", "rep": rep}]})


async def run_worker(settings: Settings, rows: list[dict[str, Any]]) -> None:
    await enqueue_forms(settings.redis_url or "", rows)
    await run_burst(settings)


async def test_a_token_is_needed_viewers_read_and_only_admins_change(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/api/admin/config", "/api/admin/decisions", "/api/admin/overview", "/api/admin/dead-letters"):
        r = await client.get(path)
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json"), path
    r = await client.get("/api/admin/config", headers=VIEWER)
    assert r.status_code == 200
    body = r.json()
    assert body["number"] == 1 and body["author"] == "seeded from files" and "rules/routing.yaml" in body["files"]
    assert {"ana", "ben"} <= {rep["id"] for rep in body["reps"]} and body["pools"] == ["inbound"]
    assert "company.size" in body["canonical_fields"] and "jobtitle" in body["crm_fields"]["hubspot"]
    fields = (await client.get("/api/admin/crm/fields", params={"crm": "hubspot"}, headers=VIEWER)).json()
    assert {"name": "jobtitle", "label": "jobtitle", "type": "unknown", "options": []} in fields  # no CRM client
    assert (await client.get("/api/admin/crm/fields", params={"crm": "nope"}, headers=VIEWER)).status_code == 404
    refused = await client.post("/api/admin/config/publish", headers=VIEWER,
                                json={"files": {"rules/routing.yaml": routing_to("ana")}, "base": 1})
    assert refused.status_code == 403 and refused.json()["title"] == "Forbidden"
    assert (await client.put("/api/admin/config/draft", headers=VIEWER, json={"files": {}})).status_code == 403
    assert (await client.post("/api/admin/config/rollback", headers=VIEWER, json={"number": 1})).status_code == 403
    assert (await client.get("/api/admin/config", headers=VIEWER)).json()["number"] == 1


async def test_an_invalid_draft_is_422_naming_file_line_and_field_as_config_validate_does_and_nothing_is_published(
        client, cfg: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = yaml.safe_dump({"fallback_queue": "unassigned",
                          "rules": [{"name": "everyone", "strategy": "round_robin", "pool": "no_such_pool"}]})
    checked = await client.post("/api/admin/config/validate", headers=VIEWER,
                                json={"files": {"rules/routing.yaml": bad}})
    assert checked.status_code == 422, checked.text
    problem = checked.json()
    [error] = problem["errors"]
    assert error["file"] == "rules/routing.yaml" and error["field"] == "rules[0].pool"
    assert isinstance(error["line"], int) and error["line"] > 1 and "no_such_pool" in error["message"]
    # the CLI over the same files prints the same line, field and words
    shutil.copytree(cfg, tmp_path / "same")
    (tmp_path / "same" / "rules" / "routing.yaml").write_text(bad, encoding="utf-8")
    cli = subprocess.run([*CLI, "config", "validate", str(tmp_path / "same")], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert cli.returncode == 1
    printed = " ".join(cli.stdout.split())
    assert f"routing.yaml:{error['line']}: {error['field']}: {' '.join(error['message'].split())}" in printed
    assert problem["detail"].startswith(f"rules/routing.yaml:{error['line']}: rules[0].pool: ")

    published = await client.post("/api/admin/config/publish", headers=ADMIN,
                                  json={"files": {"rules/routing.yaml": bad}, "base": 1, "message": "broken"})
    assert published.status_code == 422 and published.json()["errors"][0]["field"] == "rules[0].pool"
    assert (await client.get("/api/admin/config", headers=VIEWER)).json()["number"] == 1
    assert [v["number"] for v in (await client.get("/api/admin/config/versions", headers=VIEWER)).json()] == [1]
    odd = await client.post("/api/admin/config/validate", headers=VIEWER, json={"files": {"rules/nope.yaml": "a: 1"}})
    assert odd.status_code == 422 and odd.json()["errors"][0]["file"] == "rules/nope.yaml"


async def test_publish_is_served_at_once_a_stale_base_is_409_and_rollback_restores(client) -> None:  # type: ignore[no-untyped-def]
    app = client.app
    v1 = (await client.get("/api/admin/config", headers=VIEWER)).json()
    assert app.state.config.version == v1["hash"]
    draft = await client.put("/api/admin/config/draft", headers=ADMIN,
                             json={"files": {"rules/routing.yaml": routing_to("ana")}, "base": 1})
    assert draft.status_code == 200 and draft.json()["author"] == "token:admin"
    saved = (await client.get("/api/admin/config/draft", headers=ADMIN)).json()
    r = await client.post("/api/admin/config/publish", headers=ADMIN,
                          json={"files": saved["files"], "base": saved["base"], "message": "all to Ana"})
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["number"] == 2 and v2["author"] == "token:admin"
    assert "all_to_ana" in v2["diff"]
    assert app.state.config.version == v2["hash"] and app.state.config.routing.rules[0].name == "all_to_ana"
    assert (await client.get("/api/admin/config/draft", headers=ADMIN)).status_code == 404  # published: dropped
    stale = await client.post("/api/admin/config/publish", headers=ADMIN,
                              json={"files": {"rules/routing.yaml": routing_to("ben")}, "base": 1})
    assert stale.status_code == 409 and stale.json()["title"] == "Publish conflict"
    back = await client.post("/api/admin/config/rollback", headers=ADMIN, json={"number": 1, "message": "undo"})
    assert back.status_code == 201 and back.json()["number"] == 3 and back.json()["restored_from"] == 1
    assert app.state.config.version == v1["hash"] and app.state.config.routing.rules[0].name == "everyone"
    listed = (await client.get("/api/admin/config/versions", headers=VIEWER)).json()
    assert [(v["number"], v["restored_from"]) for v in listed] == [(3, 1), (2, None), (1, None)]
    one = (await client.get("/api/admin/config/versions/2", headers=VIEWER)).json()
    assert "all_to_ana" in one["files"]["rules/routing.yaml"]
    assert (await client.get("/api/admin/config/versions/99", headers=VIEWER)).status_code == 404
    assert (await client.post("/api/admin/config/rollback", headers=ADMIN, json={"number": 99})).status_code == 404


async def test_mapping_preview_of_a_recent_payload_shows_the_crm_value_a_changed_row_makes(client) -> None:  # type: ignore[no-untyped-def]
    raw = TYPEFORM.read_bytes()
    r = await client.post("/webhooks/typeform/typeform_demo", content=raw,
                          headers={"content-type": "application/json",
                                   "Typeform-Signature": typeform_sign(TYPEFORM_SECRET, raw)})
    assert r.status_code == 200
    again = await client.post("/webhooks/typeform/typeform_demo", content=raw,
                              headers={"content-type": "application/json",
                                       "Typeform-Signature": typeform_sign(TYPEFORM_SECRET, raw)})
    assert again.json()["status"] == "duplicate"  # kept once
    recent = (await client.get("/api/admin/payloads", params={"source": "typeform_demo"}, headers=VIEWER)).json()
    assert [p["id"] for p in recent] == [json.loads(raw)["event_id"]] and recent[0]["payload"] == json.loads(raw)
    asked = {"source": "typeform_demo", "recent_id": recent[0]["id"]}
    now = (await client.post("/api/admin/preview/mapping", headers=VIEWER, json=asked)).json()
    title = now["lead"]["role"]["title"]
    assert title and now["crm"]["hubspot"]["fields"]["jobtitle"] == title and now["errors"] == []
    company = now["lead"]["company"]["name"]
    assert company and company != title
    files = (await client.get("/api/admin/config", headers=VIEWER)).json()["files"]
    key = "mappings/sources/typeform_demo.yaml"
    changed = files[key].replace("[field.ref=job_title]", "[field.ref=company]")
    assert changed != files[key]
    draft = (await client.post("/api/admin/preview/mapping", headers=VIEWER,
                               json={**asked, "files": {key: changed}})).json()
    assert draft["lead"]["role"]["title"] == company and draft["crm"]["hubspot"]["fields"]["jobtitle"] == company
    assert draft["crm"]["hubspot"]["object"] == "contacts"
    pasted = await client.post("/api/admin/preview/mapping", headers=VIEWER,
                               json={"source": "typeform_demo", "payload": json.loads(raw), "files": {key: changed}})
    assert pasted.json()["crm"] == draft["crm"]
    assert (await client.get("/api/admin/config", headers=VIEWER)).json()["number"] == 1  # nothing published
    lost = await client.post("/api/admin/preview/mapping", headers=VIEWER,
                             json={"source": "typeform_demo", "recent_id": "nope"})
    assert lost.status_code == 404


async def test_decided_leads_are_searched_traced_backtested_and_counted(redis_url: str, cfg: Path,
                                                                       signing_secrets: None) -> None:
    rows = samples(6)
    with sandbox_for(cfg) as sandbox:
        settings = settings_for(sandbox, redis_url, cfg, api_tokens=API_TOKENS)
        await run_worker(settings, rows)
    async with AsyncTestClient(create_app(settings, crm=False)) as client:
        found = (await client.get("/api/admin/decisions", params={"q": rows[2]["email"].upper()},
                                  headers=VIEWER)).json()
        assert [d["email"] for d in found] == [rows[2]["email"].lower()]
        assert found[0]["rule"] == "everyone" and found[0]["owner"] in {"ana", "ben"}
        everyone = (await client.get("/api/admin/decisions", headers=VIEWER)).json()
        assert len(everyone) == 6
        by_ana = (await client.get("/api/admin/decisions", params={"owner": "ana"}, headers=VIEWER)).json()
        assert 0 < len(by_ana) < 6 and all(d["owner"] == "ana" for d in by_ana)
        trace = (await client.get(f"/api/admin/decisions/{found[0]['lead_id']}", headers=VIEWER)).json()
        assert trace["lead"]["identity"]["email"] == rows[2]["email"].lower()
        assert trace["route"]["assignment"]["rule"] == "everyone" and trace["write"]["object"] == "contacts"
        assert trace["crm_result"]["status"] == "written" and trace["record"].startswith("hubspot:")
        assert (await client.get("/api/admin/decisions/nope", headers=VIEWER)).status_code == 404

        hits = (await client.get("/api/admin/rules/hits", params={"days": 1}, headers=VIEWER)).json()
        assert hits["routing:everyone"] == 6  # keyed kind:name (a scoring and a tag rule may share a name)

        test = await client.post("/api/admin/backtest", headers=VIEWER,
                                 json={"days": 1, "files": {"rules/routing.yaml": routing_to("ana")}})
        assert test.status_code == 200, test.text
        diff = test.json()
        assert diff["leads"] == 6 and diff["after"] == {"ana": 6} and sum(diff["before"].values()) == 6
        moved = {c["email"] for c in diff["changed"]}
        assert moved and len(moved) == diff["before"].get("ben", 0)
        assert all(c["after"] == "ana" and c["after_rule"] == "all_to_ana" and c["before"] == "ben"
                   for c in diff["changed"])
        assert diff["unassigned_before"] == diff["unassigned_after"] == 0
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["email", "first_name", "last_name", "company", "country"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        csv_text = out.getvalue()
        by_csv = (await client.post("/api/admin/backtest", headers=VIEWER,
                                    json={"csv": csv_text, "source": "website",
                                          "files": {"rules/routing.yaml": routing_to("ben")}})).json()
        assert by_csv["leads"] == 6 and by_csv["after"] == {"ben": 6}
        assert len(by_csv["changed"]) == by_csv["before"].get("ana", 0) > 0

        seen = (await client.get("/api/admin/overview", headers=VIEWER)).json()
        assert seen["leads_today"] == 6 and seen["today_by_rule"] == {"everyone": 6}
        assert seen["today_by_source"] == {"website": 6} and seen["unassigned"] == 0
        assert seen["speed_p50_day"] is not None and seen["speed_p95_day"] >= seen["speed_p50_day"] >= 0
        assert sum(s["leads"] for s in seen["series"]) == 6 and len(seen["series"]) == 24

        lead = await client.post("/api/admin/preview/lead", headers=VIEWER,
                                 json={"lead_id": found[0]["lead_id"],
                                       "files": {"rules/routing.yaml": routing_to("ben")}})
        assert lead.status_code == 200
        assert lead.json()["route"]["assignment"]["owner"] == "ben" and lead.json()["score"]["grade"]
    assert (await _decisions_unchanged(redis_url, found[0]["lead_id"], found[0]["owner"]))


async def _decisions_unchanged(redis_url: str, lead_id: str, owner: str) -> bool:
    r = Redis.from_url(redis_url)
    try:
        raw = await r.hget(Keys(PREFIX).lead(lead_id), "decision")
    finally:
        await r.aclose()
    return bool(raw) and json.loads(raw)["route"]["assignment"]["owner"] == owner


async def test_a_write_dead_letter_replays_with_the_current_mapping(redis_url: str, cfg: Path,
                                                                    signing_secrets: None) -> None:
    rows = samples(2)
    with sandbox_for(cfg) as sandbox:
        # every owner id refused (the reps were deactivated in HubSpot): both writes are dead letters
        ana_ben = [o for o in sandbox.hubspot.owners if o["id"] in {"7001", "7002"}]
        sandbox.hubspot.owners = [o for o in sandbox.hubspot.owners if o not in ana_ben]
        settings = settings_for(sandbox, redis_url, cfg, api_tokens=API_TOKENS)
        await run_worker(settings, rows)
        assert hubspot_contacts(sandbox) == []
        async with AsyncTestClient(create_app(settings, crm=False)) as client:
            listed = (await client.get("/api/admin/dead-letters", headers=VIEWER)).json()
            assert len(listed) == 2 and all(e["kind"] == "write" for e in listed)
            assert "INVALID_OPTION" in listed[0]["reason"] and listed[0]["replay_command"].startswith("leadrelay dlq")
            assert listed[0]["payload"]["jobtitle"]
            # the fix: the CRM mapping writes the company into jobtitle now
            files = (await client.get("/api/admin/config", headers=VIEWER)).json()["files"]
            key = "mappings/crm/hubspot.yaml"
            changed = files[key].replace("{from: role.title, to: jobtitle}", "{from: company.name, to: jobtitle}")
            assert changed != files[key]
            assert (await client.post("/api/admin/config/publish", headers=ADMIN,
                                      json={"files": {key: changed}, "base": 1})).status_code == 201
            first = listed[0]["id"]
            assert (await client.post(f"/api/admin/dead-letters/{first}/replay", headers=VIEWER)).status_code == 403
            replayed = await client.post(f"/api/admin/dead-letters/{first}/replay", headers=ADMIN)
            assert replayed.status_code == 202, replayed.text
            answer = replayed.json()
            assert answer["replanned"] is True and answer["fields"]["jobtitle"] == answer["fields"]["company"]
            fixed = await client.post(f"/api/admin/dead-letters/{listed[1]['id']}/replay", headers=ADMIN,
                                      json={"payload": {**listed[1]["payload"], "jobtitle": "Fixed by hand"}})
            assert fixed.status_code == 202 and fixed.json()["replanned"] is False
            assert (await client.get("/api/admin/dead-letters", headers=VIEWER)).json() == []
            assert (await client.post(f"/api/admin/dead-letters/{first}/replay", headers=ADMIN)).status_code == 404
        r = Redis.from_url(redis_url)
        assert await r.zcard(queue_name(PREFIX)) >= 1  # the write_back jobs the replays queued
        await r.aclose()
        sandbox.hubspot.owners += ana_ben  # reactivated
        await run_worker(settings, [])
        contacts = {c["properties"]["email"]: c["properties"] for c in hubspot_contacts(sandbox)}
    by_email = {row["email"].lower(): row for row in rows}
    assert set(contacts) == set(by_email)
    titles = sorted(c["jobtitle"] for c in contacts.values())
    assert "Fixed by hand" in titles
    replanned = next(c for c in contacts.values() if c["jobtitle"] != "Fixed by hand")
    assert replanned["jobtitle"] == replanned["company"]


async def test_recent_payloads_are_capped_and_none_is_kept_past_its_retention(redis_url: str, cfg: Path) -> None:
    r = Redis.from_url(redis_url)
    config = load_config(cfg)
    recent = RecentPayloads(r, PREFIX, keep_s=3600, max_per_source=3)
    now = datetime.now(UTC)

    def delivery(i: int, at: datetime) -> Delivery:
        return Delivery(source="form", delivery_id=f"d{i}", received_at=at, payload={"email": f"p{i}@x.example"},
                        form="website")

    await recent.add([delivery(0, now - timedelta(hours=2))], config)  # older than the retention: dropped
    assert await recent.list("website") == []
    await recent.add([delivery(i, now + timedelta(seconds=i)) for i in range(1, 6)], config)
    listed = await recent.list("website")
    assert [p.id for p in listed] == ["d5", "d4", "d3"] and listed[0].payload == {"email": "p5@x.example"}
    assert 0 < await r.ttl(Keys(PREFIX).recent_payloads("website")) <= 3600
    assert await recent.get("website", "d1") is None and (await recent.get("website", "d4")) is not None
    assert keep_seconds(load_settings({})) == 7 * 86_400
    assert keep_seconds(load_settings({}, recent_payload_retention_days=60)) == 30 * 86_400  # never past payloads'
    off = RecentPayloads(r, PREFIX, max_per_source=0)
    await off.add([delivery(9, now)], config)
    assert [p.id for p in await recent.list("website")] == ["d5", "d4", "d3"]
    await r.aclose()


async def test_a_delivery_dead_letter_replays_with_its_fixed_payload(client, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    r = Redis.from_url(redis_url)
    store = Store(r, PREFIX)
    broken = Delivery(source="form", delivery_id="dl-1", received_at=datetime.now(UTC),
                      payload={"email": "not an email", "company": "Acme"}, form="website")
    await dead_letter_delivery(store, broken, "the email cannot be read")
    [entry] = (await client.get("/api/admin/dead-letters", headers=VIEWER)).json()
    assert entry["kind"] == "delivery" and entry["payload"]["email"] == "not an email"
    fixed = {**entry["payload"], "email": "ops@acme.example"}
    answer = await client.post(f"/api/admin/dead-letters/{entry['id']}/replay", headers=ADMIN, json={"payload": fixed})
    assert answer.status_code == 202 and answer.json()["kind"] == "delivery"
    job_ids = [j.decode() for j in await r.zrange(queue_name(PREFIX), 0, -1)]
    assert len(job_ids) == 1 and job_ids[0].startswith(Keys(PREFIX).delivery_job("form", "dl-1"))
    job = job_deserializer(await r.get(arq_job(job_ids[0])))
    assert decode_delivery(job["a"][0]).payload == fixed
    assert await store.is_done("form", "dl-1") is None  # the worker decides it again
    assert await store.dead_letter_count() == 0
    await r.aclose()


def test_a_decisions_trace_links_to_the_crm_record_when_the_settings_say_where() -> None:
    from connector.settings import load_settings
    from leadrelay.api.admin.decisions import record_url

    hubspot = load_settings({}, hubspot_portal_id="4242", hubspot_app_url="https://app.hubspot.com")
    assert record_url(hubspot, "hubspot:1017") == "https://app.hubspot.com/contacts/4242/record/0-1/1017"
    assert record_url(load_settings({}), "hubspot:1017") is None  # no portal id: no link rather than a wrong one
    salesforce = load_settings({}, salesforce_instance_url="https://acme.my.salesforce.com")
    assert record_url(salesforce, "salesforce:00Q5e000001AbCdEAK") == (
        "https://acme.my.salesforce.com/00Q5e000001AbCdEAK")
    assert record_url(salesforce, None) is None and record_url(salesforce, "nowhere:1") is None
