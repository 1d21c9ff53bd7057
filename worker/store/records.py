"""What the store keeps, as data: a write waiting for its batch, a dead letter, a parked delivery, a commit's answer,
and how long things are kept."""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from connector.ports import WriteItem
from connector.settings import Settings

DAY_S = 86_400
# a delivery's idempotency key (the API's inbound key), its "done" key, and the arq job queued for it live this long
DELIVERY_TTL_S = 7 * DAY_S


class WriteTask(msgspec.Struct, kw_only=True, frozen=True):
    """One CRM write waiting in Redis: the item, when its lead was received, and how often it was tried."""

    crm: str
    lead_id: str
    item: WriteItem
    received_at: float  # unix time the webhook was received (speed-to-lead)
    delivery: str = ""  # source:delivery id, for the dead-letter list
    attempts: int = 0
    last_error: str = ""  # the CRM's words the last time it was refused for now (retryable)
    rep: str = ""  # who the write makes the lead's owner (a rep id, or "queue:<name>"); "": it sets no owner
    # "decision" (a delivery decided: speed to lead) | "rescore" (a later re-score) | "follow" (an owner written
    # by follow-through: a held lead's release, an SLA reassignment)
    kind: str = "decision"


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    """A delivery, write or notification that will not succeed by waiting. ``kind`` says how to replay it."""

    id: str
    # "delivery" (replay = queue the delivery again) | "write" (replay = queue the write task) | "notification"
    # (replay = queue the notify job again)
    kind: str
    reason: str
    at: float
    source: str = ""
    lead_id: str | None = None
    data: bytes = b""  # msgpack Delivery, WriteTask or worker.notify.NotifyJob
    error_code: str | None = None
    attempts: int = 0


class Parked(msgspec.Struct, kw_only=True, frozen=True):
    """A delivery put aside while its CRM is down (``worker.parking``): queued again when the CRM answers."""

    data: bytes  # msgpack Delivery
    at: float  # unix time it was parked
    reason: str


class Retention(NamedTuple):
    """How long the store keeps things, in seconds (from ``Settings``: see the ``*_retention_days`` fields)."""

    lead_s: int = 90 * DAY_S
    identity_s: int = 365 * DAY_S
    payload_s: int = 30 * DAY_S
    dead_letter_s: int = 30 * DAY_S
    dead_letter_max: int = 10_000

    @classmethod
    def from_settings(cls, s: Settings) -> Retention:
        return cls(lead_s=s.lead_retention_days * DAY_S, identity_s=s.identity_retention_days * DAY_S,
                   payload_s=s.payload_retention_days * DAY_S, dead_letter_s=s.dead_letter_retention_days * DAY_S,
                   dead_letter_max=s.dead_letter_max)


class Committed(NamedTuple):
    waiting: int  # write tasks waiting for a batch, this one included
    version: int  # of the routing state after the commit


class CommitConflict(Exception):
    """The routing state or an identity key moved since the snapshot: decide again."""


_enc = msgspec.msgpack.Encoder()
_task_dec = msgspec.msgpack.Decoder(WriteTask)
_parked_dec = msgspec.msgpack.Decoder(Parked)


def encode_task(task: WriteTask) -> bytes:
    return _enc.encode(task)


def decode_task(data: bytes) -> WriteTask:
    return _task_dec.decode(data)


def encode_parked(entry: Parked) -> bytes:
    return _enc.encode(entry)


def decode_parked(data: bytes) -> Parked:
    return _parked_dec.decode(data)
