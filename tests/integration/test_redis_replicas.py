"""LEADRELAY_REDIS_MIN_REPLICAS (issue 17, Build 4): no 2xx, and no worker commit, before a replica holds the write.

A real primary and a real replica; the replica is frozen (SIGSTOP), so it acknowledges nothing. A delivery is then
answered 503 with Retry-After (problem details), the sender's retry once the replica is back is answered 2xx, and the
delivery is on the replica; a worker's commit raises NotReplicated (its job retries it).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from adapters.forms.standard_webhooks import sign
from tests.integration.harness import FORM_SECRET, PREFIX, ApiServer, config_dir, samples, settings_for, wait_for
from worker.redis_clients import NotReplicated, ReplicaWait, wait_replicas
from worker.redis_server import free_port
from worker.store.keys import Keys


def _redis(folder: Path, port: int, *conf: str) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True)
    return subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                             "--save", "", *conf], stdout=subprocess.DEVNULL)


@pytest.fixture
def primary_and_replica(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], redis.Redis]]:
    """The primary's URL, the replica's process (to freeze) and a client of the replica."""
    p, r = free_port(), free_port()
    procs = [_redis(tmp_path / "primary", p), _redis(tmp_path / "replica", r, "--replicaof", "127.0.0.1", str(p))]
    replica = redis.Redis(port=r)
    try:
        wait_for(lambda: _in_sync(replica), 20, "the replica in sync")
        yield f"redis://127.0.0.1:{p}/0", procs[1], replica
    finally:
        procs[1].send_signal(signal.SIGCONT)
        for proc in procs:
            proc.kill()
            proc.wait(10)
        replica.close()


def _in_sync(replica: redis.Redis) -> bool:
    try:
        return replica.info("replication").get("master_link_status") == "up"
    except redis.ConnectionError:
        return False


def test_a_delivery_no_replica_holds_is_refused_and_its_retry_accepted(
    tmp_path: Path, signing_secrets: None, primary_and_replica: tuple[str, subprocess.Popen[bytes], redis.Redis]
) -> None:
    url, replica_proc, replica = primary_and_replica
    cfg = config_dir(tmp_path / "config")
    settings = settings_for(_NoSandbox(), url, cfg, redis_min_replicas=1, redis_wait_timeout_ms=200)
    body = json.dumps(samples(1)[0]).encode()

    def post() -> httpx.Response:
        headers = {"content-type": "application/json", **sign(FORM_SECRET, "msg_replica_1", int(time.time()), body)}
        return httpx.post(f"{api.url}/webhooks/forms/website", content=body, headers=headers, timeout=10)

    inbound = Keys(PREFIX).inbound("form", "msg_replica_1")
    with ApiServer(settings) as api:
        replica_proc.send_signal(signal.SIGSTOP)
        refused = post()
        replica_proc.send_signal(signal.SIGCONT)
        wait_for(lambda: _in_sync(replica), 20, "the replica back")
        accepted = post()
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] and refused.headers["content-type"].startswith("application/problem+json")
    assert 200 <= accepted.status_code < 300, accepted.text
    assert replica.exists(inbound), "answered 2xx, but the replica does not hold the delivery"


async def test_a_commit_no_replica_acknowledges_raises_not_replicated(
    primary_and_replica: tuple[str, subprocess.Popen[bytes], redis.Redis]
) -> None:
    from redis.asyncio import Redis

    url, replica_proc, replica = primary_and_replica
    r = Redis.from_url(url)
    write = r.register_script("return redis.call('SET', KEYS[1], ARGV[1])")
    wait = ReplicaWait(1, 200)
    try:
        await wait_replicas(wait, r, lambda c: write(keys=["t-lr:commit"], args=["one"], client=c))
        assert replica.get("t-lr:commit") == b"one"  # acknowledged: the replica has it
        replica_proc.send_signal(signal.SIGSTOP)
        with pytest.raises(NotReplicated, match="NOREPLICAS"):
            await wait_replicas(wait, r, lambda c: write(keys=["t-lr:commit"], args=["two"], client=c))
    finally:
        replica_proc.send_signal(signal.SIGCONT)
        await r.aclose()


class _NoSandbox:
    """settings_for wants a sandbox for the CRM's address; these tests never reach the CRM."""

    url = "https://127.0.0.1:9"
    ca_path = None

    class hubspot:  # mirrors SandboxServer.hubspot
        app_id = 1
