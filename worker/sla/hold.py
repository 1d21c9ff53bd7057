"""After-hours holds that hold: a lead the routing held (``after_hours: hold``) is written to the CRM without its
owner (or with the SLA's hold queue's), and released at its pool's next business hour — holidays included, the
moment routing computed as ``hold_until`` — by one job per moment. Leads released together go hot first, then in
the order they arrived. The release writes the owner through the normal write path; when that write lands the
owner's first-contact clock starts. A lead a person gave an owner meanwhile keeps theirs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from connector.sla import release_order
from worker.sla.queue import HOLD_RELEASE
from worker.sla.record import Tracked, stamp, tracked, when
from worker.sla.writes import commit_owner, owner_item

if TYPE_CHECKING:
    from worker.sla.clock import SlaClock


async def hold(clock: SlaClock, t: Tracked, until: datetime) -> None:
    """Keep the lead until ``until``: noted in the held set, and the release job of that moment queued."""
    keys, at = clock.store.keys, until.timestamp()
    await clock.store.r.zadd(keys.held, {t.lead_id: at})
    await clock.store.set_lead_fields(t.lead_id, held_until=stamp(until))
    await clock.defer(HOLD_RELEASE, (at,), keys.hold_release_job(at), until)


async def release_due(clock: SlaClock) -> int:
    """Release every lead whose hold has ended, hot first then by arrival; returns how many."""
    now, keys = clock.now(), clock.store.keys
    ids = [i.decode() for i in await clock.store.r.zrangebyscore(keys.held, "-inf", now.timestamp())]
    if not ids:
        return 0
    found = [tracked(i, f) for i, f in zip(ids, await clock.store.leads(ids), strict=True)]
    leads = {t.lead_id: t for t in found if t is not None}
    gone = [i for i in ids if i not in leads]  # expired meanwhile: nothing to release
    if gone:
        await clock.store.r.zrem(keys.held, *gone)
    for lead_id in release_order([(t.lead_id, t.decision.score.grade, t.received_at) for t in leads.values()]):
        await _release(clock, leads[lead_id], now)
    return len(leads)


async def _release(clock: SlaClock, t: Tracked, now: datetime) -> None:
    a, crm = t.decision.route.assignment, clock.settings.crm
    rep = clock.config.team.by_id.get(a.owner or "")
    if "owner_locked" in t.fields or rep is None:  # a person gave it an owner meanwhile: theirs stands
        await clock.store.set_lead_fields(t.lead_id, released_at=stamp(now))
        await clock.store.r.zrem(clock.store.keys.held, t.lead_id)
        return
    owner_id = a.owner_ids.get(crm) or rep.owner_ids.get(crm)
    decision = t.with_trace(f"after-hours hold released {when(now)}: owner {rep.id} written")
    item = owner_item(t, decision, clock.config, crm, owner_id) if owner_id else None
    await clock.store.set_lead_fields(t.lead_id, released_at=stamp(now))  # before its write lands: then the clock
    await commit_owner(clock.store, clock.flush, t, decision, item, crm=crm, done=f"{t.lead_id}:release",
                       assigns=True)
    await clock.store.r.zrem(clock.store.keys.held, t.lead_id)
    await clock.notifier.tell(t.lead_id, "hold_released", "owner", f"{rep.id} gets this lead held since it arrived "
                                                                    "after hours")
