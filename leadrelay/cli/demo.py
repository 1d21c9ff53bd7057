"""``leadrelay demo``: Redis (found or embedded), the CRM sandbox, the API and a worker, fed the sample leads.

Everything runs for real: leads go through the signed webhook endpoint, the arq queue in Redis, the worker's
decision and the CRM adapter's batched upsert over HTTPS into the sandbox; the sandbox's own webhooks come
back to the API and are recognised as echoes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console

from adapters.crm import registry

console = Console()
err = Console(stderr=True)
DEMO_PREFIX = "leadrelay-demo:"
FORM_SECRET_ENV = "LEADRELAY_FORM_SECRET_WEBSITE"
CRMS = registry.names()  # each has a sandbox



def load_samples(path: Path, limit: int | None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if limit is not None:
        rows = (rows * (limit // max(1, len(rows)) + 1))[:limit]
    return rows


def _unique(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # --leads above the sample size: more people, not the same ones again
    seen: dict[str, int] = {}
    out = []
    for row in rows:
        email = str(row.get("email") or "")
        n = seen.get(email, 0)
        seen[email] = n + 1
        if n:
            local, _, domain = email.partition("@")
            row = {**row, "email": f"{local}.{n}@{domain}"}  # not +n: plus tags fold into one identity
        out.append(row)
    return out


async def clear_prefix(url: str, prefix: str) -> int:
    """Delete this demo's keys (ours and arq's for our job ids) — nothing else in the Redis."""
    from redis.asyncio import Redis

    from worker.store.keys import Keys

    r = Redis.from_url(url)
    n = 0
    try:
        for pattern in Keys(prefix).everything:
            batch = [k async for k in r.scan_iter(match=pattern, count=1000)]
            for i in range(0, len(batch), 500):
                n += await r.delete(*batch[i:i + 500])
    finally:
        await r.aclose()
    return n


async def post_leads(api: str, rows: list[dict[str, Any]], secret: str, *, rate: float | None = None,
                     concurrency: int = 16) -> list[tuple[str, str]]:
    """POST each row to /webhooks/forms/website, signed (Standard Webhooks). Returns (email, delivery id)."""
    import httpx

    from adapters.forms.standard_webhooks import sign

    sem = asyncio.Semaphore(concurrency)
    out: list[tuple[str, str]] = []

    async def one(client: httpx.AsyncClient, i: int, row: dict[str, Any]) -> None:
        if rate:
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        body = json.dumps(row).encode()
        msg_id = f"msg_{secrets.token_hex(8)}"
        headers = {"content-type": "application/json", **sign(secret, msg_id, int(time.time()), body)}
        async with sem:
            for attempt in range(3):
                try:
                    resp = await client.post(f"{api}/webhooks/forms/website", content=body, headers=headers)
                    break
                except httpx.TransportError:
                    # a kept-alive connection the server closed as we sent: send again, as a webhook sender
                    # would; the same message id makes a second arrival a no-op
                    if attempt == 2:
                        raise
        if resp.status_code >= 300:
            raise RuntimeError(f"webhook refused lead {i}: {resp.status_code} {resp.text[:300]}")
        out.append((str(row.get("email")), resp.json()["delivery_id"]))

    start = time.monotonic()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as client:
        await asyncio.gather(*(one(client, i, row) for i, row in enumerate(rows)))
    return out


async def landed(store: Any, deliveries: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """Per delivery id: the lead's decision and write result, once the CRM write is confirmed (or dead)."""
    lead_ids = await store.done_leads("form", [did for _, did in deliveries])
    todo = [(did, lid) for (_, did), lid in zip(deliveries, lead_ids, strict=True) if lid]
    out: dict[str, dict[str, Any]] = {}
    for (did, lid), h in zip(todo, await store.leads([lid for _, lid in todo]), strict=True):
        if "dead_letter" in h:
            out[did] = {"lead_id": lid, "dead_letter": h["dead_letter"].decode()}
        elif "write" in h and "decision" in h:
            out[did] = {"lead_id": lid, "decision": json.loads(h["decision"]), "write": json.loads(h["write"]),
                        "received_at": float(h.get("received_at", b"0") or 0),
                        "written_at": float(h.get("written_at", b"0") or 0)}
    return out


def row_of(email: str, info: dict[str, Any]) -> dict[str, Any]:
    if "dead_letter" in info:
        return {"email": email, "lead_id": info["lead_id"], "dead_letter": info["dead_letter"]}
    d, w = info["decision"], info["write"]
    a = d["route"]["assignment"]
    ms = (info["written_at"] - info["received_at"]) * 1000 if info["written_at"] and info["received_at"] else None
    return {"email": email, "lead_id": info["lead_id"], "owner": a.get("owner") or f"queue:{a.get('queue')}",
            "rule": a.get("rule"), "hold_until": a.get("hold_until"), "score": d["score"]["total"],
            "grade": d["score"]["grade"],
            "stage": d["score"]["stage"], "tags": d["tags"].get("tags", []), "crm_record_id": w.get("record_id"),
            "ms_webhook_to_crm": round(ms, 1) if ms is not None else None}


