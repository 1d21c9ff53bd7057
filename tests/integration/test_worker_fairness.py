"""Two real worker processes share one Redis: round-robin and weighted pools stay exact across them."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.harness import (
    WorkerProcs,
    config_dir,
    enqueue_forms,
    hubspot_contacts,
    pool_team,
    samples,
    sandbox_for,
    settings_for,
    wait_for,
)

N = 1000


def _owners_after(redis_url: str, tmp_path: Path, weights: dict[str, int], strategy: str) -> Counter[str]:
    team, routing = pool_team(weights, strategy=strategy)
    cfg = config_dir(tmp_path, team=team, routing=routing)
    with sandbox_for(cfg) as sandbox:
        settings = settings_for(sandbox, redis_url, cfg)
        asyncio.run(enqueue_forms(redis_url, samples(N)))
        with WorkerProcs(settings, 2) as procs:
            wait_for(lambda: len(hubspot_contacts(sandbox)) >= N, 240, f"{N} contacts in the sandbox")
            errors = procs.stop()
        contacts = hubspot_contacts(sandbox)
    assert len(contacts) == N, errors
    by_id = {r["owner_ids"]["hubspot"]: r["id"] for r in team["reps"]}
    return Counter(by_id.get(c["properties"].get("hubspot_owner_id"), "none") for c in contacts)


@pytest.mark.timeout(400)
def test_round_robin_across_two_workers_is_exact(redis_url: str, tmp_path: Path) -> None:
    counts = _owners_after(redis_url, tmp_path, {"ana": 1, "ben": 1, "cleo": 1, "dev": 1}, "round_robin")
    print("round robin, 1000 leads, 2 workers:", dict(counts))
    assert set(counts) == {"ana", "ben", "cleo", "dev"}
    assert all(249 <= c <= 251 for c in counts.values()), counts


@pytest.mark.timeout(400)
def test_weighted_two_to_one_across_two_workers(redis_url: str, tmp_path: Path) -> None:
    counts = _owners_after(redis_url, tmp_path, {"olivia": 2, "ethan": 1}, "weighted")
    print("weighted 2:1, 1000 leads, 2 workers:", dict(counts))
    assert abs(counts["olivia"] / N - 2 / 3) <= 0.01 and abs(counts["ethan"] / N - 1 / 3) <= 0.01, counts
