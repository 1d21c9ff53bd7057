"""Publishing a config version while 2 real worker processes decide a steady stream of 1,000 leads (issue 12).

Version 1 routes every lead round-robin to the pool of ana and ben; version 2, published mid-stream, puts a rule
first that routes to the pool of cleo and dev. Then: every decision records one version (its hash), and its
owner and rule are that version's (no decision mixes the two); per worker, in the order it decided, the decisions
switch from version 1 to version 2 at exactly one point (none of version 1 after its first of version 2); both
workers decided under version 2 without a restart; all 1,000 leads are written to the sandbox CRM with the owner
their version chose. The counts per version per worker are printed (run with -s).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from redis.asyncio import Redis

from connector.config import read_files
from connector.decision import decision_from_json
from tests.integration.harness import (
    PREFIX,
    WorkerProcs,
    config_dir,
    form_delivery,
    hubspot_contacts,
    pool_team,
    samples,
    sandbox_for,
    settings_for,
    wait_for,
)
from worker.configs import ConfigStore
from worker.queue import connect, enqueue_delivery
from worker.store import Store

N = 1000
RATE = 100  # leads a second
PUBLISH_AT = N // 2
OLD_OWNERS, NEW_OWNERS = {"ana", "ben"}, {"cleo", "dev"}


def team_and_routings() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The team (two pools), version 1's routing (inbound pool) and version 2's (closers pool first)."""
    team, old = pool_team({"ana": 1, "ben": 1, "cleo": 1, "dev": 1})
    team["pools"] = {"inbound": {"members": sorted(OLD_OWNERS), "strategy": "round_robin"},
                     "closers": {"members": sorted(NEW_OWNERS), "strategy": "round_robin"}}
    new = {**old, "rules": [{"name": "closers_first", "strategy": "round_robin", "pool": "closers"}, *old["rules"]]}
    return team, old, new


async def stream(redis_url: str, rows: list[dict[str, Any]], publish: Any, ready_to_publish: Any) -> tuple[int, int]:
    """Queue the rows at RATE a second. From PUBLISH_AT on, once ``ready_to_publish()`` says so, ``publish()`` runs
    in a thread (its own event loop and Redis connection) while the stream goes on at its pace, so the version
    lands wherever it lands among the leads in flight. Returns the leads queued when the publish started and
    when it was done."""
    pool = await connect(redis_url, PREFIX)
    loop = asyncio.get_running_loop()
    start, queued, started, done = loop.time(), 0, -1, [-1]
    publishing: asyncio.Future[Any] | None = None

    def publish_in_thread() -> None:
        asyncio.run(publish())
        done[0] = queued

    try:
        for i, row in enumerate(rows):
            await asyncio.sleep(max(0.0, start + i / RATE - loop.time()))
            if publishing is None and i >= PUBLISH_AT and i % 10 == 0 and await ready_to_publish():
                publishing, started = loop.run_in_executor(None, publish_in_thread), i
            assert await enqueue_delivery(pool, form_delivery(row, i), PREFIX)
            queued = i + 1
        if publishing is not None:
            await publishing
    finally:
        await pool.aclose()
    return started, done[0]


