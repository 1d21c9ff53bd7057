"""What a worker does with one delivery and one write batch. The arq jobs in ``worker.jobs`` call these.

process: CRM echo? -> map + normalize -> per-identity lock -> known lead? (identity index, else CRM lookup)
         -> decide -> commit atomically (routing CAS, identity keys, decision, queued write, delivery done)
write:   take a batch -> coalesce per lead -> adapter upsert -> record outcomes; retryable rows stay with the job
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog

from connector.config import Config
from connector.decision import decision_from_json, decision_to_json
from connector.errors import AuthError, FatalError, InputError, RetryableError
from connector.match import IdentityIndex, identity_keys
from connector.model import CrmRecord, Lead
from connector.pipeline import decide, ingest, ingest_delivery, write_item
from connector.ports import CrmClient, Delivery, WriteItem, WriteOutcome
from connector.route import RoutingState, apply_changes
from connector.settings import Settings, write_window_ms
from worker.lookup import LookupBatcher
from worker.store import CommitConflict, DeadLetter, Store, WriteTask

log = structlog.get_logger("leadrelay.worker")

# How many records one write call may carry (the vendors' batch limits).
BATCH_MAX = {"hubspot": 100, "salesforce": 200}
CRM_MAPPING = {"hubspot": "hubspot_contact", "salesforce": "salesforce_lead"}
OWNER_FIELD = {"hubspot": "hubspot_owner_id", "salesforce": "OwnerId"}
_enc = msgspec.msgpack.Encoder()
_json = msgspec.json.Encoder()


_record = msgspec.json.Decoder(CrmRecord)


class Outcome(msgspec.Struct, kw_only=True, frozen=True):
    """What processing a delivery came to (the job's result, and what the demo prints)."""

    status: str  # "decided" | "duplicate" | "echo" | "owner_change" | "ignored" | "dead_letter" | "done_before"
    lead_id: str | None = None
    detail: str = ""


def lead_id_for(keys: Sequence[str], delivery: Delivery) -> str:
    """Stable per person: the same email always gives the same lead id (and so the same CRM upsert key)."""
    basis = keys[0] if keys else f"delivery:{delivery.source}:{delivery.delivery_id}"
    return "ld_" + hashlib.sha256(basis.encode()).hexdigest()[:20]


def strong_keys(keys: Sequence[str]) -> list[str]:
    """Keys that identify one person for sure: the email, else the phone."""
    email = [k for k in keys if k.startswith("email:")]
    return email or [k for k in keys if k.startswith("phone:")][:1]


def coalesce(tasks: Sequence[WriteTask]) -> list[WriteItem]:
    """One item per lead: later fields win, earlier ones are kept (a second form fills blanks)."""
    merged: dict[str, WriteItem] = {}
    for t in tasks:
        prev = merged.get(t.item.key)
        if prev is None:
            merged[t.item.key] = t.item
        else:
            merged[t.item.key] = msgspec.structs.replace(
                t.item, fields={**prev.fields, **t.item.fields}, record_id=t.item.record_id or prev.record_id,
                account_id=t.item.account_id or prev.account_id)
    return list(merged.values())


@dataclass
class _Held:
    """A per-identity lock this job holds; the commit releases it in the same round trip."""

    name: str
    token: str
    released: bool = False


class Service:
    """One worker process's wiring: config, Redis store, CRM client, lookup batcher, metrics."""

    def __init__(self, settings: Settings, config: Config, store: Store, crm: CrmClient, *,
                 metrics: Any | None = None, now: Any = None) -> None:
        self.settings = settings
        self.config = config
        self.store = store
        self.crm = crm
        self.metrics = metrics
        self.lookup = LookupBatcher(lambda e, d: crm.find(e, d), window_s=settings.lookup_window_ms / 1000,
                                    max_inflight=settings.lookup_inflight)
        self._now = now or (lambda: datetime.now(UTC))
        self._route_lock = asyncio.Lock()
        self._state: RoutingState | None = None  # the routing state as of our last commit
        self._state_version = -1
        self._flush_slot: dict[str, int] = {}
        self._accounts = IdentityIndex()
        self._accounts_version: bytes | None = None
        self._accounts_checked = 0.0
        self.conflicts = 0

    # ---- metrics (never fail a lead because a counter failed) -------------------------------------------------------
    async def _inc(self, name: str, labels: dict[str, str]) -> None:
        if self.metrics is not None:
            try:
                await self.metrics.inc(name, labels)
            except Exception:
                log.warning("metrics_failed", metric=name)

    async def _observe(self, name: str, value: float, labels: dict[str, str]) -> None:
        if self.metrics is not None:
            try:
                await self.metrics.observe(name, value, labels)
            except Exception:
                log.warning("metrics_failed", metric=name)

    # ---- one delivery -----------------------------------------------------------------------------------------------
    async def process(self, delivery: Delivery) -> Outcome:
        """Decide about one delivery, exactly once however often it is delivered."""
        done = await self.store.is_done(delivery.source, delivery.delivery_id)
        if done is not None:
            return Outcome(status="done_before", lead_id=done or None)
        try:
            crm_record, lead = await self._lead_of(delivery)
        except InputError as exc:
            await self.dead_letter_delivery(delivery, f"bad input: {exc.field or '?'}: {exc.message}")
            return Outcome(status="dead_letter", detail=str(exc))
        if lead is None:
            await self.store.mark_done(delivery.source, delivery.delivery_id, "")
            return Outcome(status=crm_record if isinstance(crm_record, str) else "ignored")
        keys = identity_keys(lead)
        lead_id = lead_id_for(strong_keys(keys) or keys, delivery)
        lead = msgspec.structs.replace(lead, id=lead_id)
        lock_name = (strong_keys(keys) or [f"lead:{lead_id}"])[0]
        token, known, version = await self.store.lock_and_find(lock_name, strong_keys(keys),
                                                               ttl_s=max(30.0, self.settings.job_timeout_s))
        lock = _Held(lock_name, token)
        try:
            return await self._decide_locked(delivery, lead, keys, crm_record, known, lock, version)
        finally:
            if not lock.released:
                await self.store.unlock(lock_name, token)

    async def _lead_of(self, delivery: Delivery) -> tuple[Any, Lead | None]:
        """The canonical lead of a delivery, or (why, None) when there is nothing to route."""
        if delivery.source == "hubspot":
            return await self._hubspot_lead(delivery)
        if delivery.source == "salesforce":
            return await self._salesforce_lead(delivery)
        return None, ingest_delivery(delivery, self.config)

    async def _hubspot_lead(self, d: Delivery) -> tuple[Any, Lead | None]:
        ev = d.payload
        object_id = str(ev.get("object_id") or ev.get("objectId") or "")
        source, source_id = ev.get("change_source") or ev.get("changeSource"), ev.get("source_id") or ev.get("sourceId")
        ours = source == "INTEGRATION" and self.settings.hubspot_app_id is not None and \
            str(source_id) == str(self.settings.hubspot_app_id)
        known = await self.store.record_lead("hubspot", object_id)
        if ours:
            await self._inc("leadrelay_deliveries_total", {"source": "hubspot", "outcome": "duplicate",
                                                           "reason": "echo"})
            return "echo", None
        if known:
            prop = ev.get("property_name") or ev.get("propertyName")
            if prop == OWNER_FIELD["hubspot"]:
                await self.store.set_lead_fields(known, owner_locked=f"hubspot user {source_id}",
                                                 owner_in_crm=str(ev.get("property_value") or ev.get("propertyValue")))
                return "owner_change", None
            return "ignored", None  # a person edited a lead we already routed: their edit stands
        record = await asyncio.to_thread(self.crm.get, object_id) if self.crm.name == "hubspot" else None
        if record is None:
            return "ignored", None
        return record, self._crm_lead(d, record, {"id": record.id, "properties": record.fields})

    async def _salesforce_lead(self, d: Delivery) -> tuple[Any, Lead | None]:
        p = d.payload
        rid = str(p.get("Id") or "")
        by = p.get("LastModifiedById")
        if by and self.settings.salesforce_user_id and str(by)[:15] == self.settings.salesforce_user_id[:15]:
            await self._inc("leadrelay_deliveries_total", {"source": "salesforce", "outcome": "duplicate",
                                                           "reason": "echo"})
            return "echo", None
        known = await self.store.record_lead("salesforce", rid) if rid else None
        if known:
            stored = await self.store.lead(known)
            if p.get("OwnerId") and stored.get("owner_written", b"").decode() != str(p["OwnerId"]):
                await self.store.set_lead_fields(known, owner_locked=f"salesforce user {by}",
                                                 owner_in_crm=str(p["OwnerId"]))
                return "owner_change", None
            return "ignored", None
        record = CrmRecord(crm="salesforce", id=rid, kind="lead", email=p.get("Email"), owner_id=p.get("OwnerId"),
                           company=p.get("Company"), fields={k: v for k, v in p.items() if v is not None})
        return record, self._crm_lead(d, record, p)

    def _crm_lead(self, d: Delivery, record: CrmRecord, payload: dict[str, Any]) -> Lead:
        lead = ingest(payload, self.config, mapping=CRM_MAPPING[record.crm])
        origin = msgspec.structs.replace(lead.origin, delivery_id=d.delivery_id,
                                         submitted_at=lead.origin.submitted_at or d.received_at)
        return msgspec.structs.replace(lead, origin=origin)

    async def _existing(self, lead: Lead) -> list[CrmRecord]:
        """CRM records this lead may match: the person by email (asked of the CRM, batched with other jobs) and
        the company by domain or name (from the account index, synced in the background: see sync_accounts)."""
        accounts = [r for r in (await self.account_index()).candidates(lead) if r.kind == "account"]
        people = await self.lookup.find(lead.identity.email, None) if lead.identity.email else []
        return people + accounts

    async def account_index(self) -> IdentityIndex:
        """This process's copy of the account index, reloaded when a sync has published a new version."""
        now = time.monotonic()
        if now - self._accounts_checked >= 5.0:
            self._accounts_checked = now
            version = await self.store.r.get(self.store.k("accounts", "version"))
            if version != self._accounts_version:
                raw = await self.store.r.hvals(self.store.k("accounts"))
                records = [_record.decode(x) for x in raw]
                self._accounts = IdentityIndex(records, config=self.config.matching)
                self._accounts_version = version
        return self._accounts

    async def sync_accounts(self) -> int:
        """Copy every CRM company/account with a domain into Redis (replacing the old copy atomically)."""
        records = await asyncio.to_thread(self.crm.accounts)
        tmp = self.store.k("accounts", "tmp", uuid.uuid4().hex)
        pipe = self.store.r.pipeline(transaction=False)
        for i in range(0, len(records), 1000):
            pipe.hset(tmp, mapping={r.id: _json.encode(r) for r in records[i:i + 1000]})
        await pipe.execute()
        pipe = self.store.r.pipeline(transaction=True)
        if records:
            pipe.rename(tmp, self.store.k("accounts"))
        else:
            pipe.delete(self.store.k("accounts"))
        pipe.incr(self.store.k("accounts", "version"))
        await pipe.execute()
        self._accounts_checked = 0.0
        log.info("accounts_synced", crm=self.crm.name, accounts=len(records))
        return len(records)

    async def _decide_locked(self, delivery: Delivery, lead: Lead, keys: list[str], crm_record: Any,
                             known: str | None, lock: _Held, version: int) -> Outcome:
        assert lead.id is not None
        crm = self.settings.crm
        strong = strong_keys(keys)
        received = delivery.received_at.timestamp()
        done = (delivery.source, delivery.delivery_id)
        if known is not None:
            return await self._duplicate(delivery, lead, known, crm_record)
        candidates: list[CrmRecord] = []
        if isinstance(crm_record, CrmRecord):
            candidates.append(crm_record)
        try:
            candidates += await self._existing(lead)
        except RetryableError:
            raise
        except FatalError as exc:  # an auth or config problem: the lead waits in the dead-letter list
            await self.dead_letter_delivery(delivery, f"CRM lookup failed: {exc}")
            return Outcome(status="dead_letter", lead_id=lead.id, detail=str(exc))
        record_id = crm_record.id if isinstance(crm_record, CrmRecord) and crm_record.crm == crm else None
        for _ in range(50):
            # Jobs of this process route one at a time (a ~1 ms section), so compare-and-set conflicts only
            # happen between processes; without it 50 concurrent jobs would mostly decide in vain.
            async with self._route_lock:
                # the state this process last committed, if no other process has committed since (the version
                # read with the lock says); else read it. The compare-and-set guards either way.
                if self._state is not None and self._state_version >= version:
                    state, base = self._state, self._state_version
                else:
                    state, base = await self.store.versioned_snapshot()
                decision = decide(lead, self.config, state=state, now=self._now(), candidates=candidates)
                item = write_item(decision, self.config, crm, record_id=record_id, lane=delivery.lane)
                task = WriteTask(crm=crm, lead_id=lead.id, item=item, received_at=received,
                                 delivery=f"{delivery.source}:{delivery.delivery_id}")
                try:
                    committed = await self.store.commit(
                        lead_id=lead.id, decision=decision_to_json(decision), changes=decision.route.changes,
                        ident_keys=strong, task=task, done=done, lock=(lock.name, lock.token),
                        owner_written=str(item.fields.get(OWNER_FIELD[crm]) or ""))
                except CommitConflict:
                    self.conflicts += 1
                    self._state = None
                    continue  # another worker moved the pointer or load first: decide on a fresh snapshot
                lock.released = True
                changed = 1 if decision.route.changes else 0
                if committed.version == base + changed:  # nobody else moved it: ours is the current state
                    self._state, self._state_version = apply_changes(state, decision.route.changes), base + changed
                else:
                    self._state = None
            await self._inc("leadrelay_leads_decided_total", {"rule": decision.route.assignment.rule or ""})
            await self.request_flush(crm, committed.waiting)
            log.info("lead_decided", lead=lead.id, email=lead.identity.email, owner=decision.route.assignment.owner,
                     rule=decision.route.assignment.rule, score=decision.score.total)
            return Outcome(status="decided", lead_id=lead.id, detail=decision.explanation)
        raise RetryableError("routing state kept changing under us", retry_after=0.05)

    async def _duplicate(self, delivery: Delivery, lead: Lead, known: str, crm_record: Any) -> Outcome:
        """The person is already ours: one record and one assignment, so no routing; a form fills in fields."""
        crm = self.settings.crm
        stored = await self.store.lead(known)
        lead = msgspec.structs.replace(lead, id=known)
        if delivery.source in ("hubspot", "salesforce") or "decision" not in stored:
            if isinstance(crm_record, CrmRecord) and crm_record.crm == crm:
                await self.store.link_record(crm, crm_record.id, known)
            await self.store.mark_done(delivery.source, delivery.delivery_id, known)
            return Outcome(status="duplicate", lead_id=known, detail="already routed; the CRM's record stands")
        prior = decision_from_json(stored["decision"])
        state = self._state or RoutingState()  # the route is the prior one: the state does not matter
        fresh = decide(lead, self.config, state=state, now=self._now())
        decision = msgspec.structs.replace(fresh, route=prior.route, explanation=prior.explanation + "; updated by "
                                           f"{delivery.source} delivery {delivery.delivery_id}")
        item = write_item(decision, self.config, crm, lane=delivery.lane)
        fields = {k: v for k, v in item.fields.items() if k != OWNER_FIELD[crm]}  # the owner stays as it is
        item = msgspec.structs.replace(item, key=known, fields=fields)
        task = WriteTask(crm=crm, lead_id=known, item=item, received_at=delivery.received_at.timestamp(),
                         delivery=f"{delivery.source}:{delivery.delivery_id}")
        committed = await self.store.commit(lead_id=known, decision=decision_to_json(decision), changes=(),
                                            ident_keys=(), task=task, done=(delivery.source, delivery.delivery_id))
        await self.request_flush(crm, committed.waiting)
        return Outcome(status="duplicate", lead_id=known, detail="fields updated; owner kept")

    async def dead_letter_delivery(self, delivery: Delivery, reason: str) -> None:
        from worker.queue import encode_delivery

        dl = DeadLetter(id=f"delivery:{delivery.source}:{delivery.delivery_id}", kind="delivery", reason=reason,
                        at=time.time(), source=delivery.source, data=encode_delivery(delivery))
        await self.store.dead_letter(dl)
        await self.store.mark_done(delivery.source, delivery.delivery_id, "")
        log.warning("dead_letter", id=dl.id, reason=reason)

    # ---- write batches ------------------------------------------------------------------------------------------
    async def request_flush(self, crm: str, waiting: int | None = None) -> None:
        """Make sure a write_back job will take the waiting writes: now when a batch is full, else at the window."""
        n = await self.store.pending_writes(crm) if waiting is None else waiting
        if n == 0:
            return
        batch = BATCH_MAX.get(crm, 100)
        window = max(1, write_window_ms(self.settings, crm))
        if n % batch == 0:
            await self.enqueue_write_back(crm, f"write_back:{crm}:full:{time.time_ns()}", None)
        else:
            slot = int(time.time() * 1000 // window) + 1
            if self._flush_slot.get(crm) == slot:
                return  # this process already asked for this window's job (arq would refuse the same id anyway)
            self._flush_slot[crm] = slot
            await self.enqueue_write_back(crm, f"write_back:{crm}:{slot}", slot * window / 1000)

    async def enqueue_write_back(self, crm: str, job_id: str, at: float | None) -> None:
        raise NotImplementedError  # set by worker.jobs (needs the arq pool)

    async def write(self, crm: str, job_id: str, job_try: int) -> tuple[int, list[WriteTask]]:
        """Write one batch. Returns (written, tasks still retryable) — the job retries or dead-letters those."""
        tasks = await self.store.take_batch(crm, job_id, BATCH_MAX.get(crm, 100))
        if not tasks:
            return 0, []
        items = coalesce(tasks)
        try:
            outcomes = await asyncio.to_thread(self.crm.write, items)
        except RetryableError as exc:
            outcomes = [WriteOutcome(key=i.key, status="retryable", message=exc.message, retry_after=exc.retry_after)
                        for i in items]
        except AuthError as exc:
            outcomes = [WriteOutcome(key=i.key, status="permanent", message=f"CRM refused our credentials: {exc}",
                                     error_code="AUTH") for i in items]
        by_key = {o.key: o for o in outcomes}
        keep: list[WriteTask] = []
        results: list[tuple[WriteTask, bytes, str | None]] = []
        now = time.time()
        for t in tasks:
            o = by_key.get(t.item.key) or WriteOutcome(key=t.item.key, status="retryable", message="no outcome")
            if o.status == "written":
                results.append((t, _json.encode(o), o.record_id))
                await self._observe("leadrelay_speed_to_lead_seconds", max(0.0, now - t.received_at), {"crm": crm})
            elif o.status == "retryable":
                keep.append(msgspec.structs.replace(t, attempts=t.attempts + 1))
            else:
                await self.dead_letter_write(t, o)
        await self.store.finish_batch(crm, job_id, keep, results=results)
        return len(results), keep

    async def dead_letter_write(self, task: WriteTask, outcome: WriteOutcome) -> None:
        reason = f"{outcome.status}: {outcome.error_code or ''} {outcome.message or ''}".strip()
        dl = DeadLetter(id=f"write:{task.lead_id}:{int(time.time() * 1000)}", kind="write", reason=reason,
                        at=time.time(), source=task.delivery, lead_id=task.lead_id, data=_enc.encode(task),
                        error_code=outcome.error_code, attempts=task.attempts)
        await self.store.dead_letter(dl)
        await self.store.set_lead_fields(task.lead_id, write=_json.encode(outcome), dead_letter=dl.id)
        log.warning("dead_letter", id=dl.id, lead=task.lead_id, reason=reason)