class _Running:
    """The API (uvicorn) and a worker (arq), in this event loop."""

    def __init__(self, settings: Any, api_port: int) -> None:
        import uvicorn

        from leadrelay.api.app import create_app
        from worker.poll import Worker
        from worker.settings import worker_settings

        self.server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=api_port,
                                                    log_level="warning", access_log=False, lifespan="on",
                                                    log_config=None))
        self.api_task = asyncio.create_task(self.server.serve())
        self.worker = Worker(**{**worker_settings(settings), "handle_signals": False})
        self.worker_task = asyncio.create_task(self.worker.async_run())

    async def started(self) -> None:
        while not self.server.started:
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.server.should_exit = True
        self.worker_task.cancel()
        await asyncio.gather(self.api_task, self.worker_task, return_exceptions=True)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self.worker.close()


def _print_row(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(row), flush=True)
    elif "dead_letter" in row:
        err.print(f"[red]{row['email']}: dead letter {row['dead_letter']}[/]")
    else:
        console.print(f"{row['email']:<42} → [bold]{row['owner']}[/] by {row['rule']} · "
                      f"score {row['score']:g} {row['grade']} · {row['stage']} · "
                      f"CRM {row['crm_record_id']} · {row['ms_webhook_to_crm']} ms")


async def watch(store: Any, deliveries: list[tuple[str, str]], *, as_json: bool, timeout: float) -> tuple[int, int]:
    """Print each lead as it lands in the CRM; (landed, dead-lettered) when all have, or at the timeout."""
    printed: set[str] = set()
    deadline = time.monotonic() + timeout
    dead = 0
    by_email = {did: email for email, did in deliveries}
    while len(printed) < len(deliveries) and time.monotonic() < deadline:
        for did, info in (await landed(store, [(e, d) for e, d in deliveries if d not in printed])).items():
            printed.add(did)
            row = row_of(by_email[did], info)
            dead += "dead_letter" in row
            _print_row(row, as_json)
        await asyncio.sleep(0.05)
    return len(printed), dead


async def _feed(url: str, api: str, rows: list[dict[str, Any]], form_secret: str, *, crm: str, as_json: bool,
                rate: float, timeout: float) -> tuple[int, int]:
    """Post the leads and print them as they land; (not landed, dead-lettered)."""
    from redis.asyncio import Redis

    from worker.store import Store

    if not as_json:
        err.print(f"posting {len(rows)} sample leads to {api}/webhooks/forms/website (signed) …")
    t0 = time.monotonic()
    deliveries = await post_leads(api, rows, form_secret, rate=rate or None)
    r = Redis.from_url(url)
    try:
        done, dead = await watch(Store(r, DEMO_PREFIX), deliveries, as_json=as_json, timeout=timeout)
    finally:
        await r.aclose()
    missing = len(deliveries) - done
    if not as_json:
        err.print(f"{done - dead} of {len(deliveries)} leads written to the {crm} sandbox in "
                  f"{time.monotonic() - t0:.1f}s; {dead} dead-lettered; {missing} not landed")
    return missing, dead


