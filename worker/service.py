"""One worker process's parts, wired: intake -> decide-and-commit -> write-back, plus the account index.

process: done before? -> intake (CRM echo? owner change? -> map + normalize) -> decide (per-identity lock, known
         lead? match, decide, commit atomically: routing CAS, identity keys, decision, queued write, delivery done)
write:   see ``worker.write_back`` (batches, flush scheduling, dead-lettering writes)
notify:  once a write lands, who is told is queued, one job each (``worker.notify``)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from connector.config import Config
from connector.errors import InputError
from connector.ports import CrmClient, Delivery
from connector.settings import Settings
from worker.accounts import AccountIndex
from worker.breaker import Breaker
from worker.dead_letters import dead_letter_delivery
from worker.decide import Decider, Outcome
from worker.intake import Intake
from worker.lookup import LookupBatcher
from worker.metrics import Metrics, Recorder
from worker.notify import Notifier
from worker.rescore import Rescorer
from worker.sla import SlaClock
from worker.store import Store
from worker.write_back import Enqueue, WriteBack


class Service:
    """What the arq jobs (``worker.jobs``) call. ``enqueue_write_back`` queues a write_back job (the arq pool's)."""

    def __init__(self, settings: Settings, config: Config, store: Store, crm: CrmClient, *,
                 enqueue_write_back: Enqueue, metrics: Metrics | None = None,
                 now: Callable[[], datetime] | None = None, notifier: Notifier | None = None) -> None:
        self.settings = settings
        self.config = config
        self.store = store
        self.crm = crm
        self.metrics = Recorder(metrics)
        self.accounts = AccountIndex(store, crm, config)
        self.intake = Intake(settings, config, store, crm, self.metrics)
        self.notifier = Notifier(settings, config, store, self.metrics)
        self.write_back = WriteBack(settings, store, crm, enqueue=enqueue_write_back, metrics=self.metrics,
                                    landed=self.notifier.landed if self.notifier.enabled else None)
        self.breaker = Breaker(store, settings)
        self.now = now or (lambda: datetime.now(UTC))
        self.rescorer = Rescorer(settings, config, store, flush=self.write_back.request_flush, metrics=self.metrics,
                                 now=self.now)
        lookup = LookupBatcher(lambda e, d: crm.find(e, d), window_s=settings.lookup_window_ms / 1000,
                               max_inflight=settings.lookup_inflight)
        self.decider = Decider(settings, config, store, lookup=lookup, accounts=self.accounts, metrics=self.metrics,
                               flush=self.write_back.request_flush, now=self.now,
                               after_commit=self.rescorer.index, renewed=self.rescorer.recycler.renewed)
        # follow-through: first-contact clocks start when a write lands; CRM events say first contact
        self.sla = SlaClock(settings, config, store, crm, metrics=self.metrics, flush=self.write_back.request_flush,
                            notifier=notifier or self.notifier, now=self.now)
        self.write_back.sla = self.intake.sla = self.sla

    def use_config(self, config: Config) -> None:
        """Decide the next lead under ``config`` (a published version; see ``worker.configs.ConfigFollower``)."""
        self.config = self.intake.config = self.decider.config = config
        self.accounts.use_config(config)
        self.notifier.use_config(config)
        self.write_back.landed = self.notifier.landed if self.notifier.enabled else None  # a channel set up now
        self.rescorer.use_config(config)
        self.sla.use_config(config)

    async def process(self, delivery: Delivery) -> Outcome:
        """Decide about one delivery, exactly once however often it is delivered."""
        done = await self.store.is_done(delivery.source, delivery.delivery_id)
        if done is not None:
            return Outcome(status="done_before", lead_id=done or None)
        try:
            incoming = await self.intake.incoming(delivery)
        except InputError as exc:
            await self.dead_letter_delivery(delivery, f"bad input: {exc.field or '?'}: {exc.message}")
            return Outcome(status="dead_letter", detail=str(exc))
        if incoming.lead is None:
            if incoming.changes and incoming.lead_id:  # a lead we routed changed in the CRM
                outcome = await self.rescorer.crm_change(delivery, incoming.lead_id, incoming.changes)
                if incoming.status == "first_contact" and outcome.status == "status_kept":
                    return Outcome(status="first_contact")  # what the change meant here (as without recycling)
                return outcome
            await self.store.mark_done(delivery.source, delivery.delivery_id, "")
            return Outcome(status=incoming.status or "ignored")
        return await self.decider.decide(delivery, incoming.lead, incoming.record)

    async def dead_letter_delivery(self, delivery: Delivery, reason: str) -> None:
        await dead_letter_delivery(self.store, delivery, reason)
