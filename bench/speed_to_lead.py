"""Speed to lead: signed webhook received -> owner written in the sandbox CRM, at a steady rate.

    uv run python bench/speed_to_lead.py [--rate 100] [--seconds 60] [--workers 2] [--crm hubspot|salesforce]

Everything is real and separate: Redis (REDIS_URL, else an embedded server), the CRM sandbox (HTTPS, this
process), `leadrelay serve` and N `leadrelay worker` processes. Leads (the samples, made unique) are POSTed
to /webhooks/forms/website with Standard Webhooks signatures at --rate per second. Latency per lead is the
API's receive time to the worker's confirmed CRM write, both recorded in Redis. Prints p50/p95/p99/max, the
CRM calls per 1,000 leads by endpoint, and anything dead-lettered. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from adapters.crm import write_window_ms  # noqa: E402
from connector.config import load_config  # noqa: E402
from connector.settings import load_settings, settings_env  # noqa: E402
from leadrelay.cli.demo import FORM_SECRET_ENV, _unique, load_samples  # noqa: E402
from sandbox.roster import sandbox_options, seed_hubspot  # noqa: E402
from sandbox.server import SandboxServer  # noqa: E402
from worker.redis_server import free_port, redis_url  # noqa: E402

PREFIX = "leadrelay-bench:"



def run_sandbox(conn: Any, hubspot: dict[str, Any], salesforce: dict[str, Any], seeds: list[dict[str, Any]]) -> None:
    """The CRM sandbox in its own process: in the load generator's process it would share one GIL with it."""
    sandbox = SandboxServer(hubspot=hubspot, salesforce=salesforce).start()
    seed_hubspot(sandbox, seeds)
    conn.send({"url": sandbox.url, "ca": str(sandbox.ca_path), "org_id": sandbox.salesforce.org_id,
               "sf_user": sandbox.salesforce.integration_user["Id"], "app_id": sandbox.hubspot.app_id})
    conn.recv()  # until the parent says stop
    sandbox.stop()


def calls_of(info: dict[str, Any]) -> dict[tuple[str, str, int], int]:
    import httpx

    rows = httpx.get(f"{info['url']}/_sandbox/calls", verify=info["ca"], timeout=10).json()
    return {(r["vendor"], r["endpoint"], r["status"]): r["count"] for r in rows}


