"""Dedupe speed: `leadrelay dedupe` on a 100,000-row CSV, the real command path. Prints seconds; asserts nothing.

    uv run python bench/dedupe_speed.py [--rows N] [--seed S] [--keep DIR]

Writes a labelled synthetic list (bench/synthetic_people.py) to a temporary CSV, runs the `dedupe`
command on it (CSV read, column resolution, blocking + pairwise rules, CSV write) and prints the
wall time, then the pair precision/recall of the clusters it wrote. Budget: < 60 s for 100,000 rows.

Then the service's path: ``IdentityIndex.match`` (candidates + match) per lead, with 10,000 known
records indexed (contacts and their accounts). Budget: <= 10 µs per lead (part of 10,000 leads/s).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.dedupe_quality import pair_scores  # noqa: E402
from bench.synthetic_people import generate, write_csv  # noqa: E402
from connector.match import IdentityIndex  # noqa: E402
from connector.model import Company, CrmRecord, Identity, Lead  # noqa: E402
from leadrelay.cli.dedupe import register  # noqa: E402


def index_speed(seed: int, known: int = 10_000, probes: int = 20_000) -> None:
    """Microseconds per lead for IdentityIndex.match with ``known`` records indexed."""
    rows = generate(known + probes, seed=seed)
    records: list[CrmRecord] = []
    accounts: dict[str, CrmRecord] = {}
    for i, r in enumerate(rows[:known]):
        if r["domain"] and r["domain"] not in accounts:
            accounts[r["domain"]] = CrmRecord(crm="hubspot", id=f"a{i}", kind="account", company=r["company"],
                                              domain=r["domain"], owner_id=f"ae{i % 7}")
        records.append(CrmRecord(crm="hubspot", id=f"c{i}", kind="contact", email=r["email"] or None,
                                 phone=r["phone"] or None, first_name=r["first_name"], last_name=r["last_name"],
                                 company=r["company"] or None, owner_id=f"rep{i % 23}"))
    index = IdentityIndex([*records, *accounts.values()])
    leads = [Lead(identity=Identity(email=r["email"] or None, phone=r["phone"] or None, first_name=r["first_name"],
                                    last_name=r["last_name"]),
                  company=Company(name=r["company"] or None, domain=r["domain"] or None)) for r in rows[known:]]
    best = float("inf")
    hits = 0
    for _ in range(5):
        start = time.perf_counter()
        hits = sum(index.match(lead) is not None for lead in leads)
        best = min(best, time.perf_counter() - start)
    print(f"IdentityIndex.match: {best / len(leads) * 1e6:.2f} µs/lead with {len(index)} records indexed "
          f"({hits} of {len(leads)} leads matched; best of 5; budget 10 µs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", type=Path, help="write IN.csv and OUT.csv here instead of a temp dir")
    args = parser.parse_args()

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Only the command under test."""

    register(app)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        src, dst = folder / "people.csv", folder / "people.deduped.csv"
        t = time.perf_counter()
        write_csv(src, generate(args.rows, seed=args.seed))
        print(f"generated {args.rows} rows in {time.perf_counter() - t:.1f} s -> {src}")

        start = time.perf_counter()
        try:
            app(["dedupe", str(src), "--out", str(dst), "--quiet"], standalone_mode=False)
        except SystemExit as exc:  # typer.Exit in standalone_mode=False surfaces as its code
            if exc.code:
                raise
        seconds = time.perf_counter() - start

        with open(dst, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            out = list(reader)
        precision, recall, *_ = pair_scores([r["entity_id"] for r in out], [int(r["cluster_id"]) for r in out])
        print(f"leadrelay dedupe: {len(out)} rows in {seconds:.2f} s ({len(out) / seconds:,.0f} rows/s; budget 60 s)")
        print(f"precision={precision:.4f} recall={recall:.4f}")
    index_speed(args.seed)


if __name__ == "__main__":
    main()
