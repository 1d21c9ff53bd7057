"""The one place Redis clients are made: the API, the workers, the CLI and the config follower all take theirs here.

Settings choose one Redis (``LEADRELAY_REDIS_URL``, ``rediss://`` for TLS) or a Sentinel-managed primary
(``LEADRELAY_REDIS_SENTINELS``, ``LEADRELAY_REDIS_SENTINEL_MASTER``). Sentinel clients ask the sentinels for the
primary on every new connection; a connection to a primary that died or became a replica (READONLY) is dropped and
the command tried again (``redis_options``' new tries), so a failover needs no restart.

With ``LEADRELAY_REDIS_MIN_REPLICAS`` ≥ 1, ``replicated`` runs a write and ``WAIT`` on the same connection: the caller
answers only once a replica holds it (a failover promotes a replica, so what it holds survives).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar

import redis
import redis.asyncio
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.exceptions import ResponseError
from redis.sentinel import Sentinel

from connector.settings import Settings
from worker.redis_server import API_RETRIES, WORKER_RETRIES, arq_redis_settings, c_packed, redis_options

T = TypeVar("T")


class NotReplicated(ResponseError):
    """A write reached fewer replicas than ``LEADRELAY_REDIS_MIN_REPLICAS`` in time. Worded as Redis' own NOREPLICAS,
    so every caller treats it as "Redis cannot take writes right now" (the API's 503, a job's retry)."""


def configured(settings: Settings) -> bool:
    """Whether the settings name a Redis at all."""
    return bool(settings.redis_sentinels or settings.redis_url)


def sentinel_hosts(settings: Settings) -> list[tuple[str, int]]:
    """``LEADRELAY_REDIS_SENTINELS`` as (host, port) pairs; a malformed entry is a ValueError naming it."""
    hosts = []
    for entry in settings.redis_sentinels:
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"LEADRELAY_REDIS_SENTINELS: {entry!r} is not host:port")
        hosts.append((host.strip("[]"), int(port)))
    return hosts


def describe(settings: Settings) -> str:
    """Where Redis is, as it may be printed (never a password)."""
    if settings.redis_sentinels:
        return f"the primary {settings.redis_sentinel_master!r} of the sentinels {','.join(settings.redis_sentinels)}"
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(settings.redis_url or "")
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return settings.redis_url or "(no Redis configured)"


def _auth_tls(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if settings.redis_username:
        out["username"] = settings.redis_username
    if settings.redis_password:
        out["password"] = settings.redis_password
    tls = settings.redis_tls if settings.redis_sentinels else (settings.redis_url or "").startswith("rediss://")
    if tls and settings.redis_ca_file:  # a plain connection takes no TLS options
        out["ssl_ca_certs"] = settings.redis_ca_file
    return out


def _sentinel_kwargs(settings: Settings) -> dict[str, Any]:
    kw: dict[str, Any] = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
    if settings.redis_tls:
        kw["ssl"] = True
        if settings.redis_ca_file:
            kw["ssl_ca_certs"] = settings.redis_ca_file
    return kw


def _options(settings: Settings, *, for_async: bool, retries: int, extra: dict[str, Any]) -> dict[str, Any]:
    opts = {**redis_options(for_async=for_async, retries=retries), **_auth_tls(settings), **extra}
    if settings.redis_sentinels and settings.redis_tls:
        opts["ssl"] = True
    return opts


def async_client(settings: Settings, *, retries: int = API_RETRIES, redis_class: type[Any] = redis.asyncio.Redis,
                 **extra: Any) -> Any:
    """An asyncio client of the installation's Redis (the primary, when behind Sentinel)."""
    opts = _options(settings, for_async=True, retries=retries, extra=extra)
    if settings.redis_sentinels:
        sentinel = AsyncSentinel(sentinel_hosts(settings),  # type: ignore[no-untyped-call]
                                 sentinel_kwargs=_sentinel_kwargs(settings))
        return c_packed(sentinel.master_for(settings.redis_sentinel_master, redis_class=redis_class, **opts))
    if not settings.redis_url:
        raise ValueError("no Redis configured: set REDIS_URL, LEADRELAY_REDIS_URL or LEADRELAY_REDIS_SENTINELS")
    return c_packed(redis_class.from_url(settings.redis_url, **opts))


