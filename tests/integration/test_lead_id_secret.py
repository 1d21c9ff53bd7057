"""The lead id secret (issue 11, point 1) on a real Redis: made once (SET NX) and the same for every worker and
restart of one installation; the setting wins when given; a worker ids its leads with it."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from redis.asyncio import Redis

from tests.integration.burst import run_burst
from tests.integration.harness import PREFIX, config_dir, enqueue_forms, samples, sandbox_for, settings_for
from worker import lead_ids
from worker.store import Store


async def test_one_secret_per_installation_whoever_makes_it_first(redis_url: str) -> None:
    clients = [Redis.from_url(redis_url) for _ in range(4)]
    try:
        # four workers starting together, then one started again later: one secret
        first = await asyncio.gather(*(lead_ids.load_secret(c, "lr-x:", None) for c in clients))
        again = await lead_ids.load_secret(clients[0], "lr-x:", None)
        other = await lead_ids.load_secret(clients[1], "lr-y:", None)  # another installation
        given = await lead_ids.load_secret(clients[2], "lr-x:", "from-the-environment-0123456789abcdef")
    finally:
        for c in clients:
            await c.aclose()
    secrets_made = {secret for secret, _ in first}
    assert len(secrets_made) == 1 and {source for _, source in first} == {"redis"}
    assert again[0] in secrets_made and len(again[0]) >= 32
    assert other[0] not in secrets_made
    assert given == (b"from-the-environment-0123456789abcdef", "environment")


async def test_a_worker_ids_a_lead_with_the_installation_secret(redis_url: str, tmp_path: Path) -> None:
    cfg = config_dir(tmp_path)
    before = lead_ids.loaded()
    try:
        with sandbox_for(cfg) as sandbox:
            settings = settings_for(sandbox, redis_url, cfg, lead_id_secret="installation-secret-1-0123456789abcdef")
            await enqueue_forms(redis_url, samples(1))
            await run_burst(settings)
    finally:
        lead_ids.use_secret(before)
    r = Redis.from_url(redis_url)
    try:
        lead_id = (await r.get(Store(r, PREFIX).keys.done("form", "d0"))).decode()
        decision = json.loads((await Store(r, PREFIX).lead(lead_id))["decision"])
    finally:
        await r.aclose()
    email = decision["lead"]["identity"]["email"]
    assert lead_id == lead_ids.lead_id(f"email:{email}", b"installation-secret-1-0123456789abcdef")
    assert lead_id != "ld_" + hashlib.sha256(f"email:{email}".encode()).hexdigest()[:20]
