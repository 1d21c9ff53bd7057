"""A viewer's attack on the API, and an admin regex on a public job title (issue 17, build 1).

    uv run python bench/hostile.py [--attack-s 3] [--backtest-rows 2000]

Starts its own Redis (embedded, a free port) and `leadrelay serve` (a free port, a viewer token), then:
- decides a lead whose 255-character title ('a' * 254 + '!') meets the catastrophic `^(\\w+\\s?)+$` of a
  `matches` condition, and prints how long that takes;
- posts the 3.7 KB alias bomb (the website mapping with a source row whose `const:` holds 90 nested aliases) to
  the mapping preview, the lead preview, validate and `/admin/fragment` as a viewer, again and again for
  --attack-s, and prints each one's statuses and slowest time;
- then sends a legal backtest of --backtest-rows CSV rows (work that used to run on the event loop);
while `/health` is asked every 100 ms: its count, p99 and max before, during the bombs and during the backtest.
Asserts nothing; the figures are informal on a loaded machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ALIAS_BOMB_FILE = "mappings/sources/website.yaml"
CATASTROPHIC = r"^(\w+\s?)+$"  # backtracks 2^n on a run of word characters that ends in a non-match


def bomb_const(levels: int = 6, width: int = 15) -> str:
    """A YAML mapping of ``levels`` lists, each ``width`` aliases of the one before: ``width ** levels`` leaves
    from ``levels * width`` aliases (90 by default, under the old 100-alias check)."""
    lines = ["l0: &l0 lol"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def alias_bomb(levels: int = 6, width: int = 15) -> str:
    """The shipped website mapping plus a row whose ``const:`` is the bomb (3.7 KB)."""
    const = "".join(f"      {line}\n" for line in bomb_const(levels, width).splitlines())
    return (ROOT / ALIAS_BOMB_FILE).read_text(encoding="utf-8") + "  - to: extra.bomb\n    const:\n" + const


def first_anchor_line(text: str) -> int:
    """The 1-based line of the first ``&anchor`` (where the loader refuses the file)."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if "&" in line)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def attack(api: str, token: str, attack_s: float, rows: int) -> None:
    """The viewer's bomb requests, sent one after another for ``attack_s`` seconds, then a legal backtest of
    ``rows`` CSV rows, while /health is asked every 100 ms; prints the answers and the health figures of each."""
    import httpx

    headers = {"authorization": f"Bearer {token}"}
    lead = {"email": "jane@acme.com", "first_name": "Jane", "last_name": "Doe", "company": "Acme"}
    files = {ALIAS_BOMB_FILE: alias_bomb()}
    doc = {"name": "website", "source": "form", "fields": [{"to": "extra.bomb", "const": {"__yaml__": bomb_const()}}]}
    bombs = [
        ("POST /api/admin/preview/mapping", "/api/admin/preview/mapping",
         {"source": "website", "payload": lead, "files": files}),
        ("POST /api/admin/preview/lead", "/api/admin/preview/lead",
         {"source": "website", "payload": lead, "files": files}),
        ("POST /api/admin/config/validate", "/api/admin/config/validate", {"files": files}),
        ("POST /admin/fragment", "/admin/fragment", {"view": "source_mapping", "key": ALIAS_BOMB_FILE, "doc": doc}),
    ]
    csv = "email,first_name,last_name,company,job_title,country\n" + "".join(
        f"p{i}@acme{i % 97}.com,Pat,Lee{i},Acme {i % 97},VP Sales,US\n" for i in range(rows))
    health: list[tuple[float, float]] = []  # (when asked, seconds to the answer)
    done = asyncio.Event()

    async def poll(client: httpx.AsyncClient) -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            r = await client.get(f"{api}/health")
            health.append((t0, time.perf_counter() - t0))
            if r.status_code != 200:
                print(f"  /health answered {r.status_code}")
            await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - t0)))

    def health_in(label: str, low: float, high: float) -> None:
        got = [s for t, s in health if low <= t < high]
        if got:
            print(f"  /health every 100 ms {label}: {len(got)} answers, p99 {_quantile(got, 0.99) * 1000:.1f} ms, "
                  f"max {max(got) * 1000:.1f} ms")

    async with httpx.AsyncClient(timeout=120) as poller, httpx.AsyncClient(timeout=120, headers=headers) as viewer:
        task = asyncio.create_task(poll(poller))
        await asyncio.sleep(1.0)  # health answers before the attack, for comparison
        print(f"viewer alias bomb ({len(files[ALIAS_BOMB_FILE])} bytes, {files[ALIAS_BOMB_FILE].count('*')} aliases; "
              f"the fragment's body {len(json.dumps(bombs[3][2]))} bytes), each request sent again and again for "
              f"{attack_s:g} s:")
        start = time.perf_counter()
        seen: dict[str, list[tuple[int, float]]] = {name: [] for name, _, _ in bombs}
        said: dict[str, str] = {}
        while time.perf_counter() - start < attack_s:
            for name, path, body in bombs:
                t0 = time.perf_counter()
                r = await viewer.post(f"{api}{path}", json=body)
                seen[name].append((r.status_code, time.perf_counter() - t0))
                answer = r.json() if "json" in r.headers.get("content-type", "") else {}
                said[name] = str(answer.get("detail") or answer.get("errors") or r.text[:100])
        bombed = time.perf_counter()
        for name, got in seen.items():
            statuses = sorted({status for status, _ in got})
            print(f"  {name:34} x{len(got):<4} -> {statuses} in at most {max(s for _, s in got) * 1000:6.1f} ms  "
                  f"({said[name][:100]})")
        await asyncio.sleep(0.3)
        t0 = time.perf_counter()
        r = await viewer.post(f"{api}/api/admin/backtest", json={"source": "website", "csv": csv})
        backtest = (t0, time.perf_counter())
        # not an attack: a legal backtest that used to decide its leads on the event loop
        print(f"a legal backtest of {rows} CSV rows -> {r.status_code} in {(backtest[1] - t0) * 1000:.0f} ms")
        await asyncio.sleep(0.5)
        done.set()
        await task
    health_in("before the attack", 0.0, start)
    health_in("during the bomb requests", start, bombed)
    health_in("during the backtest", backtest[0], backtest[1])


