"""Recycling (``rules/recycling.yaml``): a lead a rep closed as lost for a reason that passes comes back.

- The CRM reports the lead's status and reason (its webhooks, fields named in the CRM mapping's ``recycle:``): a
  recycled reason puts the lead in the recycle index, due after the reason's delay; any other status takes it out.
- The scheduled job (``worker.rescore.rescore_job``) moves due leads into re-engagement (``recycle_ready``), with a
  line in the decision's history.
- Interest shown after that — a new form, or behaviour the CRM reports — routes the lead again by the re-engagement
  rule: a new decision, committed like any other (routing state compare-and-set), and the new owner written.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog

from adapters.crm import registry
from connector.config import Config
from connector.decision import Decision, decision_from_json, decision_to_json
from connector.errors import RetryableError
from connector.match import identity_keys
from connector.model import Event, Lead
from connector.pipeline import decide, plan_write
from connector.ports import Delivery
from connector.rescore import forward, merge_events
from connector.settings import Settings
from worker.decide import Flush, Outcome, assigned, strong_keys
from worker.metrics import Recorder
from worker.store import CommitConflict, Store, WriteTask
from worker.store.followup import RECYCLE_FIELDS, FollowUps
from worker.store.keys import anonymous_identity

log = structlog.get_logger("leadrelay.worker")

Index = Callable[[str, Decision], Awaitable[None]]  # put a decided lead in the re-score index
_json = msgspec.json.Encoder()


def _text(stored: Mapping[str, bytes], field: str) -> str:
    return stored.get(field, b"").decode()


@contextlib.asynccontextmanager
async def locked(store: Store, lead_id: str, *, wait_s: float = 1.0) -> AsyncIterator[dict[str, bytes] | None]:
    """Hold the lead's per-identity lock (the one its deliveries are decided under) and read the lead under it.
    Yields None when the lead is gone (its retention ran out) or stays locked past ``wait_s`` (try again later)."""
    stored = await store.lead(lead_id)
    if "decision" not in stored:
        yield None
        return
    lead = decision_from_json(stored["decision"]).lead
    keys = strong_keys(identity_keys(lead))
    name = keys[0] if keys else anonymous_identity(lead_id)
    try:
        token = await store.lock(name, ttl_s=30.0, wait_s=wait_s)
    except TimeoutError:
        yield None
        return
    try:
        stored = await store.lead(lead_id)
        yield stored if "decision" in stored else None
    finally:
        await store.unlock(name, token)


class Recycler:
    def __init__(self, settings: Settings, config: Config, store: Store, *, flush: Flush, metrics: Recorder,
                 now: Callable[[], datetime], index: Index) -> None:
        self.settings = settings
        self.config = config
        self.store = store
        self.follow = FollowUps(store)
        self.flush = flush
        self.metrics = metrics
        self.now = now
        self.index = index
        self.owner_field = registry.plugin(settings.crm).owner_field

    def watches(self, crm: str, changes: Mapping[str, Any]) -> bool:
        """Whether a change of these CRM fields may start or stop a lead's recycling."""
        mapping = self.config.crm.get(crm)
        rf = mapping.recycle if mapping is not None else None
        return rf is not None and (rf.status_field in changes or (rf.reason_field or "\0") in changes)

    async def status_changed(self, crm: str, lead_id: str, stored: Mapping[str, bytes], changes: Mapping[str, Any],
                             at: datetime) -> str:
        """Keep the lead's lost status and reason as the CRM reports them (the caller holds the lead's lock): a
        recycled reason schedules re-engagement after its delay, any other status cancels it."""
        rf = self.config.crm[crm].recycle
        assert rf is not None
        prior = decision_from_json(stored["decision"])
        status = str(changes[rf.status_field] or "") if rf.status_field in changes else _text(stored, "crm_status")
        reason = (str(changes[rf.reason_field] or "") if rf.reason_field and rf.reason_field in changes
                  else _text(stored, "crm_reason"))
        status_at = at.timestamp() if rf.status_field in changes else float(_text(stored, "crm_status_at") or 0.0)
        fields: dict[str, str | bytes] = {"crm_status": status, "crm_reason": reason, "crm_status_at": repr(status_at)}
        code = rf.reason(status or None, reason or None)
        lost_at = datetime.fromtimestamp(status_at or at.timestamp(), UTC)
        due = self.config.recycling.due(code, lost_at) if code else None
        was = _text(stored, "recycle_reason")
        stamp = at.isoformat(timespec="seconds")
        drop: tuple[str, ...] = ()
        if due is not None:
            fields |= {"recycle_reason": code or "", "recycle_due": repr(due.timestamp())}
            drop, outcome = ("recycle_ready",), "recycle_scheduled"
            same = was == code and _text(stored, "recycle_due") == fields["recycle_due"]
            # the status and the reason arrive one by one: the same schedule again is no news
            line = "" if same else (f"{stamp} lost in the CRM ({status}, reason {code}): "
                                    f"re-engagement from {due.date().isoformat()}")
        elif was:
            line = f"{stamp} status {status or '(none)'} in the CRM: recycling cancelled"
            drop, outcome = RECYCLE_FIELDS, "recycle_cancelled"
        else:
            line, outcome = "", "status_kept"
        decision = msgspec.structs.replace(prior, history=(*prior.history, line)) if line else prior
        await self.follow.update(lead_id, decision=decision_to_json(decision), fields=fields, drop=drop,
                                 recycle_at=due.timestamp() if due is not None else None)
        if line:
            await self.metrics.inc("leadrelay_recycle_total", {"step": outcome, "reason": code or ""})
        return outcome

    async def enter_due(self, now: datetime | None = None, limit: int = 500) -> int:
        """Leads whose delay is over enter re-engagement (the scheduled job). Returns how many did."""
        now = now or self.now()
        entered = 0
        for lead_id in await self.follow.due_recycles(now.timestamp(), limit):
            async with locked(self.store, lead_id) as stored:
                if stored is None:
                    if "decision" not in await self.store.lead(lead_id):
                        await self.follow.forget(lead_id)
                    continue  # else locked: the next run takes it
                prior = decision_from_json(stored["decision"])
                reason = _text(stored, "recycle_reason")
                line = f"{now.isoformat(timespec='seconds')} entered re-engagement (lost for {reason})"
                decision = msgspec.structs.replace(prior, history=(*prior.history, line))
                await self.follow.update(lead_id, decision=decision_to_json(decision), fields={"recycle_ready": "1"},
                                         recycle_at=None)
            await self.metrics.inc("leadrelay_recycle_total", {"step": "entered", "reason": reason})
            entered += 1
        return entered

    @staticmethod
    def ready(stored: Mapping[str, bytes]) -> bool:
        """The lead has entered re-engagement: renewed interest routes it again."""
        return stored.get("recycle_ready") == b"1" and "decision" in stored

    async def renewed(self, delivery: Delivery, lead: Lead, lead_id: str) -> Outcome | None:
        """A new form from a person in re-engagement routes them again (the caller holds their lock); None when
        they are not in re-engagement (or the delivery is the CRM's own)."""
        if registry.is_crm(delivery.source):
            return None
        stored = await self.store.lead(lead_id)
        if not self.ready(stored):
            return None
        prior = decision_from_json(stored["decision"])
        lead = msgspec.structs.replace(lead, id=lead_id, events=merge_events(prior.lead.events, lead.events))
        return await self.reroute(delivery, lead, prior, why=f"a new {delivery.source} delivery")

    async def reroute(self, delivery: Delivery, lead: Lead, prior: Decision, *, why: str,
                      events: tuple[Event, ...] = ()) -> Outcome:
        """Route a lead in re-engagement again by the re-engagement rule and queue its write with the new owner
        (the caller holds the lead's lock). The delivery is marked done by the same commit."""
        assert lead.id is not None
        lead_id, crm, now = lead.id, self.settings.crm, self.now()
        if events:
            lead = msgspec.structs.replace(lead, events=merge_events(lead.events, events))
        config = msgspec.structs.replace(self.config, routing=self.config.recycling.reengagement(self.config.routing))
        for _ in range(50):
            state, _version = await self.store.versioned_snapshot()
            fresh = decide(lead, config, state=state, now=now)
            sc = msgspec.structs.replace(fresh.score, stage=forward(prior.score.stage, fresh.score.stage))
            a, was = fresh.route.assignment, prior.route.assignment
            line = (f"{now.isoformat(timespec='seconds')} routed again after re-engagement ({why}): "
                    f"{a.owner or f'queue {a.queue}'} by rule {a.rule!r}, was {was.owner or f'queue {was.queue}'}")
            decision = msgspec.structs.replace(fresh, match=prior.match, score=sc, history=(*prior.history, line))
            item, plan = plan_write(decision, self.config, crm, update=True, lane=delivery.lane)
            decision = msgspec.structs.replace(decision, write=plan)
            task = WriteTask(crm=crm, lead_id=lead_id, item=item, received_at=delivery.received_at.timestamp(),
                             delivery=f"{delivery.source}:{delivery.delivery_id}",
                             rep=assigned(decision, item, self.owner_field))
            try:
                committed = await self.store.commit(
                    lead_id=lead_id, decision=decision_to_json(decision), changes=decision.route.changes,
                    ident_keys=(), task=task, done=(delivery.source, delivery.delivery_id),
                    owner_written=str(item.fields.get(self.owner_field) or ""))
            except CommitConflict:
                continue
            # a new routing: the recycling is over, and a rep's earlier owner change no longer stands
            await self.follow.clear(lead_id, *RECYCLE_FIELDS, "crm_status", "crm_reason", "crm_status_at",
                                    "owner_locked", "owner_in_crm")
            await self.index(lead_id, decision)
            await self.metrics.inc("leadrelay_recycle_total", {"step": "rerouted", "reason": ""})
            await self.flush(crm, committed.waiting)
            log.info("lead_rerouted", lead=lead_id, owner=a.owner, rule=a.rule, why=why)
            return Outcome(status="rerouted", lead_id=lead_id, detail=line)
        raise RetryableError("routing state kept changing under us", retry_after=0.05)
