"""Dedupe quality: precision and recall over pairs on the labelled synthetic list. Prints; asserts nothing.

    uv run python bench/dedupe_quality.py [--rows N] [--seed S] [--show K]

A pair of rows is a true duplicate when both carry the same ``entity_id``; predicted when ``cluster_rows``
puts them in one cluster. Targets: precision >= 0.98, recall >= 0.90.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synthetic_people import generate  # noqa: E402
from connector.match import cluster_rows  # noqa: E402


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pair_scores(labels: list[str], clusters: list[int]) -> tuple[float, float, int, int, int]:
    """(precision, recall, true positives, predicted pairs, true pairs), counted without listing pairs."""
    tp = sum(_pairs(n) for n in Counter(zip(labels, clusters, strict=True)).values())
    predicted = sum(_pairs(n) for n in Counter(clusters).values())
    actual = sum(_pairs(n) for n in Counter(labels).values())
    precision = tp / predicted if predicted else 1.0
    recall = tp / actual if actual else 1.0
    return precision, recall, tp, predicted, actual


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", type=int, default=0, help="print this many missed and wrong pairs")
    args = parser.parse_args()
    rows = generate(args.rows, seed=args.seed)
    start = time.perf_counter()
    clusters = cluster_rows(rows)
    seconds = time.perf_counter() - start
    labels = [r["entity_id"] for r in rows]
    precision, recall, tp, predicted, actual = pair_scores(labels, clusters)
    print(f"rows={len(rows)} entities={len(set(labels))} clusters={len(set(clusters))} seconds={seconds:.2f}")
    print(f"pairs: true={actual} predicted={predicted} correct={tp}")
    print(f"precision={precision:.4f} (target >= 0.98)  recall={recall:.4f} (target >= 0.90)")
    if args.show:
        _show(rows, labels, clusters, args.show)


def _show(rows: list[dict[str, str]], labels: list[str], clusters: list[int], k: int) -> None:
    by_entity: dict[str, list[int]] = {}
    by_cluster: dict[int, list[int]] = {}
    for i, (e, c) in enumerate(zip(labels, clusters, strict=True)):
        by_entity.setdefault(e, []).append(i)
        by_cluster.setdefault(c, []).append(i)
    fields = ("first_name", "last_name", "email", "phone", "company", "domain")

    def line(i: int) -> str:
        return " | ".join(rows[i][f] for f in fields)

    print("-- missed (same entity, different clusters)")
    shown = 0
    for members in by_entity.values():
        split = {clusters[i] for i in members}
        if len(split) > 1 and shown < k:
            shown += 1
            print("\n".join("   " + line(i) for i in members) + "\n")
    print("-- wrong (different entities, same cluster)")
    shown = 0
    for members in by_cluster.values():
        if len({labels[i] for i in members}) > 1 and shown < k:
            shown += 1
            print("\n".join(f"   [{labels[i]}] " + line(i) for i in members) + "\n")


if __name__ == "__main__":
    main()
