"""The queue contract between the API and the workers: names, serializer, enqueue.

Job arguments are msgpack (msgspec), not pickle: a queued job is plain data that
any version of the worker can read, and nothing executable crosses Redis.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import msgspec
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from redis.asyncio import Redis

from connector.ports import Delivery

QUEUE_NAME = "leadrelay:queue"  # with the default key prefix; see queue_name()


def queue_name(prefix: str = "leadrelay:") -> str:
    """The arq queue lives under leadrelay's key prefix, so two installations can share one Redis."""
    return f"{prefix}queue"
PROCESS_DELIVERY = "process_delivery"

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


def delivery_job_id(delivery: Delivery, prefix: str = "leadrelay:") -> str:
    """arq refuses a second job with the same id: one job per delivery, however often it is redelivered."""
    return f"{prefix}delivery:{delivery.source}:{delivery.delivery_id}"


async def connect(redis_url: str, prefix: str = "leadrelay:") -> ArqRedis:
    """An arq pool using our serializer and queue."""
    return await create_pool(
        RedisSettings.from_dsn(redis_url),
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        default_queue_name=queue_name(prefix),
    )


async def enqueue_delivery(pool: ArqRedis, delivery: Delivery, prefix: str = "leadrelay:") -> bool:
    """Queue a delivery for ``process_delivery``; False if that delivery is already queued or done."""
    job = await pool.enqueue_job(PROCESS_DELIVERY, encode_delivery(delivery),
                                 _job_id=delivery_job_id(delivery, prefix))
    return job is not None


# Accept deliveries in one round trip: per delivery, a redelivery (inbound key set) or a job arq already knows
# is skipped; otherwise the arq job is stored and queued exactly as arq's enqueue_job stores it, and the inbound
# key is set, all in one atomic step, so an accepted delivery is always queued and never queued twice.
#   KEYS: queue; then per delivery: inbound key, job key, result key
#   ARGV: inbound ttl (s), job expiry (ms), score (ms); then per delivery: job id, job bytes
_ACCEPT = """
local out = {}
local n = (#KEYS - 1) / 3
for d = 1, n do
  local inbound, job, result = KEYS[3*d - 1], KEYS[3*d], KEYS[3*d + 1]
  if redis.call('EXISTS', inbound) == 1 or redis.call('EXISTS', job, result) > 0 then
    out[d] = 0
  else
    redis.call('PSETEX', job, ARGV[2], ARGV[2*d + 3])
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2*d + 2])
    redis.call('SET', inbound, '1', 'EX', ARGV[1])
    out[d] = 1
  end
end
return out
"""
_JOB_EXPIRES_MS = 86_400_000  # arq's default: a queued job's data lives a day


async def accept_deliveries(
    redis: Redis, deliveries: Sequence[Delivery], prefix: str = "leadrelay:", *, inbound_ttl_s: int = 7 * 86_400
) -> list[bool]:
    """Record and queue each delivery atomically; False for a redelivery (nothing done for it)."""
    if not deliveries:
        return []
    now_ms = int(time.time() * 1000)
    keys: list[str] = [queue_name(prefix)]
    argv: list[Any] = [inbound_ttl_s, _JOB_EXPIRES_MS, now_ms]
    for d in deliveries:
        job_id = delivery_job_id(d, prefix)
        keys += [f"{prefix}inbound:{d.source}:{d.delivery_id}", job_key_prefix + job_id, result_key_prefix + job_id]
        argv += [job_id, serialize_job(PROCESS_DELIVERY, (encode_delivery(d),), {}, None, now_ms,
                                       serializer=job_serializer)]
    return [bool(x) for x in await redis.eval(_ACCEPT, len(keys), *keys, *argv)]
