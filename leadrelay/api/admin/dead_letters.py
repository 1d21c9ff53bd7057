"""The dead-letter list: what did not go through and why, and replay — as `leadrelay dlq replay` does
(``worker.dead_letters.replay``), optionally with a fixed payload. A write dead letter replays with the CURRENT
mapping: its CRM fields are planned again from the lead's stored decision under the config in force now, not the
fields it was first mapped to (a fixed mapping is the usual fix)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from arq.connections import ArqRedis
from litestar import get, post
from litestar.params import FromPath, JSONBody, Parameter

from adapters.crm import registry
from connector.config import Config
from connector.decision import Decision
from connector.errors import InputError
from connector.pipeline import plan_write
from leadrelay.api.admin import index
from leadrelay.api.admin.common import CHECK, READ, TAGS, Req, iso
from leadrelay.api.auth import admin, viewer
from leadrelay.api.problems import NotFound
from worker.dead_letters import replay as replay_entry
from worker.dead_letters import replay_command
from worker.queue import decode_delivery, encode_delivery, job_deserializer, job_serializer
from worker.store import DeadLetter, Store, WriteTask, decode_task, encode_task


class DeadLetterOut(msgspec.Struct, kw_only=True):
    id: str
    kind: str
    reason: str
    at: str | None
    source: str
    lead_id: str | None
    attempts: int
    error_code: str | None
    payload: dict[str, Any] | None  # a delivery's raw payload; a write's CRM fields
    replay_command: str


class ReplayIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    payload: dict[str, Any] | None = None  # the fixed raw payload (delivery) or CRM fields (write)


class Replayed(msgspec.Struct, kw_only=True):
    id: str
    kind: str
    status: str  # "queued"
    replanned: bool  # a write's fields were planned again under the current config
    config_version: str | None = None
    fields: dict[str, Any] | None = None  # a write's fields as queued


def _payload(e: DeadLetter) -> dict[str, Any] | None:
    try:
        return decode_delivery(e.data).payload if e.kind == "delivery" else dict(decode_task(e.data).item.fields)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def out(e: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(id=e.id, kind=e.kind, reason=e.reason, at=iso(e.at), source=e.source, lead_id=e.lead_id,
                         attempts=e.attempts, error_code=e.error_code, payload=_payload(e),
                         replay_command=replay_command(e.id))


@get("/dead-letters", summary="Dead letters, oldest first, with the reason and the payload", guards=[viewer],
     tags=TAGS, responses=READ)
async def dead_letters(request: Req, limit: Annotated[int, Parameter(ge=1, le=10_000)] = 200) -> list[DeadLetterOut]:
    return [out(e) for e in await request.app.state.store.dead_letters(limit)]


def _queue(request: Req) -> ArqRedis:
    """An arq client on the API's own Redis connections (made once)."""
    st = request.app.state
    pool = st.get("arq")
    if pool is None:
        pool = ArqRedis(st.store.r.connection_pool, job_serializer=job_serializer, job_deserializer=job_deserializer,
                        default_queue_name=st.store.keys.queue)
        st.arq = pool
    return pool


def replanned(task: WriteTask, decision: Decision, config: Config) -> WriteTask:
    """The write task planned again from the lead's decision under ``config`` (same lead, record and lane)."""
    owner_field = registry.plugin(task.crm).owner_field if registry.is_crm(task.crm) else None
    update = decision.write is not None and owner_field is not None and owner_field in decision.write.kept
    item, _ = plan_write(decision, config, task.crm, record_id=task.item.record_id, update=update,
                         lane=task.item.lane)
    fields = {k: v for k, v in item.fields.items() if not (update and k == owner_field)}  # an update keeps the owner
    item = msgspec.structs.replace(item, key=task.item.key, fields=fields)
    return msgspec.structs.replace(task, item=item, attempts=0, last_error="")


async def _fixed(store: Store, e: DeadLetter, fix: dict[str, Any] | None, config: Config) -> tuple[DeadLetter,
                                                                                                   Replayed]:
    """The entry as it is to be replayed: the fixed payload, or (a write) its fields planned again."""
    if e.kind == "delivery":
        if fix is None:
            return e, Replayed(id=e.id, kind=e.kind, status="queued", replanned=False)
        d = msgspec.structs.replace(decode_delivery(e.data), payload=fix)
        return (msgspec.structs.replace(e, data=encode_delivery(d)),
                Replayed(id=e.id, kind=e.kind, status="queued", replanned=False))
    task = decode_task(e.data)
    if task.crm not in config.crm:
        raise InputError(f"the current config has no {task.crm} mapping to plan this write with", field="crm")
    if fix is not None:
        task = msgspec.structs.replace(task, item=msgspec.structs.replace(task.item, fields=fix), attempts=0)
        done = Replayed(id=e.id, kind=e.kind, status="queued", replanned=False, fields=fix)
    else:
        stored = await index.one(store, task.lead_id)
        if stored is not None:
            task = replanned(task, stored.decision, config)
        done = Replayed(id=e.id, kind=e.kind, status="queued", replanned=stored is not None,
                        config_version=config.version if stored is not None else None, fields=task.item.fields)
    return msgspec.structs.replace(e, data=encode_task(task)), done


@post("/dead-letters/{dl_id:str}/replay", status_code=202, summary="Queue a dead letter again (a fixed payload "
      "optional; a write with the current mapping)", guards=[admin], tags=TAGS, responses=CHECK)
async def replay(request: Req, dl_id: FromPath[str], data: JSONBody[ReplayIn | None] = None) -> Replayed:
    store: Store = request.app.state.store
    entry = await store.get_dead_letter(dl_id)
    if entry is None:
        raise NotFound(f"no dead letter {dl_id!r}", hint="GET /api/admin/dead-letters lists them")
    fixed, done = await _fixed(store, entry, data.payload if data else None, request.app.state.config)
    if fixed.data != entry.data:
        await store.dead_letter(fixed)  # the replay reads the entry: it reads the fixed one
    if not await replay_entry(store, _queue(request), dl_id):
        raise NotFound(f"no dead letter {dl_id!r}", hint="another replay took it first")
    return done


HANDLERS = [dead_letters, replay]
