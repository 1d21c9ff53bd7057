"""A Sentinel-managed Redis of real processes for the failover tests: a primary, two replicas and three sentinels,
each a ``redis-server`` on a free loopback port with its own folder, stopped with the test."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from worker.redis_server import free_port

MASTER = "mymaster"


class RedisHA:
    """Start with ``with RedisHA(tmp) as ha``; ``ha.sentinels`` is what LEADRELAY_REDIS_SENTINELS takes."""

    def __init__(self, folder: Path, *, down_after_ms: int = 1000, failover_timeout_ms: int = 5000) -> None:
        self.dir = folder
        self.binary = shutil.which("redis-server") or "redis-server"
        self.down_after_ms, self.failover_timeout_ms = down_after_ms, failover_timeout_ms
        self.ports = [free_port() for _ in range(3)]  # primary, replica, replica
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)

    def _start(self, port: int, conf: str, *args: str) -> None:
        folder = self.dir / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "redis.conf"
        path.write_text(f"port {port}\nbind 127.0.0.1\ndir {folder}\nsave \"\"\nappendonly no\n{conf}")
        log = (folder / "log").open("wb")
        self.procs[port] = subprocess.Popen([self.binary, str(path), *args], stdout=log, stderr=subprocess.STDOUT)

    def __enter__(self) -> RedisHA:
        primary, *replicas = self.ports
        self._start(primary, "")
        for port in replicas:
            self._start(port, f"replicaof 127.0.0.1 {primary}\n")
        for port in self.sentinel_ports:
            self._start(port, f"sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n"
                              f"sentinel down-after-milliseconds {MASTER} {self.down_after_ms}\n"
                              f"sentinel failover-timeout {MASTER} {self.failover_timeout_ms}\n"
                              f"sentinel parallel-syncs {MASTER} 2\n", "--sentinel")
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        """Both replicas in sync and every sentinel knowing the other two (else no quorum for a failover)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if all(self._sentinel_sees_all(p) for p in self.sentinel_ports):
                    return
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Sentinel set did not come up: logs in {self.dir}")
            time.sleep(0.2)

    def _sentinel_sees_all(self, port: int) -> bool:
        with redis.Redis(port=port, decode_responses=True, socket_timeout=1) as s:
            master = s.sentinel_master(MASTER)
            replicas = s.sentinel_slaves(MASTER)
        return (int(master["num-other-sentinels"]) == 2 and len(replicas) == 2
                and all(r["master-link-status"] == "ok" for r in replicas))

    def primary_port(self) -> int:
        """The primary's port as the first sentinel that answers names it."""
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, decode_responses=True, socket_timeout=1) as s:
                    return int(s.sentinel_get_master_addr_by_name(MASTER)[1])
            except (redis.RedisError, OSError):
                continue
        raise RuntimeError("no sentinel answers")

    def kill_primary(self) -> int:
        """SIGKILL the primary (no SHUTDOWN, nothing flushed); returns its port."""
        port = self.primary_port()
        self.procs[port].send_signal(signal.SIGKILL)
        self.procs[port].wait(10)
        return port

    def primary(self) -> redis.Redis:
        return redis.Redis(port=self.primary_port())

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