def regex_on_a_title() -> None:
    """A lead whose 255-character title meets `^(\\w+\\s?)+$` in a `matches` condition, decided in full."""
    from connector.config import config_from_texts, read_files
    from connector.pipeline import decide, ingest
    from connector.routing import RoutingState

    files = read_files(ROOT)
    scoring = files["rules/scoring.yaml"]
    student = r"'\b(student|intern|phd candidate)\b'"
    assert student in scoring
    files["rules/scoring.yaml"] = scoring.replace(student, f"'{CATASTROPHIC}'")
    config = config_from_texts(files)
    title = "a" * 254 + "!"
    payload = {"email": "jo@acme-widgets.com", "first_name": "Jo", "last_name": "Lee", "company": "Acme",
               "job_title": title, "country": "US"}
    when = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
    test = next(r for r in config.scoring.negative if r.name == "student").when.test
    for run in ("first (cold caches)", "second (another person)"):
        t0 = time.perf_counter()
        lead = ingest(payload, config, mapping="website")
        decision = decide(lead, config, state=RoutingState(), now=when)
        spent = time.perf_counter() - t0
        print(f"catastrophic regex {CATASTROPHIC} in a `matches` rule, a {len(title)}-character title: the {run} lead "
              f"mapped and decided in {spent * 1000:.2f} ms (owner "
              f"{decision.route.assignment.owner or decision.route.assignment.queue})")
        payload = {**payload, "email": "kim@other-widgets.com", "last_name": "Kim", "company": "Other Widgets"}
    t1 = time.perf_counter()
    matched = test({"role.title": title})
    print(f"  the condition alone: {(time.perf_counter() - t1) * 1000:.3f} ms, matched={matched}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attack-s", type=float, default=3.0, help="send the bomb requests again and again this long")
    ap.add_argument("--backtest-rows", type=int, default=2_000, help="rows of the legal backtest sent last")
    ap.add_argument("--log", type=Path, default=None, help="write the API's log to this file")
    args = ap.parse_args()

    from bench.speed_to_lead import wait_healthy
    from connector.settings import load_settings, settings_env
    from leadrelay.cli.demo import FORM_SECRET_ENV
    from worker.redis_server import free_port, redis_url

    regex_on_a_title()
    viewer = secrets.token_urlsafe(24)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with redis_url(None, allow_localhost=False, allow_env=False) as url:  # its own embedded server, a free port
        settings = load_settings({}, redis_url=url, key_prefix="leadrelay-hostile:", config_dir=str(ROOT),
                                 hubspot_webhook_secret=secrets.token_hex(16),
                                 salesforce_org_ids=("00D5e000000HOSTILE",),
                                 session_secret=secrets.token_hex(32), lead_id_secret=secrets.token_hex(32),
                                 api_tokens=(f"admin:{secrets.token_urlsafe(24)}", f"viewer:{viewer}"))
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}, **settings_env(settings),
               FORM_SECRET_ENV: "whsec_" + secrets.token_hex(16), "LEADRELAY_TYPEFORM_SECRET": secrets.token_hex(16)}
        cli = [sys.executable, "-c", "from leadrelay.cli.main import app; app()"]
        log = open(os.devnull, "wb") if not args.log else open(args.log, "wb")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            wait_healthy(api, time.monotonic() + 120, proc=proc)
            asyncio.run(attack(api, viewer, args.attack_s, args.backtest_rows))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()


if __name__ == "__main__":
    main()
