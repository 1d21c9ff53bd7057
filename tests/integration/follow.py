"""A worker's parts on real Redis and the sandbox CRM, its arq queue run by hand at frozen times (follow-through).

arq's own worker loop polls with the wall clock, which a frozen clock stops. So ``Rig.run_due`` is the loop: it
runs the real sweep job (which hands follow-through jobs from the schedule to arq), then every arq job in the
queue that is due — read from Redis (job id, function, arguments, the time arq is to run it), run through the real
job function ``worker_settings`` registers, then removed as arq removes a finished job — until none is left due.

Who is told: by default a recording fake behind the SLA's ``Notifier`` port (``Rig.told``); ``Rig(settings,
notify=True)`` keeps the service's real notifier (``worker.notify.Notifier``: rules/notify.yaml, the channels the
settings set up), whose ``notify`` jobs ``run_due`` runs like any other.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis as redis_sync
from arq.jobs import deserialize_job_raw
from redis.asyncio import Redis

from adapters.crm import registry
from connector.ports import Delivery
from connector.settings import Settings
from worker import jobs, lead_ids
from worker.metrics import Metrics, render_async
from worker.queue import accept_deliveries, connect, job_deserializer, queue_name, write_back_enqueuer
from worker.service import Service
from worker.store import Keys, Store
from worker.store.keys import arq_job


@dataclass
class Told:
    """The recording fake behind the ``worker.sla.Notifier`` port."""

    calls: list[tuple[str, str, str, str]] = field(default_factory=list)

    async def tell(self, lead_id: str, event: str, who: str, detail: str) -> None:
        self.calls.append((lead_id, event, who, detail))

    def events(self) -> list[tuple[str, str, str]]:
        return [(lead, event, who) for lead, event, who, _ in self.calls]


@dataclass(frozen=True)
class Ran:
    job_id: str
    function: str
    args: tuple[Any, ...]
    at: datetime  # when arq was to run it
    result: Any


class Rig:
    """Service, store, CRM client and the arq queue of one worker process."""

    def __init__(self, settings: Settings, *, notify: bool = False) -> None:
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self.told = Told()
        self.notify = notify

    async def __aenter__(self) -> Rig:
        s = self.settings
        assert s.redis_url
        lead_ids.use_secret(b"follow-through-tests-secret-0123456789")
        self.redis = Redis.from_url(s.redis_url)
        self.sync_redis = redis_sync.Redis.from_url(s.redis_url)
        self.pool = await connect(s.redis_url, s.key_prefix)
        self.store = Store(self.redis, s.key_prefix)
        self.crm = registry.build_client(s, self.sync_redis)
        config = registry.load_config(Path(s.config_dir))
        self.svc = Service(s, config, self.store, self.crm, enqueue_write_back=write_back_enqueuer(self.pool),
                           metrics=Metrics(self.redis, s.key_prefix), notifier=None if self.notify else self.told)
        from worker.settings import worker_settings

        self.functions = {f.name: f.coroutine for f in worker_settings(s)["functions"]}
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.svc.notifier.aclose()
        await self.pool.aclose()
        await self.redis.aclose()
        self.sync_redis.close()
        if hasattr(self.crm, "close"):
            self.crm.close()

    async def accept(self, *deliveries: Delivery) -> None:
        """What the API does with accepted deliveries: record them and queue a process_delivery job each."""
        assert all(await accept_deliveries(self.redis, deliveries, self.settings.key_prefix))

    async def queued(self) -> list[tuple[str, str, tuple[Any, ...], datetime]]:
        """arq's queue as Redis holds it: (job id, function, arguments, when arq runs it), soonest first."""
        out = []
        for raw, score in await self.redis.zrange(queue_name(self.settings.key_prefix), 0, -1, withscores=True):
            job_id = raw.decode()
            data = await self.redis.get(arq_job(job_id))
            function, args, _, _, _ = deserialize_job_raw(data, deserializer=job_deserializer)
            out.append((job_id, function, tuple(args), datetime.fromtimestamp(score / 1000, UTC)))
        return out

    async def scheduled(self) -> list[tuple[str, str, tuple[Any, ...], datetime]]:
        """Follow-through jobs waiting to be handed to arq: (function, job id, arguments, when)."""
        return [(f, j, a, datetime.fromtimestamp(at, UTC)) for f, j, a, at in await self.svc.sla.queue.scheduled()]

    async def run_due(self, within_s: float = 1.0) -> list[Ran]:
        """The sweep, then every arq job due within ``within_s`` of now (the write window: the clock is frozen), in
        queue order, until none is left due."""
        ran: list[Ran] = []
        await jobs.sweep({"svc": self.svc})
        for _ in range(50):
            now = datetime.now(UTC).timestamp()
            due = [q for q in await self.queued() if q[3].timestamp() <= now + within_s]
            if not due:
                return ran
            job_id, function, args, at = due[0]
            ctx = {"svc": self.svc, "job_id": job_id, "job_try": 1, "redis": self.pool}
            result = await self.functions[function](ctx, *args)
            await self.redis.zrem(queue_name(self.settings.key_prefix), job_id)
            await self.redis.delete(arq_job(job_id))
            ran.append(Ran(job_id, function, args, at, result))
        raise AssertionError("jobs kept coming")

    async def lead(self, lead_id: str) -> dict[str, Any]:
        stored = await self.store.lead(lead_id)
        return {k: (json.loads(v) if k == "decision" else v.decode()) for k, v in stored.items()}

    async def metrics(self) -> str:
        await self.svc.metrics.metrics.flush()  # type: ignore[union-attr]
        return (await render_async(self.redis, self.settings.key_prefix)).decode()


def form(row: dict[str, Any], n: int) -> Delivery:
    """A website form delivery received now (the frozen clock)."""
    return Delivery(source="form", delivery_id=f"f{n}", received_at=datetime.now(UTC), payload=row, form="website")


class Receiver:
    """Where a sandbox posts its webhooks (HubSpot) or Outbound Messages (Salesforce, answered with ``answer``, the
    Ack): records each request's headers and body."""

    def __init__(self, answer: bytes = b"", path: str = "/webhooks/hubspot") -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[dict[str, str], bytes]] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200 if answer else 204)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> list[tuple[dict[str, str], bytes]]:
        taken, self.requests[:] = list(self.requests), []
        return taken

    def close(self) -> None:
        self.server.shutdown()
