"""Shared set-up for the service tests: a config folder, the sandbox seeded with the roster, settings, workers."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from connector.config import load_config
from connector.ports import Delivery
from connector.settings import Settings, load_settings
from sandbox.roster import sandbox_options
from sandbox.server import SandboxServer
from worker.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "t-lr:"
FORM_SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cy0xMjM0NTY3OA=="  # Standard Webhooks secret of the website form
TYPEFORM_SECRET = "typeform-secret-for-tests"


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def no_alias_yaml(data: Any) -> str:
    """YAML text with a value used twice written twice: the config reader refuses anchors and aliases."""
    return yaml.dump(data, Dumper=_NoAliasDumper, sort_keys=False)


def config_dir(tmp: Path, *, team: dict[str, Any] | None = None, routing: dict[str, Any] | None = None) -> Path:
    """A copy of rules/ and mappings/, with team.yaml / routing.yaml replaced when given (a team of its own: without
    recycling.yaml, whose re-engagement rule names the shipped roster's pool)."""
    shutil.copytree(ROOT / "rules", tmp / "rules")
    shutil.copytree(ROOT / "mappings", tmp / "mappings")
    if team is not None:
        (tmp / "rules" / "team.yaml").write_text(no_alias_yaml(team), encoding="utf-8")
        (tmp / "rules" / "recycling.yaml").unlink(missing_ok=True)  # its re-engagement rule names a shipped pool
    if routing is not None:
        (tmp / "rules" / "routing.yaml").write_text(no_alias_yaml(routing), encoding="utf-8")
    load_config(tmp)  # fail here, loudly, if the test's config is wrong
    return tmp


def pool_team(weights: dict[str, int], *, strategy: str = "round_robin") -> tuple[dict[str, Any], dict[str, Any]]:
    """A team of reps in one pool, working around the clock, and a routing file sending every lead there."""
    reps = [{"id": rid, "name": f"Rep {rid.title()}", "email": f"{rid}@northwind.example", "role": "ae",
             "timezone": "UTC", "country": "US", "weight": w,
             "hours": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "23:59"},
             "owner_ids": {"hubspot": str(7000 + i), "salesforce": f"0058d00000{i:07d}AAA"[:18]}}
            for i, (rid, w) in enumerate(weights.items(), start=1)]
    team = {"reps": reps, "pools": {"inbound": {"members": list(weights), "strategy": strategy}},
            "queues": {"unassigned": {"owner_ids": {"hubspot": "7999"}}}}
    routing = {"fallback_queue": "unassigned",
               "rules": [{"name": "everyone", "strategy": strategy, "pool": "inbound"}]}
    return team, routing


def sandbox_for(cfg: Path, **hubspot: Any) -> SandboxServer:
    roster = sandbox_options(load_config(cfg).team)
    # the portal's tier (190 / 10 s) is what settings_for tells our limiter; both CRMs have leadrelay's custom
    # fields already (as after `leadrelay crm setup`: tests/integration/test_crm_fields.py starts without them)
    return SandboxServer(hubspot={**roster["hubspot"], "rate_limit_per_10s": 190, "leadrelay_fields": True, **hubspot},
                         salesforce={**roster["salesforce"], "leadrelay_fields": True})


def settings_for(sandbox: SandboxServer, redis_url: str, cfg: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = dict(
        redis_url=redis_url, key_prefix=PREFIX, crm="hubspot", config_dir=str(cfg),
        hubspot_token="sandbox-hubspot-token", hubspot_base_url=sandbox.url, ca_bundle=str(sandbox.ca_path),
        hubspot_app_id=sandbox.hubspot.app_id, hubspot_rate_per_10s=190, write_batch_window_ms=50,
        job_timeout_s=20, log_json=True,
        # `leadrelay serve` / `worker` start only with these (not in development mode)
        lead_id_secret="harness-lead-id-secret-0123456789abcdef", session_secret="harness-session-secret-0123456789ab",
    )
    values.update(extra)
    return load_settings({}, **values)


def samples(n: int) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in (ROOT / "samples" / "leads.jsonl").read_text().splitlines() if x.strip()]
    out = []
    for i in range(n):
        row = dict(rows[i % len(rows)])
        local, _, domain = str(row["email"]).partition("@")
        row["email"] = f"{local}.{i}@{domain}" if i >= len(rows) else row["email"]
        out.append(row)
    return out


def form_delivery(row: dict[str, Any], i: int) -> Delivery:
    return Delivery(source="form", delivery_id=f"d{i}", received_at=datetime.now(UTC), payload=row, form="website")


async def enqueue_forms(redis_url: str, rows: list[dict[str, Any]]) -> None:
    """Queue each row as form delivery d0, d1, ... (as the API would after accepting it)."""
    from worker.queue import connect, enqueue_delivery

    pool = await connect(redis_url, PREFIX)
    for i, row in enumerate(rows):
        await enqueue_delivery(pool, form_delivery(row, i), PREFIX)
    await pool.aclose()


def hubspot_contacts(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return sandbox.hubspot.records()["contacts"]


def env_for(settings: Settings) -> dict[str, str]:
    """The environment a `leadrelay worker` / `serve` process needs to run with these settings."""
    import os

    from connector.settings import settings_env
    from tests.integration.clock import process_clock

    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_") and k != "REDIS_URL"
           and not k.startswith("FAKETIME_SHARED")}
    return {**env, **settings_env(settings), **process_clock()}


class WorkerProcs:
    """`leadrelay worker` processes (real, separate), stopped on exit. Their logs go to files (``logs``)."""

    def __init__(self, settings: Settings, n: int = 2) -> None:
        import subprocess
        import sys
        import tempfile

        self.dir = Path(tempfile.mkdtemp(prefix="leadrelay-workers-"))
        self.logs = [self.dir / f"worker{i}.log" for i in range(n)]
        self.procs = []
        for log in self.logs:
            with log.open("wb") as out:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-c", "from leadrelay.cli.main import app; app()", "worker"],
                    env=env_for(settings), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT))

    def ready(self, timeout: float = 60) -> WorkerProcs:
        """Wait until every worker has said ``worker_ready`` (started, its account sync done, polling): a condition,
        not a sleep that a busy machine outlasts."""
        wait_for(lambda: all('"worker_ready"' in log.read_text(errors="replace") for log in self.logs), timeout,
                 "every worker ready", explain=self.tail)
        return self

    def tail(self, lines: int = 40) -> str:
        """The last lines of each worker's log (for a failure message)."""
        return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
                         for log in self.logs)

    def kill(self, i: int) -> None:
        import signal

        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait(10)

    def stop(self) -> list[str]:
        """Stop every worker; returns each one's log."""
        import signal

        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except Exception:
                p.kill()
                p.wait()
        return [log.read_text(errors="replace") for log in self.logs]

    def __enter__(self) -> WorkerProcs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.2, explain: Any = None) -> None:
    """Poll ``predicate`` until it holds; past ``timeout`` fail, with ``explain()`` (e.g. the workers' logs)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            more = f"\n{explain()}" if explain is not None else ""
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{more}")
        time.sleep(interval)


class ApiServer:
    """The real API (create_app) on uvicorn, in a thread, on a free loopback port."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        import uvicorn

        from leadrelay.api.app import create_app

        self.port = port = port or free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(settings, crm=False), host="127.0.0.1", port=port,
                                                    log_level="warning", access_log=False, lifespan="on",
                                                    log_config=None))

    def __enter__(self) -> ApiServer:
        import threading
        import time

        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("API did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

