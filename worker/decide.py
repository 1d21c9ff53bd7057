"""Decide and commit: per-identity lock -> known lead? -> match candidates -> decide -> commit atomically.

The commit (one Lua script, ``worker.store``) compare-and-sets the routing state, claims the person's identity
keys, stores the decision, queues the CRM write, marks the delivery done and releases the lock: all or nothing,
so two workers never hand out the same slot and a redelivered job changes nothing.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
import structlog

from adapters.crm import registry
from connector.config import Config
from connector.decision import Decision, decision_from_json, decision_to_json
from connector.errors import FatalError, RetryableError
from connector.match import identity_keys
from connector.model import CrmRecord, Lead
from connector.pipeline import decide, plan_write
from connector.ports import Delivery, WriteItem
from connector.rescore import forward, merge_events
from connector.routing import RoutingState, apply_changes
from connector.settings import Settings
from worker import lead_ids
from worker.accounts import AccountIndex
from worker.dead_letters import dead_letter_delivery
from worker.lookup import LookupBatcher
from worker.metrics import Recorder
from worker.store import CommitConflict, Store, WriteTask
from worker.store.decisions import hit_fields
from worker.store.keys import anonymous_identity

log = structlog.get_logger("leadrelay.worker")

Flush = Callable[[str, int | None], Awaitable[None]]  # (crm, writes waiting): see write_back.WriteBack.request_flush
AfterCommit = Callable[[str, Decision], Awaitable[None]]  # (lead id, decision): see rescore.Rescorer.index
# (delivery, lead, known lead id) -> the outcome when the person is in re-engagement: see recycle.Recycler.renewed
Renewed = Callable[[Delivery, Lead, str], Awaitable["Outcome | None"]]


class Outcome(msgspec.Struct, kw_only=True, frozen=True):
    """What processing a delivery came to (the job's result, and what the demo prints)."""

    status: str  # "decided" | "duplicate" | "echo" | "owner_change" | "ignored" | "dead_letter" | "done_before"
    # | "rescored" | "rerouted" | "recycle_scheduled" | "recycle_cancelled" (worker.rescore, worker.recycle)
    lead_id: str | None = None
    detail: str = ""


def lead_id_for(keys: Sequence[str], delivery: Delivery, secret: bytes | None = None) -> str:
    """Stable per person: the same email always gives the same lead id (and so the same CRM upsert key). An HMAC
    under the installation's secret (``secret``, else the one the worker loaded at start), so nobody can compute a
    lead's id from an email address."""
    basis = keys[0] if keys else f"delivery:{delivery.source}:{delivery.delivery_id}"
    return lead_ids.lead_id(basis, secret if secret is not None else lead_ids.current())


def _matched(decision: Decision, candidates: Sequence[CrmRecord]) -> CrmRecord | None:
    """The candidate record the decision matched (its fields as the CRM answered them), if it was one."""
    m = decision.match
    if m is None or m.kind == "account":
        return None
    return next((c for c in candidates if c.id == m.record_id and c.crm == m.crm), None)


def worker_identity() -> str:
    """Who decides in this process (``decided_by`` on every lead it assigns): host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"

def assigned(decision: Decision, item: WriteItem, owner_field: str) -> str:
    """Who a write makes the lead's owner (a rep id, or "queue:<name>"); "" when it writes no owner, or the lead
    is held after hours (its owner is assigned by the release's write, ``worker.sla.hold``)."""
    a = decision.route.assignment
    if not item.fields.get(owner_field) or a.hold_until is not None:
        return ""
    return a.owner or f"queue:{a.queue}"


def strong_keys(keys: Sequence[str]) -> list[str]:
    """Keys that identify one person for sure: the email, else the phone."""
    email = [k for k in keys if k.startswith("email:")]
    return email or [k for k in keys if k.startswith("phone:")][:1]


@dataclass
class _Held:
    """A per-identity lock this job holds; the commit releases it in the same round trip."""

    name: str
    token: str
    released: bool = False


class Decider:
    """Decides this process's leads. Jobs of one process route one at a time; the routing state committed last
    is kept, so a job reads it from Redis only when another process has committed since."""

    def __init__(self, settings: Settings, config: Config, store: Store, *, lookup: LookupBatcher,
                 accounts: AccountIndex, metrics: Recorder, flush: Flush,
                 now: Callable[[], datetime] | None = None, after_commit: AfterCommit | None = None,
                 renewed: Renewed | None = None) -> None:
        self.settings = settings
        self.config = config
        self.store = store
        self.lookup = lookup
        self.accounts = accounts
        self.metrics = metrics
        self.flush = flush
        self.owner_field = registry.plugin(settings.crm).owner_field
        self._now = now or (lambda: datetime.now(UTC))
        self.identity = worker_identity()

        self.after_commit = after_commit
        self.renewed = renewed
        self._route_lock = asyncio.Lock()
        self._state: RoutingState | None = None  # the routing state as of our last commit
        self._state_version = -1
        self.conflicts = 0

    async def decide(self, delivery: Delivery, lead: Lead, record: CrmRecord | None) -> Outcome:
        """Lock the person, then route them (or, when already ours, update their fields), exactly once."""
        keys = identity_keys(lead)
        strong = strong_keys(keys)
        lead_id = lead_id_for(strong or keys, delivery)
        lead = msgspec.structs.replace(lead, id=lead_id)
        lock_name = (strong or [anonymous_identity(lead_id)])[0]
        token, known, version = await self.store.lock_and_find(lock_name, strong,
                                                               ttl_s=max(30.0, self.settings.job_timeout_s))
        lock = _Held(lock_name, token)
        try:
            if known is not None:
                # a person in re-engagement (recycling) is routed again; anyone else keeps their owner
                done = await self.renewed(delivery, lead, known) if self.renewed is not None else None
                if done is None:
                    done = await self._duplicate(delivery, lead, known, record)
                if done is not None:
                    return done
                # the lead's record expired (retention) while its identity is remembered: decide afresh, same id
                lead = msgspec.structs.replace(lead, id=known)
            return await self._route(delivery, lead, strong, record, lock, version)
        finally:
            if not lock.released:
                await self.store.unlock(lock_name, token)

    async def _candidates(self, lead: Lead) -> list[CrmRecord]:
        """CRM records this lead may match: the person by email (asked of the CRM, batched with other jobs) and
        the company by domain or name (from the account index, synced in the background)."""
        accounts = [r for r in (await self.accounts.current()).candidates(lead) if r.kind == "account"]
        people = await self.lookup.find(lead.identity.email, None) if lead.identity.email else []
        return people + accounts

    async def _route(self, delivery: Delivery, lead: Lead, strong: list[str], record: CrmRecord | None,
                     lock: _Held, version: int) -> Outcome:
        assert lead.id is not None
        crm = self.settings.crm
        candidates: list[CrmRecord] = [record] if record is not None else []
        try:
            candidates += await self._candidates(lead)
        except RetryableError:
            raise
        except FatalError as exc:  # an auth or config problem: the lead waits in the dead-letter list
            await dead_letter_delivery(self.store, delivery, f"CRM lookup failed: {exc}")
            return Outcome(status="dead_letter", lead_id=lead.id, detail=str(exc))
        own = record if record is not None and record.crm == crm else None  # the CRM's own record it came from
        for _ in range(50):
            # Jobs of this process route one at a time (a ~1 ms section), so compare-and-set conflicts only
            # happen between processes; without it 50 concurrent jobs would mostly decide in vain.
            async with self._route_lock:
                committed = await self._try_commit(delivery, lead, strong, candidates, own, lock, version)
            if committed is None:
                continue  # another worker moved the pointer or load first: decide on a fresh snapshot
            decision, waiting = committed
            if self.after_commit is not None:
                await self.after_commit(lead.id, decision)
            await self.metrics.inc("leadrelay_leads_decided_total", {"rule": decision.route.assignment.rule or ""})
            await self.flush(crm, waiting)
            log.info("lead_decided", lead=lead.id, email=lead.identity.email, owner=decision.route.assignment.owner,
                     rule=decision.route.assignment.rule, score=decision.score.total)
            return Outcome(status="decided", lead_id=lead.id, detail=decision.explanation)
        raise RetryableError("routing state kept changing under us", retry_after=0.05)

    async def _try_commit(self, delivery: Delivery, lead: Lead, strong: list[str], candidates: list[CrmRecord],
                          own: CrmRecord | None, lock: _Held, version: int) -> tuple[Decision, int] | None:
        """Decide on the routing state and commit; None on a conflict. Runs under the route lock."""
        assert lead.id is not None
        crm = self.settings.crm
        # the state this process last committed, if no other process has committed since (the version read with
        # the lock says); else read it. The compare-and-set guards either way.
        if self._state is not None and self._state_version >= version:
            state, base = self._state, self._state_version
        else:
            state, base = await self.store.versioned_snapshot()
        config = self.config  # one version for the whole decision, and the one it records (config_version)
        decision = decide(lead, config, state=state, now=self._now(), candidates=candidates)
        # the existing record written (its current values decide what it keeps): the CRM's own, else the match
        target = own or _matched(decision, candidates)
        item, plan = plan_write(decision, config, crm, record=target, lane=delivery.lane)
        decision = msgspec.structs.replace(decision, write=plan)
        task = WriteTask(crm=crm, lead_id=lead.id, item=item, received_at=delivery.received_at.timestamp(),
                         delivery=f"{delivery.source}:{delivery.delivery_id}", rep=assigned(decision, item,
                                                                                          self.owner_field))
        try:
            committed = await self.store.commit(
                lead_id=lead.id, decision=decision_to_json(decision), changes=decision.route.changes,
                ident_keys=strong, task=task, done=(delivery.source, delivery.delivery_id),
                lock=(lock.name, lock.token), owner_written=str(item.fields.get(self.owner_field) or ""),
                decided_by=self.identity, hits=hit_fields(decision))
        except CommitConflict:
            self.conflicts += 1
            self._state = None
            return None
        lock.released = True
        changed = 1 if decision.route.changes else 0
        if committed.version == base + changed:  # nobody else moved it: ours is the current state
            self._state, self._state_version = apply_changes(state, decision.route.changes), base + changed
        else:
            self._state = None
        return decision, committed.waiting

    async def _duplicate(self, delivery: Delivery, lead: Lead, known: str,
                         record: CrmRecord | None) -> Outcome | None:
        """The person is already ours: one record and one assignment, so no routing; a form fills in fields.
        None when a form's person is known but their decided lead has expired: the caller decides afresh."""
        crm = self.settings.crm
        stored = await self.store.lead(known)
        lead = msgspec.structs.replace(lead, id=known)
        if "decision" not in stored and not registry.is_crm(delivery.source):
            return None
        if registry.is_crm(delivery.source) or "decision" not in stored:
            if record is not None and record.crm == crm:
                await self.store.link_record(crm, record.id, known)
            await self.store.mark_done(delivery.source, delivery.delivery_id, known)
            return Outcome(status="duplicate", lead_id=known, detail="already routed; the CRM's record stands")
        prior = decision_from_json(stored["decision"])
        # behaviour the CRM reported since counts too (and keeps decaying)
        lead = msgspec.structs.replace(lead, events=merge_events(prior.lead.events, lead.events))
        state = self._state or RoutingState()  # the route is the prior one: the state does not matter
        fresh = decide(lead, self.config, state=state, now=self._now())
        # the same record as before (the match too: a matched Contact stays the one written, no Lead is made)
        fresh = msgspec.structs.replace(fresh, score=msgspec.structs.replace(
            fresh.score, stage=forward(prior.score.stage, fresh.score.stage)))  # stages never move back
        decision = msgspec.structs.replace(fresh, route=prior.route, match=prior.match, history=prior.history,
                                           explanation=prior.explanation + "; updated by "
                                           f"{delivery.source} delivery {delivery.delivery_id}")
        item, plan = plan_write(decision, self.config, crm, update=True, lane=delivery.lane)
        fields = {k: v for k, v in item.fields.items() if k != self.owner_field}  # the owner stays as it is
        item = msgspec.structs.replace(item, key=known, fields=fields)
        if self.owner_field in plan.fields:
            plan = msgspec.structs.replace(plan, fields=tuple(fields), kept={
                **plan.kept, self.owner_field: "already routed: the owner stays as it is"})
        decision = msgspec.structs.replace(decision, write=plan)
        task = WriteTask(crm=crm, lead_id=known, item=item, received_at=delivery.received_at.timestamp(),
                         delivery=f"{delivery.source}:{delivery.delivery_id}")
        committed = await self.store.commit(lead_id=known, decision=decision_to_json(decision), changes=(),
                                            ident_keys=(), task=task, done=(delivery.source, delivery.delivery_id))
        if self.after_commit is not None:
            await self.after_commit(known, decision)
        await self.flush(crm, committed.waiting)
        return Outcome(status="duplicate", lead_id=known, detail="fields updated; owner kept")
