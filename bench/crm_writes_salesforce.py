"""Salesforce write path against the sandbox: calls per 1,000 decisions, faults, and the shared daily budget.

    uv run python bench/crm_writes_salesforce.py [N] [--seed S]

Prints figures; asserts nothing. Three runs, each on a fresh sandbox state:
1. N decisions in one burst: write calls (sObject Collections upserts, 200 records each) and lookup calls
   (SOQL on Lead, Contact, Account) counted by the sandbox, against the minimum the 200-record limit allows.
2. The same with 15% REQUEST_LIMIT_EXCEEDED + 15% 5xx, 5% UNABLE_TO_LOCK_ROW rows and 200 ms latency:
   calls by status, records, duplicates.
3. Two worker processes sharing one Redis limiter on an org with a small daily allocation (480 calls, half
   of it for leadrelay, so a burst may take 10): single-record writes, calls by status — a 403
   REQUEST_LIMIT_EXCEEDED here would mean the limiter let the org run dry.
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

STATUSES = ["Open - Not Contacted", "Working - Contacted"]
TAGS = ["saas", "fintech", "enterprise", "smb", "demo_request", "pricing", "hot"]
WRITE_METHODS = ("POST", "PATCH", "DELETE")


def decision_items(n: int, owners: list[str], *, seed: int = 7, prefix: str = "lead") -> list[WriteItem]:
    """``n`` decisions as mapped Salesforce Lead fields (mappings/crm/salesforce.yaml's targets)."""
    rnd = random.Random(seed)
    items = []
    for i in range(n):
        score = rnd.randint(0, 100)
        key = f"{prefix}-{seed}-{i:06d}"
        items.append(WriteItem(key=key, object_type="lead", fields={
            "Leadrelay_Id__c": key,
            "Email": f"{prefix}{i}.s{seed}@acme{i % 97}.example",
            "FirstName": rnd.choice(["Ana", "Ben", "Chloé", "Dev", "Eun-ji", "Femi"]),
            "LastName": rnd.choice(["Ng", "Okafor", "Schmidt", "García", "Kowalski"]),
            "Company": f"Acme {i % 97}",
            "LeadSource": "Web",
            "OwnerId": rnd.choice(owners),
            "Status": rnd.choice(STATUSES),
            "Rating": "Hot" if score > 75 else "Warm" if score > 50 else "Cold",
            "Leadrelay_Score__c": score,
            "Leadrelay_Tags__c": ";".join(sorted(rnd.sample(TAGS, 2))),
            "Leadrelay_Reason__c": f"score {score}; routed by territory rule",
        }))  # fmt: skip
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


def calls(server: Any, *, methods: tuple[str, ...] | None = None) -> int:
    """Salesforce API calls; with ``methods``, only writes of those methods (a Composite of queries is a read)."""
    return sum(r["count"] for r in server.calls.snapshot()
               if r["vendor"] == "salesforce" and "oauth2" not in r["endpoint"]
               and (methods is None or (r["endpoint"].split()[0] in methods
                                        and not r["endpoint"].endswith("/composite"))))  # fmt: skip


def calls_by_status(server: Any) -> dict[int, int]:
    counts: Counter[int] = Counter()
    for row in server.calls.snapshot():
        if row["vendor"] == "salesforce" and "oauth2" not in row["endpoint"]:
            counts[row["status"]] += row["count"]
    return dict(sorted(counts.items()))


def make_crm(url: str, ca_path: str, redis_url: str | None, **kwargs: Any) -> Any:
    import redis

    from adapters.salesforce.auth import SalesforceAuth, make_session
    from adapters.salesforce.client import SalesforceCrm
    from sandbox.salesforce import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    auth = SalesforceAuth(session=make_session(ca_path), login_url=url, client_id=DEFAULT_CLIENT_ID,
                          client_secret=DEFAULT_CLIENT_SECRET, instance_url=url)  # fmt: skip
    return SalesforceCrm(auth, redis=redis.Redis.from_url(redis_url) if redis_url else None, **kwargs)


def run_worker(url: str, ca_path: str, redis_url: str, n: int, seed: int, owner: str) -> dict[str, int]:
    """One worker process: its own SalesforceCrm and Redis client, the shared limiter; one record per call."""
    crm = make_crm(url, ca_path, redis_url, assumed_daily_limit=480, deadline_s=0.5)
    counts: Counter[str] = Counter()
    for item in decision_items(n, [owner], seed=seed, prefix=f"w{seed}"):
        counts.update(o.status for o in crm.write([item]))
    return dict(counts)


def main() -> None:
    from sandbox.common import FaultPlan
    from sandbox.server import SandboxServer
    from worker.redis_server import EmbeddedRedis

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with EmbeddedRedis() as rs, SandboxServer(salesforce={"leadrelay_fields": True}) as s:
        crm = make_crm(s.url, str(s.ca_path), rs.url, deadline_s=300)
        owners = [o.id for o in crm.owners()]
        items = decision_items(args.n, owners, seed=args.seed)
        s.reset()

        t0 = time.perf_counter()
        crm.find([str(i.fields["Email"]) for i in items], [f"acme{i}.example" for i in range(97)])
        lookup_s = time.perf_counter() - t0
        lookups = calls(s)
        t0 = time.perf_counter()
        outcomes = write_all(crm, items)
        write_s = time.perf_counter() - t0
        writes = calls(s, methods=WRITE_METHODS)
        minimum = math.ceil(args.n / 200)
        print(f"1) {args.n} decisions, no faults")
        print(f"   lookup calls (SOQL on Lead, Contact, Account, with paging): {lookups} in {lookup_s:.2f}s")
        print(f"   write calls: {writes} (minimum {minimum}, ratio {writes / minimum:.2f}) in {write_s:.2f}s; "
              f"outcomes {dict(Counter(o.status for o in outcomes.values()))}")  # fmt: skip

        s.reset()
        s.faults["salesforce"].set(FaultPlan(rate_limit_share=0.15, server_error_share=0.15, lock_error_share=0.05,
                                             latency_ms=200, seed=1))  # fmt: skip
        t0 = time.perf_counter()
        outcomes = write_all(crm, items)
        elapsed = time.perf_counter() - t0
        leads = s.salesforce.records()["Lead"]
        keys = Counter(r.get("Leadrelay_Id__c") for r in leads)
        print(
            f"2) {args.n} decisions, 15% REQUEST_LIMIT_EXCEEDED + 15% 5xx, 5% UNABLE_TO_LOCK_ROW rows, 200 ms latency"
        )
        print(f"   calls by status: {calls_by_status(s)}; write calls {calls(s, methods=WRITE_METHODS)} "
              f"in {elapsed:.2f}s")  # fmt: skip
        print(f"   outcomes {dict(Counter(o.status for o in outcomes.values()))}; records {len(leads)}, "
              f"duplicates {sum(n - 1 for n in keys.values() if n > 1)}")  # fmt: skip

    with EmbeddedRedis() as rs, SandboxServer(salesforce={"daily_api_limit": 480, "leadrelay_fields": True}) as s:
        owner = s.salesforce.user_id("sarah.chen@leadrelay.example")
        ctx = multiprocessing.get_context("spawn")
        t0 = time.perf_counter()
        with ctx.Pool(2) as pool:
            results = pool.starmap(run_worker, [(s.url, str(s.ca_path), rs.url, 20, seed, owner) for seed in (1, 2)])
        elapsed = time.perf_counter() - t0
        print("3) two worker processes, shared Redis limiter, org allocation 480/day (leadrelay's burst: 10 calls)")
        print(
            f"   40 single-record writes wanted; calls by status: {calls_by_status(s)} in {elapsed:.1f}s; "
            f"api-usage {s.salesforce.api_used}/{s.salesforce.daily_api_limit}; worker outcomes {results}"
        )


if __name__ == "__main__":
    main()
