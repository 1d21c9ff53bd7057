"""A write the CRM refuses for good goes to the dead-letter list with its reason; after the cause is fixed,
`leadrelay dlq replay` writes it — once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.burst import run_burst, running_worker
from tests.integration.harness import (
    ROOT,
    config_dir,
    enqueue_forms,
    env_for,
    hubspot_contacts,
    pool_team,
    samples,
    sandbox_for,
    settings_for,
)

CLI = [sys.executable, "-c", "from leadrelay.cli.main import app; app()"]


async def _run(settings, rows) -> None:  # type: ignore[no-untyped-def]
    await enqueue_forms(settings.redis_url, rows)
    await run_burst(settings)


async def test_refused_write_is_dead_lettered_then_replayed(redis_url: str, tmp_path: Path) -> None:
    team, routing = pool_team({"ana": 1})
    cfg = config_dir(tmp_path, team=team, routing=routing)
    rows = samples(3)
    with sandbox_for(cfg) as sandbox:
        # Ana's HubSpot user was deactivated: HubSpot refuses her owner id (400 INVALID_OPTION) on every row
        sandbox.hubspot.owners = [o for o in sandbox.hubspot.owners if o["id"] != "7001"]
        settings = settings_for(sandbox, redis_url, cfg)
        await _run(settings, rows)
        assert hubspot_contacts(sandbox) == []
        env = env_for(settings)
        listed = subprocess.run([*CLI, "dlq", "list"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert "dead letters (3)" in listed.stdout and "INVALID_OPTION" in listed.stdout.replace("\n", "")
        # the admin reactivates Ana in HubSpot, then replays
        sandbox.hubspot.owners.append({"id": "7001", "email": "ana@northwind.example", "firstName": "Rep",
                                       "lastName": "Ana", "userId": 9001, "archived": False, "teams": [],
                                       "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"})
        replay = subprocess.run([*CLI, "dlq", "replay", "--all"], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=60)
        assert replay.returncode == 0 and "replayed 3 of 3" in replay.stdout, replay.stdout + replay.stderr
        # a running worker until the writes land (a burst worker would also wait for whatever sweep or
        # follow-through job happens to be due)
        async with running_worker(settings) as until:
            await until(lambda: len(hubspot_contacts(sandbox)) == len(rows), 60, "the replayed leads written")
        again = subprocess.run([*CLI, "dlq", "replay", "--all"], cwd=ROOT, env=env, capture_output=True, text=True,
                               timeout=60)
        contacts = hubspot_contacts(sandbox)
    assert sorted(c["properties"]["email"] for c in contacts) == sorted(r["email"].lower() for r in rows)
    assert all(c["properties"]["hubspot_owner_id"] == "7001" for c in contacts)
    assert "replayed 0 of 0" in again.stdout
