"""Intake: one queued delivery -> its canonical lead, or why there is none.

A form's delivery is mapped and normalized. A CRM's own webhook delivery is read by that CRM's plugin first:
our own write coming back (an echo) is dropped, a person's owner change on a lead we routed is kept on the lead
(their choice stands), and only a record we have never seen becomes a lead. A delivery the plugin cannot
authenticate well enough to believe (``CrmEvent.reread``: a Salesforce Outbound Message) is a trigger only: the
record is read from the CRM by id, and only what the CRM answers is used.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from adapters.crm import registry
from adapters.crm.plugin import CrmEvent, CrmPlugin
from connector.config import Config
from connector.model import CrmRecord, Lead
from connector.pipeline import ingest, ingest_delivery
from connector.ports import CrmClient, Delivery
from connector.settings import Settings
from worker.metrics import Recorder
from worker.store import Store
from worker.unassigned import Unassigned

if TYPE_CHECKING:
    from worker.sla import SlaClock


class Incoming(NamedTuple):
    """A delivery's lead (with the CRM record it came from, for a CRM's webhook), or why there is none."""

    lead: Lead | None
    record: CrmRecord | None = None
    status: str = ""  # without a lead: "echo" | "owner_change" | "ignored" | "changed"
    lead_id: str | None = None  # "changed": the lead we routed whose record changed
    changes: dict[str, Any] | None = None  # "changed": the fields the CRM says changed, with their new values


class Intake:
    def __init__(self, settings: Settings, config: Config, store: Store, crm: CrmClient, metrics: Recorder) -> None:
        self.settings = settings
        self.config = config
        self.store = store
        self.crm = crm
        self.metrics = metrics
        self.sla: SlaClock | None = None  # follow-through: told of first contact and owner changes (worker.sla)

    async def incoming(self, delivery: Delivery) -> Incoming:
        """The canonical lead of a delivery (InputError when its payload cannot be one)."""
        if not registry.is_crm(delivery.source):
            return Incoming(ingest_delivery(delivery, self.config))
        plugin = registry.plugin(delivery.source)
        return await self._from_crm(plugin, delivery, plugin.read_event(delivery.payload, self.settings))

    async def _from_crm(self, plugin: CrmPlugin, d: Delivery, ev: CrmEvent) -> Incoming:
        if ev.reread and not ev.echo:
            if self.crm.name != plugin.name or not ev.record_id:
                return Incoming(None, status="ignored")  # nothing we can read it from
            fetched = await asyncio.to_thread(self.crm.get, ev.record_id)
            if fetched is None:
                return Incoming(None, status="ignored")  # no such record (or deleted since): nothing to do
            ev = plugin.read_record(fetched, self.settings)
        if ev.echo:
            await self.metrics.inc("leadrelay_deliveries_total", {"source": d.source, "outcome": "duplicate",
                                                                  "reason": "echo"})
            return Incoming(None, status="echo")
        known = await self.store.record_lead(plugin.name, ev.record_id) if ev.record_id else None
        if known:
            status = await self._known(plugin.name, known, ev)
            followed = self._followed(plugin.name, ev.changes)
            # behaviour or a lost status: worker.rescore follows it (first contact, if it was one, is noted)
            if status in ("ignored", "first_contact") and followed:
                return Incoming(None, status=status if status == "first_contact" else "changed", lead_id=known,
                                changes=followed)
            return Incoming(None, status=status)
        record, payload = ev.record, ev.mapping_input
        if record is None:  # the event carries the id only: ask the CRM (when it is the one we write to)
            fetched = await asyncio.to_thread(self.crm.get, ev.record_id) if self.crm.name == plugin.name else None
            if fetched is None:
                return Incoming(None, status="ignored")
            record, payload = fetched, plugin.mapping_input(fetched)
        return Incoming(self._crm_lead(d, record, payload or {}), record)

    def _followed(self, crm: str, changes: dict[str, Any]) -> dict[str, Any]:
        """The changes the CRM mapping follows: its ``behaviour`` fields and its ``recycle`` status and reason."""
        mapping = self.config.crm.get(crm)
        if mapping is None or not changes:
            return {}
        names = {b.field for b in mapping.behaviour}
        if mapping.recycle is not None:
            names |= {mapping.recycle.status_field, mapping.recycle.reason_field or ""}
        return {k: v for k, v in changes.items() if k in names}

    async def _known(self, crm: str, lead_id: str, ev: CrmEvent) -> str:
        """A record we routed changed in the CRM: keep a person's owner change (their clock starts); note first
        contact (a lead status moved on); any other edit stands as it is."""
        worked = self.sla is not None and await self.sla.crm_event(crm, lead_id, ev)
        change = ev.owner_change
        if change is None:
            return "first_contact" if worked else "ignored"
        if change.unless_written:
            stored = await self.store.lead(lead_id)
            if stored.get("owner_written", b"").decode() == change.owner:
                return "first_contact" if worked else "ignored"
        await self.store.set_lead_fields(lead_id, owner_locked=change.by, owner_in_crm=change.owner)
        if self.config.team.rep_for_owner(change.owner, crm) is not None:  # a rep has it: in no queue now
            await Unassigned(self.store).took_rep(lead_id)
        if self.sla is not None:
            await self.sla.owner_changed(crm, lead_id, change.owner)
        return "owner_change"

    def _crm_lead(self, d: Delivery, record: CrmRecord, payload: dict[str, object]) -> Lead:
        lead = ingest(payload, self.config, mapping=registry.plugin(record.crm).source_mapping)
        origin = msgspec.structs.replace(lead.origin, delivery_id=d.delivery_id,
                                         submitted_at=lead.origin.submitted_at or d.received_at)
        return msgspec.structs.replace(lead, origin=origin)
