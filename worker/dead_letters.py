"""The dead-letter list: a delivery, a write or a notification that will not succeed by waiting is put aside with
its reason, and ``replay`` brings it back (``leadrelay dlq replay``)."""

from __future__ import annotations

import shlex
import time
from datetime import timedelta
from typing import Any

import msgspec
import structlog

from connector.ports import Delivery, WriteOutcome
from worker.queue import NOTIFY, PROCESS_DELIVERY, WRITE_BACK, decode_delivery, encode_delivery
from worker.store import DeadLetter, Store, WriteTask, decode_task, encode_task
from worker.store.records import DELIVERY_TTL_S

log = structlog.get_logger("leadrelay.worker")
_json = msgspec.json.Encoder()


def replay_command(dl_id: str) -> str:
    """The shell command that replays a dead letter, as shown to an operator: its id (built from a sender's delivery
    id) is quoted, so pasting it runs nothing else."""
    return f"leadrelay dlq replay {shlex.quote(dl_id)}"


async def dead_letter_delivery(store: Store, delivery: Delivery, reason: str) -> None:
    """Put a delivery aside (it is done: a redelivery does not bring it back, a replay does)."""
    reason = reason.strip() or "no reason was given (a bug: please report it)"
    dl = DeadLetter(id=f"delivery:{delivery.source}:{delivery.delivery_id}", kind="delivery", reason=reason,
                    at=time.time(), source=delivery.source, data=encode_delivery(delivery))
    await store.dead_letter(dl)
    await store.mark_done(delivery.source, delivery.delivery_id, "")
    log.warning("dead_letter", id=dl.id, reason=reason)


async def dead_letter_write(store: Store, task: WriteTask, outcome: WriteOutcome) -> None:
    """Put a write aside; the lead says why (its ``write`` result and ``dead_letter`` id)."""
    reason = f"{outcome.status}: {outcome.error_code or ''} {outcome.message or ''}".strip()
    dl = DeadLetter(id=f"write:{task.lead_id}:{int(time.time() * 1000)}", kind="write", reason=reason,
                    at=time.time(), source=task.delivery, lead_id=task.lead_id, data=encode_task(task),
                    error_code=outcome.error_code, attempts=task.attempts)
    await store.dead_letter(dl)
    await store.set_lead_fields(task.lead_id, write=_json.encode(outcome), dead_letter=dl.id)
    log.warning("dead_letter", id=dl.id, lead=task.lead_id, reason=reason)


async def dead_letter_notification(store: Store, lead_id: str, channel: str, job: bytes, reason: str,
                                   tries: int) -> None:
    """Put a notification aside (``job``: the msgpack ``worker.notify.NotifyJob``); replay sends it again."""
    dl = DeadLetter(id=f"notification:{lead_id}:{channel}:{int(time.time() * 1000)}", kind="notification",
                    reason=reason, at=time.time(), source=channel, lead_id=lead_id, data=job, attempts=tries)
    await store.dead_letter(dl)
    log.warning("dead_letter", id=dl.id, lead=lead_id, reason=reason)


def data_of(entry: DeadLetter) -> Any:
    """An entry's data as plain data (``leadrelay dlq show``)."""
    if entry.kind == "delivery":
        return msgspec.to_builtins(decode_delivery(entry.data))
    if entry.kind == "notification":
        return msgspec.msgpack.decode(entry.data)
    return msgspec.to_builtins(decode_task(entry.data))


async def replay(store: Store, pool: Any, dl_id: str) -> bool:
    """Queue a dead letter again: a delivery as a fresh job (its "done" forgotten, so the worker decides again),
    a write back in the waiting list, a notification as a fresh job. True if it existed (it is then removed from
    the list)."""
    entry = await store.get_dead_letter(dl_id)
    if entry is None:
        return False
    if entry.kind == "delivery":
        d = decode_delivery(entry.data)
        await store.forget_done(d.source, d.delivery_id)
        # a fresh job id, since arq keeps the old one's result
        await pool.enqueue_job(PROCESS_DELIVERY, encode_delivery(d), _expires=timedelta(seconds=DELIVERY_TTL_S),
                               _job_id=store.keys.delivery_replay_job(d.source, d.delivery_id, entry.at))
    elif entry.kind == "notification":
        await pool.enqueue_job(NOTIFY, entry.data, _job_id=store.keys.notify_replay_job(dl_id, entry.at))
    else:
        task = decode_task(entry.data)
        await store.push_write(task)
        await pool.enqueue_job(WRITE_BACK, task.crm, _job_id=store.keys.write_back_replay_job(dl_id))
    await store.drop_dead_letter(dl_id)
    return True