async def settle(url: str, timeout: float) -> int:
    """Wait until the worker has nothing left to do but its cron jobs: the notifications go out after the CRM
    write lands. Returns how many jobs are still queued at the timeout."""
    from redis.asyncio import Redis

    from worker.store.keys import Keys

    k = Keys(DEMO_PREFIX)
    r = Redis.from_url(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            busy = [i for i in await r.zrange(k.queue, 0, -1) if not i.decode().startswith(k.cron_job(""))]
            if not busy or time.monotonic() > deadline:
                return len(busy)
            await asyncio.sleep(0.1)
    finally:
        await r.aclose()


async def notification_counts(url: str) -> dict[str, float]:
    """{"channel outcome": how many} of this run's notifications (leadrelay_notifications_total)."""
    from redis.asyncio import Redis

    from worker.store.keys import Keys

    r = Redis.from_url(url)
    try:
        raw = await r.hgetall(Keys(DEMO_PREFIX).metric("leadrelay_notifications_total"))
    finally:
        await r.aclose()
    return {k.decode().replace("\x1f", " "): float(v) for k, v in sorted(raw.items())}


async def run_demo(*, once: bool, as_json: bool, leads: int | None, crm: str, rules: Path, timeout: float,
                   keep: bool, rate: float = 40.0, embedded_redis: bool = False) -> int:
    from adapters.crm import load_config
    from connector.logs import configure_logging
    from connector.settings import load_settings
    from leadrelay.cli.crm import ensure_fields
    from sandbox.demo import start_demo_sandbox
    from worker.redis_server import free_port, redis_url

    configure_logging(json=True, level="WARNING", stream=sys.stderr)
    rows = _unique(load_samples(rules / "samples" / "leads.jsonl", leads))
    form_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    os.environ[FORM_SECRET_ENV] = form_secret
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    with redis_url(None, allow_localhost=not embedded_redis, allow_env=not embedded_redis) as url:
        await clear_prefix(url, DEMO_PREFIX)
        sandbox, crm_settings = start_demo_sandbox(load_config(rules).team, api_url=api, crm=crm, rules=rules)
        try:
            settings = load_settings(redis_url=url, key_prefix=DEMO_PREFIX, crm=crm, config_dir=str(rules),
                                     log_json=True, **crm_settings)
            # the sandbox CRM starts as a fresh portal / org: leadrelay's own fields are made as `crm setup` does
            created = await asyncio.to_thread(ensure_fields, settings, load_config(rules))
            if created and not as_json:
                err.print(f"{crm} sandbox: created the {len(created)} custom fields the mappings write "
                          "(as `leadrelay crm setup` does)")
            # the API answers /api/leads/<id>, /metrics and /schema only with a token: one for this run
            token = secrets.token_urlsafe(24)
            settings = msgspec.structs.replace(settings, api_tokens=(*settings.api_tokens, f"admin:{token}"))
            running = _Running(settings, api_port)
            await running.started()
            if not as_json:
                err.print(f"[bold]leadrelay demo[/]: Redis {url} · CRM sandbox {sandbox.url} ({crm}) · API {api}")
            err.print(f"API token (admin) for this run: {token} — e.g. curl -H 'Authorization: Bearer {token}' "
                      f"{api}/api/leads/<lead_id>", soft_wrap=True, markup=False, highlight=False)
            missing, dead = await _feed(url, api, rows, form_secret, crm=crm, as_json=as_json, rate=rate,
                                        timeout=timeout)
            left = await settle(url, timeout=60.0)  # the notifications, sent once each lead's write landed
            if not once and not missing:
                err.print(f"serving: API {api} (GET /api/leads/<id>, /metrics, /schema with the token above) and "
                          f"the admin console {api}/admin (sign in with the token) — Ctrl-C to stop", soft_wrap=True)
                with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
                    await asyncio.Event().wait()
            await running.stop()  # its metrics are written on the way out
            told = await notification_counts(url)
            if told:
                err.print("notifications: " + " · ".join(f"{k} {v:g}" for k, v in told.items())
                          + (f" ({left} jobs still queued)" if left else ""), soft_wrap=True, highlight=False)
            if not keep:
                await clear_prefix(url, DEMO_PREFIX)
            return 0 if not missing and not dead else 1
        finally:
            # the sandbox drops keep-alive connections on the way out; uvicorn calls that an error
            logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
            sandbox.stop()


def demo(
    once: Annotated[bool, typer.Option("--once", help="exit when every lead is written (exit 1 if any is not)")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per lead on stdout")] = False,
    leads: Annotated[int | None, typer.Option(help="how many sample leads to send (default: all)")] = None,
    crm: Annotated[str, typer.Option(help=f"{' or '.join(CRMS)} (each is sandboxed)")] = CRMS[0],
    root: Annotated[Path, typer.Option("--root", help="folder with rules/, mappings/ and samples/")] = Path("."),
    timeout: Annotated[float, typer.Option(help="seconds to wait for every lead to land")] = 180.0,
    keep: Annotated[bool, typer.Option(help="keep the demo's Redis keys afterwards")] = False,
    rate: Annotated[float, typer.Option(help="leads per second to post (0 = all at once)")] = 40.0,
    embedded_redis: Annotated[bool, typer.Option("--embedded-redis",
                                                 help="always start a private Redis server")] = False,
) -> None:
    """The whole service on this machine: Redis (REDIS_URL, localhost, else embedded), the CRM sandbox, the API
    and a worker. Posts the sample leads through the signed webhook endpoint and prints each decision as it
    lands in the sandbox CRM."""
    from leadrelay.cli import preflight

    if crm not in CRMS:
        preflight.fail(f"--crm must be {' or '.join(CRMS)}, not {crm!r}")
    if not embedded_redis and os.environ.get("REDIS_URL"):
        # a REDIS_URL is used as given: one that does not answer is the user's to fix (unset, a private one starts)
        preflight.need_redis(os.environ["REDIS_URL"], variable="REDIS_URL (or unset it: the demo then starts its own)")
    try:
        code = asyncio.run(run_demo(once=once, as_json=as_json, leads=leads, crm=crm, rules=root, timeout=timeout,
                                    keep=keep, rate=rate, embedded_redis=embedded_redis))
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command(help=demo.__doc__)(demo)
