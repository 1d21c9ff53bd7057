"""The queue contract between the API and the workers: names, serializer, enqueue.

Job arguments are msgpack (msgspec), not pickle: a queued job is plain data that
any version of the worker can read, and nothing executable crosses Redis.
"""

from __future__ import annotations

from typing import Any

import msgspec
from arq.connections import ArqRedis, RedisSettings, create_pool

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
