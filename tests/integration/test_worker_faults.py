"""At-least-once delivery, concurrency and crashes: one person -> one record and one assignment; a worker
killed mid-batch loses nothing and writes nothing twice."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from adapters.forms.standard_webhooks import sign
from sandbox.common import FaultPlan
from tests.integration.burst import queue_dump
from tests.integration.harness import (
    FORM_SECRET,
    PREFIX,
    ApiServer,
    WorkerProcs,
    config_dir,
    enqueue_forms,
    free_port,
    hubspot_contacts,
    pool_team,
    samples,
    sandbox_for,
    settings_for,
    wait_for,
)

HUBSPOT_SECRET = "hubspot-secret-faults"


@pytest.mark.timeout(180)
def test_twenty_concurrent_deliveries_for_one_email_make_one_record_and_one_assignment(
    redis_url: str, tmp_path: Path, signing_secrets: None
) -> None:
    team, routing = pool_team({"ana": 1, "ben": 1, "cleo": 1, "dev": 1})
    cfg = config_dir(tmp_path, team=team, routing=routing)
    port = free_port()
    email = "jordan.lee@quantumleaf.io"
    form = {"email": email, "first_name": "Jordan", "last_name": "Lee", "company": "Quantum Leaf",
            "country": "United States", "state": "NY", "interest": "demo"}
    with sandbox_for(cfg, webhook_url=f"http://127.0.0.1:{port}/webhooks/hubspot", client_secret=HUBSPOT_SECRET,
                     webhook_properties=["hubspot_owner_id"]) as sandbox:
        settings = settings_for(sandbox, redis_url, cfg, hubspot_webhook_secret=HUBSPOT_SECRET)
        with ApiServer(settings, port) as api, WorkerProcs(settings, 2).ready() as workers:  # both polling

            def post(i: int) -> int:
                body = json.dumps({**form, "message": f"submission {i}"}).encode()
                headers = {"content-type": "application/json", **sign(FORM_SECRET, f"msg_same_{i}", int(time.time()),
                                                                      body)}
                return httpx.post(f"{api.url}/webhooks/forms/website", content=body, headers=headers).status_code

            def rep_creates_it() -> int:
                # the same person, typed into HubSpot by a rep: HubSpot sends contact.creation to our API
                sandbox.hubspot.ui_create({"email": email, "firstname": "Jordan", "lastname": "Lee"}, user_id=5)
                return 202

            with ThreadPoolExecutor(20) as ex:
                futures = [ex.submit(post, i) for i in range(19)] + [ex.submit(rep_creates_it)]
                codes = [f.result() for f in futures]
            assert codes == [202] * 20
            wait_for(lambda: any(c["properties"].get("hubspot_owner_id") for c in hubspot_contacts(sandbox)), 60,
                     "the contact owned")
            assert sandbox.hubspot.webhooks.idle(10)
            done = redis.Redis.from_url(redis_url)
            wait_for(lambda: sum(1 for _ in done.scan_iter(match=f"{PREFIX}done:form:*")) == 19, 60,
                     "every form delivery processed", explain=workers.tail)
            done.close()
            workers.stop()
        contacts = [c for c in hubspot_contacts(sandbox) if c["properties"]["email"] == email]
    r = redis.Redis.from_url(redis_url)
    pointer = {k.decode(): int(v) for k, v in r.hgetall(f"{PREFIX}route:pointer").items()}
    done = [k for k in r.scan_iter(match=f"{PREFIX}done:*")]
    r.close()
    assert len(contacts) == 1
    assert pointer == {"inbound": 1}, pointer  # the round-robin moved once: one assignment
    # every delivery was processed: 19 forms, HubSpot's creation event (and the echo of our owner write)
    assert sum(k.startswith(f"{PREFIX}done:form:".encode()) for k in done) == 19
    assert sum(k.startswith(f"{PREFIX}done:hubspot:".encode()) for k in done) >= 1


@pytest.mark.timeout(300)
def test_worker_killed_mid_batch_still_writes_every_lead_exactly_once(redis_url: str, tmp_path: Path) -> None:
    n = 400
    cfg = config_dir(tmp_path)
    rows = samples(n)
    with sandbox_for(cfg) as sandbox:
        # slow CRM writes, so that a batch is in flight when the worker dies
        sandbox.faults["hubspot"].set(FaultPlan(latency_ms=1500))
        settings = settings_for(sandbox, redis_url, cfg, job_timeout_s=10, write_batch_window_ms=100)
        asyncio.run(enqueue_forms(redis_url, rows))
        r = redis.Redis.from_url(redis_url)
        with WorkerProcs(settings, 2) as workers:
            wait_for(lambda: any(True for _ in r.scan_iter(match=f"{PREFIX}writes:hubspot:batch:*")), 60,
                     "a write batch in flight")
            workers.kill(0)
            in_flight = [k.decode() for k in r.scan_iter(match=f"{PREFIX}writes:hubspot:batch:*")]

            def explain() -> str:
                waiting = {k.decode(): r.llen(k) for k in r.scan_iter(match=f"{PREFIX}writes:hubspot*")
                           if r.type(k) == b"list"}
                return (f"{len(hubspot_contacts(sandbox))} contacts, {r.zcard(f'{PREFIX}dlq')} dead letters, "
                        f"write lists {waiting}\n{asyncio.run(queue_dump(redis_url, PREFIX))}\n{workers.tail()}")

            wait_for(lambda: len(hubspot_contacts(sandbox)) >= n, 200, f"{n} contacts", explain=explain)
            time.sleep(2.0)
            workers.stop()
        r.close()
        emails = [c["properties"]["email"] for c in hubspot_contacts(sandbox)]
    assert in_flight, "the kill did not happen mid-batch"
    assert len(emails) == n and len(set(emails)) == n
    assert set(emails) == {row["email"].lower() for row in rows}
