"""Writing a new owner to the CRM through the normal write path: one commit (decision, routing state, the queued
write) and a flush request, as a decision's first write; the write_back job sends it in its batch.

Only the record's key and its owner are sent: whatever a rep has edited on the record since stays as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import msgspec

from adapters.crm import registry
from connector.config import Config
from connector.decision import Decision, StateChange, decision_to_json
from connector.errors import RetryableError
from connector.pipeline import plan_write
from connector.ports import WriteItem
from worker.sla.record import Tracked
from worker.store import CommitConflict, Store, WriteTask

Flush = Callable[[str, int | None], Awaitable[None]]  # worker.write_back.WriteBack.request_flush


def owner_item(t: Tracked, decision: Decision, config: Config, crm: str, owner_id: str) -> WriteItem | None:
    """The write giving the lead's record ``owner_id``: its key field and owner only. None when the mapping writes
    no owner to this record (a matched record whose own owner stands)."""
    owner_field = registry.plugin(crm).owner_field
    item, _ = plan_write(decision, config, crm, owner_id=owner_id, update=True)
    if owner_field not in item.fields:
        return None
    keep = {config.crm[crm].upsert_key, owner_field}
    written = t.record[1] if t.record and t.record[0] == crm else None
    plan = decision.write
    return msgspec.structs.replace(
        item, key=t.lead_id, fields={k: v for k, v in item.fields.items() if k in keep},
        record_id=(plan.record_id if plan and plan.record_id else written),
        object_type=plan.object if plan else item.object_type)


async def commit_owner(store: Store, flush: Flush, t: Tracked, decision: Decision, item: WriteItem | None, *,
                       crm: str, done: str, changes: Sequence[StateChange] = (), assigns: bool = False) -> None:
    """Store ``decision`` and queue ``item`` in one commit (once per ``done``: a retried job commits nothing twice),
    then ask for the write. A routing-state conflict is retried by the caller's job. ``assigns``: the write is the
    lead's first assignment (a held lead's release): its landing is received -> assigned, by the lead's source."""
    if await store.is_done("follow", done) is not None:
        return
    source = t.decision.lead.origin.source  # the write's source label (leadrelay_assigned_seconds)
    rep = (decision.route.assignment.owner or "") if assigns else ""
    task = WriteTask(crm=crm, lead_id=t.lead_id, item=item, received_at=t.received_at, kind="follow", rep=rep,
                     delivery=f"{source}:follow:{done}") if item is not None else None
    owner = str(item.fields.get(registry.plugin(crm).owner_field) or "") if item is not None else None
    try:
        committed = await store.commit(lead_id=t.lead_id, decision=decision_to_json(decision), changes=changes,
                                       ident_keys=(), task=task, done=("follow", done), owner_written=owner)
    except CommitConflict as exc:
        raise RetryableError(f"routing state changed under a reassignment: {exc}", retry_after=0.05) from exc
    if task is not None:
        await flush(crm, committed.waiting)
