"""Core decision throughput: map -> normalize -> match (in-memory index) -> score -> tag -> route, one core.

    uv run python bench/core.py [N]        # default 100,000 synthetic leads

Budget (DESIGN.md): >= 10,000 leads/s. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "samples"))

from generate import generate  # noqa: E402  (samples/generate.py: the bundled leads' generator)

from connector.config import load_config  # noqa: E402
from connector.mapping import map_payload  # noqa: E402
from connector.match import IdentityIndex  # noqa: E402
from connector.model import CrmRecord  # noqa: E402
from connector.normalize import normalize, warm_up  # noqa: E402
from connector.pipeline import decide  # noqa: E402
from connector.routing import RoutingState, apply_changes  # noqa: E402


def reference_loop_s(clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds for a plain CPython loop of 10^7 additions (best of 3): how fast this machine runs Python.

    Printed beside the figure so figures taken on different machines can be compared. ``clock``: wall time by
    default; ``time.process_time`` gives CPU seconds, which other processes on a shared machine inflate less (the
    figure to divide CPU-per-lead figures by).
    """
    best = float("inf")
    for _ in range(3):
        t = clock()
        total = 0
        for i in range(10_000_000):
            total += i
        best = min(best, clock() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    config = load_config(ROOT)
    mapping = config.sources["website"]
    t = time.perf_counter()
    payloads = generate(args.n, seed=args.seed)
    print(f"generated {args.n:,} synthetic website-form leads in {time.perf_counter() - t:.1f} s (not timed below)")
    # the CRM already knows every 10th person and their company: the index the matcher searches
    records: list[CrmRecord] = []
    for i, p in enumerate(payloads[::10]):
        records.append(CrmRecord(crm="hubspot", id=f"c{i}", kind="contact", email=str(p["email"]),
                                 first_name=p.get("first_name"), last_name=p.get("last_name"),  # type: ignore[arg-type]
                                 company=str(p["company"]), owner_id="51200013"))
        records.append(CrmRecord(crm="hubspot", id=f"a{i}", kind="account", company=str(p["company"]),
                                 domain=str(p.get("website") or "").removeprefix("https://www.").rstrip("/") or None,
                                 owner_id="51200011"))
    index = IdentityIndex(records, config=config.matching)
    warm_up()  # as a worker does at start: the libraries' lazy loads are not per-lead work
    now = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # a Wednesday, US and EU business hours overlap

    gc.collect()
    gc.freeze()  # measure the code, not the collector walking the payloads
    state = RoutingState()
    spent = {"map": 0.0, "normalize": 0.0, "match": 0.0, "score": 0.0, "tag": 0.0, "route": 0.0}
    matched = 0
    owners: dict[str, int] = {}
    start = time.perf_counter()
    for i, payload in enumerate(payloads):
        t0 = time.perf_counter()
        raw = map_payload(payload, mapping)
        t1 = time.perf_counter()
        lead = msgspec.structs.replace(normalize(raw), id=f"L{i}")
        t2 = time.perf_counter()
        spent["map"] += t1 - t0
        spent["normalize"] += t2 - t1
        d = decide(lead, config, state=state, now=now, index=index)
        state = apply_changes(state, d.route.changes)
        for step in ("match", "score", "tag", "route"):
            spent[step] += d.timings_ms[step] / 1000
        matched += d.match is not None
        who = d.route.assignment.owner or f"queue:{d.route.assignment.queue}"
        owners[who] = owners.get(who, 0) + 1
    elapsed = time.perf_counter() - start
    print(f"index:     {len(records):,} known CRM records; {matched:,} leads matched one")
    print(f"decided:   {args.n:,} leads in {elapsed:.2f} s on one core")
    print(f"THROUGHPUT {args.n / elapsed:,.0f} leads/s  (budget >= 10,000)")
    print(f"machine:   a CPython loop of 10^7 additions takes {reference_loop_s():.2f} s here (best of 3)")
    for step, s in spent.items():
        print(f"  {step:<10} {s / args.n * 1e6:6.1f} µs/lead")
    top = sorted(owners.items(), key=lambda kv: -kv[1])[:5]
    print("top owners:", ", ".join(f"{k} {v:,}" for k, v in top))


if __name__ == "__main__":
    main()