async def post_signed(port: int, rows: list[dict[str, Any]], secret: str, *, rate: float,
                      connections: int = 16) -> list[tuple[str, str]]:
    """POST each row, signed, to /webhooks/forms/website at ``rate`` per second; (email, delivery id) each.

    A lean HTTP/1.1 keep-alive sender on asyncio streams: the load generator shares the machine's two cores
    with what it measures, and httpx spends ~3 ms of CPU a request here. A connection the server closed is
    opened again and the request sent again with the same message id (a redelivery is a no-op)."""
    from adapters.forms.standard_webhooks import sign

    todo: asyncio.Queue[tuple[int, bytes, str] | None] = asyncio.Queue()
    out: list[tuple[str, str]] = []

    def request(row: dict[str, Any]) -> tuple[bytes, str]:
        body = json.dumps(row).encode()
        msg_id = f"msg_{secrets.token_hex(8)}"
        head = "".join(f"{k}: {v}\r\n" for k, v in sign(secret, msg_id, int(time.time()), body).items())
        return (f"POST /webhooks/forms/website HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n{head}\r\n").encode() + body, msg_id

    async def sender() -> None:
        reader = writer = None
        while (item := await todo.get()) is not None:
            i, raw, msg_id = item
            for attempt in range(3):
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(raw)
                    status = int((await reader.readuntil(b"\r\n")).split()[1])  # type: ignore[union-attr]
                    headers = (await reader.readuntil(b"\r\n\r\n")).lower()  # type: ignore[union-attr]
                    length = int(headers.split(b"content-length:")[1].split(b"\r\n")[0])
                    await reader.readexactly(length)  # type: ignore[union-attr]
                    break
                except (ConnectionError, asyncio.IncompleteReadError):
                    writer = None
                    if attempt == 2:
                        raise
            if status >= 300:
                raise RuntimeError(f"webhook refused lead {i}: {status}")
            out.append((str(rows[i].get("email")), msg_id))
        if writer is not None:
            writer.close()

    senders = [asyncio.create_task(sender()) for _ in range(connections)]
    start = time.monotonic()
    for i, row in enumerate(rows):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        raw, msg_id = request(row)
        await todo.put((i, raw, msg_id))
    for _ in senders:
        await todo.put(None)
    await asyncio.gather(*senders)
    return out


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_healthy(api: str, deadline: float, what: str = "the API", proc: Any = None) -> None:
    """Wait until ``GET {api}/health`` answers 200; SystemExit past the monotonic ``deadline`` or if ``proc`` ended."""
    import httpx

    while True:
        try:
            if httpx.get(f"{api}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start")
        time.sleep(0.2)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def collect(url: str, deliveries: list[tuple[str, str]],
                  timeout: float) -> dict[str, tuple[float, float, float]]:
    """delivery id -> (received_at, decided_at, written_at), waiting until all are written or the timeout."""
    from redis.asyncio import Redis

    r = Redis.from_url(url)
    out: dict[str, tuple[float, float, float]] = {}
    deadline = time.monotonic() + timeout
    todo = [d for _, d in deliveries]
    while todo and time.monotonic() < deadline:
        pipe = r.pipeline(transaction=False)
        for d in todo:
            pipe.get(f"{PREFIX}done:form:{d}")
        leads = await pipe.execute()
        pipe = r.pipeline(transaction=False)
        pairs = [(d, lid.decode()) for d, lid in zip(todo, leads, strict=True) if lid]
        for _, lid in pairs:
            pipe.hmget(f"{PREFIX}lead:{lid}", ["received_at", "written_at", "decided_at"])
        for (d, _), (rec, wr, dec) in zip(pairs, await pipe.execute(), strict=True):
            if rec and wr:
                out[d] = (float(rec), float(dec or wr), float(wr))
        todo = [d for d in todo if d not in out]
        if todo:
            await asyncio.sleep(0.5)
    await r.aclose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=100.0, help="leads per second")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long to post")
    ap.add_argument("--workers", type=int, default=1,
                    help="worker processes (on 2 cores one is faster: two race each other for every job)")
    ap.add_argument("--crm", default="hubspot", choices=["hubspot", "salesforce"])
    ap.add_argument("--window-ms", type=int, default=None, help="write batch window (default: the setting's)")
    ap.add_argument("--poll-ms", type=float, default=None, help="arq poll delay (default: the setting's)")
    ap.add_argument("--logs", type=Path, default=None, help="write the API's and workers' logs into this folder")
    ap.add_argument("--profile", type=Path, default=None,
                    help="run the API and workers under cProfile (CPU time) and write NAME.prof into this folder")
    args = ap.parse_args()
    n = int(args.rate * args.seconds)
    rows = _unique(load_samples(ROOT / "samples" / "leads.jsonl", n))
    form_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    hubspot_secret = secrets.token_hex(16)
    cfg = load_config(ROOT)
    roster = sandbox_options(cfg.team)
    with redis_url(None) as url:
        from leadrelay.cli.demo import clear_prefix

        asyncio.run(clear_prefix(url, PREFIX))
        import multiprocessing

        hubspot_opts = {**roster["hubspot"], "rate_limit_per_10s": 190, "webhook_url": f"{api}/webhooks/hubspot",
                        "client_secret": hubspot_secret, "webhook_properties": ["hubspot_owner_id"],
                        "leadrelay_fields": True}  # as after `leadrelay crm setup`
        salesforce_opts = {**roster["salesforce"], "outbound_url": f"{api}/webhooks/salesforce",
                           "outbound_exclude_users": ["integration@leadrelay.example"], "daily_api_limit": 500_000,
                           "leadrelay_fields": True}
        seeds = [json.loads(x) for x in (ROOT / "samples" / "crm_records.jsonl").read_text().splitlines() if x.strip()]
        parent, child = multiprocessing.get_context("spawn").Pipe()
        sandbox_proc = multiprocessing.get_context("spawn").Process(
            target=run_sandbox, args=(child, hubspot_opts, salesforce_opts, seeds), daemon=True)
        sandbox_proc.start()
        info = parent.recv()
        extra: dict[str, Any] = {"write_batch_window_ms": args.window_ms} if args.window_ms else {}
        if args.poll_ms:
            extra["poll_delay_s"] = args.poll_ms / 1000
        settings = load_settings(
            {}, redis_url=url, key_prefix=PREFIX, crm=args.crm, config_dir=str(ROOT), log_json=True,
            hubspot_token="sandbox-hubspot-token", hubspot_base_url=info["url"], hubspot_webhook_secret=hubspot_secret,
            hubspot_app_id=info["app_id"], hubspot_rate_per_10s=190,
            salesforce_instance_url=info["url"], salesforce_domain=info["url"],
            salesforce_client_id="leadrelay-sandbox-client", salesforce_client_secret="leadrelay-sandbox-secret",
            salesforce_user_id=info["sf_user"], salesforce_org_ids=(info["org_id"],), ca_bundle=info["ca"],
            api_tokens=(f"admin:{secrets.token_urlsafe(24)}",), lead_id_secret=secrets.token_urlsafe(32),
            session_secret=secrets.token_urlsafe(32), **extra)
        # `serve` checks that every source mapping's signing secret is set; the bench posts website forms only
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}, **settings_env(settings),
               FORM_SECRET_ENV: form_secret, "LEADRELAY_TYPEFORM_SECRET": secrets.token_hex(16)}
        os.environ[FORM_SECRET_ENV] = form_secret
        cli = [sys.executable, "-c", "from leadrelay.cli.main import app; app()"]
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)

        def out(name: str) -> Any:
            return open(args.logs / f"{name}.log" if args.logs else os.devnull, "wb")

        def command(name: str) -> list[str]:
            if not args.profile:
                return cli
            args.profile.mkdir(parents=True, exist_ok=True)
            # CPU time, not wall time: where the cores go is what limits the rate
            dump = str(args.profile / f"{name}.prof")
            # SIGTERM ends the process through the dump: uvicorn re-raises it after its own shutdown, which killed
            # the API before its finally ran (no api.prof)
            code = ("import cProfile, signal, sys, time\nfrom leadrelay.cli.main import app\n"
                    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
                    "p = cProfile.Profile(time.process_time)\np.enable()\n"
                    f"try:\n    app()\nfinally:\n    p.disable()\n    p.dump_stats({dump!r})")
            return [sys.executable, "-c", code]

        procs = [subprocess.Popen([*command("api"), "serve", "--port", str(api_port)], env=env, cwd=ROOT,
                                  stdout=out("api"), stderr=subprocess.STDOUT)]
        procs += [subprocess.Popen([*command(f"worker{i}"), "worker"], env=env, cwd=ROOT, stdout=out(f"worker{i}"),
                                   stderr=subprocess.STDOUT) for i in range(args.workers)]
        try:
            wait_healthy(api, time.monotonic() + 120)  # a cold start on a busy 2-core machine can take a while
            time.sleep(2.0)  # workers connected and polling
            before = calls_of(info)
            watched = {"api": procs[0].pid, **{f"worker{i}": p.pid for i, p in enumerate(procs[1:])},
                       "sandbox": sandbox_proc.pid, "load generator": os.getpid()}
            cpu_before = {k: cpu_s(pid) for k, pid in watched.items()}
            print(f"posting {n} leads at {args.rate:g}/s for {args.seconds:g}s to {args.crm} "
                  f"({args.workers} workers, write window {write_window_ms(settings, args.crm)} ms, "
                  f"poll delay {settings.poll_delay_s * 1000:g} ms)", flush=True)
            t0 = time.monotonic()
            deliveries = asyncio.run(post_signed(api_port, rows, form_secret, rate=args.rate))
            post_s = time.monotonic() - t0
            done = asyncio.run(collect(url, deliveries, timeout=120))
            total_s = time.monotonic() - t0
            after = calls_of(info)
            cpu = {k: cpu_s(pid) - cpu_before[k] for k, pid in watched.items()}
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
            parent.send("stop")
            sandbox_proc.join(15)
        lat = [(w - r) * 1000 for r, _, w in done.values()]
        print(f"posted in {post_s:.1f}s ({len(deliveries) / post_s:.1f} leads/s); all written after {total_s:.1f}s")
        print(f"written {len(done)} of {len(deliveries)}")
        if lat:
            print(f"webhook -> CRM write (ms): p50 {pct(lat, 50):.0f}  p95 {pct(lat, 95):.0f}  "
                  f"p99 {pct(lat, 99):.0f}  max {max(lat):.0f}   (target p99 <= 250)")
        if done:
            # where the time goes: queue + lookup + decision, then waiting for the batch + the CRM write
            first = [(d - r) * 1000 for r, d, _ in done.values()]
            second = [(w - d) * 1000 for _, d, w in done.values()]
            print(f"  received -> decided: p50 {pct(first, 50):.0f}  p99 {pct(first, 99):.0f};  "
                  f"decided -> written: p50 {pct(second, 50):.0f}  p99 {pct(second, 99):.0f}")
        if done:
            # p99 per 5-second slice of the run: a backlog shows as a climb, a stall as a spike
            start = min(r for r, _, _ in done.values())
            slices: dict[int, list[float]] = {}
            for r, _, w in done.values():
                slices.setdefault(int((r - start) // 5), []).append((w - r) * 1000)
            cells = [f"{k * 5}s:{pct(v, 99):.0f}" for k, v in sorted(slices.items())]
            print("p99 by 5 s slice (ms): " + "  ".join(cells))
        # where the machine's CPU went, per lead: what to make cheaper when the latency climbs
        print("CPU ms per lead: " + "  ".join(f"{k} {v * 1000 / max(1, len(deliveries)):.2f}" for k, v in cpu.items())
              + f"  (total {sum(cpu.values()) / total_s * 100:.0f}% of one core over {total_s:.0f} s)")
        vendor = args.crm
        calls = [{"endpoint": e, "status": st, "count": n - before.get((v, e, st), 0)}
                 for (v, e, st), n in after.items() if v == vendor and n > before.get((v, e, st), 0)]
        per_k = 1000 / max(1, len(deliveries))
        print(f"{vendor} calls per 1,000 leads:")
        for c in sorted(calls, key=lambda c: -c["count"]):
            print(f"  {c['count'] * per_k:8.1f}  {c['endpoint']} -> {c['status']}")
        writes = sum(c["count"] for c in calls if "upsert" in c["endpoint"] or "composite/sobjects" in c["endpoint"])
        minimum = 1000 / (100 if vendor == "hubspot" else 200)
        print(f"write calls per 1,000 leads: {writes * per_k:.1f} (batch minimum {minimum:g})")
        if args.profile:  # where each process's CPU went (start-up included), per lead
            sys.path.insert(0, str(ROOT / "bench"))
            import profiles

            for f in sorted(args.profile.glob("*.prof")):
                print("\n".join(profiles.summary(f, top=15, per=max(1, len(deliveries)))))


if __name__ == "__main__":
    main()
