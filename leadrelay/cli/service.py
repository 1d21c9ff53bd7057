"""``leadrelay serve``, ``leadrelay worker`` and ``leadrelay dlq``: the running service and its dead letters."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from connector.errors import LeadrelayError
from connector.settings import Settings, load_settings

console = Console()
err = Console(stderr=True)


def _settings(**overrides: Any) -> Settings:
    s = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    from worker.redis_clients import configured

    if not configured(s):
        err.print("[red]no Redis configured[/]: set REDIS_URL (or LEADRELAY_REDIS_URL, or LEADRELAY_REDIS_SENTINELS);"
                  " `leadrelay demo` starts one")
        raise typer.Exit(1)
    return s


def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    dev: Annotated[bool, typer.Option("--dev", help="development mode: start without LEADRELAY_API_TOKENS "
                                      "(an admin token is made up and printed), without signing secrets and without "
                                      "LEADRELAY_SESSION_SECRET (one is kept in Redis)")] = False,
) -> None:
    """Run the webhook API (Litestar on uvicorn). Settings come from LEADRELAY_* and REDIS_URL.

    Every route but the inbound webhooks and /health needs a bearer token from LEADRELAY_API_TOKENS
    ("admin:<token>,viewer:<token>"); without tokens the API refuses to start unless --dev is given. It also
    refuses to start while Redis does not answer, a webhook's signing secret is unset or LEADRELAY_SESSION_SECRET
    (32 characters or more) is unset.
    """
    import secrets

    import msgspec
    import uvicorn

    from connector.logs import configure_logging
    from leadrelay.api.app import create_app
    from leadrelay.cli import preflight

    settings = preflight.settings()
    preflight.need_installation_redis(settings)
    config = preflight.load_config(settings)
    dev = dev or settings.dev_mode
    settings = msgspec.structs.replace(settings, dev_mode=dev)  # the console's cookie is not Secure in development
    if not settings.api_tokens:
        if not dev:
            preflight.fail("no API tokens: set LEADRELAY_API_TOKENS=\"admin:<token>,viewer:<token>\" (make a token "
                           "with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or start with --dev")
        token = secrets.token_urlsafe(24)
        settings = msgspec.structs.replace(settings, api_tokens=(f"admin:{token}",))
        err.print(f"[yellow]development mode[/]: admin token for this run: [bold]{token}[/]", soft_wrap=True)
    preflight.need_tokens(settings)
    if not dev:
        preflight.need_signing_secrets(settings, config)
    preflight.need_secrets(settings, ("session_secret",), dev=dev)
    configure_logging(json=settings.log_json, level=settings.log_level)
    # no access log: /metrics counts every delivery by source and outcome, and a line per webhook costs CPU
    uvicorn.run(create_app(settings, config=config), host=host, port=port, workers=workers, log_config=None,
                access_log=False, timeout_graceful_shutdown=5)


def worker(
    burst: Annotated[bool, typer.Option(help="exit when the queue is empty")] = False,
    dev: Annotated[bool, typer.Option("--dev", help="development mode: start without LEADRELAY_LEAD_ID_SECRET "
                                      "(one is made and kept in Redis)")] = False,
) -> None:
    """Run one arq worker: decides queued leads and writes them to the CRM. Start several to scale.

    It refuses to start while Redis does not answer, the CRM has no credentials or LEADRELAY_LEAD_ID_SECRET (32
    characters or more) is unset; once running, it rides out a Redis restart (its calls wait and try again, and it
    reconnects when Redis is back)."""
    from connector.logs import configure_logging
    from leadrelay.cli import preflight

    settings = preflight.settings()
    preflight.need_installation_redis(settings)
    preflight.need_crm(settings)
    preflight.load_config(settings)
    from worker.store.keys import Keys

    preflight.need_secrets(settings, ("lead_id_secret",), dev=dev or settings.dev_mode,
                           kept={"lead_id_secret": Keys(settings.key_prefix).lead_id_secret})
    configure_logging(json=settings.log_json, level=settings.log_level)
    # arq logs two lines per job; at hundreds of leads a second that is most of a worker's CPU. Our own
    # lead_decided line says what matters; arq's come back with LEADRELAY_LOG_LEVEL=DEBUG.
    if settings.log_level.upper() != "DEBUG":
        logging.getLogger("arq.worker").setLevel(logging.WARNING)
    try:  # libuv's event loop: the same asyncio, a good part cheaper per Redis round trip
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # not on Windows
        pass
    try:
        _run_worker(settings, burst)
    except LeadrelayError as exc:  # e.g. the CRM refused our credentials at start-up
        preflight.fail(f"{exc.message}" + (f" ({exc.hint})" if exc.hint else ""))


def _run_worker(settings: Settings, burst: bool) -> None:
    """Run arq's worker; when Redis stays away longer than the clients' new tries, wait for it and start again
    (queued jobs are in Redis; a job that was running is run again once arq's in-progress mark expires)."""
    import time

    import redis
    import structlog

    from worker.poll import Worker
    from worker.redis_clients import unreachable
    from worker.redis_server import redis_unavailable
    from worker.settings import worker_settings

    log = structlog.get_logger("leadrelay.worker")
    while True:
        w = Worker(**worker_settings(settings), burst=burst)
        try:
            w.run()
            return
        except Exception as exc:
            # arq's poll WATCHes keys: a connection lost there surfaces as a WatchError, not a ConnectionError
            if not (redis_unavailable(exc) or isinstance(exc, redis.WatchError)):
                raise
            log.warning("redis_lost", error=type(exc).__name__, hint="the worker starts again when Redis answers")
        waited = 0.0
        while (why := unreachable(settings)) is not None:
            if waited % 30 < 1:
                log.warning("redis_unreachable", reason=why, waited_s=round(waited))
            time.sleep(1.0)
            waited += 1.0


dlq = typer.Typer(help="The dead-letter list: leads and writes that did not go through, with the reason.",
                  no_args_is_help=True)


async def _with_store(fn: Any) -> Any:
    from worker.redis_clients import async_client
    from worker.store import Store

    settings = _settings()
    r = async_client(settings)
    try:
        return await fn(settings, Store(r, settings.key_prefix))
    finally:
        await r.aclose()


@dlq.command("list")
def dlq_list(limit: Annotated[int, typer.Option(help="how many")] = 50) -> None:
    """Show dead letters, oldest first."""
    from datetime import UTC, datetime

    async def go(settings: Settings, store: Any) -> None:
        entries = await store.dead_letters(limit)
        total = await store.dead_letter_count()
        if not entries:
            console.print("[green]The dead-letter list is empty.[/]")
            return
        t = Table(title=f"dead letters ({total})")
        for col in ("id", "kind", "when", "tries", "reason"):
            t.add_column(col)
        for e in entries:
            # Text, not markup: a reason is the CRM's or the sender's words and may hold "[" and "]"
            t.add_row(Text(e.id), Text(e.kind), datetime.fromtimestamp(e.at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
                      str(e.attempts), Text(e.reason[:80]))
        console.print(t)
        console.print("replay one with [bold]leadrelay dlq replay ID[/], all with [bold]leadrelay dlq replay --all[/]")

    asyncio.run(_with_store(go))


@dlq.command("show")
def dlq_show(dl_id: Annotated[str, typer.Argument(help="dead letter id from `dlq list`")]) -> None:
    """Show one dead letter in full: reason, lead, payload."""
    import msgspec

    async def go(settings: Settings, store: Any) -> int:
        from worker.dead_letters import data_of

        e = await store.get_dead_letter(dl_id)
        if e is None:
            err.print(f"[red]no dead letter {escape(repr(dl_id))}[/] (see `leadrelay dlq list`)")
            return 1
        out = msgspec.to_builtins(e)
        out["data"] = data_of(e)
        console.print_json(msgspec.json.encode(out).decode())
        return 0

    raise typer.Exit(asyncio.run(_with_store(go)))


@dlq.command("replay")
def dlq_replay(
    dl_id: Annotated[str | None, typer.Argument(help="dead letter id")] = None,
    all_: Annotated[bool, typer.Option("--all", help="replay every dead letter")] = False,
) -> None:
    """Queue dead letters again (after fixing the cause). Replays are idempotent: nothing is written twice."""
    if not dl_id and not all_:
        err.print("[red]name a dead letter id or pass --all[/]")
        raise typer.Exit(1)

    async def go(settings: Settings, store: Any) -> int:
        from worker.dead_letters import replay
        from worker.redis_clients import arq_client

        pool = arq_client(settings)
        try:
            ids = [dl_id] if dl_id else [e.id for e in await store.dead_letters(100_000)]
            done = 0
            for i in ids:
                if await replay(store, pool, i):
                    done += 1
                else:
                    err.print(f"[red]no dead letter {i!r}[/]")
            console.print(f"replayed {done} of {len(ids)}")
            return 0 if done == len(ids) else 1
        finally:
            await pool.aclose()

    raise typer.Exit(asyncio.run(_with_store(go)))


def register(app: typer.Typer) -> None:
    app.command(help=serve.__doc__)(serve)
    app.command(help=worker.__doc__)(worker)
    app.add_typer(dlq, name="dlq")
