"""The queue contract between the API and the workers: names, serializer, enqueue.

Job arguments are msgpack (msgspec), not pickle: a queued job is plain data that
any version of the worker can read, and nothing executable crosses Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from arq.connections import ArqRedis
from arq.jobs import serialize_job
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import WatchError

from connector.ports import Delivery
from worker.redis_clients import ReplicaWait, replicated
from worker.store import scripts
from worker.store.keys import DEFAULT_PREFIX, Keys, arq_job, arq_result

QUEUE_NAME = Keys().queue  # with the default key prefix; see queue_name()
PROCESS_DELIVERY = "process_delivery"
WRITE_BACK = "write_back"
NOTIFY = "notify"


def queue_name(prefix: str = DEFAULT_PREFIX) -> str:
    """The arq queue lives under leadrelay's key prefix, so two installations can share one Redis."""
    return Keys(prefix).queue

_encoder = msgspec.msgpack.Encoder()
_delivery_decoder = msgspec.msgpack.Decoder(Delivery)


def _enc_hook(obj: Any) -> Any:
    # arq puts exceptions into job results; store them as text.
    if isinstance(obj, BaseException):
        return f"{type(obj).__name__}: {obj}"
    raise NotImplementedError(type(obj))


_job_encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)


def job_serializer(data: dict[str, Any]) -> bytes:
    return _job_encoder.encode(data)


def job_deserializer(data: bytes) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.msgpack.decode(data)
    return result


def encode_delivery(delivery: Delivery) -> bytes:
    return _encoder.encode(delivery)


def decode_delivery(data: bytes) -> Delivery:
    return _delivery_decoder.decode(data)


def delivery_job_id(delivery: Delivery, prefix: str = DEFAULT_PREFIX) -> str:
    """arq refuses a second job with the same id: one job per delivery, however often it is redelivered."""
    return Keys(prefix).delivery_job(delivery.source, delivery.delivery_id)


async def connect(redis_url: str, prefix: str = DEFAULT_PREFIX) -> ArqRedis:
    """An arq pool using our serializer and queue, on the Redis at ``redis_url``."""
    from connector.settings import Settings
    from worker.redis_clients import arq_client

    pool: ArqRedis = arq_client(Settings(redis_url=redis_url, key_prefix=prefix))
    await pool.ping()
    return pool


async def enqueue_job(pool: ArqRedis, function: str, *args: Any, tries: int = 8, **kwargs: Any) -> Any:
    """``pool.enqueue_job``, tried again while a Redis restart drops its connection (our job ids make a second try
    of an enqueue that did land a no-op). arq WATCHes the job key, so a lost connection surfaces as a WatchError,
    which redis-py's own new tries do not cover."""
    for attempt in range(1, tries + 1):
        try:
            return await pool.enqueue_job(function, *args, **kwargs)
        except (WatchError, RedisConnectionError):
            if attempt == tries:
                raise
            await asyncio.sleep(min(1.0, 0.05 * 2 ** attempt))
    return None  # pragma: no cover - the loop returns or raises


async def enqueue_delivery(pool: ArqRedis, delivery: Delivery, prefix: str = DEFAULT_PREFIX) -> bool:
    """Queue a delivery for ``process_delivery``; False if that delivery is already queued or done."""
    job = await enqueue_job(pool, PROCESS_DELIVERY, encode_delivery(delivery),
                            _job_id=delivery_job_id(delivery, prefix))
    return job is not None


_JOB_EXPIRES_MS = 86_400_000  # arq's default: a queued job's data lives a day


async def accept_deliveries(
    redis: Redis, deliveries: Sequence[Delivery], prefix: str = DEFAULT_PREFIX, *, inbound_ttl_s: int = 7 * 86_400,
    wait: ReplicaWait | None = None,
) -> list[bool]:
    """Record and queue each delivery atomically; False for a redelivery (nothing done for it). With ``wait``, only
    once that many replicas hold it (else ``NotReplicated``: the sender sends it again)."""
    if not deliveries:
        return []
    now_ms = int(time.time() * 1000)
    k = Keys(prefix)
    keys: list[str] = [k.queue]
    argv: list[Any] = [inbound_ttl_s, _JOB_EXPIRES_MS, now_ms]
    for d in deliveries:
        job_id = k.delivery_job(d.source, d.delivery_id)
        keys += [k.inbound(d.source, d.delivery_id), arq_job(job_id), arq_result(job_id)]
        argv += [job_id, serialize_job(PROCESS_DELIVERY, (encode_delivery(d),), {}, None, now_ms,
                                       serializer=job_serializer)]
    # the script and its WAIT on one connection; a redelivery rewrites its inbound key, so the WAIT also covers the
    # first delivery's accept when that one was answered 503 (it may not have reached a replica yet)
    [fresh] = await replicated(wait or ReplicaWait(), redis,
                               lambda pipe: pipe.eval(scripts.ACCEPT, len(keys), *keys, *argv))
    return [bool(x) for x in fresh]


def write_back_enqueuer(pool: ArqRedis) -> Callable[[str, str, float | None], Awaitable[None]]:
    """Queue a ``write_back`` job for one CRM under a given job id, now or at a unix time."""

    async def enqueue(crm: str, job_id: str, at: float | None) -> None:
        defer = datetime.fromtimestamp(at, UTC) if at else None
        await enqueue_job(pool, WRITE_BACK, crm, _job_id=job_id, _defer_until=defer)

    return enqueue
