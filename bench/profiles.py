"""Where a process's CPU went: a cProfile dump summed by part (arq, redis-py, logging, the core...) and its top
functions. The benches' ``--profile`` runs the API and the workers under cProfile with CPU time as the clock.

    uv run python bench/profiles.py DIR_OR_FILE.prof [--top 25] [--per N]

``--per N`` divides by N (the leads of the run) to print milliseconds per lead.
"""

from __future__ import annotations

import argparse
import pstats
import sys
from pathlib import Path

# the first pattern found in a function's file names its part; order matters (most specific first)
PARTS: list[tuple[str, str]] = [
    ("/arq/", "arq (queue, polling, job bookkeeping)"),
    ("/redis/", "redis-py (commands, connections, parsing)"),
    ("/hiredis", "redis-py (commands, connections, parsing)"),
    ("/structlog/", "logging (structlog, redaction)"),
    ("/logging/", "logging (structlog, redaction)"),
    ("connector/logs.py", "logging (structlog, redaction)"),
    ("/phonenumbers/", "logging (structlog, redaction)"),
    ("/litestar/", "Litestar (request handling)"),
    ("/uvicorn/", "uvicorn (HTTP server)"),
    ("/h11/", "uvicorn (HTTP server)"),
    ("/httptools/", "uvicorn (HTTP server)"),
    ("/simple_salesforce/", "CRM client (simple-salesforce, requests, TLS)"),
    ("/requests/", "CRM client (simple-salesforce, requests, TLS)"),
    ("/urllib3/", "CRM client (simple-salesforce, requests, TLS)"),
    ("/hubspot/", "CRM client (hubspot-api-client)"),
    ("/ssl.py", "CRM client (simple-salesforce, requests, TLS)"),
    ("adapters/", "leadrelay adapters"),
    ("connector/", "leadrelay core (map, normalize, match, score, route)"),
    ("worker/metrics.py", "leadrelay metrics"),
    ("worker/", "leadrelay worker (jobs, store, SLA, write-back)"),
    ("leadrelay/", "leadrelay API"),
    ("/msgspec/", "msgspec"),
    ("/asyncio/", "asyncio (event loop, streams)"),
    ("/selectors.py", "asyncio (event loop, streams)"),
    ("/threading.py", "threads (to_thread, executor)"),
    ("/concurrent/", "threads (to_thread, executor)"),
]


def part_of(filename: str) -> str:
    if filename.startswith("~") or filename == "":
        return "builtins (C: I/O, hashing, encoding...)"
    for pattern, part in PARTS:
        if pattern in filename:
            return part
    return "other Python"


def summary(path: Path, *, top: int = 20, per: int = 0) -> list[str]:
    """Lines: the process's CPU by part (own time of its functions) and its ``top`` functions by own time."""
    st = pstats.Stats(str(path))
    stats = st.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values()) or 1e-9
    unit, scale = ("ms/lead", 1000 / per) if per else ("s", 1.0)
    parts: dict[str, float] = {}
    for (filename, _, _), (_, _, tt, _, _) in stats.items():
        parts[part_of(filename)] = parts.get(part_of(filename), 0.0) + tt
    head = f"{path.stem}: {total:.2f} s of CPU under the profiler"
    lines = [head + (f", {total * scale:.2f} ms/lead" if per else "")]
    for part, t in sorted(parts.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {t / total * 100:5.1f}%  {t * scale:8.3f} {unit}  {part}")
    lines.append(f"  top {top} functions by own time:")
    rows = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    for (filename, line, name), (_, nc, tt, ct, _) in rows:
        short = "/".join(Path(filename).parts[-2:]) if not filename.startswith("~") else "builtin"
        lines.append(f"    {tt * scale:8.3f} {unit} own {ct * scale:8.3f} cum {nc:>8} calls  {name}  ({short}:{line})")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", type=Path)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--per", type=int, default=0, help="leads in the run: print ms per lead")
    args = ap.parse_args()
    files = sorted(args.path.glob("*.prof")) if args.path.is_dir() else [args.path]
    if not files:
        sys.exit(f"no .prof files in {args.path}")
    for f in files:
        print("\n".join(summary(f, top=args.top, per=args.per)))


if __name__ == "__main__":
    main()