def sync_client(settings: Settings, *, retries: int = API_RETRIES, **extra: Any) -> redis.Redis:
    """The same, blocking (the CRM adapters' rate limiters run in threads)."""
    opts = _options(settings, for_async=False, retries=retries, extra=extra)
    if settings.redis_sentinels:
        sentinel = Sentinel(sentinel_hosts(settings), sentinel_kwargs=_sentinel_kwargs(settings))  # type: ignore[no-untyped-call]
        client: redis.Redis = sentinel.master_for(settings.redis_sentinel_master, **opts)  # type: ignore[no-untyped-call]
        return client
    if not settings.redis_url:
        raise ValueError("no Redis configured: set REDIS_URL, LEADRELAY_REDIS_URL or LEADRELAY_REDIS_SENTINELS")
    return redis.Redis.from_url(settings.redis_url, **opts)


def arq_client(settings: Settings, *, retries: int = WORKER_RETRIES, queue: str | None = None) -> Any:
    """arq's client (an ``ArqRedis``: enqueue, the worker's poll) with our serializer and new tries."""
    from arq.connections import ArqRedis

    from worker.queue import job_deserializer, job_serializer, queue_name

    pool = async_client(settings, retries=retries, redis_class=ArqRedis)
    pool.job_serializer, pool.job_deserializer = job_serializer, job_deserializer
    pool.default_queue_name = queue or queue_name(settings.key_prefix)
    return pool


def worker_redis(settings: Settings) -> dict[str, Any]:
    """The ``arq.Worker`` arguments that connect it: arq's own settings for one Redis; for Sentinel, a client made
    here (arq's Sentinel mode passes neither our new tries nor our timeouts to its connections)."""
    if settings.redis_sentinels:
        return {"redis_pool": arq_client(settings)}
    rs = arq_redis_settings(settings.redis_url or "")
    if settings.redis_username and rs.username is None:
        rs.username = settings.redis_username
    if settings.redis_password and rs.password is None:
        rs.password = settings.redis_password
    if settings.redis_ca_file:
        rs.ssl_ca_certs = settings.redis_ca_file
    return {"redis_settings": rs}


def unreachable(settings: Settings, timeout: float = 2.0) -> str | None:
    """Why the installation's Redis does not answer a PING (one short phrase), or None when it does."""
    try:
        client = sync_client(settings, retries=0, socket_connect_timeout=timeout, socket_timeout=timeout)
    except ValueError as exc:  # not a redis:// URL, a malformed sentinel entry
        return str(exc) if settings.redis_sentinels else f"not a Redis URL ({exc})"
    try:
        client.ping()
    except redis.AuthenticationError:
        return "it refused the password" + ("" if settings.redis_sentinels else " in the URL")
    except (redis.RedisError, OSError) as exc:
        return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    finally:
        client.close()
    return None


class ReplicaWait(NamedTuple):
    """How many replicas must hold a write before it counts, and how long to wait for them (``WAIT n timeout``)."""

    replicas: int = 0
    timeout_ms: int = 500

    @classmethod
    def of(cls, settings: Settings) -> ReplicaWait:
        return cls(settings.redis_min_replicas, settings.redis_wait_timeout_ms)

    def check(self, acked: int) -> None:
        if acked < self.replicas:
            raise NotReplicated(f"NOREPLICAS the write reached {acked} of {self.replicas} replicas within "
                                f"{self.timeout_ms} ms (LEADRELAY_REDIS_MIN_REPLICAS)")


async def replicated(wait: ReplicaWait, client: Any, write: Callable[[Any], Any]) -> list[Any]:
    """Run ``write(pipe)`` (it queues one command on a non-transactional pipeline) and, with replicas to wait for, WAIT
    on the same connection (WAIT covers the writes of its own connection only). Returns the queued commands'
    results; raises ``NotReplicated`` when too few replicas acknowledged within the timeout. With none to wait for,
    ``write(client)`` is awaited as it is (one command: a pipeline of one costs the API CPU for nothing)."""
    if wait.replicas <= 0:
        return [await write(client)]
    async with client.pipeline(transaction=False) as pipe:
        write(pipe)
        pipe.execute_command("WAIT", wait.replicas, wait.timeout_ms)
        results: list[Any] = await pipe.execute()
    wait.check(int(results.pop()))
    return results


async def wait_replicas(wait: ReplicaWait, client: Any, run: Callable[[Any], Awaitable[T]]) -> T:
    """``run(client)`` on one pinned connection, then WAIT on it (for a write that is not a pipeline: a script
    called through ``Script``). Without replicas to wait for, just ``run(client)``."""
    if wait.replicas <= 0:
        return await run(client)
    async with client.client() as pinned:  # one connection for the write and its WAIT
        result = await run(pinned)
        acked = int(await pinned.execute_command("WAIT", wait.replicas, wait.timeout_ms))
    wait.check(acked)
    return result
