"""What the store keeps, as data: a write waiting for its batch, a dead letter, a commit's answer."""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from connector.ports import WriteItem


class WriteTask(msgspec.Struct, kw_only=True, frozen=True):
    """One CRM write waiting in Redis: the item, when its lead was received, and how often it was tried."""

    crm: str
    lead_id: str
    item: WriteItem
    received_at: float  # unix time the webhook was received (speed-to-lead)
    delivery: str = ""  # source:delivery id, for the dead-letter list
    attempts: int = 0


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    """A delivery or write that will not succeed by waiting. ``kind`` says how to replay it."""

    id: str
    kind: str  # "delivery" (replay = queue the delivery again) | "write" (replay = queue the write task)
    reason: str
    at: float
    source: str = ""
    lead_id: str | None = None
    data: bytes = b""  # msgpack Delivery or WriteTask
    error_code: str | None = None
    attempts: int = 0


class Committed(NamedTuple):
    waiting: int  # write tasks waiting for a batch, this one included
    version: int  # of the routing state after the commit


class CommitConflict(Exception):
    """The routing state or an identity key moved since the snapshot: decide again."""


_enc = msgspec.msgpack.Encoder()
_task_dec = msgspec.msgpack.Decoder(WriteTask)


def encode_task(task: WriteTask) -> bytes:
    return _enc.encode(task)


def decode_task(data: bytes) -> WriteTask:
    return _task_dec.decode(data)
