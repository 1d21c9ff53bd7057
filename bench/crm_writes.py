"""HubSpot write path against the sandbox: calls per 1,000 decisions, faults, and two workers sharing the limiter.

    uv run python bench/crm_writes.py [N] [--seed S]

Prints figures; asserts nothing. Three runs, each on a fresh sandbox state:
1. N decisions written in one burst: write calls (batch upserts) and lookup calls (batch reads) counted by
   the sandbox, against the minimum HubSpot's 100-input batches allow.
2. The same with 15% 429 + 15% 5xx and 200 ms latency: calls by status, records, duplicates.
3. Two worker processes sharing one Redis limiter against a 100/10 s portal, small batches so the limit
   matters: calls by status (a 429 here would mean the limiter failed).

The Salesforce half lives in bench/crm_writes_salesforce.py.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from connector.ports import WriteItem  # noqa: E402

TOKEN = "bench-hubspot-token"
OWNERS = [
    {"id": "501", "email": "sarah@example.com", "firstName": "Sarah", "lastName": "Lopez"},
    {"id": "502", "email": "tom@example.com", "firstName": "Tom", "lastName": "Becker"},
    {"id": "503", "email": "amy@example.com", "firstName": "Amy", "lastName": "Chen"},
]
STAGES = [("lead", "NEW"), ("marketingqualifiedlead", "NEW"), ("salesqualifiedlead", "OPEN")]
TAGS = ["saas", "fintech", "enterprise", "smb", "demo_request", "pricing", "hot"]
WRITE_ENDPOINTS = ("batch/upsert", "batch/update", "batch/create", "associations")


def decision_items(n: int, *, seed: int = 7, prefix: str = "lead", lane: str = "live") -> list[WriteItem]:
    """``n`` decisions as mapped HubSpot contact properties (mappings/crm/hubspot.yaml's targets)."""
    rnd = random.Random(seed)
    items = []
    for i in range(n):
        stage, status = rnd.choice(STAGES)
        score = rnd.randint(0, 100)
        key = f"{prefix}-{seed}-{i:06d}"
        items.append(WriteItem(key=key, object_type="contacts", lane=lane, fields={
            "email": f"{prefix}{i}.s{seed}@acme{i % 97}.example",
            "firstname": rnd.choice(["Ana", "Ben", "Chloé", "Dev", "Eun-ji", "Femi"]),
            "lastname": rnd.choice(["Ng", "Okafor", "Schmidt", "García", "Kowalski"]),
            "company": f"Acme {i % 97}",
            "hubspot_owner_id": rnd.choice(OWNERS)["id"],
            "lifecyclestage": stage,
            "hs_lead_status": status,
            "leadrelay_score": score,
            "leadrelay_grade": "A" if score > 75 else "B" if score > 50 else "C",
            "leadrelay_tags": ";".join(sorted(rnd.sample(TAGS, 2))),
            "leadrelay_reason": f"score {score}; routed by territory rule",
            "leadrelay_id": key,
        }))
    return items


def write_all(crm: Any, items: list[WriteItem], *, rounds: int = 20) -> dict[str, Any]:
    """Write like the worker does: retryable rows go back in (only those), until none is left."""
    outcomes: dict[str, Any] = {}
    todo = items
    for _ in range(rounds):
        if not todo:
            break
        for o in crm.write(todo):
            outcomes[o.key] = o
        todo = [i for i in todo if outcomes[i.key].status == "retryable"]
    return outcomes


def run_worker(base_url: str, ca_path: str, redis_url: str, n: int, seed: int, batch_size: int) -> dict[str, int]:
    """One worker process: its own HubSpotCrm and Redis client, the shared limiter. Returns status counts."""
    import redis

    from adapters.hubspot.client import HubSpotCrm

    crm = HubSpotCrm(token=TOKEN, base_url=base_url, ca_bundle=ca_path, redis=redis.Redis.from_url(redis_url),
                     rate_per_10s=100, batch_size=batch_size, deadline_s=120)
    outcomes = write_all(crm, decision_items(n, seed=seed, prefix=f"w{seed}"))
    return dict(Counter(o.status for o in outcomes.values()))


def calls_by_status(server: Any) -> dict[int, int]:
    counts: Counter[int] = Counter()
    for row in server.calls.snapshot():
        if row["vendor"] == "hubspot":
            counts[row["status"]] += row["count"]
    return dict(sorted(counts.items()))


def write_calls(server: Any) -> int:
    return sum(r["count"] for r in server.calls.snapshot()
               if r["vendor"] == "hubspot" and any(e in r["endpoint"] for e in WRITE_ENDPOINTS))


def two_workers(server: Any, redis_url: str, *, per_worker: int, batch_size: int) -> list[dict[str, int]]:
    ctx = multiprocessing.get_context("spawn")
    args = [(server.url, str(server.ca_path), redis_url, per_worker, seed, batch_size) for seed in (1, 2)]
    with ctx.Pool(2) as pool:
        return pool.starmap(run_worker, args)


def main() -> None:
    import redis

    from adapters.hubspot.client import HubSpotCrm
    from sandbox.common import FaultPlan
    from sandbox.server import SandboxServer
    from worker.redis_server import EmbeddedRedis

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with EmbeddedRedis() as rs, SandboxServer(hubspot={"token": TOKEN, "owners": OWNERS, "tier": "professional",
                                                              "leadrelay_fields": True}) as s:
        r = redis.Redis.from_url(rs.url)
        crm = HubSpotCrm(token=TOKEN, base_url=s.url, ca_bundle=str(s.ca_path), redis=r, rate_per_10s=190)
        items = decision_items(args.n, seed=args.seed)

        t0 = time.perf_counter()
        crm.find([i.fields["email"] for i in items])
        lookup_s = time.perf_counter() - t0
        lookups = s.calls.count("hubspot")
        t0 = time.perf_counter()
        outcomes = write_all(crm, items)
        write_s = time.perf_counter() - t0
        minimum = math.ceil(args.n / 100)
        print(f"1) {args.n} decisions, no faults")
        print(f"   lookup calls (batch read by email): {lookups} in {lookup_s:.2f}s")
        print(f"   write calls: {write_calls(s)} (minimum {minimum}, ratio {write_calls(s) / minimum:.2f}) "
              f"in {write_s:.2f}s; outcomes {dict(Counter(o.status for o in outcomes.values()))}")

        s.reset()
        r.flushdb()
        s.faults["hubspot"].set(FaultPlan(rate_limit_share=0.15, server_error_share=0.15, latency_ms=200, seed=1))
        t0 = time.perf_counter()
        outcomes = write_all(crm, items)
        elapsed = time.perf_counter() - t0
        contacts = s.hubspot.records()["contacts"]
        emails = Counter(c["properties"].get("email") for c in contacts)
        print(f"2) {args.n} decisions, 15% 429 + 15% 5xx, 200 ms latency")
        print(f"   calls by status: {calls_by_status(s)}; write calls {write_calls(s)} in {elapsed:.2f}s")
        print(f"   outcomes {dict(Counter(o.status for o in outcomes.values()))}; records {len(contacts)}, "
              f"duplicates {sum(n - 1 for n in emails.values() if n > 1)}")

    with EmbeddedRedis() as rs, SandboxServer(hubspot={"token": TOKEN, "owners": OWNERS, "leadrelay_fields": True,
                                                        "rate_limit_per_10s": 100}) as s:
        t0 = time.perf_counter()
        results = two_workers(s, rs.url, per_worker=400, batch_size=5)
        elapsed = time.perf_counter() - t0
        calls = s.calls.count("hubspot")
        print("3) two worker processes, shared Redis limiter, portal limit 100 / 10 s, batches of 5")
        print(f"   calls by status: {calls_by_status(s)} ({calls} calls in {elapsed:.1f}s = "
              f"{calls / elapsed * 10:.0f} per 10 s); worker outcomes {results}")


if __name__ == "__main__":
    main()
