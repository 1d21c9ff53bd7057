"""Replay a dead letter: queue its delivery again, or put its write back in the waiting list."""

from __future__ import annotations

from typing import Any

from connector.settings import Settings
from worker.queue import decode_delivery, delivery_job_id, encode_delivery
from worker.store import Store, decode_task


async def replay(store: Store, pool: Any, settings: Settings, dl_id: str) -> bool:
    """True if the dead letter existed and is queued again (and removed from the list)."""
    entry = await store.get_dead_letter(dl_id)
    if entry is None:
        return False
    if entry.kind == "delivery":
        d = decode_delivery(entry.data)
        # forget "done" so the worker decides again; a fresh job id, since arq keeps the old one's result
        await store.r.delete(store.k("done", d.source, d.delivery_id))
        await pool.enqueue_job("process_delivery", encode_delivery(d),
                               _job_id=f"{delivery_job_id(d, settings.key_prefix)}:replay:{entry.at}")
    else:
        task = decode_task(entry.data)
        await store.push_write(task)
        await pool.enqueue_job("write_back", task.crm, _job_id=f"{settings.key_prefix}write_back:replay:{dl_id}")
    await store.drop_dead_letter(dl_id)
    return True