async def decided(redis: Redis) -> list[dict[str, Any]]:
    """Every decided lead: its decided_by, decided_at, config version, owner and rule."""
    store = Store(redis, PREFIX)
    ids = [lid for lid, _ in await store.decisions_between(limit=10 * N)]
    out = []
    for lid, lead in zip(ids, await store.leads(ids), strict=True):
        d = decision_from_json(lead["decision"])
        out.append({"id": lid, "by": lead.get("decided_by", b"").decode(), "at": float(lead["decided_at"]),
                    "version": d.config_version, "owner": d.route.assignment.owner, "rule": d.route.assignment.rule,
                    "email": d.lead.identity.email})
    return out


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_publishing_mid_stream_switches_each_worker_once(redis_url: str, tmp_path: Path) -> None:
    team, old_routing, new_routing = team_and_routings()
    cfg = config_dir(tmp_path, team=team, routing=old_routing)
    v1_files = read_files(cfg)
    v2_files = {**v1_files, "rules/routing.yaml": yaml.safe_dump(new_routing)}
    rows = samples(N)
    with sandbox_for(cfg) as sandbox:
        settings = settings_for(sandbox, redis_url, cfg)
        with WorkerProcs(settings, 2) as procs:
            workers = {f"{socket.gethostname()}:{p.pid}" for p in procs.procs}
            # the stream starts when both are deciding (a worker takes seconds to start on a busy machine)
            wait_for(lambda: all('"worker_ready"' in log.read_text() for log in procs.logs), 120, "both workers")

            async def run() -> tuple[str, str, int, int]:
                redis = Redis.from_url(redis_url)
                hashes: list[str] = []

                async def both_deciding() -> bool:  # publish once both workers are deciding under version 1
                    store = Store(redis, PREFIX)
                    ids = [lid for lid, _ in await store.decisions_between(limit=N)]
                    pipe = redis.pipeline(transaction=False)
                    for lid in ids:
                        pipe.hget(store.keys.lead(lid), "decided_by")
                    return {by.decode() for by in await pipe.execute() if by} == workers

                async def publish() -> None:  # as the admin API does: against the version it read
                    own = Redis.from_url(redis_url)
                    try:
                        configs = ConfigStore(own, PREFIX)
                        base = await configs.current_number()
                        hashes.append((await configs.publish(v2_files, author="test", message="closers first",
                                                             base=base)).hash)
                    finally:
                        await own.aclose()

                try:
                    started, done = await stream(redis_url, rows, publish, both_deciding)
                    v1 = await ConfigStore(redis, PREFIX).get(1)
                    assert v1 is not None and hashes, "never published: a worker decided nothing before the end"
                    return v1.hash, hashes[0], started, done
                finally:
                    await redis.aclose()

            old_hash, new_hash, started, done = asyncio.run(run())
            wait_for(lambda: len(hubspot_contacts(sandbox)) >= N, 300, f"{N} contacts in the sandbox")
            logs = procs.stop()
        contacts = hubspot_contacts(sandbox)

    async def read() -> list[dict[str, Any]]:
        redis = Redis.from_url(redis_url)
        try:
            return await decided(redis)
        finally:
            await redis.aclose()

    decisions = sorted(asyncio.run(read()), key=lambda d: d["at"])
    print(f"\n{N} leads at {RATE}/s; version 2 published while leads #{started}..#{done - 1} were queued; "
          f"version 1 = {old_hash}, version 2 = {new_hash}")
    t0, queued = decisions[0]["at"], {row["email"].lower(): i for i, row in enumerate(rows)}
    for w in sorted(workers):
        mine = [d for d in decisions if d["by"] == w]
        old_ = [d for d in mine if d["version"] == old_hash]
        new_ = [d for d in mine if d["version"] == new_hash]
        switch = (f"; switched at {new_[0]['at'] - t0:.3f}s (its last version 1 decision: lead "
                  f"#{queued[old_[-1]['email']]}, its first version 2: lead #{queued[new_[0]['email']]})"
                  if old_ and new_ else "")
        print(f"  worker {w}: version 1 {len(old_):4d}, version 2 {len(new_):4d}; deciding from "
              f"{mine[0]['at'] - t0:.2f}s to {mine[-1]['at'] - t0:.2f}s{switch}")
    print(f"  total: version 1 {sum(d['version'] == old_hash for d in decisions)}, "
          f"version 2 {sum(d['version'] == new_hash for d in decisions)}, CRM contacts {len(contacts)}")

    assert len(decisions) == N and len({d["id"] for d in decisions}) == N, logs
    assert {d["by"] for d in decisions} == workers
    for d in decisions:  # one version per decision, and the decision is wholly that version's
        assert d["version"] in (old_hash, new_hash), d
        if d["version"] == old_hash:
            assert d["owner"] in OLD_OWNERS and d["rule"] == "everyone", d
        else:
            assert d["owner"] in NEW_OWNERS and d["rule"] == "closers_first", d
    for w in workers:
        seq = [d["version"] for d in decisions if d["by"] == w]
        switch = seq.index(new_hash)  # both workers saw the new version (ValueError otherwise)
        assert switch > 0 and set(seq[:switch]) == {old_hash} and set(seq[switch:]) == {new_hash}, (w, seq)
    # all written, each with the owner its version chose
    owner_of = {r["owner_ids"]["hubspot"]: r["id"] for r in team["reps"]}
    chosen = {d["email"]: d["owner"] for d in decisions}
    assert len(contacts) == N
    assert {c["properties"]["email"]: owner_of.get(c["properties"].get("hubspot_owner_id"))
            for c in contacts} == chosen
